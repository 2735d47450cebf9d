/** The waiting room's services over a given store, with keys in a temp folder and a test clock. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyStore } from '#adapters/file-key-store';
import { WaitingRoom, type WaitingRoomDeps } from '#app/waiting-room';
import { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ChangeNotifier } from '#ports/realtime';
import type { TestClock } from './clock.ts';

export function testTokens(clock: TestClock): TokenService {
  const keys = new FileKeyStore(mkdtempSync(join(tmpdir(), 'fq-test-keys-')), { now: clock.now });
  return new TokenService(
    { publicKeys: keys, signingKeys: keys },
    { issuer: 'fairqueue', cacheSeconds: 300, now: clock.now },
  );
}

export function testRoom(
  store: QueueStore,
  clock: TestClock,
  notifier?: ChangeNotifier,
  deps: Partial<WaitingRoomDeps> = {},
) {
  const tokens = testTokens(clock);
  const room = new WaitingRoom({
    store,
    tokens,
    identity: null,
    wsUrl: null,
    joinRateLimitPerMinute: 0,
    now: clock.now,
    ...(notifier ? { notifier } : {}),
    ...deps,
  });
  return { tokens, room };
}
