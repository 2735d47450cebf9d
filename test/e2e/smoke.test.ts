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

test.each(['exact', 'sharded'] as const)('join, tick, claim, complete (%s intake)', async (intake) => {
  const e = `/v1/events/e1-${intake}`;
  expect(
    (await call(app, 'PUT', `/v1/admin/events/e1-${intake}`, { admin: true, body: { capacity: 1, intake } }))
      .status,
  ).toBe(200);
  const a = await call(app, 'POST', `${e}/join`, { body: { userId: 'a' } });
  expect(a.status).toBe(201);
  clock.advance(1);
  const b = await call(app, 'POST', `${e}/join`, { body: {} });
  expect(b.body.position).toBeGreaterThan(a.body.position);
  if (intake === 'exact') expect(b.body.position).toBe(2);
  // A sharded slice is settled once its second is over (plus a grace).
  clock.advance(intake === 'sharded' ? 3 : 0);
  await app.tick();
  clock.advance(1);
  const s = await call(app, 'GET', `${e}/status`, { token: a.body.token });
  expect(s.body.status).toBe('admitted');
  const claim = await call(app, 'POST', `${e}/admission`, { token: a.body.token });
  expect(claim.status).toBe(200);
  const notYet = await call(app, 'POST', `${e}/admission`, { token: b.body.token });
  expect(notYet.status).toBe(409);
  expect(notYet.body.error.ahead).toBe(1);
  expect((await call(app, 'POST', `${e}/complete`, { token: claim.body.accessToken })).status).toBe(204);
  await app.tick();
  const s2 = await call(app, 'GET', `${e}/status`, { token: b.body.token });
  expect(s2.body.status).toBe('admitted');
});
