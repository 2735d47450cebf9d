/**
 * The push worker on DynamoDB Local: Push over DynamoQueueStore + DynamoDeviceStore
 * and a recording gateway. Each milestone goes exactly once per place and device
 * however often the worker runs the same changes, concurrently or not; whom to
 * tell is found by range queries on the positions (never a scan); the
 * `claim_expiring` cursor hands each admission batch to exactly one racing worker.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoDeviceStore } from '#adapters/dynamo-devices';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { Admitter } from '#app/admitter';
import { Push } from '#app/push';
import type { JoinResult } from '#app/waiting-room';
import type { Milestone, Platform, PushContent } from '#domain/push';
import type { DeviceStore, PushGateway } from '#ports/push';
import type { ChangeNotifier, LineChange } from '#ports/realtime';
import { TestClock } from '../support/clock.ts';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { testRoom } from '../support/services.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('push');
beforeAll(() => createTable(endpoint, table));

interface Sent {
  readonly endpoint: string;
  readonly platform: Platform;
  readonly deviceToken: string;
  readonly content: PushContent;
}

/** Records every push; yields between calls so that racing workers interleave. */
class RecordingGateway implements PushGateway {
  readonly sent: Sent[] = [];
  /** When set, registration waits in the SNS call until it resolves: lets a test tick in between. */
  gate: { reached: () => void; open: Promise<void> } | null = null;

  supports(): boolean {
    return true;
  }

  async registerDevice(platform: Platform, deviceToken: string) {
    if (this.gate) {
      this.gate.reached();
      await this.gate.open;
    }
    return `arn:fake:sns:endpoint/${platform}/${deviceToken}`;
  }

  async send(endpoint: string, platform: Platform, deviceToken: string, content: PushContent) {
    await new Promise((resolve) => setImmediate(resolve));
    this.sent.push({ endpoint, platform, deviceToken, content });
    return 'sent' as const;
  }

  /** `position milestone platform:token`, sorted: compared as a whole. */
  keys(eventId: string): string[] {
    return this.sent
      .filter((s) => s.content.eventId === eventId)
      .map((s) => key(s.content.position, s.content.milestone, s.platform, s.deviceToken))
      .sort();
  }
}

const key = (position: number, milestone: Milestone, platform: Platform, token: string) =>
  `${String(position).padStart(4, '0')} ${milestone} ${platform}:${token}`;

/** Records the command names the client sends, to show that no Scan is ever used. */
function recordCommands(client: DynamoDBClient): string[] {
  const names: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      names.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'recordCommandNames' },
  );
  return names;
}

/** Counts markSent per place and milestone: shows who tried to send, not just who did. */
function counting(devices: DeviceStore, marks: string[]): DeviceStore {
  return {
    putDevice: (d, nowSec) => devices.putDevice(d, nowSec),
    devicesInRange: (eventId, lo, hi) => devices.devicesInRange(eventId, lo, hi),
    markSent: (d, milestone) => {
      marks.push(`${d.position} ${milestone}`);
      return devices.markSent(d, milestone);
    },
    unmarkSent: (d, milestone) => devices.unmarkSent(d, milestone),
    markGone: (d, nowSec) => devices.markGone(d, nowSec),
    getExpiringCursor: (eventId) => devices.getExpiringCursor(eventId),
    advanceExpiringCursor: (eventId, from, to) => devices.advanceExpiringCursor(eventId, from, to),
    hasDevices: (eventId) => devices.hasDevices(eventId),
  };
}

function setup(clock = new TestClock(Date.now())) {
  const client = dynamoClient(endpoint);
  const commands = recordCommands(client);
  const store = new DynamoQueueStore(client, table);
  const devices = new DynamoDeviceStore(client, table);
  const changes: LineChange[] = [];
  const notifier: ChangeNotifier = {
    notify: async (c) => {
      changes.push(...c);
    },
  };
  const { tokens, room } = testRoom(store, clock, notifier);
  const admitter = () => new Admitter(store, { tickSeconds: 1, now: clock.now, notifier });
  const gateway = new RecordingGateway();
  const errors: unknown[] = [];
  const marks: string[] = [];
  const push = new Push({
    store,
    devices: counting(devices, marks),
    gateway,
    tokens,
    now: clock.now,
    onError: (error) => errors.push(error),
  });
  /** The changes handed off since the last call. */
  const drain = () => changes.splice(0, changes.length);
  return { clock, store, devices, tokens, room, admitter, gateway, push, errors, drain, commands, marks };
}

function claimByOf(changes: readonly LineChange[]): number {
  const moved = changes.find((c) => c.kind === 'moved');
  if (moved?.kind !== 'moved') throw new Error('the line did not move');
  return moved.claimBy;
}

/** Runs the worker `times` times concurrently over the same changes. */
async function race(push: Push, changes: readonly LineChange[], times = 6) {
  const results = await Promise.all(Array.from({ length: times }, () => push.run(changes)));
  return results.reduce((sum, r) => sum + r.sent, 0);
}

describe('push worker on DynamoDB Local', () => {
  test('each milestone goes exactly once per place and device across repeated and racing runs', async () => {
    const { clock, room, admitter, gateway, push, errors, drain, commands } = setup();
    const eventId = 'once';
    // Capacity 3, near = 4 or fewer ahead, claim window 20 s (claim_expiring 10 s before claimBy).
    await room.putEvent(eventId, { capacity: 3, nearThreshold: 4, claimWindowSeconds: 20 });
    const fans: JoinResult[] = [];
    for (let i = 0; i < 12; i++) fans.push(await room.join({ eventId }));
    expect(fans.map((f) => f.position)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const tokenOf = (position: number) => fans[position - 1]?.token ?? '';

    // Every place has an FCM phone; even places also an iPad; one iPhone follows places 6 and 11.
    const expected: string[] = [];
    const devicesOf = (position: number): [Platform, string][] => [
      ['fcm', `fcm-phone-${position}`],
      ...(position % 2 === 0 ? [['apns', `apns-ipad-${position}`] as [Platform, string]] : []),
      ...(position === 6 || position === 11 ? [['apns', 'apns-shared-iphone'] as [Platform, string]] : []),
    ];
    const expect_ = (positions: number[], milestone: Milestone) => {
      for (const p of positions) for (const [pl, t] of devicesOf(p)) expected.push(key(p, milestone, pl, t));
    };
    for (const p of fans.map((f) => f.position)) {
      for (const [platform, token] of devicesOf(p)) {
        // Registered twice, concurrently: one registration.
        const twice = await Promise.all([
          push.register(eventId, tokenOf(p), platform, token),
          push.register(eventId, tokenOf(p), platform, token),
        ]);
        expect(twice.filter((r) => r.created)).toHaveLength(1);
        expect(twice.every((r) => r.position === p && r.platform === platform)).toBe(true);
      }
    }
    // Registered already within 4 of the front: `near` at once, and only once.
    expect_([1, 2, 3, 4], 'near');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Tick 1: 0 → 3. admitted 1..3; newly near 5..7 (1..4 were near already).
    await admitter().tickAll();
    let changes = drain();
    expect(changes.find((c) => c.kind === 'moved')).toMatchObject({ from: 0, to: 3 });
    const claimBy1 = claimByOf(changes);
    // admitted: 1, 2 (phone + iPad), 3; near: 5, 6 (phone + iPad + shared iPhone), 7.
    expect(await race(push, changes)).toBe(4 + 5);
    expect(await race(push, changes)).toBe(0);
    expect_([1, 2, 3], 'admitted');
    expect_([5, 6, 7], 'near');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Two admitters tick in the same second, each one's changes pushed by racing workers.
    await Promise.all([admitter().tickAll(), admitter().tickAll()]);
    changes = drain();
    expect(changes.some((c) => c.kind === 'moved')).toBe(false); // capacity is full
    expect(await race(push, changes)).toBe(0);

    // Place 1 claims; at claimBy − 10 s the others of that batch are warned, once.
    await room.claim(eventId, tokenOf(1));
    clock.ms = (claimBy1 - 11) * 1000;
    await admitter().tickAll();
    expect(await race(push, drain())).toBe(0); // one second early
    clock.ms = (claimBy1 - 10) * 1000;
    await Promise.all([admitter().tickAll(), admitter().tickAll()]);
    changes = drain();
    expect(await race(push, changes, 8)).toBe(2 + 1); // places 2 (fcm + ipad) and 3, not 1
    expect(await race(push, changes)).toBe(0);
    expect_([2, 3], 'claim_expiring');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Past claimBy: 2 and 3 missed, their slots go to 4 and 5; newly near 8 and 9.
    clock.ms = (claimBy1 + 1) * 1000;
    await Promise.all([admitter().tickAll(), admitter().tickAll()]);
    changes = drain();
    const moved = changes.filter((c) => c.kind === 'moved');
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ from: 3, to: 5 });
    const claimBy2 = claimByOf(changes);
    await Promise.all([race(push, changes), race(push, changes)]);
    expect_([4, 5], 'admitted');
    expect_([8, 9], 'near');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Close: `closed` to the places not admitted (6..12), not to 1..5.
    await room.changeState(eventId, 'close');
    changes = drain();
    expect(changes).toEqual([expect.objectContaining({ kind: 'state', state: 'closed' })]);
    await race(push, changes, 8);
    expect_([6, 7, 8, 9, 10, 11, 12], 'closed');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Admitted places keep their claim window after close: 4 and 5 are still warned.
    clock.ms = (claimBy2 - 10) * 1000;
    await Promise.all([admitter().tickAll(), admitter().tickAll()]);
    await race(push, drain());
    expect_([4, 5], 'claim_expiring');
    expect(gateway.keys(eventId)).toEqual([...expected].sort());

    // Every milestone once per place and device, across the whole sale.
    const all = gateway.keys(eventId);
    expect(new Set(all).size).toBe(all.length);
    // The shared iPhone got both of its places' pushes, each named by its own place.
    expect(all.filter((k) => k.endsWith('apns:apns-shared-iphone'))).toEqual(
      [
        key(6, 'near', 'apns', 'apns-shared-iphone'),
        key(6, 'closed', 'apns', 'apns-shared-iphone'),
        key(11, 'closed', 'apns', 'apns-shared-iphone'),
      ].sort(),
    );
    // Each push went to the endpoint of its own device.
    for (const s of gateway.sent)
      expect(s.endpoint).toBe(`arn:fake:sns:endpoint/${s.platform}/${s.deviceToken}`);
    expect(errors).toEqual([]);
    expect(commands).not.toContain('ScanCommand');
    expect(commands).toContain('QueryCommand');
  });

  test('the full log of changes replayed over and over, all at once, sends nothing more', async () => {
    const { clock, room, admitter, gateway, push, drain } = setup();
    const eventId = 'replay';
    // Claim window 2 s: every two ticks the unclaimed pair lapses and the next two are let in.
    await room.putEvent(eventId, { capacity: 2, nearThreshold: 2, claimWindowSeconds: 2 });
    const fans: JoinResult[] = [];
    for (let i = 0; i < 10; i++) fans.push(await room.join({ eventId }));
    for (const f of fans) await push.register(eventId, f.token, 'fcm', `replay-device-${f.position}`);
    const log: LineChange[] = [];
    for (let t = 0; t < 8; t++) {
      await Promise.all([admitter().tickAll(), admitter().tickAll()]);
      const changes = drain();
      log.push(...changes);
      await race(push, changes, 3);
      clock.advance(1);
    }
    await room.changeState(eventId, 'close');
    log.push(...drain());
    await race(push, log, 3);
    const before = gateway.keys(eventId);
    const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    const expected = [
      ...range(1, 10).map((p) => key(p, 'near', 'fcm', `replay-device-${p}`)),
      ...range(1, 8).map((p) => key(p, 'admitted', 'fcm', `replay-device-${p}`)),
      // Lead min(60, 2/2) = 1 s: nobody claims, every admitted place is warned once.
      ...range(1, 8).map((p) => key(p, 'claim_expiring', 'fcm', `replay-device-${p}`)),
      ...range(9, 10).map((p) => key(p, 'closed', 'fcm', `replay-device-${p}`)),
    ].sort();
    expect(before).toEqual(expected);

    expect(await race(push, log, 10)).toBe(0);
    expect(await race(push, [...log].reverse(), 10)).toBe(0);
    expect(gateway.keys(eventId)).toEqual(before);
  });

  // The device store's own behaviour (ranges, once-only marks, the cursor, gone devices) is
  // held by the device-store contract on every adapter, DynamoDB Local included.

  test('the claim_expiring cursor hands each batch to one of the racing workers, once', async () => {
    const { clock, room, admitter, gateway, push, devices, drain, marks } = setup();
    const eventId = 'expiring';
    // 2 admitted per tick (120 a minute, 1 s ticks): one batch per second, each with its own claimBy.
    await room.putEvent(eventId, {
      capacity: 100,
      admitPerMinute: 120,
      nearThreshold: 0,
      claimWindowSeconds: 20,
    });
    const fans: JoinResult[] = [];
    for (let i = 0; i < 12; i++) fans.push(await room.join({ eventId }));
    for (const f of fans) await push.register(eventId, f.token, 'fcm', `exp-${f.position}`);
    const claimByOf = new Map<number, number>();
    for (let t = 0; t < 5; t++) {
      await admitter().tickAll();
      for (const c of drain())
        if (c.kind === 'moved') for (let p = c.from + 1; p <= c.to; p++) claimByOf.set(p, c.claimBy);
      clock.advance(1);
    }
    // Five batches: (0,2] … (8,10], claimBy one second apart.
    expect([...claimByOf.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const firstClaimBy = claimByOf.get(1) ?? 0;
    expect(claimByOf.get(10)).toBe(firstClaimBy + 4);
    // 3 and 8 claim: they are never warned.
    await room.claim(eventId, fans[2]?.token ?? '');
    await room.claim(eventId, fans[7]?.token ?? '');
    gateway.sent.length = 0;

    const tick: LineChange[] = [{ kind: 'tick', eventId, seq: 0, at: clock.sec }];
    const expiring = () =>
      gateway.sent
        .filter((s) => s.content.milestone === 'claim_expiring')
        .map((s) => s.content.position)
        .sort((a, b) => a - b);

    // Lead is min(60, 20/2) = 10 s. At claimBy(batch 3) − 10 the first three batches are due.
    clock.ms = (firstClaimBy + 2 - 10) * 1000;
    expect(await race(push, tick, 8)).toBe(5);
    expect(expiring()).toEqual([1, 2, 4, 5, 6]);
    expect(await devices.getExpiringCursor(eventId)).toBe(6);
    expect(await race(push, tick, 8)).toBe(0);

    // The rest two seconds later; the cursor then stands at the last batch.
    clock.advance(2);
    expect(await race(push, tick, 8)).toBe(3);
    expect(expiring()).toEqual([1, 2, 4, 5, 6, 7, 9, 10]);
    expect(await devices.getExpiringCursor(eventId)).toBe(10);
    expect(await race(push, tick, 8)).toBe(0);
    // The cursor moves only after a batch's sends went out (so a failed send is retried), so
    // racing workers may all look at a batch still before it: the once-only mark per place and
    // device is what keeps each warning single. Nobody else was even tried.
    const attempts = new Set(marks.filter((m) => m.endsWith(' claim_expiring')));
    expect([...attempts].sort()).toEqual(
      ['1', '10', '2', '4', '5', '6', '7', '9'].map((p) => `${p} claim_expiring`),
    );
    // Each warning says how long is left.
    const warning = gateway.sent.find((s) => s.content.position === 10);
    expect(warning?.content.body).toContain('10 seconds');

    // A batch whose window passed before any worker saw it is skipped, not warned late.
    await admitter().tickAll(); // admits 11, 12
    const late = drain().find((c) => c.kind === 'moved');
    expect(late).toMatchObject({ from: 10, to: 12 });
    clock.ms = ((late?.kind === 'moved' ? late.claimBy : 0) + 1) * 1000;
    expect(await race(push, tick, 4)).toBe(0);
    expect(await devices.getExpiringCursor(eventId)).toBe(12);
    expect(expiring()).toEqual([1, 2, 4, 5, 6, 7, 9, 10]);
  });
});

describe('registration racing a tick', () => {
  // The SNS registration is slow; a tick that moves the line meanwhile is pushed by a worker
  // that cannot see the device yet. register() therefore judges the place on a consistent
  // read made after the device is stored, and sends what the move made due.
  async function registerDuringTick(eventId: string, position: number, token: string) {
    const ctx = setup();
    const { room, admitter, gateway, push, drain } = ctx;
    await room.putEvent(eventId, { capacity: 2, nearThreshold: 3, claimWindowSeconds: 60 });
    const fans: JoinResult[] = [];
    for (let i = 0; i < 8; i++) fans.push(await room.join({ eventId }));
    let open = () => {};
    let reached = () => {};
    const inside = new Promise<void>((resolve) => {
      reached = resolve;
    });
    gateway.gate = {
      reached,
      open: new Promise<void>((resolve) => {
        open = resolve;
      }),
    };
    // The registration waits inside the SNS call…
    const registering = push.register(eventId, fans[position - 1]?.token ?? '', 'fcm', token);
    await inside;
    // …while a tick moves 0 → 2 and the push worker runs its changes.
    await admitter().tickAll();
    const changes = drain();
    expect(changes.find((c) => c.kind === 'moved')).toMatchObject({ from: 0, to: 2 });
    await push.run(changes);
    open();
    await registering;
    gateway.gate = null;
    // The line moves on (2 → 4 once the first claim windows lapse) and every worker runs.
    ctx.clock.advance(61);
    await admitter().tickAll();
    await push.run(drain());
    return gateway.keys(eventId);
  }

  test('#5 becomes near (3 ahead) while its device is registered: it still gets near', async () => {
    // Actual: nothing. The move 0 → 2 makes 4..5 near before the device is stored; register()
    // computes 5 − 0 = 5 ahead from its stale read; the move 2 → 4 makes 6..7 near.
    expect(await registerDuringTick('late-near', 5, 'late-device-5')).toContain(
      key(5, 'near', 'fcm', 'late-device-5'),
    );
  });

  test('#2 is let in while its device is registered: it still gets admitted', async () => {
    // Actual: nothing. The move 0 → 2 admits 1..2 before the device is stored; register()
    // sees 2 − 0 = 2 ahead and sends `near` instead (#2 is already in).
    const sent = await registerDuringTick('late-admitted', 2, 'late-device-2');
    expect(sent).toContain(key(2, 'admitted', 'fcm', 'late-device-2'));
    expect(sent).not.toContain(key(2, 'near', 'fcm', 'late-device-2'));
  });
});
