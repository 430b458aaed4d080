import { RANGES, type RangeName } from '../metrics/ranges.ts';

// What every chart page shares: bucket labels, the chart shape charts.js reads, and the CSV of a series.

const LABEL_FORMAT: Record<RangeName, Intl.DateTimeFormatOptions> = {
  '1h': { hour: '2-digit', minute: '2-digit', hour12: false },
  '24h': { hour: '2-digit', minute: '2-digit', hour12: false },
  '7d': { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false },
  '30d': { day: '2-digit', month: 'short' },
};

export interface ChartMarker {
  /** Index of the bucket the change falls in. */
  index: number;
  /** The short text drawn beside the marker ("→ GPT-4o mini"), when there is one. */
  text?: string;
  label: string;
}

/** A feature's thresholds, drawn as horizontal lines on its latency (p95) and error-rate charts. */
export interface Thresholds {
  latencyMs: number;
  errorRatePct: number;
}

/**
 * A chart's buckets: the axis labels, the data table's row labels, and the buckets the range cuts
 * short (SPEC §4), by index. Those hold fewer minutes than the others, so their counts are not
 * comparable: charts.js draws them apart and the table says so.
 */
export interface Buckets {
  labels: string[];
  /** The table's row headers: the label, "from 14:23" for a clipped first bucket, "14:00 (so far)" for the one under way. */
  rows: string[];
  partial: number[];
}

/** What a chart needs in the browser (chartist) and without JavaScript (a table of the same series). */
export interface Chart extends Buckets {
  kind: 'line' | 'area' | 'bar';
  unit: 'ms' | 'requests' | '%';
  /** Values for the chart, and the same values written out for the table. */
  series: { name: string; values: (number | null)[]; cells: string[] }[];
  markers: ChartMarker[];
  /** A horizontal line at this value (a threshold), with its label, or null. */
  threshold: { value: number; label: string } | null;
  /** What charts.js reads: labels, values, markers, the threshold and the partial buckets. */
  json: string;
}

type Series = { name: string; values: (number | null)[] };

/** One bucket of a chart series (a feature's or a model's). */
export interface Point {
  timestamp: string;
  requests: number;
  response_time: number | null;
  p95: number | null;
  error_rate: number | null;
  cost: number;
}

export const round = (n: number | null, digits = 0) => (n === null ? null : Number(n.toFixed(digits)));

/**
 * The buckets of a range ending at `now`, labelled in the display time zone as finely as the range's
 * buckets. Buckets are UTC-aligned and each point is stamped with its start, clipped to the range's:
 * the first is partial when the range starts mid-bucket (its stamp is off the boundary), and the last
 * when `now` falls before its end, which it always does, since the series runs through the bucket
 * holding now (at a boundary, that is the bucket just begun).
 */
export function chartBuckets(points: Point[], range: RangeName, timeZone: string, now: Date): Buckets {
  const size = RANGES[range].bucketMs;
  const label = new Intl.DateTimeFormat('en-GB', { timeZone, ...LABEL_FORMAT[range] });
  // A clipped start is said to the minute, also on the 30-day chart whose labels are days.
  const from = new Intl.DateTimeFormat('en-GB', { timeZone, ...LABEL_FORMAT[range], hour: '2-digit', minute: '2-digit', hour12: false });
  const starts = points.map((p) => new Date(p.timestamp));
  const last = starts.length - 1;
  const clippedFirst = last >= 0 && starts[0].getTime() % size !== 0;
  const underWay = last >= 0 && Math.floor(starts[last].getTime() / size) * size + size > now.getTime();
  const partial = starts.flatMap((_, i) => ((i === 0 && clippedFirst) || (i === last && underWay) ? [i] : []));
  return {
    labels: starts.map((d) => label.format(d)),
    rows: starts.map((d, i) => {
      const row = i === 0 && clippedFirst ? `from ${from.format(d)}` : label.format(d);
      return i === last && underWay ? `${row} (so far)` : row;
    }),
    partial,
  };
}

export function makeChart(
  kind: Chart['kind'],
  unit: Chart['unit'],
  buckets: Buckets,
  series: Series[],
  markers: ChartMarker[] = [],
  threshold: Chart['threshold'] = null,
): Chart {
  const { labels, rows, partial } = buckets;
  return {
    kind,
    unit,
    labels,
    rows,
    partial,
    markers,
    threshold,
    series: series.map((s) => ({ ...s, cells: s.values.map((v) => (v === null ? 'no data' : v.toLocaleString('en-US'))) })),
    json: JSON.stringify({
      kind,
      unit,
      labels,
      markers,
      threshold,
      partial,
      series: series.map((s) => ({ name: s.name, data: s.values })),
    }),
  };
}

/** Response time (mean and p95), throughput and error rate per bucket; the thresholds, when given, as lines. */
export function seriesCharts(points: Point[], buckets: Buckets, markers: ChartMarker[] = [], thresholds?: Thresholds) {
  return {
    latency: makeChart(
      'line',
      'ms',
      buckets,
      [
        { name: 'Mean', values: points.map((p) => round(p.response_time)) },
        { name: 'p95', values: points.map((p) => round(p.p95)) },
      ],
      markers,
      thresholds ? { value: thresholds.latencyMs, label: `p95 threshold ${thresholds.latencyMs.toLocaleString('en-US')} ms` } : null,
    ),
    throughput: makeChart('area', 'requests', buckets, [{ name: 'Requests', values: points.map((p) => p.requests) }], markers),
    errorRate: makeChart(
      'bar',
      '%',
      buckets,
      [{ name: 'Error rate', values: points.map((p) => round(p.error_rate, 2)) }],
      markers,
      thresholds ? { value: thresholds.errorRatePct, label: `error-rate threshold ${thresholds.errorRatePct}%` } : null,
    ),
  };
}

export const SERIES_CSV_HEADER = ['bucket_start_utc', 'requests', 'response_time_ms', 'p95_ms', 'error_rate_pct', 'cost_usd'];
export const seriesCsvCells = (p: Point) => [p.timestamp, p.requests, p.response_time, p.p95, p.error_rate, p.cost];
