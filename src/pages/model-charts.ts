import type { ModelMetrics, ModelPoint } from '../metrics/model-metrics.ts';
import type { RangeName } from '../metrics/ranges.ts';
import { chartBuckets, makeChart, round, SERIES_CSV_HEADER, seriesCharts, seriesCsvCells } from './charts.ts';
import { toCsv } from './csv.ts';

/** A model page's charts: response time (mean and p95), requests and error rate per bucket. */
export const modelCharts = (m: ModelMetrics, range: RangeName, timeZone: string, now: Date) =>
  seriesCharts(m.series, chartBuckets(m.series, range, timeZone, now));

/** The compare page's charts: p95 latency and error rate per bucket, one series per model. */
export function compareCharts(models: { display_name: string; metrics: ModelMetrics }[], range: RangeName, timeZone: string, now: Date) {
  const buckets = chartBuckets(models[0].metrics.series, range, timeZone, now);
  const each = (value: (p: ModelPoint) => number | null) =>
    models.map((m) => ({ name: m.display_name, values: m.metrics.series.map(value) }));
  return {
    latency: makeChart(
      'line',
      'ms',
      buckets,
      each((p) => round(p.p95)),
    ),
    errorRate: makeChart(
      'line',
      '%',
      buckets,
      each((p) => round(p.error_rate, 2)),
    ),
  };
}

/** A model's series as CSV: one row per bucket, UTC timestamps, empty cells where there is no data. */
export const modelCsv = (m: ModelMetrics) => toCsv(SERIES_CSV_HEADER, m.series.map(seriesCsvCells));

/** Several models' series as CSV: one row per model and bucket, the model named as the page names it (and by id). */
export const compareCsv = (models: { id: string; display_name: string; metrics: ModelMetrics }[]) =>
  toCsv(
    ['model', 'model_id', ...SERIES_CSV_HEADER],
    models.flatMap((m) => m.metrics.series.map((p) => [m.display_name, m.id, ...seriesCsvCells(p)])),
  );
