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

export const notFound = (what = 'Page') => new HttpError(404, `${what} not found`);
export const forbidden = (message = 'You do not have permission to do this') => new HttpError(403, message);
