/**
 * The system under test for the HTTP part, run as its own process (forked by
 * bench/http-join.ts) so the load generator never shares its event loop: the
 * same local app as `npm start`, on a free port of 127.0.0.1, with one event.
 *
 * Talks to the parent over the IPC channel only:
 *   child → parent  {type:'ready', url} | {type:'cpu', micros, loopActiveMs, loopIdleMs} | {type:'error', message}
 *   parent → child  {type:'cpu'} | {type:'stop'}
 * Configuration comes from the environment the parent sets (FQ_STORE, FQ_TABLE,
 * FQ_KEY_DIR, AWS_*), read once through readConfig like every other entry point.
 */
import { startLocal } from '#local/app';
import { BENCH_EVENT_ID } from './params.ts';

type ParentMessage = { readonly type: 'cpu' } | { readonly type: 'stop' };

function send(message: Record<string, unknown>): void {
  process.send?.(message);
}

function isParentMessage(value: unknown): value is ParentMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'cpu' || type === 'stop';
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
  });

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
  send({ type: 'ready', url: app.url });
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
