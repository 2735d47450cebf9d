/**
 * `fairqueue/verifier` in process: the middleware for express/connect, fastify and middy
 * (framework objects faked structurally; middy is the real @middy/core), and `checkAccess`
 * with a fake fetch: what it answers for 200/401/410/5xx and how long it keeps a 200.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import {
  AccessCheckUnavailableError,
  type AccessClaims,
  AccessTokenRejectedError,
  bearerToken,
  cacheSeconds,
  checkAccess,
  createAccessCheckCache,
  expressAccess,
  fastifyAccess,
  type JSONWebKeySet,
  middyAccess,
  SessionEndedError,
} from '#verifier/index';

const EVENT = 'shop';
let jwks: JSONWebKeySet;
let access: string;
let position: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  const sign = (typ: string, claims: Record<string, unknown>) =>
    new SignJWT({ pos: 3, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ })
      .setIssuer('fairqueue')
      .setAudience(EVENT)
      .setSubject('alice')
      .setJti('j1')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  access = await sign('fq-access+jwt', { sid: 's_1' });
  position = await sign('fq-position+jwt', {});
});

const CONTRACT_401 = { error: { code: 'invalid_token', message: expect.any(String) } };

describe('expressAccess', () => {
  function fakeRes() {
    const res = {
      statusCode: 200,
      headers: {} as Record<string, string>,
      body: '',
      setHeader(name: string, value: string) {
        res.headers[name] = value;
      },
      end(body: string) {
        res.body = body;
      },
    };
    return res;
  }
  async function run(authorization: string | undefined) {
    const onRejected = vi.fn();
    const mw = expressAccess({ jwks, eventId: EVENT, onRejected });
    const req: { headers: { authorization?: string }; fairqueue?: AccessClaims } = {
      headers: authorization === undefined ? {} : { authorization },
    };
    const res = fakeRes();
    const next = vi.fn();
    mw(req, res, next);
    await vi.waitFor(() => expect(next.mock.calls.length + (res.body ? 1 : 0)).toBe(1));
    return { req, res, next, onRejected };
  }

  test('an access token: req.fairqueue holds its claims and next() runs', async () => {
    const { req, res, next } = await run(`Bearer ${access}`);
    expect(next).toHaveBeenCalledWith();
    expect(req.fairqueue).toMatchObject({ sub: 'alice', sid: 's_1', pos: 3, aud: EVENT });
    expect(res.body).toBe('');
  });

  test.each([
    ['a position token', () => `Bearer ${position}`],
    ['no header', () => undefined],
    ['another scheme', () => `Basic ${access}`],
    ['junk', () => 'Bearer not.a.jwt'],
  ])(
    '%s: 401 with the contract body, next() never runs, the reason goes to onRejected',
    async (_, header) => {
      const { req, res, next, onRejected } = await run(header());
      expect(next).not.toHaveBeenCalled();
      expect(req.fairqueue).toBeUndefined();
      expect(res.statusCode).toBe(401);
      expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store' });
      expect(JSON.parse(res.body)).toEqual(CONTRACT_401);
      expect(onRejected).toHaveBeenCalledWith(expect.any(AccessTokenRejectedError));
    },
  );

  test('a 401 that cannot be written (headers already sent) goes to next(error), not an unhandled rejection', async () => {
    const mw = expressAccess({ jwks, eventId: EVENT });
    const sent = new Error('Cannot set headers after they are sent to the client');
    const res = {
      statusCode: 200,
      setHeader() {
        throw sent;
      },
      end() {
        throw sent;
      },
    };
    const next = vi.fn();
    mw({ headers: { authorization: 'Bearer not.a.jwt' } }, res, next);
    await vi.waitFor(() => expect(next).toHaveBeenCalledWith(sent));
  });
});

describe('fastifyAccess', () => {
  function fakeReply() {
    const reply = {
      sent: undefined as unknown,
      status: 200,
      headers: {} as Record<string, string>,
      code(status: number) {
        reply.status = status;
        return reply;
      },
      header(name: string, value: string) {
        reply.headers[name] = value;
        return reply;
      },
      send(payload: unknown) {
        reply.sent = payload;
        return reply;
      },
    };
    return reply;
  }

  test('an access token sets request.fairqueue; anything else is answered 401', async () => {
    const hook = fastifyAccess({ jwks, eventId: EVENT });
    const ok: { headers: { authorization?: string }; fairqueue?: AccessClaims | null } = {
      headers: { authorization: `Bearer ${access}` },
      fairqueue: null,
    };
    const reply = fakeReply();
    expect(await hook(ok, reply)).toBeUndefined();
    expect(ok.fairqueue).toMatchObject({ sid: 's_1' });
    expect(reply.sent).toBeUndefined();

    const denied = fakeReply();
    const req = { headers: { authorization: `Bearer ${position}` }, fairqueue: null };
    expect(await hook(req, denied)).toBe(denied);
    expect({ status: denied.status, sent: denied.sent }).toEqual({ status: 401, sent: CONTRACT_401 });
    expect(req.fairqueue).toBeNull();
  });
});

describe('middyAccess', () => {
  // Built on first call: the JWKS exists only once beforeAll ran.
  const handler = (...args: Parameters<ReturnType<typeof build>>) => build()(...args);
  const build = () =>
    middy<
      { headers?: Record<string, string | undefined> },
      { statusCode: number; headers?: Record<string, string>; body: string },
      Error,
      Context & { fairqueue?: AccessClaims }
    >()
      .use(middyAccess({ jwks, eventId: EVENT }))
      .handler(async (_event, context) => ({ statusCode: 200, body: JSON.stringify(context.fairqueue) }));

  test('an access token reaches the handler with context.fairqueue (REST API header case too)', async () => {
    const res = await handler({ headers: { Authorization: `Bearer ${access}` } }, {} as never);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ sub: 'alice', sid: 's_1' });
  });

  test('a position token or none: early 401, the handler never runs', async () => {
    for (const event of [{ headers: { authorization: `Bearer ${position}` } }, {}]) {
      const res = await handler(event, {} as never);
      expect(res.statusCode).toBe(401);
      expect(res.headers?.['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(JSON.parse(res.body)).toEqual(CONTRACT_401);
    }
  });
});

describe('bearerToken and cacheSeconds', () => {
  test('reads a bearer token case-insensitively and nothing else', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ Authorization: 'bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Basic abc' })).toBeUndefined();
    expect(bearerToken({ authorization: 'Bearer a b' })).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });
  test('keeps an answer only as long as Cache-Control allows', () => {
    expect(cacheSeconds('private, max-age=5')).toBe(5);
    expect(cacheSeconds('no-store')).toBe(0);
    expect(cacheSeconds('private, no-cache, max-age=5')).toBe(0);
    expect(cacheSeconds(null)).toBe(0);
  });
});

describe('checkAccess', () => {
  afterEach(() => vi.useRealTimers());
  const nowSec = () => Math.floor(Date.now() / 1000);
  const session = () => ({ sub: 'alice', sid: 's_1', pos: 3, exp: nowSec() + 600 });
  function fakeFetch(status: number, body: unknown, cacheControl = 'no-store') {
    return vi.fn(
      async (_url: string, _init: { headers: Record<string, string> }) =>
        new Response(JSON.stringify(body), { status, headers: { 'cache-control': cacheControl } }),
    );
  }
  const base = { baseUrl: 'https://queue.example.com/prod/', eventId: EVENT, token: 't' };

  test('200: the claims; the request carries the token to the right route', async () => {
    const fetch = fakeFetch(200, session(), 'private, max-age=5');
    await expect(checkAccess({ ...base, fetch, cache: false })).resolves.toEqual(session());
    expect(fetch).toHaveBeenCalledWith('https://queue.example.com/prod/v1/events/shop/access', {
      headers: { authorization: 'Bearer t' },
      signal: expect.any(AbortSignal),
    });
  });

  test('410, 401 and anything else are typed errors, and none is cached', async () => {
    const cache = createAccessCheckCache();
    const ended = { error: { code: 'session_ended', message: 'x' } };
    await expect(checkAccess({ ...base, cache, fetch: fakeFetch(410, ended) })).rejects.toBeInstanceOf(
      SessionEndedError,
    );
    await expect(checkAccess({ ...base, cache, fetch: fakeFetch(401, {}) })).rejects.toBeInstanceOf(
      AccessTokenRejectedError,
    );
    const unavailable = checkAccess({ ...base, cache, fetch: fakeFetch(503, {}) });
    await expect(unavailable).rejects.toBeInstanceOf(AccessCheckUnavailableError);
    await expect(unavailable).rejects.toMatchObject({ status: 503 });
    const broken = vi.fn(async () => {
      throw new TypeError('fetch failed');
    });
    await expect(checkAccess({ ...base, cache, fetch: broken })).rejects.toBeInstanceOf(
      AccessCheckUnavailableError,
    );
    // A 200 whose body is not the contract's is no answer either.
    await expect(
      checkAccess({ ...base, cache, fetch: fakeFetch(200, { sub: 'a' }, 'private, max-age=5') }),
    ).rejects.toBeInstanceOf(AccessCheckUnavailableError);
  });

  test('a waiting room that never answers, or never ends its body, is unavailable after the timeout, not a hang', async () => {
    vi.useFakeTimers();
    const signals: AbortSignal[] = [];
    const silent = vi.fn(async (_url: string, init: { signal?: AbortSignal }) => {
      if (init.signal) signals.push(init.signal);
      return new Promise<Response>(() => undefined);
    });
    const trickle = vi.fn(
      async () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('{"sub":'));
            },
          }),
          { status: 200 },
        ),
    );
    for (const [fetch, timeoutMs] of [
      [silent, undefined],
      [trickle, 250],
    ] as const) {
      const asked = checkAccess({ ...base, cache: false, fetch, ...(timeoutMs ? { timeoutMs } : {}) });
      const settled = expect(asked).rejects.toBeInstanceOf(AccessCheckUnavailableError);
      await vi.advanceTimersByTimeAsync(timeoutMs ?? 5_000);
      await settled;
    }
    // The request itself is abandoned too, not left open.
    expect(signals.map((signal) => signal.aborted)).toEqual([true]);
  });

  test('a 200 is reused for its max-age, then asked again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2027-03-01T10:00:00Z'));
    const cache = createAccessCheckCache();
    const fetch = fakeFetch(200, session(), 'private, max-age=5');
    await checkAccess({ ...base, cache, fetch });
    vi.setSystemTime(Date.now() + 4_999);
    await checkAccess({ ...base, cache, fetch });
    expect(fetch).toHaveBeenCalledTimes(1);
    // Another token is another entry.
    await checkAccess({ ...base, token: 'u', cache, fetch });
    expect(fetch).toHaveBeenCalledTimes(2);
    vi.setSystemTime(Date.now() + 1);
    await checkAccess({ ...base, cache, fetch });
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  test('never past exp, and not at all when the answer says no-store', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2027-03-01T10:00:00Z'));
    const cache = createAccessCheckCache();
    const ending = { ...session(), exp: nowSec() + 2 };
    const fetch = fakeFetch(200, ending, 'private, max-age=5');
    await checkAccess({ ...base, cache, fetch });
    vi.setSystemTime(Date.now() + 2_000);
    await checkAccess({ ...base, cache, fetch });
    expect(fetch).toHaveBeenCalledTimes(2);

    const uncached = fakeFetch(200, session(), 'no-store');
    await checkAccess({ ...base, token: 'v', cache, fetch: uncached });
    await checkAccess({ ...base, token: 'v', cache, fetch: uncached });
    expect(uncached).toHaveBeenCalledTimes(2);
  });

  test('the cache holds at most maxEntries, dropping the oldest', () => {
    const cache = createAccessCheckCache({ maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) cache.set(key, session(), Date.now() + 5_000);
    expect(cache.get('a', Date.now())).toBeUndefined();
    expect(cache.get('c', Date.now())).toBeDefined();
  });
});
