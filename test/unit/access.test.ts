/**
 * The online access check (decision 0014): the pure rule (shared/domain/access.ts) and the use
 * case over a fake session read and the real token service (shared/app/access.ts).
 */
import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { AccessCheck } from '#app/access';
import { ACCESS_CHECK_MAX_AGE_SECONDS, accessCheck } from '#domain/access';
import { InvalidTokenError, SessionEndedError } from '#domain/errors';
import type { Session } from '#domain/place';
import { TestClock } from '../support/clock.ts';
import { claimsOf, freshEs256Key, headerOf, signWith, unsecuredToken, withClaims } from '../support/forge.ts';
import { testTokens } from '../support/services.ts';

const EVENT = 'tour';
const WINDOW = 600;

function session(nowSec: number, over: Partial<Session> = {}): Session {
  return {
    position: 7,
    sessionId: 's_abc',
    sub: 'alice',
    claimedAt: nowSec,
    endsAt: nowSec + WINDOW,
    claimBy: nowSec + 60,
    completedAt: null,
    ...over,
  };
}

describe('accessCheck (the rule)', () => {
  const now = 1_800_000_000;
  const running = session(now);
  const claims = { sid: running.sessionId, sub: running.sub, exp: running.endsAt };

  test('a running session may be cached for at most 5 s', () => {
    expect(accessCheck({ claims, session: running, nowSec: now })).toEqual({
      outcome: 'running',
      maxAgeSeconds: ACCESS_CHECK_MAX_AGE_SECONDS,
    });
    expect(ACCESS_CHECK_MAX_AGE_SECONDS).toBeLessThanOrEqual(5);
  });

  test('never cached past the end of the purchase window', () => {
    expect(accessCheck({ claims, session: running, nowSec: running.endsAt - 2 })).toEqual({
      outcome: 'running',
      maxAgeSeconds: 2,
    });
    expect(accessCheck({ claims, session: running, nowSec: running.endsAt - 1 })).toEqual({
      outcome: 'running',
      maxAgeSeconds: 1,
    });
  });

  test('ended once completed, or from the second the window ends', () => {
    const completed = { ...running, completedAt: now + 1 };
    expect(accessCheck({ claims, session: completed, nowSec: now + 2 })).toEqual({ outcome: 'ended' });
    expect(accessCheck({ claims, session: running, nowSec: running.endsAt })).toEqual({ outcome: 'ended' });
    expect(accessCheck({ claims, session: running, nowSec: running.endsAt + 86_400 })).toEqual({
      outcome: 'ended',
    });
  });

  test.each<[string, Session | undefined]>([
    ['no session for the place', undefined],
    ['another session id', { ...running, sessionId: 's_other' }],
    ['another subject', { ...running, sub: 'mallory' }],
    ['a session that ends at another time than exp', { ...running, endsAt: running.endsAt + 1 }],
  ])('a token its session does not confirm is unknown: %s', (_, stored) => {
    expect(accessCheck({ claims, session: stored, nowSec: now }).outcome).toBe('unknown');
    // Also once its exp has passed: an expired token ends up `ended` only when the session agrees.
    expect(accessCheck({ claims, session: stored, nowSec: running.endsAt + 1 }).outcome).toBe('unknown');
  });

  test('property: running only before the end and never completed; the cache age is 1 to 5 s and ends with the window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: -10, max: 100_010 }),
        fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: null }),
        (window, elapsed, completedAfter) => {
          const stored = session(now, {
            endsAt: now + window,
            completedAt: completedAfter === null ? null : now + completedAfter,
          });
          const nowSec = now + elapsed;
          const decided = accessCheck({
            claims: { sid: stored.sessionId, sub: stored.sub, exp: stored.endsAt },
            session: stored,
            nowSec,
          });
          const runs = stored.completedAt === null && nowSec < stored.endsAt;
          expect(decided.outcome).toBe(runs ? 'running' : 'ended');
          if (decided.outcome === 'running') {
            expect(decided.maxAgeSeconds).toBeGreaterThanOrEqual(1);
            expect(decided.maxAgeSeconds).toBeLessThanOrEqual(ACCESS_CHECK_MAX_AGE_SECONDS);
            expect(nowSec + decided.maxAgeSeconds).toBeLessThanOrEqual(stored.endsAt);
          }
        },
      ),
    );
  });
});

describe('AccessCheck (the use case)', () => {
  async function setUp() {
    const clock = new TestClock();
    const tokens = testTokens(clock);
    let stored: Session | undefined = session(clock.sec);
    const getSession = vi.fn(async (_eventId: string, position: number) =>
      stored?.position === position ? stored : undefined,
    );
    const check = new AccessCheck({ store: { getSession }, tokens, now: clock.now });
    const sign = (s: Session, eventId = EVENT) =>
      tokens.signAccess({
        eventId,
        sub: s.sub,
        pos: s.position,
        sid: s.sessionId,
        nowSec: clock.sec,
        exp: s.endsAt,
      });
    const running = stored;
    const token = await sign(running);
    return {
      clock,
      tokens,
      check,
      getSession,
      running,
      token,
      sign,
      setStored: (s: Session | undefined) => {
        stored = s;
      },
    };
  }

  test('while the session runs: its claims, cacheable for a few seconds, from one session read', async () => {
    const { check, token, running, getSession } = await setUp();
    await expect(check.check(EVENT, token)).resolves.toEqual({
      sub: running.sub,
      sid: running.sessionId,
      pos: running.position,
      exp: running.endsAt,
      maxAgeSeconds: ACCESS_CHECK_MAX_AGE_SECONDS,
    });
    expect(getSession).toHaveBeenCalledTimes(1);
    expect(getSession).toHaveBeenCalledWith(EVENT, running.position);
  });

  test('once complete ended it: session_ended, although the token has not expired', async () => {
    const { check, token, running, clock, setStored } = await setUp();
    clock.advance(30);
    setStored({ ...running, completedAt: clock.sec });
    await expect(check.check(EVENT, token)).rejects.toBeInstanceOf(SessionEndedError);
  });

  test('once the purchase window passed: session_ended for the genuine (now expired) token', async () => {
    const { check, token, clock } = await setUp();
    clock.advance(WINDOW - 1);
    await expect(check.check(EVENT, token)).resolves.toMatchObject({ maxAgeSeconds: 1 });
    clock.advance(1);
    await expect(check.check(EVENT, token)).rejects.toBeInstanceOf(SessionEndedError);
    clock.advance(3600);
    await expect(check.check(EVENT, token)).rejects.toBeInstanceOf(SessionEndedError);
  });

  test('an expired token its session does not confirm is a token problem, not session_ended', async () => {
    const { check, running, sign, clock } = await setUp();
    // Well signed, but with an exp that is not the session's end: fairqueue never issued it.
    const early = await sign({ ...running, endsAt: clock.sec + 10 });
    clock.advance(11);
    await expect(check.check(EVENT, early)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test('an access token of a place with no session (e.g. a reset store) is a token problem', async () => {
    const { check, token, setStored } = await setUp();
    setStored(undefined);
    await expect(check.check(EVENT, token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test.each<[string, (s: Awaited<ReturnType<typeof setUp>>) => Promise<string> | string]>([
    [
      'a position token of the same place',
      async (s) =>
        (
          await s.tokens.signPosition({
            eventId: EVENT,
            sub: s.running.sub,
            pos: s.running.position,
            nowSec: s.clock.sec,
            ttlSeconds: 600,
          })
        ).token,
    ],
    ['an access token of another event', (s) => s.sign(s.running, 'other')],
    ['alg none', (s) => unsecuredToken(headerOf(s.token), claimsOf(s.token))],
    [
      'the claims signed by another key under the real kid',
      async (s) => signWith(await freshEs256Key(), { ...headerOf(s.token), alg: 'ES256' }, claimsOf(s.token)),
    ],
    ['a tampered sid', (s) => withClaims(s.token, (p) => ({ ...p, sid: 's_other' }))],
    ['garbage', () => 'not.a.token'],
  ])('%s: invalid_token, and no session read', async (_, forge) => {
    const s = await setUp();
    await expect(s.check.check(EVENT, await forge(s))).rejects.toBeInstanceOf(InvalidTokenError);
    expect(s.getSession).not.toHaveBeenCalled();
  });

  test('an expired token is let through only when everything but exp holds', async () => {
    const s = await setUp();
    s.clock.advance(WINDOW + 5);
    // Expired and of another event / of the wrong kind / re-signed by another key: still 401.
    const otherEvent = await s.sign(s.running, 'other');
    await expect(s.check.check(EVENT, otherEvent)).rejects.toBeInstanceOf(InvalidTokenError);
    const position = (
      await s.tokens.signPosition({
        eventId: EVENT,
        sub: s.running.sub,
        pos: s.running.position,
        nowSec: s.clock.sec - 100,
        ttlSeconds: 10,
      })
    ).token;
    await expect(s.check.check(EVENT, position)).rejects.toBeInstanceOf(InvalidTokenError);
    const forged = await signWith(
      await freshEs256Key(),
      { ...headerOf(s.token), alg: 'ES256' },
      claimsOf(s.token),
    );
    await expect(s.check.check(EVENT, forged)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(s.getSession).not.toHaveBeenCalled();
    // The genuine token: verified, and then its session decides.
    await expect(s.check.check(EVENT, s.token)).rejects.toBeInstanceOf(SessionEndedError);
  });

  test('complete keeps refusing expired access tokens (only the check accepts them)', async () => {
    const { tokens, token, clock } = await setUp();
    clock.advance(WINDOW);
    await expect(tokens.verifyAccess(token, EVENT)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(tokens.verifyAccess(token, EVENT, { acceptExpired: true })).resolves.toMatchObject({
      sub: 'alice',
    });
  });
});
