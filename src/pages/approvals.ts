import type { Principal } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';
import { type ChangeRequestRow, changeRequests } from '../db/queries/change-requests.ts';
import { ENVIRONMENTS } from '../domain.ts';
import { environmentPolicies } from '../services/change-requests.ts';

/** How many decided requests the page lists (the newest). */
const DECIDED_SHOWN = 50;

/** Whether this principal may decide the request (another admin's, still in time), and if not, why. */
function decision(r: ChangeRequestRow, principal: Principal, now: Date) {
  if (r.requested_by_kind === principal.kind && r.requested_by_id === principal.id) return { canDecide: false, why: 'you asked for this' };
  if (r.expires_at <= now) return { canDecide: false, why: 'expired' };
  return { canDecide: true, why: undefined };
}

/** The approvals page: each environment's policy, the requests waiting (oldest first), the newest decided. */
export async function approvalsPage(db: Db, principal: Principal, now: Date) {
  const [policies, pending, decided] = await Promise.all([
    environmentPolicies(db),
    changeRequests(db, { state: 'pending' }, 200),
    changeRequests(db, { state: 'decided' }, DECIDED_SHOWN),
  ]);
  return {
    policies: ENVIRONMENTS.map((environment) => ({ environment, ...(policies[environment] ?? { requires_approval: false }) })),
    pending: pending.map((r) => ({ ...r, ...decision(r, principal, now) })),
    decided,
  };
}
