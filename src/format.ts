import { RANGE_NAMES, type RangeName } from './metrics/ranges.ts';
import { tones } from './metrics/scores.ts';

const NO_DATA = 'no data';

const RANGE_LABELS: Record<RangeName, string> = { '1h': '1 hour', '24h': '24 hours', '7d': '7 days', '30d': '30 days' };

// toLocaleString with options builds an Intl formatter per call (~25 µs, most of rendering a page of
// amounts): these are built once.
const twoSignificant = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 2 });
const priceDigits = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });
const fixedDigits = new Map<number, Intl.NumberFormat>();

/** `digits` decimal places, always shown. */
function fixed(digits: number): Intl.NumberFormat {
  const held = fixedDigits.get(digits);
  if (held) return held;
  const made = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  fixedDigits.set(digits, made);
  return made;
}

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
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const time = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  return {
    timeZone,
    dateTime: (d: Date | string | null | undefined) => (d ? `${dateTime.format(new Date(d))}` : '—'),
    iso: (d: Date | string) => new Date(d).toISOString(),
    integer: (n: number | null | undefined) => (n === null || n === undefined ? '—' : integer.format(n)),
    /** Dollars to `digits` places; amounts too small for them keep two significant digits, never a false $0.00. */
    usd: (n: number | null | undefined, digits = 2) =>
      n === null || n === undefined
        ? NO_DATA
        : n !== 0 && Math.abs(n) < 10 ** -digits
          ? `$${twoSignificant.format(n)}`
          : `$${fixed(digits).format(n)}`,
    /** Per-1k-token prices are tiny: keep enough digits to tell models apart. */
    price: (n: number) => `$${priceDigits.format(n)}`,
    time: (d: Date) => time.format(d),
    compact: (n: number) => compact.format(n),
    /** Rates and shares; null is "no data", never 0%. */
    percent: (n: number | null | undefined, digits = 1) => (n === null || n === undefined ? NO_DATA : `${n.toFixed(digits)}%`),
    ms: (n: number | null | undefined) => (n === null || n === undefined ? NO_DATA : `${integer.format(Math.round(n))} ms`),
    /** Signed change in percent (cost trend); null when there is nothing to compare with. */
    change: (n: number | null) =>
      n === null ? 'no earlier period to compare' : `${n > 0 ? '+' : n < 0 ? '−' : '±'}${Math.abs(n).toFixed(1)}%`,
    /** The class of a signed change (cost trend): `trend up` when it rose, `trend down` otherwise, just `trend` without one. */
    trendClass: (n: number | null) => (n === null ? 'trend' : n > 0 ? 'trend up' : 'trend down'),
    /** The hour of day (already in TZ_DISPLAY) as a range. */
    hour: (h: number | null) => (h === null ? NO_DATA : `${String(h).padStart(2, '0')}:00–${String((h + 1) % 24).padStart(2, '0')}:00`),
    decimal: (n: number | null, digits = 1) => (n === null ? NO_DATA : n.toFixed(digits)),
    tone: tones,
    /** The ranges of SPEC §4, in order, for range links and pickers; each named by rangeLabel(). */
    ranges: RANGE_NAMES,
    rangeLabel: (r: RangeName) => RANGE_LABELS[r],
    titleCase: (s: string) => s.replace(/(^|[-_ ])(\w)/g, (_m, sep: string, c: string) => (sep ? ' ' : '') + c.toUpperCase()),
    /** A deployment's kind in a history: a prompt activation says its version (issue 15). */
    deploymentKind: (d: { kind: string; prompt_version: number | null }) =>
      d.prompt_version === null ? d.kind : `prompt v${d.prompt_version} (${d.kind})`,
  };
}

export type Format = ReturnType<typeof createFormat>;
