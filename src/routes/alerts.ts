import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { notFound, type Refusal, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { choice, formatParam, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { ALERT_TABLES, alertPage, alertsCsv, alertsPage } from '../pages/alerts.ts';
import { createRule, deleteRule, updateRule } from '../services/alert-rules.ts';
import { acknowledge, createSilence, endSilence } from '../services/alerts.ts';
import { createChannel, resend, testSend } from '../services/notification-channels.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const LIST = { page: 'pages/alerts' };
const ONE = { page: 'pages/alert', partial: 'partials/alerts/alert-detail' };
const listQuery = z.object({ format: formatParam, table: choice(ALERT_TABLES).default('open') });
const idOf = (raw: unknown, what: string) => {
  const id = z.uuid().safeParse(raw);
  if (!id.success) throw notFound(what);
  return id.data;
};
type ListForm = 'rule' | 'silence' | 'channel';
type AlertForm = 'ack' | 'silence';
type Act = (req: Request) => Promise<string>;

/** The Alerts page, with one of its forms shown again with its errors (422) when a write was refused. */
async function showList({ db }: RouteDeps, req: Request, res: Response, refused?: { form: ListForm; err: Refusal }) {
  const data = await alertsPage(db, res.locals.fmt, new Date());
  const forms = { rule: {}, silence: {}, channel: {}, ...(refused && { [refused.form]: req.body ?? {} }) };
  const errors = { rule: {}, silence: {}, channel: {}, ...(refused && { [refused.form]: refused.err.fields }) };
  render(req, res, LIST, { title: 'Alerts', ...data, forms, errors }, refused ? refused.err.status : 200);
}

/** An alert's page, with its ack or silence form shown again with its errors when refused. */
async function showOne({ db }: RouteDeps, req: Request, res: Response, refused?: { form: AlertForm; err: Refusal }) {
  const data = await alertPage(db, res.locals.fmt, idOf(req.params.id, 'Alert'));
  if (!data) throw notFound('Alert');
  const forms = { ack: {}, silence: {}, ...(refused && { [refused.form]: req.body ?? {} }) };
  const errors = { ack: {}, silence: {}, ...(refused && { [refused.form]: refused.err.fields }) };
  render(req, res, ONE, { title: `Alert: ${data.alert.feature_name}`, ...data, forms, errors }, refused ? refused.err.status : 200);
}

/** A write from the Alerts page: 303 back with a flash; refused, its form again (or, for a button, a flash saying why). */
const listWrite = (deps: RouteDeps, form: ListForm | null, act: Act) => async (req: Request, res: Response) => {
  try {
    flash(req, 'success', await act(req));
  } catch (err) {
    const refusal = refusalOf(err);
    if (form) return showList(deps, req, res, { form, err: refusal });
    flash(req, 'error', refusal.reasons);
  }
  res.redirect(303, url.alerts());
};

/** A write from an alert's page: 303 back to it (htmx: the alert itself), or the page again with the refused form. */
const alertWrite = (deps: RouteDeps, form: AlertForm, act: Act) => async (req: Request, res: Response) => {
  try {
    flash(req, 'success', await act(req));
  } catch (err) {
    return showOne(deps, req, res, { form, err: refusalOf(err) });
  }
  // htmx gets the alert at once (the same URL: nothing to push); a plain form the 303.
  if (req.htmx.request) return showOne(deps, req, res);
  res.redirect(303, url.alert(idOf(req.params.id, 'Alert')));
};

/** Alerts, mounted at /platform/ai-management/alerts: the page, an alert's page, and their forms (admins). */
export function alertRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const q = parseQuery(listQuery, req.query);
    if (q.format !== 'csv') return showList(deps, req, res);
    const data = await alertsPage(deps.db, res.locals.fmt, new Date());
    res.type('text/csv').attachment(`alerts-${q.table}.csv`).send(alertsCsv(q.table, data));
  });
  for (const [path, form, act] of listActions(deps)) router.post(path, requireWrite, listWrite(deps, form, act));
  router.get('/:id', (req, res) => showOne(deps, req, res));
  router.post('/:id/ack', requireWrite, alertWrite(deps, 'ack', acknowledgeAct(deps)));
  router.post('/:id/silence', requireWrite, alertWrite(deps, 'silence', silenceAct(deps)));
  return router;
}

function listActions({ db, providers }: RouteDeps): [string, ListForm | null, Act][] {
  return [
    [
      '/rules',
      'rule',
      async (req) => {
        await createRule(db, req.principal!, req.body ?? {});
        return 'Alert rule added. It is evaluated from the next minute.';
      },
    ],
    [
      '/rules/:id/toggle',
      null,
      async (req) => {
        const id = idOf(req.params.id, 'Alert rule');
        const rule = await db('alert_rules').where({ id }).first('enabled');
        if (!rule) throw notFound('Alert rule');
        await updateRule(db, req.principal!, id, { enabled: !rule.enabled });
        return rule.enabled ? 'Alert rule disabled.' : 'Alert rule enabled.';
      },
    ],
    [
      '/rules/:id/delete',
      null,
      async (req) => {
        await deleteRule(db, req.principal!, idOf(req.params.id, 'Alert rule'));
        return 'Alert rule deleted.';
      },
    ],
    [
      '/silences',
      'silence',
      async (req) => {
        await createSilence(db, req.principal!, req.body ?? {}, new Date());
        return 'Silence added: matching alerts still change state, their messages are held.';
      },
    ],
    [
      '/silences/:id/end',
      null,
      async (req) => {
        await endSilence(db, req.principal!, idOf(req.params.id, 'Silence'), new Date());
        return 'Silence ended.';
      },
    ],
    ['/channels', 'channel', async (req) => `Channel ${(await createChannel(db, providers, req.principal!, req.body ?? {})).name} added.`],
    [
      '/channels/:id/test',
      null,
      async (req) => {
        await testSend(db, req.principal!, idOf(req.params.id, 'Channel'), new Date());
        return 'Test message queued: its delivery shows in the log below.';
      },
    ],
    [
      '/deliveries/:id/resend',
      null,
      async (req) => {
        await resend(db, req.principal!, idOf(req.params.id, 'Delivery'), new Date());
        return 'Delivery queued again, with the same delivery id.';
      },
    ],
  ];
}

const acknowledgeAct =
  ({ db }: RouteDeps): Act =>
  async (req) => {
    await acknowledge(db, req.principal!, idOf(req.params.id, 'Alert'), req.body ?? {}, new Date());
    return 'Acknowledged: no repeated messages until the alert resolves.';
  };

/** Silences this alert: its feature, kind and environment, for a number of hours or until a time. */
const silenceAct =
  ({ db }: RouteDeps): Act =>
  async (req) => {
    const alert = await db('alerts')
      .join('alert_rules', 'alert_rules.id', 'alerts.rule_id')
      .where('alerts.id', idOf(req.params.id, 'Alert'))
      .first('alerts.feature_id', 'alert_rules.kind', 'alert_rules.environment');
    if (!alert) throw notFound('Alert');
    const { hours, until, reason } = (req.body ?? {}) as Record<string, unknown>;
    const matchers = { feature: alert.feature_id, kind: alert.kind, environment: alert.environment ?? undefined };
    await createSilence(db, req.principal!, { ...matchers, hours, until, reason }, new Date());
    return 'Silenced: this alert still changes state; its messages are held until the silence ends.';
  };
