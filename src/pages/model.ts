import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { activeDeployments, listModels, type ModelDeploymentRow, type ModelRow } from '../db/queries/catalogue.ts';
import { deploymentsPage } from '../db/queries/deployments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { ENVIRONMENTS, isUuid } from '../domain.ts';
import { formatParam, rangeParam } from '../http/query.ts';
import { type ModelMetrics, modelMetrics } from '../metrics/model-metrics.ts';
import type { RangeName } from '../metrics/ranges.ts';
import { isArchived } from '../services/archive.ts';
import { standingRefusal } from '../services/deployability.ts';
import { compareCharts, modelCharts } from './model-charts.ts';

const COMPARE_MIN = 2;
const COMPARE_MAX = 4;
/** The model page lists its newest deployments. */
const HISTORY_LIMIT = 50;

/** The model and compare pages' state: the range and the format. */
export const modelQuerySchema = z.object({ range: rangeParam.default('24h'), format: formatParam });
export type ModelQuery = z.infer<typeof modelQuerySchema>;

/** Where a model serves now, feature by feature. */
async function servingNow(db: Db, modelIds: string[]) {
  const rows = await activeDeployments(db);
  return rows
    .filter((r) => modelIds.includes(r.model_id))
    .sort((a, b) => a.feature_name.localeCompare(b.feature_name) || a.environment.localeCompare(b.environment));
}

/**
 * The Deploy page's choices: the features a model fits (their required type is its type), every
 * environment, and the others named with what they need, e.g. "Photo tagging (needs vision)".
 */
export function deployChoices(features: FeatureRow[], model: ModelRow) {
  // An archived model (or one of an archived provider) is offered nowhere.
  if (isArchived(model))
    return {
      environments: ENVIRONMENTS,
      blocked: {},
      environmentOptions: ENVIRONMENTS.map((e) => [e, e, undefined] as const),
      blockedEverywhere: undefined,
      fitting: [],
      notOffered: `every feature: ${model.display_name} is archived`,
    };
  const others = features.filter((f) => f.required_model_type !== model.model_type);
  // Environments the pipeline would refuse anyway (offline, deprecated in production, provider inactive or keyless), with why.
  const blocked = Object.fromEntries(ENVIRONMENTS.map((e) => [e, standingRefusal(model, e)?.detail]));
  return {
    environments: ENVIRONMENTS,
    blocked,
    /** The environment select's options: [value, label, why it is not offered]. */
    environmentOptions: ENVIRONMENTS.map((e) => [e, e, blocked[e]] as const),
    blockedEverywhere: ENVIRONMENTS.every((e) => blocked[e]) ? blocked.development : undefined,
    fitting: features.filter((f) => f.required_model_type === model.model_type),
    notOffered: others.length ? others.map((f) => `${f.display_name} (needs ${f.required_model_type})`).join(', ') : null,
  };
}

/** The model page: figures and charts over the range, and (unless only the range part is wanted) where it serves and its deployments. */
export async function modelPage(db: Db, model: ModelRow, range: RangeName, now: Date, timeZone: string, performanceOnly = false) {
  const [metrics, serving, history] = await Promise.all([
    modelMetrics(db, [model.id], range, now).then((m) => m.get(model.id)!),
    performanceOnly ? [] : servingNow(db, [model.id]),
    performanceOnly ? [] : deploymentsPage(db, HISTORY_LIMIT, 0, { model: model.id }).then((p) => p.rows),
  ]);
  return { metrics, graphs: modelCharts(metrics, range, timeZone, now), serving, history };
}

/**
 * The ids a compare URL names (`ids=a,b` or the picker's repeated `ids`), in order, with the first
 * thing wrong with them: too few, too many, malformed or repeated.
 */
function compareSelection(raw: unknown): { ids: string[]; error?: string } {
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((v) =>
    typeof v === 'string' ? v.split(',') : [String(v)],
  );
  const ids = values
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => (isUuid(v) ? v.toLowerCase() : v));
  const malformed = ids.find((id) => !isUuid(id));
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  const error =
    malformed !== undefined
      ? `“${malformed.slice(0, 60).replace(/[\u0000-\u001f\u007f]/g, '?')}” is not a model id (a uuid)`
      : repeated !== undefined
        ? `Model ${repeated} is listed twice: choose ${COMPARE_MIN} to ${COMPARE_MAX} different models`
        : ids.length < COMPARE_MIN
          ? `Choose at least ${COMPARE_MIN} models to compare (${ids.length} chosen)`
          : ids.length > COMPARE_MAX
            ? `Compare at most ${COMPARE_MAX} models at a time (${ids.length} chosen)`
            : undefined;
  return { ids: ids.filter(isUuid), ...(error && { error }) };
}

/** A compared model: its row, figures over the range and where it serves now. */
export type ComparedModel = ModelRow & { metrics: ModelMetrics; serving: ModelDeploymentRow[] };

export interface CompareView {
  all: ModelRow[];
  chosen: string[];
  status: number;
  error?: string;
  models?: ComparedModel[];
  graphs?: ReturnType<typeof compareCharts>;
}

/**
 * The compare page: the models the picker offers (archived ones only while chosen), the chosen ids
 * and, for a valid selection, the models side by side with their charts. A bad selection is a 400
 * and an unknown id a 404, each with a message naming what is wrong; no `ids` at all is just the picker.
 */
export async function compareView(db: Db, rawIds: unknown, range: RangeName, now: Date, timeZone: string): Promise<CompareView> {
  const all = await listModels(db);
  const picker = (chosen: string[]) => ({ all: all.filter((m) => !m.archived_at || chosen.includes(m.id)), chosen });
  if (rawIds === undefined) return { ...picker([]), status: 200 };
  const { ids, error } = compareSelection(rawIds);
  if (error) return { ...picker(ids), status: 400, error };
  const unknown = ids.find((id) => !all.some((m) => m.id === id));
  if (unknown) return { ...picker(ids), status: 404, error: `No model has the id ${unknown}` };
  const [metrics, serving] = await Promise.all([modelMetrics(db, ids, range, now), servingNow(db, ids)]);
  const models: ComparedModel[] = ids.map((id) => ({
    ...all.find((m) => m.id === id)!,
    metrics: metrics.get(id)!,
    serving: serving.filter((s) => s.model_id === id),
  }));
  return { ...picker(ids), status: 200, models, graphs: compareCharts(models, range, timeZone, now) };
}
