/** An error with an HTTP status and a message that is safe to show to the person who asked. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * A change the domain refused for reasons the person can fix: 422 (the input is invalid) or 409 (it
 * conflicts with what is stored). `fields` says what is wrong by field, for forms to show inline;
 * `details` is what the JSON API answers (the fields, unless the refusal carries more).
 */
export class Refusal extends HttpError {
  constructor(
    status: 409 | 422,
    message: string,
    readonly fields: Record<string, string> = {},
    details: unknown = fields,
  ) {
    super(status, message, details);
  }

  /** The field errors as one sentence, for places that show no form. */
  get reasons(): string {
    const parts = Object.entries(this.fields).map(([k, v]) => `${k} ${v}`);
    return parts.length ? parts.join('; ') : this.message;
  }
}

/** The refusal in `err`, to show again with the form; anything else is rethrown for the error handler. */
export function refusalOf(err: unknown): Refusal {
  if (err instanceof Refusal) return err;
  throw err;
}

export const notFound = (what = 'Page') => new HttpError(404, `${what} not found`);
export const forbidden = (message = 'You do not have permission to do this') => new HttpError(403, message);
