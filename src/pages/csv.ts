/**
 * Text a spreadsheet would run as a formula (OWASP, CSV injection): a cell starting with = + - @, a
 * tab or a carriage return. Numbers are data, so a negative number is left alone; text never is.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Decimals a column keeps, by the unit its header names: what a reader can use, no float noise
 * (3489.2857142857138 ms reads 3489.3). Columns with no unit keep 12 significant digits, enough for
 * any price while dropping binary noise (0.30000000000000004 reads 0.3).
 */
const UNIT_DECIMALS: readonly [unit: RegExp, decimals: number][] = [
  [/_pct(_|$)/, 3],
  [/_ms(_|$)/, 1],
  [/score/, 1],
  [/_usd(_|$)/, 8],
];

const decimalsOf = (header: string) => UNIT_DECIMALS.find(([unit]) => unit.test(header))?.[1];

function numberCell(v: number, decimals: number | undefined): string {
  if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
  return String(decimals === undefined ? Number(v.toPrecision(12)) : Number(v.toFixed(decimals)));
}

function csvCell(v: Cell, decimals: number | undefined): string {
  if (v === null) return '';
  if (typeof v === 'number') return numberCell(v, decimals);
  const text = FORMULA_START.test(v) ? `'${v}` : v;
  return text !== v || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const csvLine = (cells: readonly Cell[], decimals: readonly (number | undefined)[] = []) =>
  cells.map((v, i) => csvCell(v, decimals[i])).join(',');

/**
 * A header and rows as CSV (CRLF, quoted where needed, empty cells for no data, formulas in text
 * neutralised, numbers rounded by the unit their header names).
 */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const decimals = header.map(decimalsOf);
  return `${[csvLine(header), ...rows.map((r) => csvLine(r, decimals))].join('\r\n')}\r\n`;
}

export type Cell = string | number | null;

/** A CSV column: its header and how a row fills it. */
export type CsvColumn<T> = readonly [header: string, cell: (row: T) => Cell];

/** Rows as CSV under their columns' headers. */
export const csvOf = <T>(columns: readonly CsvColumn<T>[], rows: readonly T[]) =>
  toCsv(
    columns.map(([header]) => header),
    rows.map((row) => columns.map(([, cell]) => cell(row))),
  );
