import type { RangeName } from '../metrics/ranges.ts';

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
  label: string;
}

/** What a chart needs in the browser (chartist) and without JavaScript (a table of the same series). */
export interface Chart {
  kind: 'line' | 'area' | 'bar';
  unit: 'ms' | 'requests' | '%';
  labels: string[];
  /** Values for the chart, and the same values written out for the table. */
  series: { name: string; values: (number | null)[]; cells: string[] }[];
  markers: ChartMarker[];
  /** What charts.js reads: labels, values and markers. */
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

/** Bucket labels in the display time zone, as fine as the range's buckets. */
export function chartLabels(points: Point[], range: RangeName, timeZone: string): string[] {
  const format = new Intl.DateTimeFormat('en-GB', { timeZone, ...LABEL_FORMAT[range] });
  return points.map((p) => format.format(new Date(p.timestamp)));
}

export function makeChart(
  kind: Chart['kind'],
  unit: Chart['unit'],
  labels: string[],
  series: Series[],
  markers: ChartMarker[] = [],
): Chart {
  return {
    kind,
    unit,
    labels,
    markers,
    series: series.map((s) => ({ ...s, cells: s.values.map((v) => (v === null ? 'no data' : v.toLocaleString('en-US'))) })),
    json: JSON.stringify({ kind, unit, labels, markers, series: series.map((s) => ({ name: s.name, data: s.values })) }),
  };
}

/** Response time (mean and p95), throughput and error rate per bucket. */
export function seriesCharts(points: Point[], labels: string[], markers: ChartMarker[] = []) {
  return {
    latency: makeChart(
      'line',
      'ms',
      labels,
      [
        { name: 'Mean', values: points.map((p) => round(p.response_time)) },
        { name: 'p95', values: points.map((p) => round(p.p95)) },
      ],
      markers,
    ),
    throughput: makeChart('area', 'requests', labels, [{ name: 'Requests', values: points.map((p) => p.requests) }], markers),
    errorRate: makeChart('bar', '%', labels, [{ name: 'Error rate', values: points.map((p) => round(p.error_rate, 2)) }], markers),
  };
}

export const SERIES_CSV_HEADER = ['bucket_start_utc', 'requests', 'response_time_ms', 'p95_ms', 'error_rate_pct', 'cost_usd'];
export const seriesCsvCells = (p: Point) => [
  p.timestamp,
  p.requests,
  round(p.response_time, 1),
  p.p95,
  round(p.error_rate, 3),
  Number(p.cost.toFixed(8)),
];
