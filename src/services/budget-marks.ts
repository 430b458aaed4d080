import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { queueNotices, silences } from './alert-notices.ts';
import { type BudgetFigures, budgetFiguresIn, markMessage, marksReached } from './budgets.ts';

// Budget marks (50, 80, 100% used, projected over), each once per feature and month (budget_marks'
// key): a mark reached for the first time is recorded, written into the history of the alert of the
// feature's default spend rule, and sent to that rule's channels (unless a silence covers it).

interface Fired {
  feature: { id: string; name: string };
  mark: string;
  message: string;
  figures: BudgetFigures;
}

/** The marks reached as of `at` that had not been reached this month yet, now recorded. */
async function recordMarks(trx: Db, cursor: number, at: Date): Promise<Fired[]> {
  const features = await trx('ai_features')
    .whereNull('archived_at')
    .whereNotNull('monthly_budget_usd')
    .select('id', 'name', 'monthly_budget_usd');
  if (!features.length) return [];
  const figures = await budgetFiguresIn({ db: trx, cursor, environment: null }, features, at);
  const rows = features.flatMap((f) => {
    const b = figures.get(f.id)!;
    return marksReached(b).map((mark) => ({ feature_id: f.id, month: b.month, mark, fired_at: at, message: markMessage(mark, b) }));
  });
  if (!rows.length) return [];
  const fired = await trx('budget_marks')
    .insert(rows)
    .onConflict(['feature_id', 'month', 'mark'])
    .ignore()
    .returning(['feature_id', 'mark', 'message']);
  const byId = new Map(features.map((f) => [f.id, f]));
  return fired.map((m) => ({ feature: byId.get(m.feature_id)!, mark: m.mark, message: m.message, figures: figures.get(m.feature_id)! }));
}

/** A mark in the history of the spend rule's alert, and its notice to the rule's channels. */
async function tell(trx: Db, rule: Row<'alert_rules'>, m: Fired, silenced: boolean, at: Date) {
  await trx('alerts')
    .insert({ rule_id: rule.id, feature_id: m.feature.id, since: at, evaluated_at: at })
    .onConflict(['rule_id', 'feature_id'])
    .ignore();
  const alert = (await trx('alerts').where({ rule_id: rule.id, feature_id: m.feature.id }).first())!;
  const b = m.figures;
  const [event] = await trx('alert_events')
    .insert({
      alert_id: alert.id,
      kind: 'budget',
      from_state: alert.state,
      to_state: alert.state,
      value: b.mtd,
      threshold: b.budget,
      sample_n: null,
      note: m.message,
      actor: null,
      at,
    })
    .returning(['id', 'kind', 'from_state', 'to_state', 'value', 'sample_n']);
  if (!rule.enabled) return;
  const budget = {
    ...b,
    exhaustion_at: b.exhaustion_at?.toISOString() ?? null,
    month_last_day: b.month_last_day.toISOString().slice(0, 10),
  };
  const extra = { mark: m.mark, message: m.message, budget };
  await queueNotices(trx, [{ alert, rule, feature: m.feature, event: event!, notice: 'budget', at, silenced, extra }]);
}

export async function fireBudgetMarks(trx: Db, cursor: number, at: Date): Promise<number> {
  const fired = await recordMarks(trx, cursor, at);
  if (!fired.length) return 0;
  const rules = await trx('alert_rules')
    .where({ is_default: true, kind: 'spend_month' })
    .whereIn('feature_id', [...new Set(fired.map((m) => m.feature.id))]);
  const ruleOf = new Map(rules.map((r) => [r.feature_id!, r]));
  const active = await trx('silences').where('starts_at', '<=', at).where('ends_at', '>', at);
  for (const m of fired) {
    const rule = ruleOf.get(m.feature.id);
    if (rule)
      await tell(
        trx,
        rule,
        m,
        active.some((s) => silences(s, rule, m.feature.id, at)),
        at,
      );
  }
  return fired.length;
}
