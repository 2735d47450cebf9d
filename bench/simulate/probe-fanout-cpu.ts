/**
 * `npx tsx bench/simulate/probe-fanout-cpu.ts [connections] [exact|sharded]`: the fan-out
 * worker's CPU per listed connection, which the waiting model charges a sampled worker for
 * the connections its sample hides (`waiting.webSocket.cpuMsPerPlacedConnection`, its listing part apart).
 *
 * The real `Fanout` runs one move over one shard of `connections` registered places on the
 * simulated DynamoDB with no latency or limits, posting to a poster that drops everything,
 * twice: with a budget that tells everyone (every place worked out exactly and signed) and
 * with one that tells a few (the long line's case: every place sorted into its tier, a few
 * told). Process CPU per connection is printed for each; the simulated DynamoDB stands in
 * for the SDK's own unmarshalling, so it is this machine's core, not a Lambda's vCPU.
 */
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { Admitter } from '#app/admitter';
import { Fanout } from '#app/fanout';
import { WaitingRoom } from '#app/waiting-room';
import type { LineChange } from '#ports/realtime';
import { dynamoModelSchema, SimDynamoDB } from './dynamodb.ts';
import { Random } from './random.ts';
import { FastTokenService } from './tokens.ts';

const connections = Number(process.argv[2] ?? 20_000);
const intake = process.argv[3] === 'exact' ? 'exact' : 'sharded';
let now = Date.UTC(2026, 10, 22, 12, 0, 0);
const clock = () => now;
const engine = new SimDynamoDB(
  't',
  dynamoModelSchema.parse({ throughput: { enabled: false } }),
  null,
  new Random(1),
);
const client = engine.immediateClient(false);
const store = new DynamoQueueStore(new DynamoTable(client, 't'));
const tokens = new FastTokenService(clock);
const room = new WaitingRoom({
  store,
  tokens,
  identity: null,
  wsUrl: null,
  joinRateLimitPerMinute: 0,
  now: clock,
});
await room.putEvent('e', { capacity: 100_000, admitPerMinute: 600, intake });
const registry = new DynamoConnectionRegistry(new DynamoTable(client, 't'), 't', 1, clock);
for (let i = 0; i < connections + 100; i++) {
  now += 2;
  const joined = await room.join({ eventId: 'e' });
  if (i >= 100)
    await registry.add({
      connectionId: `c${i}`,
      eventId: 'e',
      position: joined.position,
      sub: 's',
      connectedAt: Math.floor(now / 1000),
    });
}
const changes: LineChange[] = [];
const admitter = new Admitter(store, {
  tickSeconds: 5,
  now: clock,
  notifier: { notify: async (list) => void changes.push(...list) },
});
// Settle every slice, and let the line move a few times.
for (let k = 0; k < 30; k++) {
  now += 5000;
  await admitter.tickAll();
}
const poster = { post: async () => 'sent' as const, close: async () => 'closed' as const };
for (const [label, budget] of [
  ['everyone told', 1e9],
  ['a few told', 1],
] as const) {
  const fanout = new Fanout({
    store,
    registry,
    poster,
    tokens,
    concurrency: 64,
    now: clock,
    shards: 1,
    messagesPerSecond: budget,
    sleep: async () => {},
  });
  now += 5000;
  changes.length = 0;
  await admitter.tickAll();
  const moved = changes.find((c) => c.kind === 'moved');
  if (!moved) throw new Error('the line did not move');
  const cpu = process.cpuUsage();
  const result = await fanout.run(moved, 0);
  const used = process.cpuUsage(cpu);
  const us = used.user + used.system;
  process.stdout.write(
    `${JSON.stringify({ intake, case: label, connections, sent: result.sent, cpuMs: us / 1000, usPerConnection: Math.round((us / connections) * 10) / 10 })}\n`,
  );
}
