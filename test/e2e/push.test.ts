/**
 * Mobile push end to end over the local runtime: fans join and register devices,
 * ticks move the line, and the local sink (`GET /_local/pushes`) shows `near`,
 * `admitted`, `claim_expiring` and `closed`, each exactly once per place and
 * device, however often ticks repeat or overlap. Without push configured,
 * registration answers 503 `push_unavailable` and the rest works on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';

interface PushEntry {
  eventId: string;
  position: number;
  milestone: string;
  platform: string;
  deviceToken: string;
  at: number;
}

const EVENT = 'push-sale';

/** `0005 near apns:token`: one push, as compared here. */
const line = (position: number, milestone: string, platform: string, token: string) =>
  `${String(position).padStart(4, '0')} ${milestone} ${platform}:${token}`;
const lineOf = (p: PushEntry) => line(p.position, p.milestone, p.platform, p.deviceToken);

describe('push milestones over the local runtime', () => {
  let app: LocalApp;
  const clock = new TestClock(Date.now());
  beforeAll(async () => {
    app = await startTestApp({ overrides: { now: clock.now } });
  });
  afterAll(() => app.close());

  const tokens = new Map<number, string>();
  /** The devices of each place; the shared iPad follows places 5 and 7. */
  const devices: Record<number, [string, string][]> = {
    1: [['fcm', 'fcm-token-p1']],
    2: [
      ['fcm', 'fcm-token-p2'],
      ['apns', 'apns-token-p2'],
    ],
    3: [['fcm', 'fcm-token-p3']],
    4: [['fcm', 'fcm-token-p4']],
    5: [
      ['fcm', 'fcm-token-p5'],
      ['apns', 'apns-shared-ipad'],
    ],
    6: [['fcm', 'fcm-token-p6']],
    7: [
      ['fcm', 'fcm-token-p7'],
      ['apns', 'apns-shared-ipad'],
    ],
    8: [['fcm', 'fcm-token-p8']],
  };
  /** Every push the sink should hold so far. */
  const expected: string[] = [];
  let seen = 0;

  const due = (positions: number[], milestone: string) => {
    const lines = positions.flatMap((p) => (devices[p] ?? []).map(([pl, t]) => line(p, milestone, pl, t)));
    expected.push(...lines);
    return lines.sort();
  };

  async function pushes(): Promise<PushEntry[]> {
    const res = await call(app, 'GET', '/_local/pushes');
    expect(res.status).toBe(200);
    return (res.body.pushes as PushEntry[]).filter((p) => p.eventId === EVENT);
  }

  /** The pushes since the last call; each names the event, its place and device, and when. */
  async function fresh(at = clock.sec): Promise<string[]> {
    const all = await pushes();
    const added = all.slice(seen);
    seen = all.length;
    for (const p of added) {
      expect(p).toEqual({
        eventId: EVENT,
        position: expect.any(Number),
        milestone: expect.stringMatching(/^(near|admitted|claim_expiring|closed)$/),
        platform: expect.stringMatching(/^(fcm|apns)$/),
        deviceToken: expect.any(String),
        at,
        title: expect.any(String),
        body: expect.any(String),
      });
    }
    // The whole list is still exactly what is due: nothing twice, nothing extra.
    expect(all.map(lineOf).sort()).toEqual([...expected].sort());
    return added.map(lineOf).sort();
  }

  /** Checks the pushes since the last check; `want` is evaluated (and recorded as due) first. */
  async function expectFresh(want: string[]) {
    expect(await fresh()).toEqual([...want].sort());
  }

  async function tick(times = 1) {
    for (let i = 0; i < times; i++) await app.tick();
    await app.settle();
  }

  /** Two admitter ticks overlapping, then one more in the same second. */
  async function overlappingTicks() {
    await Promise.all([app.tick(), app.tick()]);
    await app.tick();
    await app.settle();
  }

  async function serving(): Promise<number> {
    return (await call(app, 'GET', `/v1/events/${EVENT}`)).body.servingPosition;
  }

  async function claimBy(position: number): Promise<number> {
    const status = await call(app, 'GET', `/v1/events/${EVENT}/status`, { token: tokens.get(position) });
    expect(status.body.status).toBe('admitted');
    return status.body.claimBy;
  }

  test('registration: 201, near at once for places already near, one registration per device', async () => {
    // Capacity 2, near = 2 or fewer ahead, claim window 10 s: claim_expiring 5 s before claimBy.
    const put = await call(app, 'PUT', `/v1/admin/events/${EVENT}`, {
      admin: true,
      body: { capacity: 2, nearThreshold: 2, claimWindowSeconds: 10 },
    });
    expect(put.status).toBe(200);
    for (let i = 1; i <= 8; i++) {
      const join = await call(app, 'POST', `/v1/events/${EVENT}/join`, { body: {} });
      expect(join.status).toBe(201);
      expect(join.body.position).toBe(i);
      tokens.set(i, join.body.token);
    }
    for (const [position, list] of Object.entries(devices)) {
      for (const [platform, deviceToken] of list) {
        const res = await call(app, 'POST', `/v1/events/${EVENT}/devices`, {
          token: tokens.get(Number(position)),
          body: { platform, deviceToken },
        });
        expect(res.status).toBe(201);
        expect(res.body).toEqual({ eventId: EVENT, position: Number(position), platform });
      }
    }
    // #3's phone registers again, twice at once: still one registration.
    const again = await Promise.all(
      [1, 2].map(() =>
        call(app, 'POST', `/v1/events/${EVENT}/devices`, {
          token: tokens.get(3),
          body: { platform: 'fcm', deviceToken: 'fcm-token-p3' },
        }),
      ),
    );
    expect(again.map((r) => r.status)).toEqual([201, 201]);
    // #1 and #2 are 1 and 2 ahead: near already, so they hear it now.
    await expectFresh(due([1, 2], 'near'));
    // Registering a device that already heard near again is no second registration, nor a second near.
    for (const [position, platform, deviceToken] of [
      [1, 'fcm', 'fcm-token-p1'],
      [2, 'apns', 'apns-token-p2'],
    ] as const) {
      const res = await call(app, 'POST', `/v1/events/${EVENT}/devices`, {
        token: tokens.get(position),
        body: { platform, deviceToken },
      });
      expect(res.status).toBe(201);
    }
    await expectFresh([]);
  });

  test('a registration that is not valid is refused', async () => {
    const bad = [
      { token: tokens.get(4), body: { platform: 'windows', deviceToken: 'fcm-token-p4' } },
      { token: tokens.get(4), body: { platform: 'fcm', deviceToken: 'short' } },
      { token: tokens.get(4), body: { platform: 'fcm' } },
      { token: tokens.get(4), body: { platform: 'fcm', deviceToken: 'fcm-token-p4', extra: 1 } },
    ];
    for (const { token, body } of bad) {
      const res = await call(app, 'POST', `/v1/events/${EVENT}/devices`, { token, body });
      expect(res.status).toBe(400);
    }
    const noToken = await call(app, 'POST', `/v1/events/${EVENT}/devices`, {
      body: { platform: 'fcm', deviceToken: 'fcm-token-p4' },
    });
    expect(noToken.status).toBe(401);
    const forged = await call(app, 'POST', `/v1/events/${EVENT}/devices`, {
      token: `${tokens.get(4)}x`,
      body: { platform: 'fcm', deviceToken: 'fcm-token-p4' },
    });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('invalid_token');
    await expectFresh([]);
  });

  test('a move: admitted to those let in, near to those now within the threshold; once', async () => {
    await tick();
    expect(await serving()).toBe(2);
    // #3's phone, registered three times, hears near once.
    await expectFresh([...due([1, 2], 'admitted'), ...due([3, 4], 'near')].sort());
    // Ticks repeated and overlapping in the same second add nothing.
    await tick(3);
    await overlappingTicks();
    expect(await serving()).toBe(2);
    await expectFresh([]);
  });

  test('claim_expiring at claimBy − min(60, window/2), only to places that have not claimed', async () => {
    const deadline = await claimBy(2);
    expect(await claimBy(1)).toBe(deadline);
    const claim = await call(app, 'POST', `/v1/events/${EVENT}/admission`, { token: tokens.get(1) });
    expect(claim.status).toBe(200);

    clock.ms = (deadline - 6) * 1000;
    await overlappingTicks();
    await expectFresh([]);

    clock.ms = (deadline - 5) * 1000;
    await overlappingTicks();
    await expectFresh(due([2], 'claim_expiring'));
    await tick(2);
    await expectFresh([]);
  });

  test('a lapsed claim frees a slot: the next place is admitted and the next near, by overlapping ticks', async () => {
    const deadline = await claimBy(2);
    clock.ms = (deadline + 1) * 1000;
    await overlappingTicks();
    expect(await serving()).toBe(3);
    // The shared iPad hears near for #5 (its place), once.
    await expectFresh([...due([3], 'admitted'), ...due([5], 'near')].sort());

    const deadline3 = await claimBy(3);
    clock.ms = (deadline3 - 5) * 1000;
    await overlappingTicks();
    await expectFresh(due([3], 'claim_expiring'));

    clock.ms = (deadline3 + 1) * 1000;
    await overlappingTicks();
    await overlappingTicks();
    expect(await serving()).toBe(4);
    await expectFresh([...due([4], 'admitted'), ...due([6], 'near')].sort());
  });

  test('close: closed to every place not yet admitted, and only to those', async () => {
    const res = await call(app, 'POST', `/v1/admin/events/${EVENT}/close`, { admin: true });
    expect(res.status).toBe(200);
    await app.settle();
    // The shared iPad hears it twice: once for #5, once for #7.
    await expectFresh(due([5, 6, 7, 8], 'closed'));
    await overlappingTicks();
    await expectFresh([]);
  });

  test('an admitted place keeps its claim window after close, and is still warned before it lapses', async () => {
    const deadline4 = await claimBy(4);
    clock.ms = (deadline4 - 5) * 1000;
    await overlappingTicks();
    await expectFresh(due([4], 'claim_expiring'));
    clock.ms = (deadline4 + 1) * 1000;
    await overlappingTicks();
    await expectFresh([]);
  });

  test('each milestone went exactly once per place and device; a shared device got both places', async () => {
    const all = (await pushes()).map(lineOf);
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual([...expected].sort());
    expect(all.filter((l) => l.endsWith('apns:apns-shared-ipad'))).toEqual(
      [
        line(5, 'near', 'apns', 'apns-shared-ipad'),
        line(5, 'closed', 'apns', 'apns-shared-ipad'),
        line(7, 'closed', 'apns', 'apns-shared-ipad'),
      ].sort(),
    );
    // Places 1..4 were let in before close: none of them was told `closed`.
    expect(all.filter((l) => / closed /.test(l) && Number(l.slice(0, 4)) <= 4)).toEqual([]);
    // #1 claimed in time: never warned.
    expect(all.filter((l) => l.startsWith('0001 claim_expiring'))).toEqual([]);
  });
});

describe('push switched off', () => {
  let app: LocalApp;
  const clock = new TestClock(Date.now());
  beforeAll(async () => {
    app = await startTestApp({ env: { FQ_PUSH: 'off' }, overrides: { now: clock.now } });
  });
  afterAll(() => app.close());

  test('registration answers 503 push_unavailable with Retry-After, and nothing else breaks', async () => {
    await call(app, 'PUT', '/v1/admin/events/quiet', {
      admin: true,
      body: { capacity: 1, nearThreshold: 5, claimWindowSeconds: 10 },
    });
    const fans: { position: number; token: string }[] = [];
    for (let i = 0; i < 3; i++)
      fans.push((await call(app, 'POST', '/v1/events/quiet/join', { body: {} })).body);
    for (const platform of ['fcm', 'apns']) {
      const res = await call(app, 'POST', '/v1/events/quiet/devices', {
        token: fans[1]?.token,
        body: { platform, deviceToken: `${platform}-device-token` },
      });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('push_unavailable');
      expect(typeof res.body.error.message).toBe('string');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // A bad token is still a 401, not a 503.
    const bad = await call(app, 'POST', '/v1/events/quiet/devices', {
      token: 'not-a-token',
      body: { platform: 'fcm', deviceToken: 'fcm-device-token' },
    });
    expect(bad.status).toBe(401);

    // Ticks, status, claims and close work on; nothing is pushed.
    await Promise.all([app.tick(), app.tick()]);
    await app.tick();
    await app.settle();
    expect((await call(app, 'GET', '/v1/events/quiet')).body.servingPosition).toBe(1);
    const status = await call(app, 'GET', '/v1/events/quiet/status', { token: fans[0]?.token });
    expect(status.body.status).toBe('admitted');
    clock.advance(11);
    await app.tick();
    await app.settle();
    expect((await call(app, 'GET', '/v1/events/quiet')).body.servingPosition).toBe(2);
    const claim = await call(app, 'POST', '/v1/events/quiet/admission', { token: fans[1]?.token });
    expect(claim.status).toBe(200);
    const close = await call(app, 'POST', '/v1/admin/events/quiet/close', { admin: true });
    expect(close.status).toBe(200);
    await app.tick();
    await app.settle();
    const pushes = await call(app, 'GET', '/_local/pushes');
    expect(pushes.status).toBe(200);
    expect(pushes.body).toEqual({ pushes: [] });
  });
});
