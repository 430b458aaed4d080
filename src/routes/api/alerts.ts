import { Router } from 'express';
import { z } from 'zod';
import { notFound } from '../../http/errors.ts';
import { choice, parseQuery } from '../../http/query.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { budgetRows } from '../../pages/alerts.ts';
import { createRule, deleteRule, ruleView, updateRule } from '../../services/alert-rules.ts';
import { acknowledge, alertHistory, createSilence, currentSilences, findAlert, openAlerts } from '../../services/alerts.ts';
import { createChannel, deliveries, deliveryFilter, listChannels, resend, testSend } from '../../services/notification-channels.ts';
import type { RouteDeps } from '../deps.ts';

const idOf = (raw: unknown, what: string) => {
  const id = z.uuid().safeParse(raw);
  if (!id.success) throw notFound(what);
  return id.data;
};
const body = (b: unknown) => (b ?? {}) as Record<string, unknown>;
const alertFilter = z.object({ state: choice(['pending', 'firing', 'recovering', 'resolved']).optional() });

/** Alerts, rules, silences, channels and deliveries (SPEC §10.4); mounted at /api/platform/ai-management. */
export function alertApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();

  router.get('/alert-rules', requireRead, async (_req, res) => {
    res.json({ success: true, data: (await db('alert_rules').orderBy('created_at')).map(ruleView) });
  });
  router.post('/alert-rules', requireWrite, async (req, res) => {
    res.status(201).json({ success: true, data: ruleView(await createRule(db, req.principal!, body(req.body))) });
  });
  router.patch('/alert-rules/:id', requireWrite, async (req, res) => {
    res.json({ success: true, data: ruleView(await updateRule(db, req.principal!, idOf(req.params.id, 'Alert rule'), body(req.body))) });
  });
  router.delete('/alert-rules/:id', requireWrite, async (req, res) => {
    await deleteRule(db, req.principal!, idOf(req.params.id, 'Alert rule'));
    res.status(204).end();
  });

  router.get('/alerts', requireRead, async (req, res) => {
    const { state } = parseQuery(alertFilter, req.query);
    if (state === 'resolved') return res.json({ success: true, data: await alertHistory(db, { resolved: true }, 200) });
    res.json({ success: true, data: await openAlerts(db, { state }) });
  });
  router.get('/alerts/:id', requireRead, async (req, res) => {
    const alert = await findAlert(db, idOf(req.params.id, 'Alert'));
    if (!alert) throw notFound('Alert');
    res.json({ success: true, data: { ...alert, events: await alertHistory(db, { alertId: alert.id }) } });
  });
  router.post('/alerts/:id/ack', requireWrite, async (req, res) => {
    const id = idOf(req.params.id, 'Alert');
    await acknowledge(db, req.principal!, id, body(req.body), new Date());
    res.json({ success: true, data: await findAlert(db, id) });
  });

  router.get('/budgets', requireRead, async (_req, res) => {
    res.json({ success: true, data: await budgetRows(db, new Date()) });
  });

  router.get('/silences', requireRead, async (_req, res) => {
    res.json({ success: true, data: await currentSilences(db, new Date()) });
  });
  router.post('/silences', requireWrite, async (req, res) => {
    res.status(201).json({ success: true, data: await createSilence(db, req.principal!, body(req.body), new Date()) });
  });

  router.get('/notification-channels', requireRead, async (_req, res) => {
    res.json({ success: true, data: await listChannels(db) });
  });
  router.post('/notification-channels', requireWrite, async (req, res) => {
    res.status(201).json({ success: true, data: await createChannel(db, providers, req.principal!, body(req.body)) });
  });
  router.post('/notification-channels/:id/test', requireWrite, async (req, res) => {
    res.status(202).json({ success: true, data: await testSend(db, req.principal!, idOf(req.params.id, 'Channel'), new Date()) });
  });

  router.get('/deliveries', requireRead, async (req, res) => {
    res.json({ success: true, data: await deliveries(db, parseQuery(deliveryFilter, req.query), 500) });
  });
  router.post('/deliveries/:id/resend', requireWrite, async (req, res) => {
    await resend(db, req.principal!, idOf(req.params.id, 'Delivery'), new Date());
    res.status(202).json({ success: true });
  });
  return router;
}
