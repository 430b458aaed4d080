import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { listModels } from '../db/queries/catalogue.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { promptVersions } from '../db/queries/prompts.ts';
import { ENVIRONMENTS } from '../domain.ts';
import { isArchived } from '../services/archive.ts';
import { testCasesTab } from './test-cases.ts';
import { testRunsPanel } from './test-runs.ts';

/**
 * The Testing tab: the targets the playground and suite runs offer (each environment serving a model,
 * with that model and its active prompt; then every compatible model), the prompt versions to try with
 * a model, the feature's test cases and its recent runs.
 */
export async function featureTestingTab(db: Db, feature: FeatureRow) {
  const [assignments, models, versions, cases] = await Promise.all([
    activeAssignments(db, { featureId: feature.id }),
    listModels(db),
    promptVersions(db, feature.id),
    testCasesTab(db, feature),
  ]);
  const environments = ENVIRONMENTS.flatMap((env) => {
    const a = assignments.find((x) => x.environment === env);
    if (!a) return [];
    const prompt = versions.find((v) => v.active_in.includes(env));
    const label = `${env}: ${a.model_display_name}${prompt ? `, prompt v${prompt.version}` : ''}`;
    return [[`env:${env}`, label] as [string, string]];
  });
  const compatible = models
    .filter((m) => m.model_type === feature.required_model_type && !isArchived(m))
    .map((m) => [`model:${m.id}`, m.display_name] as [string, string]);
  const targets = [...environments, ...compatible];
  return {
    cases,
    runs: await testRunsPanel(db, feature, targets[0]?.[0]),
    targets,
    versions: [
      ['', 'The environment’s active prompt, or none'] as [string, string],
      ...versions.map((v) => [String(v.version), `Version ${v.version}`] as [string, string]),
    ],
  };
}
