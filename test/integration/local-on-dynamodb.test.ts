/** The local runtime is one setting away from DynamoDB: AWS_ENDPOINT_URL (here DynamoDB Local). */
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { uniqueTableName, useDynamoDbLocalEnv } from '../support/dynamodb-local.ts';
import { call, startTestApp } from '../support/local-app.ts';

let app: LocalApp;
const clock = new TestClock(Date.now());
beforeAll(async () => {
  useDynamoDbLocalEnv(inject('ddbEndpoint'));
  // The table does not exist yet: the local runtime creates it.
  app = await startTestApp({
    env: { FQ_STORE: 'dynamodb', FQ_TABLE: uniqueTableName('local') },
    demo: true,
    overrides: { now: clock.now },
  });
});
afterAll(() => app?.close());

test('the demo event, a join, a tick and a claim, stored in DynamoDB', async () => {
  const event = await call(app, 'GET', '/v1/events/demo');
  expect(event.status).toBe(200);
  const join = await call(app, 'POST', '/v1/events/demo/join', { body: { userId: 'dana' } });
  expect(join.status).toBe(201);
  await app.tick();
  clock.advance(1);
  const status = await call(app, 'GET', '/v1/events/demo/status', { token: join.body.token });
  expect(status.body).toMatchObject({ status: 'admitted', ahead: 0 });
  const claim = await call(app, 'POST', '/v1/events/demo/admission', { token: join.body.token });
  expect(claim.status).toBe(200);
  const stats = await call(app, 'GET', '/v1/admin/events/demo/stats', { admin: true });
  expect(stats.body).toMatchObject({ issued: 1, servingPosition: 1, active: 1 });
});
