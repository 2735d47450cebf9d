import { expect, test } from 'vitest';
import { MemoryDeviceStore } from '#adapters/memory-devices';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Admitter } from '#app/admitter';
import { Push } from '#app/push';
import { TooManyDevicesError } from '#domain/errors';
import type { Platform, PushContent } from '#domain/push';
import type { PushGateway } from '#ports/push';
import { TestClock } from '../support/clock.ts';
import { testRoom } from '../support/services.ts';

/** A gateway that records what it sends; `fail` throws on the next send, `gone` answers gone for a token. */
function fakeGateway() {
  const sent: PushContent[] = [];
  const control = { failNext: false, goneTokens: new Set<string>(), attempts: 0 };
  const gateway: PushGateway = {
    supports: () => true,
    registerDevice: async (platform: Platform, token: string) => `fake:${platform}:${token}`,
    send: async (_endpoint, _platform, token, content) => {
      control.attempts++;
      if (control.failNext) {
        control.failNext = false;
        throw new Error('Throttling: rate exceeded');
      }
      if (control.goneTokens.has(token)) return 'gone';
      sent.push(content);
      return 'sent';
    },
  };
  return { gateway, sent, control };
}

/** SNS throttles the first publish: the run fails, and the retried run sends it, once. */
test('a failed publish is not lost: the run fails and its retry sends the milestone exactly once', async () => {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  await room.putEvent('retry', { capacity: 1, nearThreshold: 0 });
  const fan = await room.join({ eventId: 'retry' });
  const { gateway, sent, control } = fakeGateway();
  control.failNext = true;
  const push = new Push({ store, devices: new MemoryDeviceStore(), gateway, tokens, now: clock.now });
  await push.register('retry', fan.token, 'fcm', 'device-token-1');
  const changes = [
    {
      kind: 'moved' as const,
      eventId: 'retry',
      seq: 1,
      from: 0,
      to: 1,
      claimBy: clock.sec + 300,
      at: clock.sec,
    },
  ];
  await expect(push.run(changes)).rejects.toThrow('the retry sends them');
  expect(sent).toEqual([]);
  await push.run(changes);
  await push.run(changes);
  expect(sent.map((c) => c.milestone)).toEqual(['admitted']);
});

test('regression: claim_expiring is not lost when its publish fails (the cursor waits for the sends)', async () => {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  // Claim window 100 s: the warning is due 50 s before the deadline.
  await room.putEvent('exp', { capacity: 1, claimWindowSeconds: 100, nearThreshold: 0 });
  const fan = await room.join({ eventId: 'exp' });
  const { gateway, sent, control } = fakeGateway();
  const push = new Push({ store, devices: new MemoryDeviceStore(), gateway, tokens, now: clock.now });
  await push.register('exp', fan.token, 'fcm', 'device-token-1');
  await new Admitter(store, { tickSeconds: 1, now: clock.now }).tickEvent('exp');
  clock.advance(60);
  const tick = [{ kind: 'tick' as const, eventId: 'exp', seq: 2, at: clock.sec }];
  control.failNext = true;
  await expect(push.run(tick)).rejects.toThrow('the retry sends them');
  expect(sent).toEqual([]);
  // The retried run (and any later tick) sends it exactly once.
  await push.run(tick);
  await push.run(tick);
  expect(sent.map((c) => c.milestone)).toEqual(['claim_expiring']);
});

test('regression: a gone endpoint is not counted as delivered, is marked, and is never published to again', async () => {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  await room.putEvent('gone', { capacity: 5, claimWindowSeconds: 100, nearThreshold: 3 });
  const fans = [];
  for (let i = 0; i < 3; i++) fans.push(await room.join({ eventId: 'gone' }));
  const { gateway, sent, control } = fakeGateway();
  const devices = new MemoryDeviceStore();
  const push = new Push({ store, devices, gateway, tokens, now: clock.now });
  await push.register('gone', fans[2]?.token ?? '', 'fcm', 'uninstalled');
  // Registration caught up with `near` (3 ahead ≤ 3): SNS says the endpoint is disabled.
  control.goneTokens.add('uninstalled');
  const attemptsBefore = control.attempts;
  const moved = [
    {
      kind: 'moved' as const,
      eventId: 'gone',
      seq: 1,
      from: 0,
      to: 3,
      claimBy: clock.sec + 100,
      at: clock.sec,
    },
  ];
  const result = await push.run(moved);
  expect(result.sent).toBe(0);
  expect(control.attempts).toBe(attemptsBefore + 1);
  expect(await devices.devicesInRange('gone', 1, 3)).toEqual([]);
  // Later milestones skip it: no publish is attempted at all.
  clock.advance(60);
  await push.run([{ kind: 'tick' as const, eventId: 'gone', seq: 2, at: clock.sec }]);
  await push.run([
    {
      kind: 'state' as const,
      eventId: 'gone',
      seq: 3,
      state: 'closed' as const,
      servingPosition: 3,
      at: clock.sec,
    },
  ]);
  expect(control.attempts).toBe(attemptsBefore + 1);
  expect(sent.map((c) => c.milestone)).toEqual(['near']);
  // Registering again (the app was reinstalled) revives it.
  control.goneTokens.delete('uninstalled');
  await push.register('gone', fans[2]?.token ?? '', 'fcm', 'uninstalled');
  expect(await devices.devicesInRange('gone', 3, 3)).toHaveLength(1);
});

test('regression: one place cannot register devices without end; a gone device frees its slot', async () => {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  await room.putEvent('many', { capacity: 1, nearThreshold: 0 });
  const fan = await room.join({ eventId: 'many' });
  const { gateway, control } = fakeGateway();
  const devices = new MemoryDeviceStore();
  const push = new Push({ store, devices, gateway, tokens, now: clock.now, maxDevicesPerPlace: 3 });
  for (let i = 0; i < 3; i++) await push.register('many', fan.token, 'fcm', `device-${i}`);
  const registered = control.attempts;
  await expect(push.register('many', fan.token, 'fcm', 'device-3')).rejects.toBeInstanceOf(
    TooManyDevicesError,
  );
  // Refused before any endpoint was made for it, and a device already there may register again.
  await push.register('many', fan.token, 'fcm', 'device-1');
  expect(await devices.devicesInRange('many', fan.position, fan.position)).toHaveLength(3);
  // The push service reports one gone: its slot is free again.
  const [first] = await devices.devicesInRange('many', fan.position, fan.position);
  if (!first) throw new Error('no device');
  await devices.markGone(first, clock.sec);
  await push.register('many', fan.token, 'fcm', 'device-3');
  expect(await devices.devicesInRange('many', fan.position, fan.position)).toHaveLength(3);
  expect(control.attempts).toBe(registered);
});
