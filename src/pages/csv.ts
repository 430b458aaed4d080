/**
 * Text a spreadsheet would run as a formula (OWASP, CSV injection): a cell starting with = + - @, a
 * tab or a carriage return. Numbers are data, so a negative number is left alone; text never is.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  const text = FORMULA_START.test(v) ? `'${v}` : v;
  return text !== v || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV (CRLF, quoted where needed, empty cells for no data, formulas in text neutralised). */
export const toCsv = (rows: Cell[][]) => `${rows.map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;

type Cell = string | number | null;

/** A CSV column: its header and how a row fills it. */
export type CsvColumn<T> = readonly [header: string, cell: (row: T) => Cell];

/** Rows as CSV under their columns' headers. */
export const csvOf = <T>(columns: readonly CsvColumn<T>[], rows: readonly T[]) =>
  toCsv([columns.map(([header]) => header), ...rows.map((row) => columns.map(([, cell]) => cell(row)))]);
