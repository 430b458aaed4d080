import type { ChangeMarkerRow } from '../db/queries/deployments.ts';
import type { PromptActivationMarkerRow } from '../db/queries/prompts.ts';
import type { FeatureMetrics } from '../metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../metrics/ranges.ts';
import {
  type Buckets,
  type ChartMarker,
  chartBuckets,
  makeChart,
  round,
  SERIES_CSV_HEADER,
  seriesCharts,
  seriesCsvCells,
  type Thresholds,
} from './charts.ts';
import { toCsv } from './csv.ts';

/** A prompt version as the page names it: "v3", or "no version" for the events that named none. */
export const versionName = (version: number | null) => (version === null ? 'no version' : `v${version}`);

/** The charts draw this many versions at most (the series styles there are); the table lists every one. */
export const CHARTED_VERSIONS = 4;

type VersionSplit = NonNullable<FeatureMetrics['by_prompt_version']>;

/**
 * The overview's charts: response time (mean and p95), throughput and error rate per bucket, with the
 * model changes and prompt activations given (one environment's) marked and labelled with what they
 * changed to, and the feature's thresholds drawn on the latency and error-rate charts. Split by prompt
 * version, they draw one series per version instead: mean response time, requests, error rate.
 */
export function overviewCharts(
  metrics: FeatureMetrics,
  changes: { models: ChangeMarkerRow[]; prompts: PromptActivationMarkerRow[] },
  view: { range: RangeName; timeZone: string; now: Date; thresholds: Thresholds },
) {
  const { range, timeZone, now, thresholds } = view;
  const points = metrics.historical.data;
  const size = RANGES[range].bucketMs;
  const first = points.length ? Math.floor(new Date(points[0].timestamp).getTime() / size) * size : 0;
  const indexOf = (at: Date) => Math.min(points.length - 1, Math.floor((at.getTime() - first) / size));
  const markers: ChartMarker[] = [
    ...changes.models.map((c) => ({
      index: indexOf(c.finished_at),
      text: `→ ${c.model_display_name}`,
      label: `${c.environment}: ${c.previous_model_display_name ? `${c.previous_model_display_name} → ` : ''}${c.model_display_name} (${c.kind})`,
    })),
    ...changes.prompts.map((p) => ({
      index: indexOf(p.activated_at),
      text: `→ prompt v${p.version}`,
      label: `${p.environment}: prompt ${p.previous_version === null ? '' : `v${p.previous_version} → `}v${p.version} activated`,
    })),
  ].sort((a, b) => a.index - b.index);
  const buckets = chartBuckets(points, range, timeZone, now);
  const split = metrics.by_prompt_version;
  return split ? versionCharts(split, buckets, markers, thresholds) : seriesCharts(points, buckets, markers, thresholds);
}

/** One series per prompt version (the CHARTED_VERSIONS with the most requests), on the same buckets and markers. */
function versionCharts(split: VersionSplit, buckets: Buckets, markers: ChartMarker[], thresholds: Thresholds) {
  const charted = [...split]
    .sort((a, b) => b.total_requests - a.total_requests)
    .slice(0, CHARTED_VERSIONS)
    .sort((a, b) => split.indexOf(a) - split.indexOf(b));
  const series = (value: (p: VersionSplit[number]['data'][number]) => number | null) =>
    charted.map((v) => ({ name: versionName(v.prompt_version), values: v.data.map(value) }));
  return {
    // Mean response time: the p95 threshold is not drawn against it (each version's p95 is in the table).
    latency: makeChart(
      'line',
      'ms',
      buckets,
      series((p) => round(p.response_time)),
      markers,
    ),
    throughput: makeChart(
      'line',
      'requests',
      buckets,
      series((p) => p.requests),
      markers,
    ),
    errorRate: makeChart(
      'line',
      '%',
      buckets,
      series((p) => round(p.error_rate, 2)),
      markers,
      {
        value: thresholds.errorRatePct,
        label: `error-rate threshold ${thresholds.errorRatePct}%`,
      },
    ),
  };
}

/**
 * The overview's series as CSV: one row per bucket, UTC timestamps, empty cells where there is no
 * data; split by prompt version, one row per version and bucket, the version first (empty: none).
 */
export function overviewCsv(metrics: FeatureMetrics): string {
  const split = metrics.by_prompt_version;
  if (!split) return toCsv(SERIES_CSV_HEADER, metrics.historical.data.map(seriesCsvCells));
  return toCsv(
    ['prompt_version', ...SERIES_CSV_HEADER],
    split.flatMap((v) => v.data.map((p) => [v.prompt_version, ...seriesCsvCells(p)])),
  );
}
