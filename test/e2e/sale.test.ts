/**
 * A whole on-sale through the local HTTP gateway: 300 fans, capacity 20. Some
 * buy and complete, some never claim, some let their purchase window lapse, some
 * give their place up while waiting. Everyone who stays is admitted in position
 * order, nobody twice, no slot goes to a leaver; `ahead` counts real places only.
 * The same suite runs on an event of each intake mode (decision 0008).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';

const CAPACITY = 20;
const CLAIM_WINDOW = 10;
const PURCHASE_WINDOW = 30;

type Behaviour = 'buy' | 'never_claims' | 'lapses' | 'leaves';

interface Fan {
  position: number;
  token: string;
  behaviour: Behaviour;
  admittedAtTick?: number;
  admittedAtSec?: number;
  sessionId?: string;
  accessToken?: string;
  completeAt?: number;
  done: boolean;
}

let app: LocalApp;
const clock = new TestClock();
beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
});
afterAll(() => app.close());

describe.each(['exact', 'sharded'] as const)('%s intake', (intake) => {
  test('300 fans, capacity 20: a whole sale end to end', async () => {
    const eventPath = `/v1/events/sale-${intake}`;
    const put = await call(app, 'PUT', `/v1/admin/events/sale-${intake}`, {
      admin: true,
      body: {
        capacity: CAPACITY,
        claimWindowSeconds: CLAIM_WINDOW,
        purchaseWindowSeconds: PURCHASE_WINDOW,
        intake,
      },
    });
    expect(put.status).toBe(200);
    expect(put.body.intake).toBe(intake);

    const joins = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        call(app, 'POST', `${eventPath}/join`, { body: i % 3 === 0 ? { userId: `fan-${i}` } : {} }),
      ),
    );
    expect(joins.every((j) => j.status === 201)).toBe(true);
    // Line order: exact positions are 1..300; sharded ones skip void numbers.
    const line = joins.map((j) => j.body.position as number).sort((a, b) => a - b);
    expect(new Set(line).size).toBe(300);
    if (intake === 'exact') expect(line).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const rank = new Map(line.map((p, i) => [p, i + 1]));
    const fans: Fan[] = joins.map((j) => {
      const position = j.body.position as number;
      const r = rank.get(position) ?? 0;
      const behaviour: Behaviour =
        r % 10 === 3 ? 'never_claims' : r % 10 === 7 ? 'lapses' : r % 20 === 5 ? 'leaves' : 'buy';
      return { position, token: j.body.token, behaviour, done: false };
    });
    const byPosition = new Map(fans.map((f) => [f.position, f]));

    // Leavers give their place up before anyone is admitted (a second time changes nothing).
    for (const fan of fans.filter((f) => f.behaviour === 'leaves')) {
      expect((await call(app, 'DELETE', `${eventPath}/place`, { token: fan.token })).status).toBe(204);
      expect((await call(app, 'DELETE', `${eventPath}/place`, { token: fan.token })).status).toBe(204);
      const gone = await call(app, 'GET', `${eventPath}/status`, { token: fan.token });
      expect(gone.status).toBe(410);
      expect(gone.body.error.code).toBe('left');
      fan.done = true;
    }
    const stays = line.filter((p) => byPosition.get(p)?.behaviour !== 'leaves');
    /** Real places ahead, the place itself included: what `ahead` must say. */
    const realAhead = (p: number, serving: number) => stays.filter((q) => q > serving && q <= p).length;

    let tick = 0;
    let lastServing = 0;
    while (fans.some((f) => !f.done) && tick < 2000) {
      tick++;
      clock.advance(1);
      await app.tick();

      const stats = await call(app, 'GET', `/v1/admin/events/sale-${intake}/stats`, { admin: true });
      expect(stats.body.admittedUnclaimed + stats.body.active).toBeLessThanOrEqual(CAPACITY);
      const serving = stats.body.servingPosition as number;
      expect(serving).toBeGreaterThanOrEqual(lastServing);
      // Sharded slices are settled a couple of seconds after their joins; then every count is exact.
      if (stats.body.issued === 300)
        expect(stats.body.waiting).toBe(realAhead(Number.MAX_SAFE_INTEGER, serving));

      // Fans near the front poll; the newly admitted ones learn it here.
      const near = stays
        .filter((p) => p > lastServing)
        .slice(0, Math.max(2, stays.filter((p) => p > lastServing && p <= serving).length + 2));
      for (const p of near) {
        const fan = byPosition.get(p);
        if (!fan || fan.admittedAtTick !== undefined) continue;
        const status = await call(app, 'GET', `${eventPath}/status`, { token: fan.token });
        expect(status.status).toBe(200);
        fan.token = status.body.token;
        if (p <= serving) {
          expect(status.body.status).toBe('admitted');
          expect(status.body.ahead).toBe(0);
          fan.admittedAtTick = tick;
          fan.admittedAtSec = clock.sec;
        } else {
          expect(status.body.status).toBe('waiting');
          if (stats.body.issued === 300) expect(status.body.ahead).toBe(realAhead(p, serving));
        }
      }
      lastServing = serving;

      for (const fan of fans) {
        if (fan.admittedAtTick === undefined || fan.done) continue;
        if (fan.behaviour === 'never_claims') {
          if (clock.sec - (fan.admittedAtSec ?? 0) > CLAIM_WINDOW + 1) {
            const late = await call(app, 'POST', `${eventPath}/admission`, { token: fan.token });
            expect(late.status).toBe(410);
            expect(late.body.error.code).toBe('missed');
            fan.done = true;
          }
          continue;
        }
        if (!fan.sessionId) {
          const claim = await call(app, 'POST', `${eventPath}/admission`, { token: fan.token });
          expect(claim.status).toBe(200);
          fan.sessionId = claim.body.sessionId;
          fan.accessToken = claim.body.accessToken;
          fan.completeAt = clock.sec + 3 + (fan.position % 5);
          // Claiming again returns the same session, never a second one.
          const again = await call(app, 'POST', `${eventPath}/admission`, { token: fan.token });
          expect(again.body.sessionId).toBe(fan.sessionId);
          continue;
        }
        if (fan.behaviour === 'buy' && clock.sec >= (fan.completeAt ?? 0)) {
          const done = await call(app, 'POST', `${eventPath}/complete`, { token: fan.accessToken });
          expect(done.status).toBe(204);
          const repeat = await call(app, 'POST', `${eventPath}/complete`, { token: fan.accessToken });
          expect(repeat.status).toBe(204);
          const status = await call(app, 'GET', `${eventPath}/status`, { token: fan.token });
          expect(status.body.status).toBe('completed');
          fan.done = true;
        }
        if (fan.behaviour === 'lapses') {
          const status = await call(app, 'GET', `${eventPath}/status`, { token: fan.token });
          fan.token = status.body.token;
          if (status.body.status === 'expired') fan.done = true;
          else expect(status.body.status).toBe('active');
        }
      }
    }

    expect(fans.every((f) => f.done)).toBe(true);
    // Admitted in position order: a later position was never let in before an earlier one.
    const order = fans
      .filter((f) => f.behaviour !== 'leaves')
      .sort((a, b) => a.position - b.position)
      .map((f) => f.admittedAtTick ?? Number.NaN);
    expect(fans.filter((f) => f.behaviour === 'leaves').every((f) => f.admittedAtTick === undefined)).toBe(
      true,
    );
    for (let i = 1; i < order.length; i++) expect(order[i]).toBeGreaterThanOrEqual(order[i - 1] ?? 0);
    // Every session is distinct: nobody was admitted twice.
    const sessions = fans.flatMap((f) => (f.sessionId ? [f.sessionId] : []));
    expect(new Set(sessions).size).toBe(sessions.length);

    // Let the remaining windows run out, then the books must balance.
    clock.advance(PURCHASE_WINDOW + 1);
    await app.tick();
    const stats = await call(app, 'GET', `/v1/admin/events/sale-${intake}/stats`, { admin: true });
    const count = (b: Behaviour) => fans.filter((f) => f.behaviour === b).length;
    expect(stats.body).toMatchObject({
      issued: 300,
      servingPosition: stays[stays.length - 1],
      waiting: 0,
      admittedUnclaimed: 0,
      active: 0,
      completed: count('buy'),
      expired: count('lapses'),
      missed: count('never_claims'),
    });
    expect(stats.body.recentTicks.length).toBeGreaterThan(0);
    // Every slot went to a real place: admissions add up to the fans who stayed.
    const admitted = stats.body.recentTicks.reduce(
      (sum: number, t: { admitted: number }) => sum + t.admitted,
      0,
    );
    expect(admitted).toBeLessThanOrEqual(stays.length);
  });
});
