/** Offsets already worked out, by zone and minute (zones change offset on whole minutes): Intl costs ~0.3 ms a call. */
const known = new Map<string, number>();

/** The UTC offset of a time zone at an instant, in minutes (e.g. +330 for Asia/Kolkata). */
export function offsetMinutes(timeZone: string, at: Date): number {
  const key = `${timeZone}|${Math.floor(at.getTime() / 60_000)}`;
  let offset = known.get(key);
  if (offset === undefined) {
    const name =
      new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(at).find((p) => p.type === 'timeZoneName')
        ?.value ?? 'GMT';
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    offset = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
    if (known.size >= 10_000) known.clear();
    known.set(key, offset);
  }
  return offset;
}

/** Whether UTC hours map onto whole local hours across the window (true for most zones). */
export const wholeHourOffsets = (timeZone: string, from: Date, to: Date) =>
  offsetMinutes(timeZone, from) % 60 === 0 && offsetMinutes(timeZone, to) % 60 === 0;
