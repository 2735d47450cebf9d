/**
 * The IAM grants on the table are narrow (item actions and partitions per function,
 * infra/waiting-room.ts `TABLE_GRANTS`); this proves they are wide enough. Every
 * handler runs a whole sale on DynamoDB Local — events, joins, connections over the
 * cap, heartbeats, push registration, ticks, fan-out, push, claims, access checks,
 * completes, pause, resume, close — while the client records each request with the
 * function that made it, and each one is checked against that function's grant as IAM would.
 */
import '../support/handler-env.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { DynamoDeviceStore } from '#adapters/dynamo-devices';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { readConfig } from '#app/config';
import { fanoutJobs } from '#app/jobs';
import { buildRuntime, setRuntime } from '#app/runtime';
import { handler as accessCheck } from '#functions/access';
import { handler as admin } from '#functions/admin';
import { handler as admission } from '#functions/admission';
import { handler as admitter } from '#functions/admitter';
import { handler as complete } from '#functions/complete';
import { handler as devices } from '#functions/devices';
import { handler as event } from '#functions/event';
import { handler as fanout } from '#functions/fanout';
import { handler as join } from '#functions/join';
import { handler as leave } from '#functions/leave';
import { handler as push } from '#functions/push';
import { handler as status } from '#functions/status';
import { handler as wsConnect } from '#functions/ws-connect';
import { handler as wsDefault } from '#functions/ws-default';
import { handler as wsDisconnect } from '#functions/ws-disconnect';
import { lambdaContext } from '#local/gateway';
import type { ChangeNotifier, ConnectionPoster, LineChange } from '#ports/realtime';
import { TABLE_GRANTS } from '../../infra/waiting-room.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { apiEvent, wsEvent } from '../support/forge.ts';

interface Request {
  readonly fn: string;
  readonly action: string;
  readonly partition: string;
}

const endpoint = inject('ddbEndpoint');
const tableName = uniqueTableName('least-privilege');
const caller = new AsyncLocalStorage<string>();
const requests: Request[] = [];
const changes: LineChange[] = [];

/** `{S: 'x'}` (marshalled) or `'x'`. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'S' in value) return String((value as { S: unknown }).S);
  return '?';
}

/** The IAM action and the partition key of every item a request touches. */
function itemsOf(command: string, input: Record<string, unknown>): { action: string; partition: string }[] {
  const key = (i: Record<string, unknown>) =>
    text(((i.Key ?? i.Item) as Record<string, unknown> | undefined)?.pk);
  if (command === 'TransactWriteItemsCommand') {
    const items = (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[];
    return items.flatMap((item) =>
      Object.entries(item).map(([kind, body]) => ({
        action: kind === 'ConditionCheck' ? 'ConditionCheckItem' : `${kind}Item`,
        partition: key(body),
      })),
    );
  }
  if (command === 'QueryCommand') {
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    return [{ action: 'Query', partition: text(values[':pk']) }];
  }
  return [{ action: command.replace(/Command$/, ''), partition: key(input) }];
}

const allowedBy = (pattern: string, partition: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(partition);

const posted: string[] = [];
const poster: ConnectionPoster = {
  post: async (connectionId) => {
    posted.push(connectionId);
    return 'sent';
  },
  close: async () => 'closed',
};
const notifier: ChangeNotifier = {
  notify: async (c) => {
    changes.push(...c);
  },
};

beforeAll(async () => {
  await createTable(endpoint, tableName);
  const client = dynamoClient(endpoint);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const fn = caller.getStore() ?? 'test';
      for (const item of itemsOf(String(context.commandName), args.input as Record<string, unknown>))
        requests.push({ fn, ...item });
      return next(args);
    },
    { step: 'initialize', name: 'recordForGrants' },
  );
  const table = new DynamoTable(client, tableName);
  const config = readConfig({
    FQ_STORE: 'dynamodb',
    FQ_TABLE: tableName,
    FQ_KEY_DIR: mkdtempSync(joinPath(tmpdir(), 'fq-lp-keys-')),
    FQ_PUSH: 'local',
    FQ_JOIN_RATE_LIMIT_PER_MINUTE: '100',
    FQ_WS_SHARDS: '2',
    FQ_WS_MAX_CONNECTIONS_PER_PLACE: '2',
    FQ_WS_MANAGEMENT_ENDPOINT: 'http://127.0.0.1:1',
  });
  setRuntime(
    buildRuntime(config, {
      store: new DynamoQueueStore(table),
      registry: new DynamoConnectionRegistry(table, tableName, 2),
      devices: new DynamoDeviceStore(table),
      poster,
      notifier,
    }),
  );
});
afterAll(() => setRuntime(undefined));

type Http = typeof join;
async function http(
  fn: string,
  handler: Http,
  routeKey: string,
  options: Parameters<typeof apiEvent>[1] = {},
) {
  const result = (await caller.run(fn, () =>
    handler(apiEvent(routeKey, options), lambdaContext(fn)),
  )) as APIGatewayProxyStructuredResultV2;
  expect(result.statusCode, `${fn} ${routeKey}: ${result.body}`).toBeLessThan(300);
  return result.body ? JSON.parse(result.body) : undefined;
}

/** Runs the workers over what the line did since the last call, as Lambda would. */
async function workers() {
  const batch = changes.splice(0, changes.length);
  for (const job of fanoutJobs(batch, 2)) await caller.run('fanout', () => fanout(job));
  if (batch.length > 0) await caller.run('push', () => push({ changes: batch }));
}

test('every request of a whole sale is allowed by the grant of the function that made it', async () => {
  const eventId = 'lp';
  const adminRoute = (action: string) => `POST /v1/admin/events/{eventId}/${action}`;
  await http('admin', admin, 'PUT /v1/admin/events/{eventId}', {
    eventId,
    body: { capacity: 2, claimWindowSeconds: 60, nearThreshold: 5 },
  });
  await http('admin', admin, 'PUT /v1/admin/events/{eventId}', {
    eventId,
    body: { capacity: 2, admitPerMinute: 600 },
  });
  const fans = [];
  fans.push(
    await http('join', join, 'POST /v1/events/{eventId}/join', { eventId, body: { userId: 'alice' } }),
  );
  await http('join', join, 'POST /v1/events/{eventId}/join', { eventId, body: { userId: 'alice' } });
  for (let i = 0; i < 3; i++)
    fans.push(await http('join', join, 'POST /v1/events/{eventId}/join', { eventId, body: {} }));
  await http('event', event, 'GET /v1/events/{eventId}', { eventId });

  // Three connections on one place (cap 2: the oldest is closed), one on another; a heartbeat each.
  const connect = (id: string, token: string) =>
    caller.run('ws-connect', () => wsConnect(wsEvent('$connect', id, { token })));
  for (const id of ['c1=', 'c2=', 'c3='])
    expect((await connect(id, fans[0].token)).statusCode).toBeLessThan(300);
  expect((await connect('c4=', fans[3].token)).statusCode).toBe(200);
  for (const id of ['c2=', 'c3=', 'c4='])
    await caller.run('ws-default', () => wsDefault(wsEvent('$default', id, { body: '{"type":"ping"}' })));
  // A message from a connection nobody knows (closed for the cap) is closed, too.
  await caller.run('ws-default', () => wsDefault(wsEvent('$default', 'c1=', { body: '{"type":"ping"}' })));

  await http('devices', devices, 'POST /v1/events/{eventId}/devices', {
    eventId,
    token: fans[3].token,
    body: { platform: 'fcm', deviceToken: 'fcm-device-token-4' },
  });

  // The last in line gives the place up while waiting: void, its socket hears `left`.
  await http('leave', leave, 'DELETE /v1/events/{eventId}/place', { eventId, token: fans[3].token });
  await workers();

  await caller.run('admitter', () => admitter({ once: true }, lambdaContext('admitter')));
  await workers();
  // An admitted fan gives the place up: the slot comes back at once.
  await http('leave', leave, 'DELETE /v1/events/{eventId}/place', { eventId, token: fans[1].token });
  await http('status', status, 'GET /v1/events/{eventId}/status', { eventId, token: fans[0].token });
  const access = await http('admission', admission, 'POST /v1/events/{eventId}/admission', {
    eventId,
    token: fans[0].token,
  });
  // The online access check reads the session item, nothing else.
  await http('access', accessCheck, 'GET /v1/events/{eventId}/access', {
    eventId,
    token: access.accessToken,
  });
  await http('complete', complete, 'POST /v1/events/{eventId}/complete', {
    eventId,
    token: access.accessToken,
  });
  await caller.run('admitter', () => admitter({ once: true }, lambdaContext('admitter')));
  await workers();

  await http('admin', admin, adminRoute('pause'), { eventId });
  await workers();
  await http('admin', admin, adminRoute('resume'), { eventId });
  await workers();
  await http('admin', admin, 'GET /v1/admin/events/{eventId}/stats', { eventId });
  // The events list: the admitter's list of events, then each event item.
  expect((await http('admin', admin, 'GET /v1/admin/events')).events).toContainEqual(
    expect.objectContaining({ eventId }),
  );
  await http('admin', admin, adminRoute('close'), { eventId });
  // A sharded event: a join takes a stripe ticket and rings the bell; closing seals every stripe.
  await http('admin', admin, 'PUT /v1/admin/events/{eventId}', {
    eventId: 'lps',
    body: { capacity: 2, intake: 'sharded' },
  });
  await http('join', join, 'POST /v1/events/{eventId}/join', { eventId: 'lps', body: {} });
  await http('admin', admin, adminRoute('close'), { eventId: 'lps' });
  await workers();
  for (let i = 0; i < 2; i++) {
    await caller.run('admitter', () => admitter({ once: true }, lambdaContext('admitter')));
    await workers();
  }
  for (const id of ['c2=', 'c3=', 'c4='])
    await caller.run('ws-disconnect', () => wsDisconnect(wsEvent('$disconnect', id)));

  // Every function the sale exercises made requests, and each one is within its grant.
  const made = new Set(requests.map((r) => r.fn));
  for (const fn of Object.keys(TABLE_GRANTS).filter((fn) => fn !== 'jwks')) expect(made, fn).toContain(fn);
  const denied = requests.filter((r) => {
    if (r.fn === 'test') return false; // the test's own set-up
    const grant = TABLE_GRANTS[r.fn];
    if (!grant) return true;
    return (
      !grant.actions.includes(r.action as (typeof grant.actions)[number]) ||
      !grant.partitions.some((pattern) => allowedBy(pattern, r.partition))
    );
  });
  expect(denied).toEqual([]);
  expect(requests.some((r) => r.action === 'Scan')).toBe(false);
  expect(posted.length).toBeGreaterThan(0);
});
