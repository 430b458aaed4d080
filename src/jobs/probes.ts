import type { Db } from '../db/knex.ts';
import type { Providers } from '../providers/index.ts';
import { probeProvider } from '../services/providers.ts';

const LOCK = 0x5b_0004;
const SLOT_MS = 5 * 60_000;

/** Every 5 minutes: probe each active provider once (GET /models through its adapter) and store the result. */
export const schedule = '0 */5 * * * *';

/**
 * Once per 5-minute slot across all instances: the transaction-level advisory lock keeps two runners
 * apart, and a provider already probed in the slot is skipped, so a second run in the same slot
 * changes nothing. Each probe is bounded by the provider timeout, and they run side by side.
 */
export async function run({ db, now, providers }: { db: Db; now: Date; providers: Providers }) {
  const slot = new Date(Math.floor(now.getTime() / SLOT_MS) * SLOT_MS);
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ran: false, probed: 0, failed: 0 };
    const due: string[] = await trx('ai_providers as p')
      .where('p.status', 'active')
      .whereNotExists(trx('health_checks as h').whereRaw('h.provider_id = p.id').where('h.kind', 'probe').where('h.checked_at', '>=', slot))
      .pluck('p.id');
    const results = await Promise.all(due.map((id) => probeProvider(trx, providers, id, 'probe', now)));
    return { ran: true, probed: results.length, failed: results.filter((r) => !r.ok).length };
  });
}
