/**
 * What a deployment measures, seen locally: the same figures the Lambdas send to
 * CloudWatch as embedded metrics, at `GET /_local/metrics` in Prometheus text.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';

let app: LocalApp;
const clock = new TestClock();
beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
});
afterAll(() => app.close());

/** `name{labels} value` lines of the exposition, as a map. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${app.url}/_local/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const figures = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    figures.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return figures;
}

test('joins, admissions, the queue, sessions, ticks and fan-out are counted as they happen', async () => {
  await call(app, 'PUT', '/v1/admin/events/m1', {
    admin: true,
    body: { capacity: 2, claimWindowSeconds: 30, purchaseWindowSeconds: 60 },
  });
  const fans = [];
  for (let i = 0; i < 5; i++) fans.push((await call(app, 'POST', '/v1/events/m1/join', { body: {} })).body);
  // A repeated join of the same user is not a new place.
  await call(app, 'POST', '/v1/events/m1/join', { body: { userId: 'same' } });
  await call(app, 'POST', '/v1/events/m1/join', { body: { userId: 'same' } });
  await app.tick();
  await app.settle();
  const claim = await call(app, 'POST', '/v1/events/m1/admission', { token: fans[0].token });
  expect(claim.status).toBe(200);
  clock.advance(31); // #2's claim window lapses
  await app.tick();
  await app.settle();

  const m = await scrape();
  expect(m.get('fairqueue_joins_total')).toBe(6);
  expect(m.get('fairqueue_join_latency_milliseconds_count')).toBe(7);
  expect(m.get('fairqueue_admitted_total{eventId="m1"}')).toBe(3); // 2, then 1 more once #2 missed
  expect(m.get('fairqueue_missed_total{eventId="m1"}')).toBe(1);
  expect(m.get('fairqueue_queue_length{eventId="m1"}')).toBe(3); // 6 places, serving 3
  expect(m.get('fairqueue_active_sessions{eventId="m1"}')).toBe(1);
  expect(m.get('fairqueue_tick_age_seconds{eventId="m1"}')).toBe(31);
  expect(m.get('fairqueue_tick_duration_milliseconds_count')).toBeGreaterThanOrEqual(2);
  expect(m.get('fairqueue_throttled_total')).toBe(0);
  expect(m.get('fairqueue_server_errors_total')).toBe(0);
  // No WebSocket client is connected: the workers ran and posted nothing.
  expect(m.get('fairqueue_fanout_messages_total')).toBe(0);
});

test('every metric of the catalog is exposed with its help text', async () => {
  const text = await (await fetch(`${app.url}/_local/metrics`)).text();
  for (const name of [
    'joins_total',
    'join_latency_milliseconds',
    'throttled_total',
    'server_errors_total',
    'admitted_total',
    'queue_length',
    'active_sessions',
    'missed_total',
    'expired_total',
    'tick_duration_milliseconds',
    'tick_age_seconds',
    'fanout_messages_total',
    'fanout_failures_total',
    'push_sent_total',
    'push_failed_total',
  ])
    expect(text).toContain(`# HELP fairqueue_${name} `);
  expect((await call(app, 'POST', '/_local/metrics')).status).toBe(405);
});
