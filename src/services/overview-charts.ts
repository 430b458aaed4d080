import type { ChangeMarkerRow } from '../db/queries/history.ts';
import type { FeatureMetrics } from '../metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../metrics/ranges.ts';

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

const round = (n: number | null, digits = 0) => (n === null ? null : Number(n.toFixed(digits)));

/** The overview's charts: response time (mean and p95), throughput and error rate per bucket, with model changes marked. */
export function overviewCharts(metrics: FeatureMetrics, changes: ChangeMarkerRow[], range: RangeName, timeZone: string) {
  const points = metrics.historical.data;
  const format = new Intl.DateTimeFormat('en-GB', { timeZone, ...LABEL_FORMAT[range] });
  const labels = points.map((p) => format.format(new Date(p.timestamp)));
  const size = RANGES[range].bucketMs;
  const first = points.length ? Math.floor(new Date(points[0].timestamp).getTime() / size) * size : 0;
  const markers = changes.map((c) => ({
    index: Math.min(points.length - 1, Math.floor((c.finished_at.getTime() - first) / size)),
    label: `${c.environment}: ${c.previous_model_display_name ? `${c.previous_model_display_name} → ` : ''}${c.model_display_name} (${c.kind})`,
  }));
  const chart = (kind: Chart['kind'], unit: Chart['unit'], series: Series[]): Chart => ({
    kind, unit, labels, markers,
    series: series.map((s) => ({ ...s, cells: s.values.map((v) => (v === null ? 'no data' : v.toLocaleString('en-US'))) })),
    json: JSON.stringify({ kind, unit, labels, markers, series: series.map((s) => ({ name: s.name, data: s.values })) }),
  });
  return {
    latency: chart('line', 'ms', [
      { name: 'Mean', values: points.map((p) => round(p.response_time)) },
      { name: 'p95', values: points.map((p) => round(p.p95)) },
    ]),
    throughput: chart('area', 'requests', [{ name: 'Requests', values: points.map((p) => p.requests) }]),
    errorRate: chart('bar', '%', [{ name: 'Error rate', values: points.map((p) => round(p.error_rate, 2)) }]),
  };
}

const csvCell = (v: string | number | null) => (v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

/** The overview's series as CSV: one row per bucket, UTC timestamps, empty cells where there is no data. */
export function overviewCsv(metrics: FeatureMetrics): string {
  const header = ['bucket_start_utc', 'requests', 'response_time_ms', 'p95_ms', 'error_rate_pct', 'cost_usd'];
  const rows = metrics.historical.data.map((p) => [p.timestamp, p.requests, round(p.response_time, 1), p.p95, round(p.error_rate, 3), Number(p.cost.toFixed(8))]);
  return `${[header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;
}
