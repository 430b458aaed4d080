const csvCell = (v: string | number | null) =>
  v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
/** Rows as CSV (CRLF, quoted where needed, empty cells for no data). */
export const toCsv = (rows: (string | number | null)[][]) => `${rows.map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;
