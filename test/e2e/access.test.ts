/**
 * The online access check, `GET /v1/events/{eventId}/access`, end to end over the local
 * runtime: on its embedded store and on DynamoDB Local (the same adapter as on AWS). 200 with
 * the claims while the session runs, 410 `session_ended` once `complete` (or a leave) ended it
 * or the purchase window passed (the test clock moves; nothing sleeps), 401 for anything that
 * is not a genuine access token of the event. Decision 0014.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { uniqueTableName, useDynamoDbLocalEnv } from '../support/dynamodb-local.ts';
import {
  claimsOf,
  freshEs256Key,
  headerOf,
  realSigningKey,
  signWith,
  unsecuredToken,
} from '../support/forge.ts';
import { call, startTestApp } from '../support/local-app.ts';

const SHOP = 'shop';
const OTHER = 'other';
const WINDOW = 60;

const STORES = [
  { store: 'the embedded store', env: {} as Record<string, string> },
  { store: 'DynamoDB Local', env: { FQ_STORE: 'dynamodb' } as Record<string, string> },
];

describe.each(STORES)('GET …/access on $store', ({ env }) => {
  const clock = new TestClock();
  let app: LocalApp;
  const access = (eventId: string, options: Parameters<typeof call>[3] = {}) =>
    call(app, 'GET', `/v1/events/${eventId}/access`, options);

  async function join(eventId: string, userId: string): Promise<string> {
    const res = await call(app, 'POST', `/v1/events/${eventId}/join`, { body: { userId } });
    expect(res.status).toBe(201);
    return res.body.token;
  }
  async function claim(eventId: string, position: string) {
    const res = await call(app, 'POST', `/v1/events/${eventId}/admission`, { token: position });
    expect(res.status).toBe(200);
    return res.body as { accessToken: string; expiresAt: number; sessionId: string };
  }
  function expectError(res: Awaited<ReturnType<typeof access>>, status: number, code: string) {
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: { error: { code, message: expect.any(String) } },
    });
    // An error is never cached: a 410 or 401 must not outlive what it says.
    expect(res.headers.get('cache-control')).toBe('no-store');
  }

  beforeAll(async () => {
    if (env.FQ_STORE === 'dynamodb') {
      useDynamoDbLocalEnv(inject('ddbEndpoint'));
    }
    app = await startTestApp({
      env: { ...env, ...(env.FQ_STORE === 'dynamodb' ? { FQ_TABLE: uniqueTableName('access') } : {}) },
      overrides: { now: clock.now },
    });
    // The variant really runs on the store it names.
    expect(app.runtime.store.constructor.name).toBe(
      env.FQ_STORE === 'dynamodb' ? 'DynamoQueueStore' : 'MemoryQueueStore',
    );
    for (const eventId of [SHOP, OTHER]) {
      const put = await call(app, 'PUT', `/v1/admin/events/${eventId}`, {
        admin: true,
        body: { capacity: 10, purchaseWindowSeconds: WINDOW },
      });
      expect(put.status).toBe(200);
    }
  });
  afterAll(() => app?.close());

  test('while the session runs: 200 with its claims, privately cacheable for a few seconds', async () => {
    const position = await join(SHOP, 'alice');
    await app.tick();
    const session = await claim(SHOP, position);
    const res = await access(SHOP, { token: session.accessToken });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('private, max-age=5');
    expect(res.body).toStrictEqual({
      sub: 'alice',
      sid: session.sessionId,
      pos: claimsOf(session.accessToken).pos,
      exp: session.expiresAt,
    });
    // Two seconds before the window ends the answer may be kept two seconds, no longer.
    clock.advance(WINDOW - 2);
    const late = await access(SHOP, { token: session.accessToken });
    expect(late.status).toBe(200);
    expect(late.headers.get('cache-control')).toBe('private, max-age=2');
  });

  test('after complete: 410 session_ended, though the token has not expired yet', async () => {
    const position = await join(SHOP, 'bob');
    await app.tick();
    const session = await claim(SHOP, position);
    expect((await access(SHOP, { token: session.accessToken })).status).toBe(200);
    const complete = await call(app, 'POST', `/v1/events/${SHOP}/complete`, { token: session.accessToken });
    expect(complete.status).toBe(204);
    expect(clock.sec).toBeLessThan(session.expiresAt);
    expectError(await access(SHOP, { token: session.accessToken }), 410, 'session_ended');
  });

  test('after the fan gives the place up: 410 session_ended', async () => {
    const position = await join(SHOP, 'carol');
    await app.tick();
    const session = await claim(SHOP, position);
    expect((await call(app, 'DELETE', `/v1/events/${SHOP}/place`, { token: position })).status).toBe(204);
    expectError(await access(SHOP, { token: session.accessToken }), 410, 'session_ended');
  });

  test('after the purchase window: 410 session_ended from the second it ends, and later', async () => {
    const position = await join(SHOP, 'dan');
    await app.tick();
    const session = await claim(SHOP, position);
    clock.advance(session.expiresAt - clock.sec - 1);
    expect((await access(SHOP, { token: session.accessToken })).headers.get('cache-control')).toBe(
      'private, max-age=1',
    );
    clock.advance(1);
    expectError(await access(SHOP, { token: session.accessToken }), 410, 'session_ended');
    clock.advance(3600);
    expectError(await access(SHOP, { token: session.accessToken }), 410, 'session_ended');
    // complete still treats the expired token as any token problem (contract v1).
    const complete = await call(app, 'POST', `/v1/events/${SHOP}/complete`, { token: session.accessToken });
    expect(complete.status).toBe(401);
  });

  describe('anything but a genuine access token of this event: 401 invalid_token', () => {
    let position = '';
    let token = '';
    let otherEvent = '';
    let stillRunning: () => Promise<void>;

    beforeAll(async () => {
      position = await join(SHOP, 'erin');
      const elsewhere = await join(OTHER, 'erin');
      await app.tick();
      token = (await claim(SHOP, position)).accessToken;
      otherEvent = (await claim(OTHER, elsewhere)).accessToken;
      stillRunning = async () => {
        expect((await access(SHOP, { token })).status).toBe(200);
      };
      await stillRunning();
    });

    const invalid = async (options: Parameters<typeof call>[3]) => {
      const res = await access(SHOP, options);
      expectError(res, 401, 'invalid_token');
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      await stillRunning();
    };

    test('no Authorization header', () => invalid({}));
    test('a position token (of a place that claimed)', () => invalid({ token: position }));
    test('an access token of another event', () => invalid({ token: otherEvent }));
    test('the claims signed by another key under the real kid', async () =>
      invalid({
        token: await signWith(await freshEs256Key(), { ...headerOf(token), alg: 'ES256' }, claimsOf(token)),
      }));
    test('alg none', () => invalid({ token: unsecuredToken(headerOf(token), claimsOf(token)) }));
    test('a real-key token whose exp is not its session’s end (here: a second ago)', async () => {
      const real = await realSigningKey(app.runtime.keyStore);
      const forged = await signWith(
        real.key,
        { ...headerOf(token), alg: 'ES256', kid: real.kid },
        { ...claimsOf(token), exp: clock.sec - 1 },
      );
      await invalid({ token: forged });
    });
    test('Basic credentials carrying the token', () =>
      invalid({ headers: { authorization: `Basic ${token}` } }));
  });
});
