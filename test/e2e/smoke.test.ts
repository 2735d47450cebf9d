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

test('join, tick, claim, complete', async () => {
  expect((await call(app, 'PUT', '/v1/admin/events/e1', { admin: true, body: { capacity: 1 } })).status).toBe(
    200,
  );
  const a = await call(app, 'POST', '/v1/events/e1/join', { body: { userId: 'a' } });
  expect(a.status).toBe(201);
  const b = await call(app, 'POST', '/v1/events/e1/join', { body: {} });
  expect(b.body.position).toBe(2);
  await app.tick();
  clock.advance(1);
  const s = await call(app, 'GET', '/v1/events/e1/status', { token: a.body.token });
  expect(s.body.status).toBe('admitted');
  const claim = await call(app, 'POST', '/v1/events/e1/admission', { token: a.body.token });
  expect(claim.status).toBe(200);
  const notYet = await call(app, 'POST', '/v1/events/e1/admission', { token: b.body.token });
  expect(notYet.status).toBe(409);
  expect(notYet.body.error.ahead).toBe(1);
  expect((await call(app, 'POST', '/v1/events/e1/complete', { token: claim.body.accessToken })).status).toBe(
    204,
  );
  await app.tick();
  const s2 = await call(app, 'GET', '/v1/events/e1/status', { token: b.body.token });
  expect(s2.body.status).toBe('admitted');
});
