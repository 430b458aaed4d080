/** Presentation helpers handed to every template as `it.fmt`: templates never do this maths. */
export function createFormat(timeZone: string) {
  const dateTime = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  });
  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  return {
    timeZone,
    dateTime: (d: Date | string | null | undefined) => (d ? `${dateTime.format(new Date(d))}` : '—'),
    iso: (d: Date | string) => new Date(d).toISOString(),
    integer: (n: number | null | undefined) => (n === null || n === undefined ? '—' : integer.format(n)),
    usd: (n: number | null | undefined, digits = 2) =>
      n === null || n === undefined ? '—' : `$${n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`,
    /** Per-1k-token prices are tiny: keep enough digits to tell models apart. */
    price: (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`,
    titleCase: (s: string) => s.replace(/(^|[-_ ])(\w)/g, (_m, sep: string, c: string) => (sep ? ' ' : '') + c.toUpperCase()),
  };
}

export type Format = ReturnType<typeof createFormat>;
