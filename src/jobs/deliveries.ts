import type { Db } from '../db/knex.ts';
import type { Providers } from '../providers/index.ts';
import { sendDue } from '../services/deliveries.ts';

/** Every 10 seconds: the notification outbox (each channel's oldest due delivery; instances take different channels). */
export const schedule = '*/10 * * * * *';

export async function run({
  db,
  now,
  providers,
}: {
  db: Db;
  now: Date;
  providers: Pick<Providers, 'openKey' | 'lookup' | 'privateAddressProblem'>;
}) {
  return sendDue(db, providers, now);
}
