/**
 * The system under test for the HTTP part, run as its own process (forked by
 * bench/http-join.ts) so the load generator never shares its event loop: the
 * same local app as `npm start`, on a free port of 127.0.0.1, with one event.
 *
 * Talks to the parent over the IPC channel only:
 *   child → parent  {type:'ready', url, credentials} | {type:'cpu', micros, loopActiveMs, loopIdleMs} | {type:'error', message}
 *   parent → child  {type:'cpu'} | {type:'stop'}
 * and, for the fan-out parts, calls through bench/ipc.ts (`fans`, `connections`,
 * `tick`: see `fanoutHandlers` below).
 * Configuration comes from the environment the parent sets (FQ_STORE, FQ_TABLE,
 * FQ_KEY_DIR, AWS_*), read once through readConfig like every other entry point.
 */
import { MemoryQueueStore } from '#adapters/memory-store';
import { Line } from '#app/line';
import { waitEstimate } from '#domain/estimate';
import { type LocalApp, startLocal } from '#local/app';
import { serveRpc } from './ipc.ts';
import { monoMs } from './measure.ts';
import { BENCH_EVENT_ID, BENCH_SHARDED_EVENT_ID } from './params.ts';

type ParentMessage = { readonly type: 'cpu' } | { readonly type: 'stop' };

function send(message: Record<string, unknown>): void {
  process.send?.(message);
}

function isParentMessage(value: unknown): value is ParentMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'cpu' || type === 'stop';
}

/** When each event's last tick committed (monoMs), stamped right after the store accepted it. */
const commits = new Map<string, number>();

/** The embedded store, with the commit of a tick timed: the fan-out part measures from that instant. */
function commitTimedStore(): MemoryQueueStore {
  const store = new MemoryQueueStore();
  const commitTick = store.commitTick.bind(store);
  store.commitTick = async (eventId, expectedVersion, commit) => {
    const ok = await commitTick(eventId, expectedVersion, commit);
    if (ok) commits.set(eventId, monoMs());
    return ok;
  };
  return store;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

function whole(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number`);
  return value;
}

/** What the fan-out parts (bench/fanout.ts) ask of the app. */
function fanoutHandlers(app: LocalApp) {
  const { runtime } = app;
  return {
    /** Creates the event and takes `count` anonymous places in it (in process: setup, not measured). */
    fans: async (args: {
      eventId: unknown;
      count: unknown;
      admitPerMinute: unknown;
      nearThreshold?: unknown;
    }) => {
      const eventId = text(args.eventId, 'eventId');
      const count = whole(args.count, 'count');
      await runtime.room.putEvent(eventId, {
        capacity: 1_000_000,
        admitPerMinute: whole(args.admitPerMinute, 'admitPerMinute'),
        ...(args.nearThreshold === undefined
          ? {}
          : { nearThreshold: whole(args.nearThreshold, 'nearThreshold') }),
      });
      const fans: { position: number; token: string }[] = [];
      for (let i = 0; i < count; i++) {
        const join = await runtime.room.join({ eventId });
        fans.push({ position: join.position, token: join.token });
      }
      return { fans };
    },
    /** Every registered connection of the event (all shards), and the open sockets of the local API. */
    connections: async (args: { eventId: unknown }) => {
      const eventId = text(args.eventId, 'eventId');
      const records = [];
      for (let shard = 0; shard < runtime.registry.shards; shard++) {
        let cursor: string | undefined;
        do {
          const page = await runtime.registry.listShard(eventId, shard, cursor);
          for (const r of page.items) records.push({ ...r, shard });
          cursor = page.next;
        } while (cursor);
      }
      return { records, open: app.websocket.connectionCount, shards: runtime.registry.shards };
    },
    connectionCount: async () => app.websocket.connectionCount,
    /** One admission tick as the local scheduler runs it, then waits for every fan-out worker to finish. */
    tick: async (args: { eventId: unknown }) => {
      const eventId = text(args.eventId, 'eventId');
      const before = await runtime.store.getEvent(eventId, { consistent: true });
      commits.delete(eventId);
      const tickStartAt = monoMs();
      await app.tick();
      const tickReturnedAt = monoMs();
      await app.settle();
      const settledAt = monoMs();
      const after = await runtime.store.getEvent(eventId, { consistent: true });
      return {
        tickStartAt,
        commitAt: commits.get(eventId) ?? null,
        tickReturnedAt,
        settledAt,
        from: before?.servingPosition ?? null,
        to: after?.servingPosition ?? null,
        /** The committed version: the seq of the tick's messages. */
        seq: after?.version ?? null,
        /** The tick's own time (whole seconds), as its tick record and its fan-out job carry it. */
        at: after?.recentTicks[after.recentTicks.length - 1]?.at ?? null,
      };
    },
    /**
     * What the fan-out worker works out for each of these positions after the last tick:
     * `ahead` and the estimated wait, as of that tick. Part 5b replays the update rule
     * (shared/domain/updates.ts) with them against what each fan heard.
     */
    fansAt: async (args: { eventId: unknown; positions: unknown }) => {
      const eventId = text(args.eventId, 'eventId');
      const event = await runtime.store.getEvent(eventId, { consistent: true });
      if (!event) throw new Error(`no event ${eventId}`);
      if (!Array.isArray(args.positions)) throw new TypeError('positions must be an array');
      const line = new Line(runtime.store);
      const nowSec = event.lastTickAtMs / 1000;
      const ahead: number[] = [];
      const waitSeconds: (number | null)[] = [];
      for (const value of args.positions) {
        const a = await line.ahead(event, whole(value, 'positions[]'));
        ahead.push(a);
        waitSeconds.push(waitEstimate({ event, ahead: a, nowSec, tickSeconds: runtime.config.tickSeconds }));
      }
      return { ahead, waitSeconds };
    },
  };
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/server.ts is started by bench/run.ts over IPC, not by hand');

  const app = await startLocal({
    port: 0,
    host: '127.0.0.1',
    // Admission runs in its own Lambda on AWS; with ticks off the figures are the join path alone.
    tickMs: 3_600_000,
    adminToken: 'bench-admin-token',
    env: process.env,
    // A capacity that never matters here: nothing is admitted while the bench runs.
    demo: { eventId: BENCH_EVENT_ID, capacity: 1_000, admitPerMinute: null },
    // The same store startLocal would build, with tick commits timed (memory store only).
    ...(process.env.FQ_STORE === 'memory' ? { overrides: { store: commitTimedStore() } } : {}),
  });
  // Beside the exact demo event: the same joins on a sharded one (part 1, sharded rows).
  await app.runtime.room.putEvent(BENCH_SHARDED_EVENT_ID, { capacity: 1_000, intake: 'sharded' });
  serveRpc(fanoutHandlers(app));

  process.on('message', (message: unknown) => {
    if (!isParentMessage(message)) return;
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      const loop = performance.eventLoopUtilization();
      send({ type: 'cpu', micros: user + system, loopActiveMs: loop.active, loopIdleMs: loop.idle });
      return;
    }
    void app.close().finally(() => process.exit(0));
  });
  // The parent going away (Ctrl-C, crash) must not leave a server behind.
  process.on('disconnect', () => {
    void app.close().finally(() => process.exit(0));
  });
  send({ type: 'ready', url: app.url, credentials: app.managementCredentials });
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
