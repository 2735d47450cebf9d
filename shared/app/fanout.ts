/**
 * The fan-out worker: tells every connection of one shard of an event what a
 * change means for it. Runs apart from the admission tick (an asynchronous
 * Lambda per shard on AWS, scheduled work locally), posts with bounded
 * concurrency, and forgets connections that API Gateway says are gone.
 */
import { estimateWaitSeconds, observedRatePerSecond } from '#domain/estimate';
import { messageKind, type ServerMessage } from '#domain/messages';
import { ahead as aheadOf } from '#domain/place';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ConnectionPoster, ConnectionRecord, ConnectionRegistry, LineChange } from '#ports/realtime';

/** A `moved` job older than this is dropped: the line has moved on and been announced since. */
const STALE_MOVE_SECONDS = 30;
/** How long after `$connect` a Gone answer may just mean the handshake has not finished. */
const CONNECT_GRACE_SECONDS = 30;

export interface FanoutDeps {
  readonly store: QueueStore;
  readonly registry: ConnectionRegistry;
  readonly poster: ConnectionPoster;
  readonly tokens: TokenService;
  /** Posts in flight at once per worker. */
  readonly concurrency: number;
  readonly now?: () => number;
  readonly onError?: (error: unknown, connectionId: string) => void;
}

export interface FanoutResult {
  readonly sent: number;
  readonly gone: number;
  readonly failed: number;
  readonly skipped: number;
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class Fanout {
  readonly #deps: FanoutDeps;
  readonly #now: () => number;

  constructor(deps: FanoutDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async run(change: LineChange, shard: number): Promise<FanoutResult> {
    if (change.kind === 'tick') return { sent: 0, gone: 0, failed: 0, skipped: 0 };
    // A retried or delayed `moved` job is stale news: later ticks have told everyone more since.
    // State changes have no successor, so they are delivered however late.
    if (change.kind === 'moved' && Math.floor(this.#now() / 1000) - change.at > STALE_MOVE_SECONDS) {
      return { sent: 0, gone: 0, failed: 0, skipped: 0 };
    }
    const { store, registry, poster, tokens } = this.#deps;
    // Consistent: a worker must not tell a fan a serving position older than one it was told before.
    const event = await store.getEvent(change.eventId, { consistent: true });
    if (!event) return { sent: 0, gone: 0, failed: 0, skipped: 0 };
    const nowSec = Math.floor(this.#now() / 1000);
    // The freshest serving position: a worker that runs late still tells the truth.
    const serving = Math.max(event.servingPosition, change.kind === 'moved' ? change.to : 0);
    const rate = observedRatePerSecond(event.recentTicks, nowSec);
    const line =
      change.kind === 'moved' ? { kind: 'moved' as const, from: change.from, to: change.to } : change;

    const messageFor = async (connection: ConnectionRecord): Promise<ServerMessage | null> => {
      const kind = messageKind(line, connection.position);
      if (kind === 'admitted' && change.kind === 'moved')
        return { type: 'admitted', claimBy: change.claimBy };
      if (kind === 'paused' || kind === 'closed') return { type: kind };
      if (kind !== 'position' || connection.position <= serving) return null;
      const ahead = aheadOf(connection.position, serving);
      const { token } = await tokens.signPosition({
        eventId: change.eventId,
        sub: connection.sub,
        pos: connection.position,
        nowSec,
        ttlSeconds: event.config.positionTtlSeconds,
      });
      return {
        type: 'position',
        position: connection.position,
        servingPosition: serving,
        ahead,
        estimatedWaitSeconds: estimateWaitSeconds(ahead, rate),
        token,
      };
    };

    let sent = 0;
    let gone = 0;
    let failed = 0;
    let skipped = 0;
    let cursor: string | undefined;
    do {
      const page = await registry.listShard(change.eventId, shard, cursor);
      await eachLimited(page.items, this.#deps.concurrency, async (connection) => {
        try {
          const message = await messageFor(connection);
          if (!message) {
            skipped++;
            return;
          }
          if ((await poster.post(connection.connectionId, JSON.stringify(message))) === 'gone') {
            gone++;
            // API Gateway answers Gone until `$connect` has returned: a brand-new connection is
            // kept (a later fan-out or its TTL sorts it out), an old one is forgotten.
            if (nowSec - connection.connectedAt > CONNECT_GRACE_SECONDS)
              await registry.remove(connection.connectionId);
          } else sent++;
        } catch (error) {
          // One connection's failure must not stop the rest of the shard.
          failed++;
          this.#deps.onError?.(error, connection.connectionId);
        }
      });
      cursor = page.next;
    } while (cursor);
    return { sent, gone, failed, skipped };
  }
}
