import { expect, test } from 'vitest';
import { MemoryDeviceStore } from '#adapters/memory-devices';
import { MemoryQueueStore } from '#adapters/memory-store';
import { Push } from '#app/push';
import type { Platform, PushContent } from '#domain/push';
import type { PushGateway } from '#ports/push';
import { TestClock } from '../support/clock.ts';
import { testRoom } from '../support/services.ts';

/** SNS throttles the first publish: the run fails, and the retried run sends it, once. */
test('a failed publish is not lost: the run fails and its retry sends the milestone exactly once', async () => {
  const clock = new TestClock();
  const store = new MemoryQueueStore();
  const { room, tokens } = testRoom(store, clock);
  await room.putEvent('retry', { capacity: 1, nearThreshold: 0 });
  const fan = await room.join({ eventId: 'retry' });
  const sent: PushContent[] = [];
  let failNext = true;
  const gateway: PushGateway = {
    supports: () => true,
    registerDevice: async (platform: Platform, token: string) => `fake:${platform}:${token}`,
    send: async (_endpoint, _platform, _token, content) => {
      if (failNext) {
        failNext = false;
        throw new Error('Throttling: rate exceeded');
      }
      sent.push(content);
      return 'sent';
    },
  };
  const push = new Push({ store, devices: new MemoryDeviceStore(), gateway, tokens, now: clock.now });
  await push.register('retry', fan.token, 'fcm', 'device-token-1');
  const changes = [
    { kind: 'moved' as const, eventId: 'retry', from: 0, to: 1, claimBy: clock.sec + 300, at: clock.sec },
  ];
  await expect(push.run(changes)).rejects.toThrow('the retry sends them');
  expect(sent).toEqual([]);
  await push.run(changes);
  await push.run(changes);
  expect(sent.map((c) => c.milestone)).toEqual(['admitted']);
});
