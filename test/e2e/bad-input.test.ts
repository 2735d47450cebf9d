/**
 * Bad input through the local HTTP gateway: every row is a request a careless or
 * hostile client could send. Each one must answer the contract's 4xx with a stable
 * `error.code`, the bare `{error:{code,message}}` body with nothing internal in it,
 * and change nothing: the reference event's stats and public view stay the same and
 * no event appears.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { type Gateway, startGateway } from '#local/gateway';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp, TEST_ADMIN_TOKEN } from '../support/local-app.ts';

type CallOptions = NonNullable<Parameters<typeof call>[3]>;

interface Row {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly options?: CallOptions;
  readonly status: number;
  readonly code: string;
}

/** An event with some history: joins, an admission tick, one active session. */
const REF = 'ref';
/** Ids that failing requests aim at; none of them may ever exist. */
const FRESH = 'fresh';
const UNKNOWN = 'nope';

const MAX_BODY_BYTES = 8 * 1024;

/** Internals that must never reach a client: stack frames, parser and AWS text. */
const LEAKS = [
  /\n\s*at /,
  /\bat .*:\d+:\d+/,
  /node_modules/,
  /\.ts\b/,
  /Exception/,
  /arn:aws/i,
  /dynamodb/i,
  /\bAWS\b/,
  /ZodError/,
  /SyntaxError/,
  /Unexpected token/i,
  /JSON at position/i,
  /stack/i,
];

let app: LocalApp;
const clock = new TestClock();
let positionToken = '';
let accessToken = '';

async function snapshot() {
  const stats = await call(app, 'GET', `/v1/admin/events/${REF}/stats`, { admin: true });
  const publicView = await call(app, 'GET', `/v1/events/${REF}`);
  expect(stats.status).toBe(200);
  expect(publicView.status).toBe(200);
  const never = await Promise.all(
    [FRESH, UNKNOWN].map(async (id) => (await call(app, 'GET', `/v1/events/${id}`)).status),
  );
  return {
    stats: stats.body,
    publicView: publicView.body,
    never,
    eventIds: (await app.runtime.store.listActiveEventIds()).sort(),
  };
}

async function expectRejected(row: Row) {
  const before = await snapshot();
  const res = await call(app, row.method, row.path, row.options);

  expect(res.status).toBe(row.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(res.body ?? {})).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message']);
  expect(res.body.error.code).toBe(row.code);
  expect(res.body.error.message).toEqual(expect.any(String));
  expect(res.body.error.message.length).toBeGreaterThan(0);
  const text = JSON.stringify(res.body);
  for (const leak of LEAKS) expect(text).not.toMatch(leak);

  const after = await snapshot();
  expect(after).toEqual(before);
  expect(after.never).toEqual([404, 404]);
  expect(after.eventIds).toEqual([REF]);
}

beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
  const put = await call(app, 'PUT', `/v1/admin/events/${REF}`, {
    admin: true,
    body: { capacity: 2, admitPerMinute: 600, nearThreshold: 5 },
  });
  expect(put.status).toBe(200);
  const joins = [];
  for (const userId of ['u1', 'u2', 'u3']) {
    joins.push(await call(app, 'POST', `/v1/events/${REF}/join`, { body: { userId } }));
  }
  positionToken = joins[2]?.body.token;
  await app.tick();
  clock.advance(1);
  const claim = await call(app, 'POST', `/v1/events/${REF}/admission`, { token: joins[0]?.body.token });
  expect(claim.status).toBe(200);
  accessToken = claim.body.accessToken;
  const stats = await call(app, 'GET', `/v1/admin/events/${REF}/stats`, { admin: true });
  expect(stats.body).toMatchObject({ issued: 3, servingPosition: 2, active: 1, waiting: 1 });
});
afterAll(() => app.close());

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/** The routes that read a JSON body, with a body each would accept. */
const BODY_ROUTES = [
  { route: 'join', method: 'POST', path: `/v1/events/${REF}/join`, admin: false, valid: { userId: 'u9' } },
  // No token: the body is checked before the token, so a skipped body check would answer 401 instead.
  {
    route: 'devices',
    method: 'POST',
    path: `/v1/events/${REF}/devices`,
    admin: false,
    valid: { platform: 'fcm', deviceToken: 'fcm-device-token-9' },
  },
  {
    route: 'put (existing)',
    method: 'PUT',
    path: `/v1/admin/events/${REF}`,
    admin: true,
    valid: { capacity: 3 },
  },
  {
    route: 'put (new)',
    method: 'PUT',
    path: `/v1/admin/events/${FRESH}`,
    admin: true,
    valid: { capacity: 3 },
  },
  { route: 'pause', method: 'POST', path: `/v1/admin/events/${REF}/pause`, admin: true, valid: {} },
  { route: 'resume', method: 'POST', path: `/v1/admin/events/${REF}/resume`, admin: true, valid: {} },
  { route: 'close', method: 'POST', path: `/v1/admin/events/${REF}/close`, admin: true, valid: {} },
] as const;

const MALFORMED_JSON = [
  '{',
  '{"userId":',
  "{'capacity': 3}",
  '{capacity: 3}',
  '{"capacity": 3,}',
  '{"capacity": NaN}',
  'undefined',
  'capacity=3',
  '\u0000',
];

/** A body of exactly `bytes` UTF-8 bytes: the valid body plus a padding field. */
function padded(valid: object, bytes: number, fill = 'x'): string {
  const base = JSON.stringify({ ...valid, pad: '' });
  const fillBytes = Buffer.byteLength(fill, 'utf8');
  const room = bytes - Buffer.byteLength(base, 'utf8');
  const count = Math.floor(room / fillBytes);
  const text = JSON.stringify({ ...valid, pad: fill.repeat(count) + 'x'.repeat(room - count * fillBytes) });
  if (Buffer.byteLength(text, 'utf8') !== bytes) throw new Error(`padded: cannot build ${bytes} bytes`);
  return text;
}

describe.each(BODY_ROUTES)('$route: $method $path', ({ method, path, admin, valid }) => {
  test.each(MALFORMED_JSON)('malformed JSON %j -> 400 invalid_json', async (rawBody) => {
    await expectRejected({
      name: 'malformed',
      method,
      path,
      options: { admin, rawBody },
      status: 400,
      code: 'invalid_json',
    });
  });

  test.each([
    ['an array', []],
    ['null', null],
    ['a string', 'x'],
    ['a number', 3],
    ['true', true],
  ])('a JSON body that is %s -> 400 invalid_body', async (_, body) => {
    await expectRejected({
      name: 'shape',
      method,
      path,
      options: { admin, rawBody: JSON.stringify(body) },
      status: 400,
      code: 'invalid_body',
    });
  });

  test.each([
    ['an unknown field', { unknown: 1 }],
    ['a field in other case', { UserId: 'u9', Capacity: 3 }],
    ['a nested object', { nested: { capacity: 3 } }],
  ])('%s -> 400 invalid_body (schemas are strict)', async (_, extra) => {
    await expectRejected({
      name: 'unknown field',
      method,
      path,
      options: { admin, body: { ...valid, ...extra } },
      status: 400,
      code: 'invalid_body',
    });
  });

  test('an own "__proto__" field -> 400 invalid_body', async () => {
    const rawBody = `${JSON.stringify(valid).slice(0, -1)}${Object.keys(valid).length ? ',' : ''}"__proto__":{"capacity":3}}`;
    await expectRejected({
      name: 'proto',
      method,
      path,
      options: { admin, rawBody },
      status: 400,
      code: 'invalid_body',
    });
  });

  test.each([
    ['8 KiB + 1 ASCII bytes', () => padded(valid, MAX_BODY_BYTES + 1)],
    ['9000 ASCII bytes', () => padded(valid, 9000)],
    [
      '8 KiB + 1 bytes of 3-byte characters (fewer than 8 KiB characters)',
      () => padded(valid, MAX_BODY_BYTES + 1, '€'),
    ],
    ['900 KiB (under the gateway read limit)', () => padded(valid, 900 * 1024)],
  ])('a body of %s -> 413 payload_too_large', async (_, body) => {
    await expectRejected({
      name: 'oversized',
      method,
      path,
      options: { admin, rawBody: body() },
      status: 413,
      code: 'payload_too_large',
    });
  });

  test('exactly 8 KiB is not too large (the padding field is what is rejected)', async () => {
    await expectRejected({
      name: 'at limit',
      method,
      path,
      options: { admin, rawBody: padded(valid, MAX_BODY_BYTES) },
      status: 400,
      code: 'invalid_body',
    });
  });

  test.each([
    'text/plain',
    'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'text/json',
    'application/jsonp',
  ])('content-type %s -> 415 unsupported_media_type', async (contentType) => {
    await expectRejected({
      name: 'content-type',
      method,
      path,
      options: { admin, body: valid, headers: { 'content-type': contentType } },
      status: 415,
      code: 'unsupported_media_type',
    });
  });
});

const PUT_PATHS = [
  ['existing event', `/v1/admin/events/${REF}`],
  ['new event', `/v1/admin/events/${FRESH}`],
] as const;

const BAD_CONFIGS: [string, unknown][] = [
  ['capacity "10" (a string)', { capacity: '10' }],
  ['capacity 0', { capacity: 0 }],
  ['capacity -1', { capacity: -1 }],
  ['capacity 1.5', { capacity: 1.5 }],
  ['capacity null', { capacity: null }],
  ['capacity true', { capacity: true }],
  ['capacity [10]', { capacity: [10] }],
  ['capacity {}', { capacity: {} }],
  ['capacity 2^53 (huge)', { capacity: 2 ** 53 }],
  ['capacity 1e308 (huge)', { capacity: 1e308 }],
  ['capacity missing', {}],
  ['capacity missing, other fields set', { admitPerMinute: 60 }],
  ['admitPerMinute 0', { capacity: 3, admitPerMinute: 0 }],
  ['admitPerMinute -5', { capacity: 3, admitPerMinute: -5 }],
  ['admitPerMinute "60"', { capacity: 3, admitPerMinute: '60' }],
  ['admitPerMinute 1.5', { capacity: 3, admitPerMinute: 1.5 }],
  ['purchaseWindowSeconds 0', { capacity: 3, purchaseWindowSeconds: 0 }],
  ['purchaseWindowSeconds "60"', { capacity: 3, purchaseWindowSeconds: '60' }],
  ['purchaseWindowSeconds 1.5', { capacity: 3, purchaseWindowSeconds: 1.5 }],
  ['purchaseWindowSeconds null', { capacity: 3, purchaseWindowSeconds: null }],
  ['purchaseWindowSeconds 2^53 (huge)', { capacity: 3, purchaseWindowSeconds: 2 ** 53 }],
  ['claimWindowSeconds 1e308 (huge)', { capacity: 3, claimWindowSeconds: 1e308 }],
  ['admitPerMinute 2^53 (huge)', { capacity: 3, admitPerMinute: 2 ** 53 }],
  ['claimWindowSeconds 0', { capacity: 3, claimWindowSeconds: 0 }],
  ['claimWindowSeconds -1', { capacity: 3, claimWindowSeconds: -1 }],
  ['positionTtlSeconds 0', { capacity: 3, positionTtlSeconds: 0 }],
  ['positionTtlSeconds null', { capacity: 3, positionTtlSeconds: null }],
  ['positionTtlSeconds "1800"', { capacity: 3, positionTtlSeconds: '1800' }],
  ['nearThreshold -1', { capacity: 3, nearThreshold: -1 }],
  ['nearThreshold 0.5', { capacity: 3, nearThreshold: 0.5 }],
  ['nearThreshold "1"', { capacity: 3, nearThreshold: '1' }],
  ['expectedPurchaseSeconds 0', { capacity: 3, expectedPurchaseSeconds: 0 }],
  ['expectedPurchaseSeconds 2.5', { capacity: 3, expectedPurchaseSeconds: 2.5 }],
  ['expectedPurchaseSeconds "300"', { capacity: 3, expectedPurchaseSeconds: '300' }],
  ['expectedPurchaseSeconds 1e308 (huge)', { capacity: 3, expectedPurchaseSeconds: 1e308 }],
  ['state (not configurable)', { capacity: 3, state: 'open' }],
  ['servingPosition (not configurable)', { capacity: 3, servingPosition: 100 }],
];

describe.each(PUT_PATHS)('PUT %s: wrong types', (_, path) => {
  test.each(BAD_CONFIGS)('%s -> 400 invalid_body', async (name, body) => {
    await expectRejected({
      name,
      method: 'PUT',
      path,
      options: { admin: true, body },
      status: 400,
      code: 'invalid_body',
    });
  });

  test('capacity 1e400 (Infinity once parsed) -> 400 invalid_body', async () => {
    await expectRejected({
      name: 'infinity',
      method: 'PUT',
      path,
      options: { admin: true, rawBody: '{"capacity":1e400}' },
      status: 400,
      code: 'invalid_body',
    });
  });

  test('no body at all -> 400 invalid_body (capacity is required)', async () => {
    await expectRejected({
      name: 'empty',
      method: 'PUT',
      path,
      options: { admin: true },
      status: 400,
      code: 'invalid_body',
    });
  });
});

const BAD_USER_IDS: [string, unknown][] = [
  ['129 characters (too long)', 'u'.repeat(129)],
  ['4 KiB', 'u'.repeat(4096)],
  ['an inner space', 'a b'],
  ['only a space', ' '],
  ['a leading space', ' u1'],
  ['a tab', 'a\tb'],
  ['a newline', 'a\nb'],
  ['a NUL', 'a\u0000b'],
  ["a '#' (the store's key delimiter)", 'a#b'],
  ['non-ASCII', 'jürgen'],
  ['an emoji', 'u🎟'],
  ['empty', ''],
  ['a number', 5],
  ['null', null],
  ['true', true],
  ['an array', ['u1']],
  ['an object', { id: 'u1' }],
];

describe('join: userId', () => {
  test.each(BAD_USER_IDS)('userId %s -> 400 invalid_body', async (_, userId) => {
    await expectRejected({
      name: 'userId',
      method: 'POST',
      path: `/v1/events/${REF}/join`,
      options: { body: { userId } },
      status: 400,
      code: 'invalid_body',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Event ids
// ---------------------------------------------------------------------------------------------

/** Every route with an `{eventId}`, as a function of the raw (already percent-encoded) path segment. */
const EVENT_ROUTES = [
  { route: 'join', method: 'POST', path: (id: string) => `/v1/events/${id}/join`, admin: false, body: {} },
  { route: 'status', method: 'GET', path: (id: string) => `/v1/events/${id}/status`, admin: false },
  { route: 'admission', method: 'POST', path: (id: string) => `/v1/events/${id}/admission`, admin: false },
  { route: 'complete', method: 'POST', path: (id: string) => `/v1/events/${id}/complete`, admin: false },
  { route: 'access', method: 'GET', path: (id: string) => `/v1/events/${id}/access`, admin: false },
  { route: 'leave', method: 'DELETE', path: (id: string) => `/v1/events/${id}/place`, admin: false },
  {
    route: 'devices',
    method: 'POST',
    path: (id: string) => `/v1/events/${id}/devices`,
    admin: false,
    body: { platform: 'apns', deviceToken: 'a'.repeat(64) },
  },
  { route: 'event', method: 'GET', path: (id: string) => `/v1/events/${id}`, admin: false },
  {
    route: 'put',
    method: 'PUT',
    path: (id: string) => `/v1/admin/events/${id}`,
    admin: true,
    body: { capacity: 3 },
  },
  { route: 'pause', method: 'POST', path: (id: string) => `/v1/admin/events/${id}/pause`, admin: true },
  { route: 'resume', method: 'POST', path: (id: string) => `/v1/admin/events/${id}/resume`, admin: true },
  { route: 'close', method: 'POST', path: (id: string) => `/v1/admin/events/${id}/close`, admin: true },
  { route: 'stats', method: 'GET', path: (id: string) => `/v1/admin/events/${id}/stats`, admin: true },
] as const;

const BAD_EVENT_IDS: [string, string][] = [
  ['65 characters (too long)', 'e'.repeat(65)],
  ['1000 characters', 'e'.repeat(1000)],
  ['a dot', 'a.b'],
  ['an encoded NUL', '%00'],
  ['an encoded NUL after a valid id', 'ref%00'],
  ['an encoded space', 'a%20b'],
  ['only an encoded space', '%20'],
  ['a trailing encoded space after a valid id', 'ref%20'],
  ['an encoded slash', 'a%2Fb'],
  ['an encoded newline', 'ref%0A'],
  ['a plus', 'a+b'],
  ['an asterisk', '*'],
  ['a colon', 'a:b'],
  ['a hash-looking pk separator', 'ref%23USER%23u1'],
  ['non-ASCII', '%C3%A9v%C3%A9nement'],
  ['a right-to-left override', 'ref%E2%80%AE'],
];

describe.each(EVENT_ROUTES)('$route: bad event ids', ({ method, path, admin, ...rest }) => {
  const body = 'body' in rest ? rest.body : undefined;
  test.each(BAD_EVENT_IDS)('%s -> 400 invalid_event_id', async (_, id) => {
    await expectRejected({
      name: 'event id',
      method,
      path: path(id),
      options: { admin, ...(body === undefined ? {} : { body }), ...(admin ? {} : { token: positionToken }) },
      status: 400,
      code: 'invalid_event_id',
    });
  });

  test('broken percent-encoding (%ZZ) -> 400 invalid_request', async () => {
    await expectRejected({
      name: 'percent',
      method,
      path: path('a%ZZ'),
      options: { admin, ...(body === undefined ? {} : { body }) },
      status: 400,
      code: 'invalid_request',
    });
  });
});

describe('unknown event', () => {
  test.each([
    ['join', 'POST', `/v1/events/${UNKNOWN}/join`, { body: { userId: 'u1' } }],
    ['join, anonymous', 'POST', `/v1/events/${UNKNOWN}/join`, { body: {} }],
    ['event', 'GET', `/v1/events/${UNKNOWN}`, {}],
    ['pause', 'POST', `/v1/admin/events/${UNKNOWN}/pause`, { admin: true }],
    ['resume', 'POST', `/v1/admin/events/${UNKNOWN}/resume`, { admin: true }],
    ['close', 'POST', `/v1/admin/events/${UNKNOWN}/close`, { admin: true }],
    ['stats', 'GET', `/v1/admin/events/${UNKNOWN}/stats`, { admin: true }],
  ] as [string, string, string, CallOptions][])(
    '%s -> 404 event_not_found',
    async (name, method, path, options) => {
      await expectRejected({ name, method, path, options, status: 404, code: 'event_not_found' });
    },
  );

  // No token can be valid for an event that does not exist, so the token check answers first.
  test.each([
    ['status', 'GET', `/v1/events/${UNKNOWN}/status`],
    ['admission', 'POST', `/v1/events/${UNKNOWN}/admission`],
    ['complete', 'POST', `/v1/events/${UNKNOWN}/complete`],
    ['access', 'GET', `/v1/events/${UNKNOWN}/access`],
    ['leave', 'DELETE', `/v1/events/${UNKNOWN}/place`],
  ])('%s with the token of another event -> 401 invalid_token', async (name, method, path) => {
    const token = name === 'complete' || name === 'access' ? accessToken : positionToken;
    await expectRejected({ name, method, path, options: { token }, status: 401, code: 'invalid_token' });
  });
});

// ---------------------------------------------------------------------------------------------
// Operator auth
// ---------------------------------------------------------------------------------------------

const ADMIN_ROUTES = [
  { route: 'put (new event)', method: 'PUT', path: `/v1/admin/events/${FRESH}`, body: { capacity: 5 } },
  { route: 'put (existing event)', method: 'PUT', path: `/v1/admin/events/${REF}`, body: { capacity: 50 } },
  { route: 'pause', method: 'POST', path: `/v1/admin/events/${REF}/pause` },
  { route: 'resume', method: 'POST', path: `/v1/admin/events/${REF}/resume` },
  { route: 'close', method: 'POST', path: `/v1/admin/events/${REF}/close` },
  { route: 'stats', method: 'GET', path: `/v1/admin/events/${REF}/stats` },
  { route: 'stats of an unknown event', method: 'GET', path: `/v1/admin/events/${UNKNOWN}/stats` },
  { route: 'bad event id', method: 'POST', path: '/v1/admin/events/a.b/pause' },
] as const;

const BAD_ADMIN_AUTH: [string, Record<string, string>][] = [
  ['no Authorization', {}],
  ['a wrong token', { authorization: 'Bearer not-the-admin-token' }],
  ['a prefix of the token', { authorization: `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}` }],
  ['the token plus a character', { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }],
  ['the token in upper case', { authorization: `Bearer ${TEST_ADMIN_TOKEN.toUpperCase()}` }],
  ['the token without a scheme', { authorization: TEST_ADMIN_TOKEN }],
  [
    'Basic with the token as password',
    { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}` },
  ],
  ['an empty Bearer', { authorization: 'Bearer' }],
  ['the token in another header', { 'x-admin-token': TEST_ADMIN_TOKEN }],
];

describe.each(ADMIN_ROUTES)('admin $route without the operator token', ({ method, path, ...rest }) => {
  const body = 'body' in rest ? rest.body : undefined;
  test.each(BAD_ADMIN_AUTH)('%s -> 401 unauthorized', async (_, headers) => {
    await expectRejected({
      name: 'admin auth',
      method,
      path,
      options: { headers, ...(body === undefined ? {} : { body }) },
      status: 401,
      code: 'unauthorized',
    });
  });

  test('a fan token (position token) -> 401 unauthorized', async () => {
    await expectRejected({
      name: 'position token as admin',
      method,
      path,
      options: { token: positionToken, ...(body === undefined ? {} : { body }) },
      status: 401,
      code: 'unauthorized',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

describe('unknown routes -> 404 not_found', () => {
  test.each([
    ['GET', '/v1'],
    ['GET', '/v1/events'],
    ['POST', '/v1/events'],
    ['GET', '/v2/events/ref'],
    ['POST', '/v2/events/ref/join'],
    ['POST', '/v1/events/ref/join/extra'],
    ['POST', '/v1/events/ref/JOIN'],
    ['POST', '/v1/events/ref/leave'],
    ['GET', '/v1/events/ref/access/extra'],
    ['GET', '/v1/events/ref/ACCESS'],
    ['POST', '/v1/events/ref/devices/extra'],
    ['POST', '/v1/events/ref/device'],
    ['POST', '/v1/events//join'],
    ['GET', '/v1/admin/event'],
    ['DELETE', '/v1/admin/events/ref/delete'],
    ['POST', '/v1/admin/events/ref/open'],
    ['GET', '/v1/admin/events/ref/stats/extra'],
    ['GET', '/.well-known/openid-configuration'],
    ['GET', '/.well-known/jwks'],
    ['GET', '/_local/nope'],
    ['GET', '/etc/passwd'],
  ])('%s %s', async (method, path) => {
    await expectRejected({ name: 'route', method, path, options: {}, status: 404, code: 'not_found' });
  });

  test('unknown admin routes are 404 with the operator token too', async () => {
    await expectRejected({
      name: 'route',
      method: 'POST',
      path: '/v1/admin/events/ref/reset',
      options: { admin: true },
      status: 404,
      code: 'not_found',
    });
  });
});

describe('wrong methods -> 405 method_not_allowed', () => {
  test.each([
    ['GET', `/v1/events/${REF}/join`],
    ['PUT', `/v1/events/${REF}/join`],
    ['DELETE', `/v1/events/${REF}/join`],
    ['POST', `/v1/events/${REF}/status`],
    ['GET', `/v1/events/${REF}/admission`],
    ['DELETE', `/v1/events/${REF}/admission`],
    ['GET', `/v1/events/${REF}/complete`],
    ['POST', `/v1/events/${REF}/access`],
    ['DELETE', `/v1/events/${REF}/access`],
    ['GET', `/v1/events/${REF}/devices`],
    ['PUT', `/v1/events/${REF}/devices`],
    ['DELETE', `/v1/events/${REF}/devices`],
    ['GET', `/v1/events/${REF}/place`],
    ['POST', `/v1/events/${REF}/place`],
    ['PUT', `/v1/events/${REF}/place`],
    ['POST', `/v1/events/${REF}`],
    ['PUT', `/v1/events/${REF}`],
    ['DELETE', `/v1/events/${REF}`],
    ['PATCH', `/v1/events/${REF}`],
    ['POST', '/.well-known/jwks.json'],
    ['DELETE', '/.well-known/jwks.json'],
    ['GET', `/v1/admin/events/${REF}`],
    ['POST', `/v1/admin/events/${REF}`],
    ['DELETE', `/v1/admin/events/${REF}`],
    ['PATCH', `/v1/admin/events/${REF}`],
    ['GET', `/v1/admin/events/${REF}/pause`],
    ['PUT', `/v1/admin/events/${REF}/close`],
    ['DELETE', `/v1/admin/events/${REF}/close`],
    ['POST', `/v1/admin/events/${REF}/stats`],
  ])('%s %s', async (method, path) => {
    await expectRejected({
      name: 'method',
      method,
      path,
      options: {},
      status: 405,
      code: 'method_not_allowed',
    });
    // RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
    const res = await call(app, method, path);
    const allow = (res.headers.get('allow') ?? '').split(/,\s*/).filter(Boolean);
    expect(allow.length).toBeGreaterThan(0);
    expect(allow).not.toContain(method);
  });

  test('with the operator token too', async () => {
    await expectRejected({
      name: 'method',
      method: 'DELETE',
      path: `/v1/admin/events/${REF}`,
      options: { admin: true },
      status: 405,
      code: 'method_not_allowed',
    });
  });
});

describe('bodies above the local gateway read limit (1 MiB)', () => {
  // A gateway of its own (same handlers, same runtime), so a regression that wedges its client
  // connections cannot spill over to the other tests' connections.
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ port: 0, adminToken: TEST_ADMIN_TOKEN });
  });
  afterAll(() => gateway.close());

  test('the first one answers 413 payload_too_large and changes nothing', async () => {
    const before = await snapshot();
    const res = await call(gateway, 'POST', `/v1/events/${REF}/join`, {
      rawBody: padded({}, 2 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });
    expect(await snapshot()).toEqual(before);
  });

  // The gateway drains what it does not keep, so a keep-alive client is answered and stays usable.
  test('after two of them the same client is still answered', async () => {
    const big = padded({}, 2 * 1024 * 1024);
    expect((await call(gateway, 'POST', `/v1/events/${REF}/join`, { rawBody: big })).status).toBe(413);
    expect((await call(gateway, 'POST', `/v1/events/${REF}/join`, { rawBody: big })).status).toBe(413);
    expect((await call(gateway, 'GET', '/.well-known/jwks.json')).status).toBe(200);
  }, 5_000);
});

describe('bodies on routes that take none (admission, complete, leave)', () => {
  // With the fan's valid token: if the size check were skipped, admission would answer 409 not_yet,
  // complete would end the active session and leave would void the waiting place (which the
  // snapshot would catch).
  test.each([
    ['admission', 'POST', `/v1/events/${REF}/admission`, () => positionToken],
    ['complete', 'POST', `/v1/events/${REF}/complete`, () => accessToken],
    ['complete with a garbage token', 'POST', `/v1/events/${REF}/complete`, () => 'garbage'],
    ['leave', 'DELETE', `/v1/events/${REF}/place`, () => positionToken],
  ])('%s: 9000 bytes -> 413 payload_too_large', async (name, method, path, token) => {
    await expectRejected({
      name,
      method,
      path,
      options: { rawBody: padded({}, 9000), token: token() },
      status: 413,
      code: 'payload_too_large',
    });
  });

  // The contract makes malformed JSON and a wrong content type a 4xx: admission parses its (empty)
  // body like pause/resume/close do. (Complete is left out: with a valid token it would end the session.)
  test.each([
    ['malformed JSON', 400, 'invalid_json', { rawBody: '{' }],
    ['an unknown field', 400, 'invalid_body', { body: { pos: 1 } }],
    [
      'text/plain',
      415,
      'unsupported_media_type',
      { rawBody: 'hello', headers: { 'content-type': 'text/plain' } },
    ],
  ] as [string, number, string, CallOptions][])(
    'admission: %s -> %i %s',
    async (_, status, code, options) => {
      await expectRejected({
        name: 'admission body',
        method: 'POST',
        path: `/v1/events/${REF}/admission`,
        options: { ...options, token: positionToken },
        status,
        code,
      });
    },
  );
});

describe('the reference event is untouched', () => {
  test('it still serves its fans after every bad request above', async () => {
    const stats = await call(app, 'GET', `/v1/admin/events/${REF}/stats`, { admin: true });
    expect(stats.body).toMatchObject({
      state: 'open',
      issued: 3,
      servingPosition: 2,
      active: 1,
      capacity: 2,
    });
    const status = await call(app, 'GET', `/v1/events/${REF}/status`, { token: positionToken });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: 'waiting', position: 3 });
    // Its one session still runs: no bad request above ended it.
    expect((await call(app, 'GET', `/v1/events/${REF}/access`, { token: accessToken })).status).toBe(200);
  });
});
