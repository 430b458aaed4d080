/** Formatters by time zone: making one costs more than a dashboard's other arithmetic. */
const formats = new Map<string, Intl.DateTimeFormat>();
function offsetFormat(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    if (formats.size >= 500) formats.clear();
    formats.set(timeZone, format);
  }
  return format;
}

/** The UTC offset of a time zone at an instant, in minutes (e.g. +330 for Asia/Kolkata). */
export function offsetMinutes(timeZone: string, at: Date): number {
  const name =
    offsetFormat(timeZone)
      .formatToParts(at)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/** Whether UTC hours map onto whole local hours across the window (true for most zones). */
export const wholeHourOffsets = (timeZone: string, from: Date, to: Date) =>
  offsetMinutes(timeZone, from) % 60 === 0 && offsetMinutes(timeZone, to) % 60 === 0;
