import type { Db } from '../db/knex.ts';
import { type AssignmentFilter, activeAssignments } from '../db/queries/assignments.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { type Actor, recordAudit } from './audit.ts';

/** What can be archived: hidden from pickers and default lists, its history (audit, deployments, usage) kept. */
export type ArchiveKind = 'provider' | 'model' | 'feature';

const TABLES = { provider: 'ai_providers', model: 'ai_models', feature: 'ai_features' } as const;
const SERVING: Record<ArchiveKind, (id: string) => AssignmentFilter> = {
  provider: (id) => ({ providerId: id }),
  model: (id) => ({ modelId: id }),
  feature: (id) => ({ featureId: id }),
};

/** Whether an item is archived: a model is, too, while its provider is. */
export const isArchived = (x: { archived_at: Date | null; provider_archived_at?: Date | null }) =>
  x.archived_at !== null || (x.provider_archived_at ?? null) !== null;

/**
 * Archives a provider, model or feature (or brings it back), audited. Archiving is refused (422,
 * nothing written) while it serves any active assignment, naming each: the feature, the environment
 * and the model. Archiving what is archived, or bringing back what is in use, changes nothing.
 */
export async function setArchived(
  db: Db,
  actor: Actor,
  target: { kind: ArchiveKind; id: string; display_name: string },
  archive: boolean,
): Promise<void> {
  const table = TABLES[target.kind];
  await db.transaction(async (trx) => {
    const row = await trx(table).where('id', target.id).forUpdate().first('archived_at', 'archived_by');
    if (!row) throw notFound(target.kind === 'provider' ? 'Provider' : target.kind === 'model' ? 'Model' : 'Feature');
    if (archive === (row.archived_at !== null)) return;
    if (archive) {
      const serving = await activeAssignments(trx, SERVING[target.kind](target.id));
      if (serving.length) {
        const where = serving.map((a) => `${a.feature_display_name} in ${a.environment} (${a.model_display_name})`).join(', ');
        throw new Refusal(
          422,
          `${target.display_name} cannot be archived while it serves ${where}: move those first.`,
          {},
          { serving: where },
        );
      }
    }
    const change = archive ? { archived_at: new Date(), archived_by: actor.label } : { archived_at: null, archived_by: null };
    await trx(table).where('id', target.id).update(change);
    await recordAudit(trx, actor, {
      action: `${target.kind}.${archive ? 'archived' : 'unarchived'}`,
      entityType: target.kind,
      entityId: target.id,
      before: { archived_at: row.archived_at, archived_by: row.archived_by },
      after: change,
    });
  });
}
