import type { Express } from 'express';
import request from 'supertest';
import { suffix } from './factories.ts';

/** POST /api/v1/usage with a bearer token (an ingest token, or whatever the test is about). */
export const postUsage = (app: Express, token: string, body: unknown) =>
  request(app)
    .post('/api/v1/usage')
    .set('Authorization', `Bearer ${token}`)
    .send(body as object);

/** A valid usage event of `feature` with a fresh id (`tag` tells one file's events from another's); `extra` adds or overrides fields. */
export const usageEvent = (
  tag: string,
  feature: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> & { event_id: string } => ({
  event_id: `${tag}-${suffix()}-${suffix()}`,
  feature,
  model: 'gpt-4o-mini',
  status: 'success',
  response_time_ms: 120,
  ...extra,
});
