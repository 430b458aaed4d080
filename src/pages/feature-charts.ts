import type { ChangeMarkerRow } from '../db/queries/deployments.ts';
import type { FeatureMetrics } from '../metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../metrics/ranges.ts';
import { chartBuckets, SERIES_CSV_HEADER, seriesCharts, seriesCsvCells, type Thresholds } from './charts.ts';
import { toCsv } from './csv.ts';

/**
 * The overview's charts: response time (mean and p95), throughput and error rate per bucket, with the
 * model changes given (one environment's) marked and labelled with what they changed to, and the
 * feature's thresholds drawn on the latency and error-rate charts.
 */
export function overviewCharts(
  metrics: FeatureMetrics,
  changes: ChangeMarkerRow[],
  view: { range: RangeName; timeZone: string; now: Date; thresholds: Thresholds },
) {
  const { range, timeZone, now, thresholds } = view;
  const points = metrics.historical.data;
  const size = RANGES[range].bucketMs;
  const first = points.length ? Math.floor(new Date(points[0].timestamp).getTime() / size) * size : 0;
  const markers = changes.map((c) => ({
    index: Math.min(points.length - 1, Math.floor((c.finished_at.getTime() - first) / size)),
    text: `→ ${c.model_display_name}`,
    label: `${c.environment}: ${c.previous_model_display_name ? `${c.previous_model_display_name} → ` : ''}${c.model_display_name} (${c.kind})`,
  }));
  return seriesCharts(points, chartBuckets(points, range, timeZone, now), markers, thresholds);
}

/** The overview's series as CSV: one row per bucket, UTC timestamps, empty cells where there is no data. */
export const overviewCsv = (metrics: FeatureMetrics): string => toCsv(SERIES_CSV_HEADER, metrics.historical.data.map(seriesCsvCells));
