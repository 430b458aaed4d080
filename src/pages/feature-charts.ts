import type { ChangeMarkerRow } from '../db/queries/deployments.ts';
import type { FeatureMetrics } from '../metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../metrics/ranges.ts';
import { chartBuckets, SERIES_CSV_HEADER, seriesCharts, seriesCsvCells } from './charts.ts';
import { toCsv } from './csv.ts';

/** The overview's charts: response time (mean and p95), throughput and error rate per bucket, with model changes marked. */
export function overviewCharts(metrics: FeatureMetrics, changes: ChangeMarkerRow[], range: RangeName, timeZone: string, now: Date) {
  const points = metrics.historical.data;
  const size = RANGES[range].bucketMs;
  const first = points.length ? Math.floor(new Date(points[0].timestamp).getTime() / size) * size : 0;
  const markers = changes.map((c) => ({
    index: Math.min(points.length - 1, Math.floor((c.finished_at.getTime() - first) / size)),
    label: `${c.environment}: ${c.previous_model_display_name ? `${c.previous_model_display_name} → ` : ''}${c.model_display_name} (${c.kind})`,
  }));
  return seriesCharts(points, chartBuckets(points, range, timeZone, now), markers);
}

/** The overview's series as CSV: one row per bucket, UTC timestamps, empty cells where there is no data. */
export const overviewCsv = (metrics: FeatureMetrics): string => toCsv(SERIES_CSV_HEADER, metrics.historical.data.map(seriesCsvCells));
