/**
 * docs/openapi.yaml against the running local stack: every route of the route
 * table is driven through every answer it can give, and each real answer is
 * checked against the file (status documented, body and headers valid). The last
 * test proves that every documented answer was actually seen, so the file cannot
 * promise what the code never does, nor the code do what the file never says.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { FileKeyStore } from '#adapters/file-key-store';
import { MemoryQueueStore } from '#adapters/memory-store';
import { InvalidTokenError, ServiceUnavailableError } from '#domain/errors';
import { EVENT_ID_PATTERN } from '#domain/event';
import { ROUTES } from '#http/routes';
import { devicesBodySchema, emptyBodySchema, eventConfigBodySchema, joinBodySchema } from '#http/schemas';
import type { LocalApp } from '#local/app';
import type { IdentityVerifier } from '#ports/identity';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';
import {
  answerKey,
  documentedAnswers,
  documentedWebSocketRefusals,
  expectGatewayAnswer,
  expectMatchesSpec,
  expectWebSocketMessage,
  expectWebSocketRefusal,
  loadSpec,
  operationFor,
  schemaValidator,
  serversOf,
  specOperations,
} from '../support/openapi.ts';

type CallOptions = NonNullable<Parameters<typeof call>[3]>;
type Answer = Awaited<ReturnType<typeof call>>;

const STATUS = 'GET /v1/events/{eventId}/status';
const KIB = 1024;
/** A device registration the request schema accepts. */
const DEVICE = { platform: 'fcm', deviceToken: 'fcm-registration-token-0001' } as const;

/** Answers seen so far, as `documentedAnswers()` spells them. */
const seen = new Set<string>();
/** `status` values seen in 200 answers of the status route. */
const placeStatuses = new Set<string>();
/** `type` of every WebSocket server message received (each checked against the spec). */
const messageTypes = new Set<string>();

let app: LocalApp;

/** A real request through the local gateway, checked against the spec. */
async function hit(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const res = await call(app, method, path, options);
  const checked = expectMatchesSpec(method, path, res.status, res.body, res.headers);
  seen.add(answerKey(checked));
  if (checked.operation === STATUS && res.status === 200) placeStatuses.add(res.body.status);
  return res;
}

/** A request that no operation serves (unknown path, wrong method). */
async function hitGateway(method: string, path: string): Promise<Answer> {
  const res = await call(app, method, path);
  seen.add(answerKey(expectGatewayAnswer(res.status, res.body, res.headers)));
  return res;
}

function expectError(res: Answer, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

interface LiveSocket {
  readonly socket: WebSocket;
  /** Every server message so far. */
  readonly messages: { type: string; [key: string]: unknown }[];
  /** Messages that disagree with the spec (thrown by `types`). */
  readonly problems: unknown[];
}

/** The types of the messages a socket received; throws if one of them disagrees with the spec. */
function types(live: LiveSocket): string[] {
  if (live.problems.length > 0) throw live.problems[0];
  return live.messages.map((message) => message.type);
}

function wsAddress(token: string | undefined): string {
  return token === undefined ? app.wsUrl : `${app.wsUrl}?token=${encodeURIComponent(token)}`;
}

/** A WebSocket connection with a position token; rejects when the handshake is refused. */
function openSocket(token: string): Promise<LiveSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsAddress(token));
    const live: LiveSocket = { socket, messages: [], problems: [] };
    socket.on('message', (data) => {
      try {
        const message: unknown = JSON.parse(String(data));
        expectWebSocketMessage(message);
        live.messages.push(message as LiveSocket['messages'][number]);
        messageTypes.add((message as LiveSocket['messages'][number]).type);
      } catch (error) {
        live.problems.push(error);
      }
    });
    socket.once('open', () => resolve(live));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

/** A handshake that must be refused, checked against `x-fairqueue-websocket.handshake`. */
function refuseSocket(token: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsAddress(token));
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the handshake was accepted'));
    });
    socket.once('error', () => {});
    socket.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') headers.set(name, value);
        }
        const answer: Answer = { status: res.statusCode ?? 0, headers, body: text ? JSON.parse(text) : null };
        try {
          seen.add(answerKey(expectWebSocketRefusal(answer.status, answer.body, answer.headers)));
          resolve(answer);
        } catch (error) {
          reject(error);
        }
      });
    });
  });
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Every method call of `target` fails like a throttled dependency while `throttled()` holds. */
function throttleable<T extends object>(target: T, throttled: () => boolean): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        throttled()
          ? Promise.reject(new ServiceUnavailableError('throttled', 'Busy.', 1))
          : value.apply(obj, args);
    },
  });
}

test('the spec and the route table list the same operations, with the same auth', () => {
  expect(specOperations('routes').sort()).toEqual(ROUTES.map((route) => route.routeKey).sort());
  const spec = loadSpec();
  const ids = new Set<string>();
  for (const route of ROUTES) {
    const [method = '', path = ''] = route.routeKey.split(' ');
    const { op } = operationFor(method, path);
    expect(op.operationId, route.routeKey).toBeTypeOf('string');
    ids.add(op.operationId ?? '');
    const schemes = (op.security ?? spec.security ?? []).flatMap((requirement) => Object.keys(requirement));
    const expected = route.auth === 'iam' ? ['operatorBearer', 'operatorSigV4'] : [];
    expect(schemes.filter((scheme) => scheme.startsWith('operator')).sort(), route.routeKey).toEqual(
      expected,
    );
  }
  // Local-only operations (e.g. the push sink) are served by the local stack alone: not in the route
  // table, tagged `local`, under `/_local/`, and offered on the local server only.
  const localOnly = specOperations('local-only');
  expect(localOnly.length).toBeGreaterThan(0);
  for (const operation of localOnly) {
    const [method = '', path = ''] = operation.split(' ');
    const { op } = operationFor(method, path);
    expect(
      ROUTES.map((route) => route.routeKey),
      operation,
    ).not.toContain(operation);
    expect(path, operation).toMatch(/^\/_local\//);
    expect(op.tags, operation).toContain('local');
    const servers = serversOf(method, path);
    expect(servers.length, operation).toBeGreaterThan(0);
    for (const server of servers) expect(server.url, operation).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(op.operationId, operation).toBeTypeOf('string');
    ids.add(op.operationId ?? '');
  }
  for (const operation of specOperations('routes')) {
    const [method = '', path = ''] = operation.split(' ');
    expect(operationFor(method, path).op.tags ?? [], operation).not.toContain('local');
  }
  expect(ids.size).toBe(ROUTES.length + localOnly.length);
  const eventId = spec.components.schemas.EventId as { pattern?: string };
  expect(eventId.pattern).toBe(EVENT_ID_PATTERN.source);
});

test('the request schemas of the spec accept exactly what the zod schemas accept', () => {
  const cases: [string, { safeParse(value: unknown): { success: boolean } }, unknown[]][] = [
    [
      'JoinRequest',
      joinBodySchema,
      [
        {},
        { userId: 'a' },
        { userId: 'x'.repeat(128) },
        { userId: 'x'.repeat(129) },
        { userId: '' },
        { userId: 'has space' },
        { userId: 'é' },
        { userId: '~!' },
        { userId: 5 },
        { userId: null },
        { other: 1 },
        null,
        [],
        'text',
      ],
    ],
    [
      'EventConfigRequest',
      eventConfigBodySchema,
      [
        { capacity: 1 },
        { capacity: 1_000_000 },
        { capacity: 1_000_000_001 },
        { capacity: 0 },
        { capacity: 1.5 },
        { capacity: '1' },
        {},
        { capacity: 1, admitPerMinute: null },
        { capacity: 1, admitPerMinute: 0 },
        { capacity: 1, admitPerMinute: 10_000_000 },
        { capacity: 1, admitPerMinute: 1_000_000_001 },
        { capacity: 1, purchaseWindowSeconds: 1, claimWindowSeconds: 604_800, positionTtlSeconds: 60 },
        { capacity: 1, claimWindowSeconds: 0 },
        { capacity: 1, positionTtlSeconds: 31_536_001 },
        { capacity: 1, purchaseWindowSeconds: 2.5 },
        { capacity: 1, purchaseWindowSeconds: null },
        { capacity: 1, nearThreshold: 0 },
        { capacity: 1, nearThreshold: -1 },
        { capacity: 1, nearThreshold: 1_000_000_001 },
        { capacity: 1, extra: true },
        { capacity: 1, intake: 'exact' },
        { capacity: 1, intake: 'sharded' },
        { capacity: 1, intake: 'Sharded' },
        { capacity: 1, intake: 'striped' },
        { capacity: 1, intake: null },
        { capacity: 1, intake: 1 },
        { intake: 'sharded' },
      ],
    ],
    ['EmptyRequest', emptyBodySchema, [{}, { a: 1 }, [], null]],
    [
      'DeviceRequest',
      devicesBodySchema,
      [
        DEVICE,
        { platform: 'apns', deviceToken: 'a'.repeat(64) },
        { platform: 'fcm', deviceToken: 'x'.repeat(8) },
        { platform: 'fcm', deviceToken: 'x'.repeat(7) },
        { platform: 'fcm', deviceToken: 'x'.repeat(4096) },
        { platform: 'fcm', deviceToken: 'x'.repeat(4097) },
        { platform: 'fcm', deviceToken: '~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}' },
        { platform: 'fcm', deviceToken: 'has a space' },
        { platform: 'fcm', deviceToken: 'tab\there1' },
        { platform: 'fcm', deviceToken: 'n\u00e9-token-1' },
        { platform: 'fcm', deviceToken: 12345678 },
        { platform: 'FCM', deviceToken: 'x'.repeat(8) },
        { platform: 'sms', deviceToken: 'x'.repeat(8) },
        { platform: null, deviceToken: 'x'.repeat(8) },
        { platform: 'fcm' },
        { deviceToken: 'x'.repeat(8) },
        { ...DEVICE, extra: 1 },
        {},
        null,
        [],
      ],
    ],
  ];
  for (const [name, zodSchema, samples] of cases) {
    const validate = schemaValidator(name);
    for (const sample of samples) {
      expect(validate(sample), `${name} ${JSON.stringify(sample)}`).toBe(zodSchema.safeParse(sample).success);
    }
  }
});

test('every example in the spec matches its schema', () => {
  for (const [name, schema] of Object.entries(loadSpec().components.schemas)) {
    const examples = (schema as { examples?: unknown[] }).examples ?? [];
    const validate = schemaValidator(name);
    for (const example of examples) {
      expect(validate(example), `${name} example ${JSON.stringify(example)}`).toBe(true);
    }
  }
});

describe('local stack (dev-mode identity, no join limit)', () => {
  const clock = new TestClock();
  let storeThrottled = false;
  let keysThrottled = false;

  beforeAll(async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'fq-openapi-keys-'));
    app = await startTestApp({
      overrides: {
        now: clock.now,
        store: throttleable(new MemoryQueueStore(), () => storeThrottled),
        keyStore: throttleable(new FileKeyStore(keyDir), () => keysThrottled),
      },
    });
  });
  afterAll(() => app.close());

  test('operators create, change, pause and resume an event; anyone reads it and the JWKS', async () => {
    const created = await hit('PUT', '/v1/admin/events/cfg', { admin: true, body: { capacity: 3 } });
    expect(created.body).toMatchObject({
      eventId: 'cfg',
      state: 'open',
      capacity: 3,
      claimWindowSeconds: 300,
    });
    const changed = await hit('PUT', '/v1/admin/events/cfg', {
      admin: true,
      body: {
        capacity: 5,
        admitPerMinute: 60,
        purchaseWindowSeconds: 600,
        claimWindowSeconds: 120,
        positionTtlSeconds: 900,
        nearThreshold: 10,
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ capacity: 5, admitPerMinute: 60, state: 'open' });
    const uncapped = await hit('PUT', '/v1/admin/events/cfg', {
      admin: true,
      body: { capacity: 5, admitPerMinute: null },
    });
    expect(uncapped.body).toMatchObject({ admitPerMinute: null, claimWindowSeconds: 120, intake: 'exact' });
    // The intake is fixed at creation: the same one again is fine, another one changes nothing.
    const sameIntake = { capacity: 5, intake: 'exact' };
    expect((await hit('PUT', '/v1/admin/events/cfg', { admin: true, body: sameIntake })).status).toBe(200);
    const otherIntake = { capacity: 6, intake: 'sharded' };
    expectError(
      await hit('PUT', '/v1/admin/events/cfg', { admin: true, body: otherIntake }),
      409,
      'intake_locked',
    );

    expect((await hit('GET', '/v1/events/cfg')).status).toBe(200);
    const jwks = await hit('GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);

    const paused = await hit('POST', '/v1/admin/events/cfg/pause', { admin: true });
    expect(paused.body.state).toBe('paused');
    const joined = await hit('POST', '/v1/events/cfg/join', { body: {} });
    expect(joined.status).toBe(201);
    expect(joined.body.wsUrl).toBe(`${app.wsUrl}`);
    await app.tick();
    const status = await hit('GET', '/v1/events/cfg/status', { token: joined.body.token });
    expect(status.body).toMatchObject({ status: 'waiting', eventState: 'paused' });
    const resumed = await hit('POST', '/v1/admin/events/cfg/resume', { admin: true, body: {} });
    expect(resumed.body.state).toBe('open');
    expect((await hit('GET', '/v1/admin/events/cfg/stats', { admin: true })).status).toBe(200);
    const listed = await hit('GET', '/v1/admin/events', { admin: true });
    expect(listed.status).toBe(200);
    expect(listed.body.events).toContainEqual(expect.objectContaining({ eventId: 'cfg', state: 'open' }));
  });

  test('a sharded event: positions are sparse, and ahead counts only real places once settled', async () => {
    const put = '/v1/admin/events/many';
    const created = await hit('PUT', put, { admin: true, body: { capacity: 1, intake: 'sharded' } });
    expect(created.body).toMatchObject({ eventId: 'many', intake: 'sharded' });
    // Left out, the intake stays what it was.
    expect((await hit('PUT', put, { admin: true, body: { capacity: 1 } })).body.intake).toBe('sharded');
    expectError(
      await hit('PUT', put, { admin: true, body: { capacity: 1, intake: 'exact' } }),
      409,
      'intake_locked',
    );
    const joined: { position: number; token: string }[] = [];
    for (let i = 0; i < 3; i++) joined.push((await hit('POST', '/v1/events/many/join', { body: {} })).body);
    // The joins' second is not settled yet: stats count settled seconds only.
    const early = await hit('GET', '/v1/admin/events/many/stats', { admin: true });
    expect(early.body).toMatchObject({ intake: 'sharded', issued: 0, waiting: 0, servingPosition: 0 });

    clock.advance(3);
    await app.tick(); // settles the joins' second and admits the first place in line
    const byPosition = [...joined].sort((x, y) => x.position - y.position);
    const stats = await hit('GET', '/v1/admin/events/many/stats', { admin: true });
    expect(stats.body).toMatchObject({
      intake: 'sharded',
      issued: 3,
      servingPosition: byPosition[0]?.position,
      waiting: 2,
      admittedUnclaimed: 1,
    });
    expect(stats.body.recentTicks.at(-1)).toMatchObject({ from: 0, admitted: 1 });
    expect((await hit('GET', '/v1/events/many')).body).toMatchObject({ issued: 3 });
    // However far apart the numbers, the places behind count only the real ones ahead.
    const aheads: number[] = [];
    for (const place of byPosition) {
      aheads.push((await hit('GET', '/v1/events/many/status', { token: place.token })).body.ahead);
    }
    expect(aheads).toEqual([0, 1, 2]);

    // Places of later seconds sit in later leave blocks: the document lists the leaves by
    // cell from the front, and such a place's status carries its own cell (decision 0013).
    clock.advance(2);
    const later: { position: number; token: string }[] = [];
    for (let i = 0; i < 4; i++) later.push((await hit('POST', '/v1/events/many/join', { body: {} })).body);
    const gone = later[0];
    if (!gone) throw new Error('no join');
    expect((await hit('DELETE', '/v1/events/many/place', { token: gone.token })).status).toBe(204);
    clock.advance(3);
    await app.tick();
    const doc = (await hit('GET', '/v1/events/many')).body;
    expect(doc.line).toMatchObject({ blockSize: 16_384, goneThroughServing: expect.any(Number) });
    const last = later.at(-1);
    if (!last) throw new Error('no join');
    const told = (await hit('GET', '/v1/events/many/status', { token: last.token })).body;
    expect(told.line).toMatchObject({
      blockSize: 16_384,
      block: expect.any(Number),
      blocks: expect.any(Number),
      goneBefore: expect.any(Number),
      blockLeaves: expect.any(Number),
    });
    expect(told.line.block * 16_384).toBeLessThan(last.position);
  });

  test('a fan leaves: 204 twice, its socket hears left and is closed, and the place answers 410 left', async () => {
    await hit('PUT', '/v1/admin/events/bye', { admin: true, body: { capacity: 1 } });
    const place = '/v1/events/bye/place';
    const status = '/v1/events/bye/status';
    const admission = '/v1/events/bye/admission';
    const [a, b, c] = await Promise.all(
      ['bye-a', 'bye-b', 'bye-c'].map(
        async (userId) => (await hit('POST', '/v1/events/bye/join', { body: { userId } })).body,
      ),
    );
    const byPosition = [a, b, c].sort((x, y) => x.position - y.position);
    const [first, second, third] = byPosition;
    if (!first || !second || !third) throw new Error('three joins expected');
    expect(byPosition.map((p) => p.position)).toEqual([1, 2, 3]);

    // The second in line gives up while its socket is open.
    const live = await openSocket(second.token);
    expect((await hit('DELETE', place, { token: second.token })).status).toBe(204);
    expect((await hit('DELETE', place, { token: second.token })).status).toBe(204);
    await until(() => live.socket.readyState === WebSocket.CLOSED, 'the server to close the socket');
    expect(types(live)).toEqual(['left']);
    expect(live.messages[0]).toEqual({ type: 'left', seq: expect.any(Number) });
    expectError(await hit('GET', status, { token: second.token }), 410, 'left');
    expectError(await hit('POST', admission, { token: second.token }), 410, 'left');
    // A place given up registers no device, and opens no socket again.
    expectError(
      await hit('POST', '/v1/events/bye/devices', { token: second.token, body: DEVICE }),
      410,
      'left',
    );
    // The same user joining again gets a new place at the end of the line.
    const again = await hit('POST', '/v1/events/bye/join', { body: { userId: 'bye-b' } });
    expect(again.status).toBe(201);
    expect(again.body.position).toBe(4);
    // The third counts only real places: the first and itself.
    const behind = await hit('GET', status, { token: third.token });
    expect(behind.body).toMatchObject({ status: 'waiting', position: 3, servingPosition: 0, ahead: 2 });

    // The first is admitted and gives its slot back before claiming; the next tick skips the void number.
    await app.tick();
    expect((await hit('GET', status, { token: first.token })).body.status).toBe('admitted');
    expect((await hit('DELETE', place, { token: first.token })).status).toBe(204);
    expectError(await hit('POST', admission, { token: first.token }), 410, 'left');
    expectError(await hit('GET', status, { token: first.token }), 410, 'left');
    await app.tick();
    const admitted = await hit('GET', status, { token: third.token });
    expect(admitted.body).toMatchObject({ status: 'admitted', position: 3, servingPosition: 3, ahead: 0 });
    const stats = await hit('GET', '/v1/admin/events/bye/stats', { admin: true });
    // The rejoined user (#4) still waits.
    expect(stats.body).toMatchObject({ issued: 4, servingPosition: 3, waiting: 1, admittedUnclaimed: 1 });
    expect(stats.body.recentTicks.map((tick: { admitted: number }) => tick.admitted)).toEqual([1, 1]);
  });

  test('a place goes through every status, and admission answers each one', async () => {
    const status = '/v1/events/life/status';
    const admission = '/v1/events/life/admission';
    const complete = '/v1/events/life/complete';
    const statusOf = async (token: string) => (await hit('GET', status, { token })).body.status;
    await hit('PUT', '/v1/admin/events/life', {
      admin: true,
      body: { capacity: 2, claimWindowSeconds: 5, purchaseWindowSeconds: 10 },
    });
    const a = await hit('POST', '/v1/events/life/join', { body: { userId: 'life-a' } });
    expect(a.status).toBe(201);
    const again = await hit('POST', '/v1/events/life/join', { body: { userId: 'life-a' } });
    expect(again.status).toBe(200);
    expect(again.body.position).toBe(a.body.position);
    const b = await hit('POST', '/v1/events/life/join');
    const c = await hit('POST', '/v1/events/life/join', { body: { userId: 'life-c' } });
    const d = await hit('POST', '/v1/events/life/join', { body: {} });
    expect([b.body.position, c.body.position, d.body.position]).toEqual([2, 3, 4]);

    expect(await statusOf(a.body.token)).toBe('waiting');
    const notYet = await hit('POST', admission, { token: d.body.token });
    expectError(notYet, 409, 'not_yet');
    expect(notYet.body.error.ahead).toBe(4);

    // First tick: a and b are admitted and have 5 s to claim.
    await app.tick();
    const admitted = await hit('GET', status, { token: a.body.token });
    expect(admitted.body).toMatchObject({ status: 'admitted', claimBy: clock.sec + 5 });
    const claim = await hit('POST', admission, { token: a.body.token });
    expect(claim.status).toBe(200);
    const { sessionId, expiresAt, accessToken } = claim.body;
    expect((await hit('POST', admission, { token: a.body.token })).body).toMatchObject({
      sessionId,
      expiresAt,
    });
    const active = await hit('GET', status, { token: a.body.token });
    expect(active.body).toMatchObject({ status: 'active', sessionEndsAt: expiresAt });
    expect((await hit('POST', complete, { token: accessToken })).status).toBe(204);
    expect((await hit('POST', complete, { token: accessToken })).status).toBe(204);
    expect(await statusOf(a.body.token)).toBe('completed');
    expectError(await hit('POST', admission, { token: a.body.token }), 410, 'session_ended');

    // b lets its claim window pass.
    clock.advance(5);
    expect(await statusOf(b.body.token)).toBe('missed');
    expectError(await hit('POST', admission, { token: b.body.token }), 410, 'missed');

    // Second tick: a's and b's slots are free again, so c and d are admitted.
    await app.tick();
    const claimC = await hit('POST', admission, { token: c.body.token });
    expect(claimC.status).toBe(200);
    expect(await statusOf(c.body.token)).toBe('active');

    // c's purchase window and d's claim window both run out; so does c's access token.
    clock.advance(10);
    expect(await statusOf(c.body.token)).toBe('expired');
    expectError(await hit('POST', admission, { token: c.body.token }), 410, 'session_ended');
    expectError(await hit('POST', complete, { token: claimC.body.accessToken }), 401, 'invalid_token');
    expect(await statusOf(d.body.token)).toBe('missed');

    await app.tick();
    const stats = await hit('GET', '/v1/admin/events/life/stats', { admin: true });
    expect(stats.body).toMatchObject({
      issued: 4,
      servingPosition: 4,
      waiting: 0,
      admittedUnclaimed: 0,
      active: 0,
      completed: 1,
      expired: 1,
      missed: 2,
    });
    expect(stats.body.recentTicks).toHaveLength(3);
    expect((await hit('GET', '/v1/events/life')).body).toMatchObject({ issued: 4, servingPosition: 4 });
  });

  test('the access check: 200 while the session runs, 410 once completed or over, 401 for anything else', async () => {
    const check = '/v1/events/checked/access';
    await hit('PUT', '/v1/admin/events/checked', {
      admin: true,
      body: { capacity: 3, purchaseWindowSeconds: 10 },
    });
    const a = await hit('POST', '/v1/events/checked/join', { body: { userId: 'checked-a' } });
    const b = await hit('POST', '/v1/events/checked/join', { body: { userId: 'checked-b' } });
    await app.tick();
    const claimA = await hit('POST', '/v1/events/checked/admission', { token: a.body.token });
    const claimB = await hit('POST', '/v1/events/checked/admission', { token: b.body.token });
    const running = await hit('GET', check, { token: claimA.body.accessToken });
    expect(running.status).toBe(200);
    expect(running.body).toEqual({
      sub: 'checked-a',
      sid: claimA.body.sessionId,
      pos: a.body.position,
      exp: claimA.body.expiresAt,
    });
    expect(running.headers.get('cache-control')).toBe('private, max-age=5');
    // Completed: over at once, though the token has not expired.
    expect(
      (await hit('POST', '/v1/events/checked/complete', { token: claimA.body.accessToken })).status,
    ).toBe(204);
    const completed = await hit('GET', check, { token: claimA.body.accessToken });
    expectError(completed, 410, 'session_ended');
    expect(completed.headers.get('cache-control')).toBe('no-store');
    // The window passes: a genuine token past its exp hears that its session ended.
    clock.advance(10);
    expectError(await hit('GET', check, { token: claimB.body.accessToken }), 410, 'session_ended');
    // Not an access token of this event's session: a position token, none, a forged one.
    const [header = '', payload = ''] = String(claimB.body.accessToken).split('.');
    const unsigned = `${base64url({ alg: 'none', typ: 'fq-access+jwt' })}.${payload}.`;
    for (const options of [
      {},
      { token: b.body.token },
      { token: unsigned },
      { token: `${header}.${payload}.` },
    ]) {
      expectError(await hit('GET', check, options), 401, 'invalid_token');
    }
  });

  test('a closed event refuses joins and claims and cannot be paused or reopened', async () => {
    await hit('PUT', '/v1/admin/events/shut', { admin: true, body: { capacity: 1 } });
    const a = await hit('POST', '/v1/events/shut/join', { body: { userId: 'shut-a' } });
    const b = await hit('POST', '/v1/events/shut/join', { body: { userId: 'shut-b' } });
    const closed = await hit('POST', '/v1/admin/events/shut/close', { admin: true });
    expect(closed.body.state).toBe('closed');
    expectError(await hit('POST', '/v1/events/shut/join', { body: {} }), 410, 'event_closed');
    expectError(
      await hit('POST', '/v1/events/shut/join', { body: { userId: 'shut-a' } }),
      410,
      'event_closed',
    );
    expectError(await hit('POST', '/v1/events/shut/admission', { token: b.body.token }), 410, 'event_closed');
    const status = await hit('GET', '/v1/events/shut/status', { token: a.body.token });
    expect(status.body).toMatchObject({ status: 'waiting', eventState: 'closed' });
    expectError(await hit('POST', '/v1/admin/events/shut/pause', { admin: true }), 409, 'event_closed');
    expectError(await hit('POST', '/v1/admin/events/shut/resume', { admin: true }), 409, 'event_closed');
    expect((await hit('POST', '/v1/admin/events/shut/close', { admin: true })).status).toBe(200);
    expect((await hit('GET', '/v1/events/shut')).body.state).toBe('closed');
  });

  test('devices register for push, and the local sink lists every milestone once per place and device', async () => {
    // Capacity 1, near = 1 ahead, claim_expiring 2 s (half the 4 s claim window) before claimBy.
    await hit('PUT', '/v1/admin/events/push', {
      admin: true,
      body: { capacity: 1, nearThreshold: 1, claimWindowSeconds: 4 },
    });
    const tokens: string[] = [];
    for (const userId of ['push-a', 'push-b', 'push-c', 'push-d']) {
      tokens.push((await hit('POST', '/v1/events/push/join', { body: { userId } })).body.token);
    }
    const devices: { platform: 'fcm' | 'apns'; deviceToken: string }[] = [
      { platform: 'fcm', deviceToken: 'fcm-token-of-place-1' },
      { platform: 'apns', deviceToken: 'b'.repeat(64) },
      { platform: 'fcm', deviceToken: 'fcm-token-of-place-3' },
      { platform: 'apns', deviceToken: 'd'.repeat(64) },
    ];
    for (const [i, device] of devices.entries()) {
      const res = await hit('POST', '/v1/events/push/devices', { token: tokens[i], body: device });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ eventId: 'push', position: i + 1, platform: device.platform });
    }
    // The same device for the same place again: still 201, still one registration.
    const again = await hit('POST', '/v1/events/push/devices', { token: tokens[0], body: devices[0] });
    expect(again.status).toBe(201);

    await app.tick(); // admits #1 (admitted) and brings #2 within 1 of the front (near)
    await app.settle();
    clock.advance(2); // 2 s before #1's claimBy
    await app.tick(); // nobody moves; #1 has not claimed (claim_expiring)
    await app.settle();
    await app.tick(); // ticking again sends nothing twice
    await app.settle();
    await hit('POST', '/v1/admin/events/push/close', { admin: true }); // #2-#4 are not admitted (closed)
    await app.settle();

    const listed = await hit('GET', '/_local/pushes');
    expect(listed.status).toBe(200);
    const metrics = await hit('GET', '/_local/metrics');
    expect(metrics.body).toContain('fairqueue_push_sent_total');
    const pushes: { eventId: string; position: number; milestone: string; platform: string }[] =
      listed.body.pushes.filter((push: { eventId: string }) => push.eventId === 'push');
    expect(pushes.map((p) => `#${p.position} ${p.milestone} ${p.platform}`).sort()).toEqual([
      '#1 admitted fcm',
      '#1 claim_expiring fcm',
      '#1 near fcm', // at registration: #1 was already 1 ahead
      '#2 closed apns',
      '#2 near apns',
      '#3 closed fcm',
      '#4 closed apns',
    ]);
    const milestones = loadSpec().components.schemas.Milestone as { enum?: string[] };
    expect([...new Set(pushes.map((p) => p.milestone))].sort()).toEqual([...(milestones.enum ?? [])].sort());
  });

  test('a place registers a few devices; one more is 409 too_many_devices', async () => {
    await hit('PUT', '/v1/admin/events/crowded', { admin: true, body: { capacity: 1 } });
    const { token } = (await hit('POST', '/v1/events/crowded/join', { body: {} })).body;
    const device = (i: number) => ({ platform: 'fcm', deviceToken: `crowded-device-token-${i}` });
    for (let i = 0; i < 5; i++)
      expect((await hit('POST', '/v1/events/crowded/devices', { token, body: device(i) })).status).toBe(201);
    expectError(
      await hit('POST', '/v1/events/crowded/devices', { token, body: device(5) }),
      409,
      'too_many_devices',
    );
    // One of them again is fine.
    expect((await hit('POST', '/v1/events/crowded/devices', { token, body: device(2) })).status).toBe(201);
  });

  test('WebSocket handshakes are refused as documented, and every server message matches the spec', async () => {
    await hit('PUT', '/v1/admin/events/live', { admin: true, body: { capacity: 1 } });
    const first = await hit('POST', '/v1/events/live/join', { body: { userId: 'live-a' } });
    const second = await hit('POST', '/v1/events/live/join', { body: { userId: 'live-b' } });
    expect(first.body.wsUrl).toBe(app.wsUrl);
    const a = await openSocket(first.body.token);
    const b = await openSocket(second.body.token);
    try {
      // Nothing on connect; a ping is answered with a pong.
      a.socket.send(JSON.stringify({ type: 'ping' }));
      await until(() => types(a).includes('pong'), 'pong');
      expect(types(a)).toEqual(['pong']);
      expect(types(b)).toEqual([]);

      await app.tick();
      await app.settle();
      await until(() => types(a).includes('admitted') && types(b).includes('position'), 'the tick');
      expect(b.messages.at(-1)).toMatchObject({ position: 2, servingPosition: 1, ahead: 1 });
      for (const action of ['pause', 'resume', 'close']) {
        await hit('POST', `/v1/admin/events/live/${action}`, { admin: true });
        await app.settle();
      }
      await until(() => types(a).includes('closed') && types(b).includes('closed'), 'closed');
      // A resume reaches the admitted fan too (contract v1.1), and the waiting one hears where it stands.
      expect(types(a)).toEqual(['pong', 'admitted', 'paused', 'resumed', 'closed']);
      expect(types(b)).toEqual(['position', 'paused', 'resumed', 'position', 'closed']);
    } finally {
      a.socket.close();
      b.socket.close();
    }

    expectError(await refuseSocket(undefined), 401, 'invalid_token');
    expectError(await refuseSocket('not-a-jwt'), 401, 'invalid_token');
    // An admitted place may still claim after the close; its access token is no position token.
    const claim = await hit('POST', '/v1/events/live/admission', { token: first.body.token });
    expect(claim.status).toBe(200);
    expectError(await refuseSocket(claim.body.accessToken), 401, 'invalid_token');
    expectError(await refuseSocket(second.body.token), 410, 'event_closed');
    const { token: ghost } = await app.runtime.tokens.signPosition({
      eventId: 'ghost-live',
      sub: 'g',
      pos: 1,
      nowSec: clock.sec,
      ttlSeconds: 60,
    });
    expectError(await refuseSocket(ghost), 404, 'event_not_found');

    // A place holds at most three connections (the default cap). A handshake whose server clock
    // is behind the three it raced sorts as the oldest of four, and is the one refused.
    await hit('PUT', '/v1/admin/events/crowd', { admin: true, body: { capacity: 1 } });
    const crowd = await hit('POST', '/v1/events/crowd/join', { body: {} });
    const sockets: LiveSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        clock.ms += 1;
        sockets.push(await openSocket(crowd.body.token));
      }
      clock.ms -= 1000;
      expectError(await refuseSocket(crowd.body.token), 429, 'too_many_connections');
    } finally {
      clock.ms += 1000;
      for (const live of sockets) live.socket.close();
    }

    // Past overload a shard's fan-out takes no new connection beyond its near tier
    // (test/unit/fanout.test.ts drives that plan); here its gate, as the fan-out writes it.
    await hit('PUT', '/v1/admin/events/gated', { admin: true, body: { capacity: 1 } });
    const front = await hit('POST', '/v1/events/gated/join', { body: {} });
    const back = await hit('POST', '/v1/events/gated/join', { body: {} });
    const { registry } = app.runtime;
    for (let shard = 0; shard < registry.shards; shard++)
      await registry.advanceFanoutCursor('gated', shard, 0, { seq: 1, from: 0, to: 0, acceptsThrough: 1 });
    expectError(await refuseSocket(back.body.token), 429, 'websocket_busy');
    (await openSocket(front.body.token)).socket.close();
  });

  test('a malformed event id or path is a 400 on every route', async () => {
    const badIds: [string, string][] = [
      ['bad.id', 'invalid_event_id'],
      ['x'.repeat(65), 'invalid_event_id'],
      ['%ZZ', 'invalid_request'],
    ];
    for (const route of ROUTES) {
      const [method = '', template = ''] = route.routeKey.split(' ');
      if (!template.includes('{eventId}')) continue;
      for (const [id, code] of badIds) {
        const res = await hit(method, template.replace('{eventId}', id), { admin: route.auth === 'iam' });
        expectError(res, 400, code);
      }
    }
  });

  test('a body that is not JSON or breaks the request schema is a 400', async () => {
    await hit('PUT', '/v1/admin/events/input', { admin: true, body: { capacity: 1 } });
    const join = '/v1/events/input/join';
    expectError(await hit('POST', join, { rawBody: '{"userId":' }), 400, 'invalid_json');
    for (const body of [
      { userId: '' },
      { userId: 'has space' },
      { userId: 'x'.repeat(129) },
      { nick: 'a' },
      [],
    ]) {
      expectError(await hit('POST', join, { body }), 400, 'invalid_body');
    }
    const put = '/v1/admin/events/input';
    expectError(await hit('PUT', put, { admin: true, rawBody: 'capacity=1' }), 400, 'invalid_json');
    for (const body of [
      {},
      { capacity: 0 },
      { capacity: 2.5 },
      { capacity: 1, claimWindowSeconds: 0 },
      { capacity: 1, admitPerMinute: 0 },
      { capacity: 1, color: 'red' },
    ]) {
      expectError(await hit('PUT', put, { admin: true, body }), 400, 'invalid_body');
    }
    for (const action of ['pause', 'resume', 'close']) {
      const path = `/v1/admin/events/input/${action}`;
      expectError(await hit('POST', path, { admin: true, body: { force: true } }), 400, 'invalid_body');
      expectError(await hit('POST', path, { admin: true, rawBody: '{' }), 400, 'invalid_json');
    }
    // Admission and complete take an empty body too, checked before the token.
    for (const path of ['/v1/events/input/admission', '/v1/events/input/complete']) {
      expectError(await hit('POST', path, { body: { pos: 1 } }), 400, 'invalid_body');
      expectError(await hit('POST', path, { rawBody: '{' }), 400, 'invalid_json');
    }
    // So does leave: a malformed request gives nothing up.
    expectError(await hit('DELETE', '/v1/events/input/place', { body: { pos: 1 } }), 400, 'invalid_body');
    expectError(await hit('DELETE', '/v1/events/input/place', { rawBody: '{' }), 400, 'invalid_json');
    const devices = '/v1/events/input/devices';
    const { token } = (await hit('POST', join, { body: { userId: 'input-a' } })).body;
    expectError(await hit('POST', devices, { token, rawBody: '{"platform":' }), 400, 'invalid_json');
    for (const body of [
      {},
      { platform: 'fcm' },
      { platform: 'sms', deviceToken: DEVICE.deviceToken },
      { platform: 'fcm', deviceToken: 'short' },
      { platform: 'fcm', deviceToken: 'has a space in it' },
      { platform: 'apns', deviceToken: 'x'.repeat(4097) },
      { ...DEVICE, userId: 'input-a' },
      [],
    ]) {
      expectError(await hit('POST', devices, { token, body }), 400, 'invalid_body');
    }
    expectError(await hit('POST', devices, { token }), 400, 'invalid_body');
  });

  test('oversized bodies are a 413 and bodies that are not JSON a 415', async () => {
    await hit('PUT', '/v1/admin/events/sizes', { admin: true, body: { capacity: 1 } });
    const place = await hit('POST', '/v1/events/sizes/join', { body: { userId: 'sizes-a' } });
    const overEightKib = JSON.stringify({ userId: 'x'.repeat(9 * KIB) });
    const overOneMib = 'x'.repeat(KIB * KIB + 1);
    expectError(
      await hit('POST', '/v1/events/sizes/join', { rawBody: overEightKib }),
      413,
      'payload_too_large',
    );
    const adminWrites: [string, string][] = [
      ['PUT', '/v1/admin/events/sizes'],
      ['POST', '/v1/admin/events/sizes/pause'],
      ['POST', '/v1/admin/events/sizes/resume'],
      ['POST', '/v1/admin/events/sizes/close'],
    ];
    for (const [method, path] of adminWrites) {
      expectError(await hit(method, path, { admin: true, rawBody: overEightKib }), 413, 'payload_too_large');
      const textPlain = { admin: true, rawBody: '{}', headers: { 'content-type': 'text/plain' } };
      expectError(await hit(method, path, textPlain), 415, 'unsupported_media_type');
    }
    // Admission and complete take an empty body: an oversized one is refused by the handler and,
    // past 1 MiB, by the gateway; a body that is not JSON is a 415.
    for (const path of ['/v1/events/sizes/admission', '/v1/events/sizes/complete']) {
      for (const rawBody of [overEightKib, overOneMib]) {
        const res = await hit('POST', path, { token: place.body.token, rawBody });
        expectError(res, 413, 'payload_too_large');
      }
      const textPlain = { token: place.body.token, rawBody: '{}', headers: { 'content-type': 'text/plain' } };
      expectError(await hit('POST', path, textPlain), 415, 'unsupported_media_type');
    }
    // Leave reads no body either, and refuses an oversized one before it gives anything up.
    for (const rawBody of [overEightKib, overOneMib]) {
      const res = await hit('DELETE', '/v1/events/sizes/place', { token: place.body.token, rawBody });
      expectError(res, 413, 'payload_too_large');
    }
    const leaveAsText = { token: place.body.token, rawBody: '{}', headers: { 'content-type': 'text/plain' } };
    expectError(await hit('DELETE', '/v1/events/sizes/place', leaveAsText), 415, 'unsupported_media_type');
    expect((await hit('GET', '/v1/events/sizes/status', { token: place.body.token })).status).toBe(200);
    const text = { rawBody: '{}', headers: { 'content-type': 'text/plain' } };
    expectError(await hit('POST', '/v1/events/sizes/join', text), 415, 'unsupported_media_type');
    const devices = '/v1/events/sizes/devices';
    const token: string = place.body.token;
    expectError(await hit('POST', devices, { token, rawBody: overEightKib }), 413, 'payload_too_large');
    const deviceAsText = {
      token,
      rawBody: JSON.stringify(DEVICE),
      headers: { 'content-type': 'text/plain' },
    };
    expectError(await hit('POST', devices, deviceAsText), 415, 'unsupported_media_type');
  });

  test('any token problem is a 401 invalid_token', async () => {
    await hit('PUT', '/v1/admin/events/tok', { admin: true, body: { capacity: 5, positionTtlSeconds: 30 } });
    await hit('PUT', '/v1/admin/events/tok-other', { admin: true, body: { capacity: 5 } });
    const place = await hit('POST', '/v1/events/tok/join', { body: { userId: 'tok-a' } });
    const elsewhere = await hit('POST', '/v1/events/tok-other/join', { body: { userId: 'tok-a' } });
    await app.tick();
    const claim = await hit('POST', '/v1/events/tok/admission', { token: place.body.token });
    expect(claim.status).toBe(200);
    const position: string = place.body.token;
    const [header = '', payload = '', signature = ''] = position.split('.');
    const tampered = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    const unsigned = `${base64url({ alg: 'none', typ: 'fq-position+jwt' })}.${payload}.`;
    const malformed: CallOptions[] = [
      {},
      { token: 'not-a-jwt' },
      { token: tampered },
      { token: unsigned },
      { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } },
    ];
    for (const options of [
      ...malformed,
      { token: claim.body.accessToken },
      { token: elsewhere.body.token },
    ]) {
      expectError(await hit('GET', '/v1/events/tok/status', options), 401, 'invalid_token');
      expectError(await hit('POST', '/v1/events/tok/admission', options), 401, 'invalid_token');
      expectError(await hit('DELETE', '/v1/events/tok/place', options), 401, 'invalid_token');
      const register = { ...options, body: DEVICE };
      expectError(await hit('POST', '/v1/events/tok/devices', register), 401, 'invalid_token');
    }
    for (const options of [...malformed, { token: position }]) {
      expectError(await hit('POST', '/v1/events/tok/complete', options), 401, 'invalid_token');
    }
    clock.advance(30);
    expectError(await hit('GET', '/v1/events/tok/status', { token: position }), 401, 'invalid_token');
    expectError(await hit('DELETE', '/v1/events/tok/place', { token: position }), 401, 'invalid_token');
    expectError(
      await hit('POST', '/v1/events/tok/devices', { token: position, body: DEVICE }),
      401,
      'invalid_token',
    );
  });

  test('operator routes need the operator credential', async () => {
    for (const route of ROUTES.filter((r) => r.auth === 'iam')) {
      const [method = '', template = ''] = route.routeKey.split(' ');
      const path = template.replace('{eventId}', 'cfg');
      const body = method === 'PUT' ? { body: { capacity: 1 } } : {};
      for (const options of [{}, { token: 'wrong-admin-token' }]) {
        expectError(await hit(method, path, { ...options, ...body }), 401, 'unauthorized');
      }
    }
  });

  test('an unknown event is a 404 event_not_found', async () => {
    expectError(
      await hit('POST', '/v1/events/ghost/join', { body: { userId: 'g' } }),
      404,
      'event_not_found',
    );
    expectError(await hit('GET', '/v1/events/ghost'), 404, 'event_not_found');
    for (const action of ['pause', 'resume', 'close']) {
      const res = await hit('POST', `/v1/admin/events/ghost/${action}`, { admin: true });
      expectError(res, 404, 'event_not_found');
    }
    expectError(await hit('GET', '/v1/admin/events/ghost/stats', { admin: true }), 404, 'event_not_found');
    // Validly signed tokens for an event the store does not know (e.g. a local store that was reset).
    const { tokens } = app.runtime;
    const nowSec = clock.sec;
    const { token } = await tokens.signPosition({
      eventId: 'ghost',
      sub: 'g',
      pos: 1,
      nowSec,
      ttlSeconds: 60,
    });
    const access = await tokens.signAccess({
      eventId: 'ghost',
      sub: 'g',
      pos: 1,
      sid: 's_g',
      nowSec,
      exp: nowSec + 60,
    });
    expectError(await hit('GET', '/v1/events/ghost/status', { token }), 404, 'event_not_found');
    expectError(await hit('POST', '/v1/events/ghost/admission', { token }), 404, 'event_not_found');
    expectError(await hit('DELETE', '/v1/events/ghost/place', { token }), 404, 'event_not_found');
    expectError(
      await hit('POST', '/v1/events/ghost/devices', { token, body: DEVICE }),
      404,
      'event_not_found',
    );
    // Nothing to end is not an error: complete stays idempotent.
    expect((await hit('POST', '/v1/events/ghost/complete', { token: access })).status).toBe(204);
    // The access check reads no event: no session of this place confirms the token, so it is refused.
    expectError(await hit('GET', '/v1/events/ghost/access', { token: access }), 401, 'invalid_token');
  });

  test('requests no operation serves get the gateway answers', async () => {
    expectError(await hitGateway('GET', '/v1/nothing-here'), 404, 'not_found');
    expectError(await hitGateway('GET', '/v1/events/cfg/join'), 405, 'method_not_allowed');
    expectError(await hitGateway('DELETE', '/v1/admin/events/cfg'), 405, 'method_not_allowed');
  });

  test('a throttled dependency is a 503 with Retry-After on every route', async () => {
    await hit('PUT', '/v1/admin/events/busy', { admin: true, body: { capacity: 1 } });
    const place = await hit('POST', '/v1/events/busy/join', { body: { userId: 'busy-a' } });
    await app.tick();
    const claim = await hit('POST', '/v1/events/busy/admission', { token: place.body.token });
    expect(claim.status).toBe(200);

    storeThrottled = true;
    try {
      const requests: [string, string, CallOptions][] = [
        ['POST', '/v1/events/busy/join', { body: { userId: 'busy-b' } }],
        ['GET', '/v1/events/busy/status', { token: place.body.token }],
        ['POST', '/v1/events/busy/admission', { token: place.body.token }],
        ['POST', '/v1/events/busy/complete', { token: claim.body.accessToken }],
        ['GET', '/v1/events/busy/access', { token: claim.body.accessToken }],
        ['DELETE', '/v1/events/busy/place', { token: place.body.token }],
        ['POST', '/v1/events/busy/devices', { token: place.body.token, body: DEVICE }],
        ['GET', '/v1/events/busy', {}],
        ['PUT', '/v1/admin/events/busy', { admin: true, body: { capacity: 2 } }],
        ['POST', '/v1/admin/events/busy/pause', { admin: true }],
        ['POST', '/v1/admin/events/busy/resume', { admin: true }],
        ['POST', '/v1/admin/events/busy/close', { admin: true }],
        ['GET', '/v1/admin/events/busy/stats', { admin: true }],
        ['GET', '/v1/admin/events', { admin: true }],
      ];
      for (const [method, path, options] of requests) {
        const res = await hit(method, path, options);
        expectError(res, 503, 'throttled');
        expect(res.headers.get('retry-after')).toBe('1');
      }
    } finally {
      storeThrottled = false;
    }

    keysThrottled = true;
    try {
      app.runtime.tokens.invalidate();
      expectError(await hit('GET', '/.well-known/jwks.json'), 503, 'throttled');
    } finally {
      keysThrottled = false;
    }
    expect((await hit('GET', '/.well-known/jwks.json')).status).toBe(200);
  });
});

describe('local stack requiring identity tokens, with a join limit', () => {
  const clock = new TestClock();
  /** Stands in for the ticketing platform's JWKS: `id-<user>` is a valid identity token of `<user>`. */
  const identity: IdentityVerifier = {
    async verify(token) {
      if (token.startsWith('id-')) return token.slice(3);
      throw new InvalidTokenError('test identity token rejected');
    },
  };

  beforeAll(async () => {
    app = await startTestApp({
      env: {
        FQ_IDENTITY_ISSUER: 'https://id.example.test/',
        FQ_IDENTITY_JWKS_URL: 'https://id.example.test/jwks.json',
        FQ_IDENTITY_AUDIENCE: 'fairqueue',
        FQ_JOIN_RATE_LIMIT_PER_MINUTE: '2',
      },
      overrides: { now: clock.now, identity },
    });
  });
  afterAll(() => app.close());

  test('joins need a valid identity token, and a busy address is told to retry later', async () => {
    await hit('PUT', '/v1/admin/events/vip', { admin: true, body: { capacity: 1 } });
    const join = '/v1/events/vip/join';
    expectError(await hit('POST', join, { body: { userId: 'alice' } }), 401, 'invalid_token');
    expectError(await hit('POST', join, { token: 'forged' }), 401, 'invalid_token');
    expectError(
      await hit('POST', join, { headers: { authorization: 'Token id-alice' } }),
      401,
      'invalid_token',
    );

    const first = await hit('POST', join, { token: 'id-alice', body: { userId: 'mallory' } });
    expect(first.status).toBe(201);
    const again = await hit('POST', join, { token: 'id-alice' });
    expect(again.status).toBe(200);
    expect(again.body.position).toBe(first.body.position);

    const limited = await hit('POST', join, { token: 'id-bob' });
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('local stack with push off (FQ_PUSH=off)', () => {
  beforeAll(async () => {
    app = await startTestApp({ env: { FQ_PUSH: 'off' } });
  });
  afterAll(() => app.close());

  test('registration is 503 push_unavailable, only after the token check; the sink lists nothing', async () => {
    await hit('PUT', '/v1/admin/events/quiet', { admin: true, body: { capacity: 1 } });
    const { token } = (await hit('POST', '/v1/events/quiet/join', { body: {} })).body;
    const devices = '/v1/events/quiet/devices';
    expectError(await hit('POST', devices, { body: DEVICE }), 401, 'invalid_token');
    expectError(await hit('POST', devices, { token, body: { platform: 'fcm' } }), 400, 'invalid_body');
    for (const body of [DEVICE, { platform: 'apns', deviceToken: 'a'.repeat(64) }]) {
      const res = await hit('POST', devices, { token, body });
      expectError(res, 503, 'push_unavailable');
      expect(res.headers.get('retry-after')).toBe('3600');
    }
    await app.tick();
    await app.settle();
    expect((await hit('GET', '/_local/pushes')).body).toEqual({ pushes: [] });
  });
});

describe('local stack whose config writes always lose a race', () => {
  /** Another operator writes between every read and write of this one. */
  class RacedStore extends MemoryQueueStore {
    override async putEvent(
      ...args: Parameters<MemoryQueueStore['putEvent']>
    ): ReturnType<MemoryQueueStore['putEvent']> {
      return args[3] === undefined ? super.putEvent(...args) : null;
    }
  }
  beforeAll(async () => {
    app = await startTestApp({ overrides: { store: new RacedStore() } });
  });
  afterAll(() => app.close());

  test('an update that keeps losing is 409 conflict, and changes nothing', async () => {
    await hit('PUT', '/v1/admin/events/raced', { admin: true, body: { capacity: 1 } });
    expectError(
      await hit('PUT', '/v1/admin/events/raced', { admin: true, body: { capacity: 9 } }),
      409,
      'conflict',
    );
    expect((await hit('GET', '/v1/admin/events/raced/stats', { admin: true })).body.capacity).toBe(1);
  });
});

test('every answer the spec documents was provoked, every place status and server message was seen', () => {
  // No code raises `unavailable` yet; the spec lists it because the error type allows it.
  const notSeen = documentedAnswers().filter(
    (answer) => !seen.has(answer) && !answer.endsWith(' 503 unavailable'),
  );
  expect(notSeen).toEqual([]);
  expect([...placeStatuses].sort()).toEqual([
    'active',
    'admitted',
    'completed',
    'expired',
    'missed',
    'waiting',
  ]);
  expect([...seen].filter((answer) => answer.startsWith('gateway')).sort()).toEqual([
    'gateway 404 not_found',
    'gateway 405 method_not_allowed',
  ]);
  expect([...seen].filter((answer) => answer.startsWith('websocket')).sort()).toEqual(
    documentedWebSocketRefusals().sort(),
  );
  const serverMessages = loadSpec().components.schemas.WebSocketServerMessage as {
    discriminator?: { mapping?: Record<string, string> };
  };
  expect([...messageTypes].sort()).toEqual(Object.keys(serverMessages.discriminator?.mapping ?? {}).sort());
});
