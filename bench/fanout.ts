/**
 * Parts 4 and 5: the real-time fan-out against the local WebSocket API.
 *
 * One rig serves both: the app (bench/server.ts, the same startLocal as
 * `npm start`, embedded store) in one child process, and every fan as a real
 * `ws` client in another (bench/ws-clients.ts); each connection is a socket at
 * both ends, and one process holds at most ~19,900.
 *
 * Part 4 runs one Fanout worker in this process over one shard of 2,000 of those
 * connections, posting through the real ApiGatewayManagementApiClient to the
 * app's local `@connections` endpoint, so the worker's CPU is this process's and
 * the endpoint's is the app's. Part 5 runs one admission tick in the app that
 * moves the line for all 10,000 waiting fans, and times every client's receipt
 * of its `position` message against the instant the tick committed. Part 5b runs
 * another app under the default message budget, where update tiers apply, for
 * many ticks, keeps every message every fan hears, and replays the update rule
 * (shared/domain/updates.ts) against them. The same rig serves the tier test
 * (test/e2e/websocket-tiers.test.ts).
 */
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { readConfig } from '#app/config';
import { Fanout } from '#app/fanout';
import { buildRuntime, type Runtime } from '#app/runtime';
import { phaseOf, planUpdates, tierOf, type UpdatePolicy, updateFor, type WaitingFan } from '#domain/updates';
import { NodeSha256 } from '#local/sigv4';
import type { ConnectionPoster, ConnectionRecord, LineChange } from '#ports/realtime';
import { type BenchServer, startServer } from './http-join.ts';
import { type BenchChild, forkBenchChild } from './ipc.ts';
import {
  busyTcpSockets,
  coreTimes,
  cpuMicros,
  type Figure,
  figure,
  machineBusyPercent,
  machineStealPercent,
  monoMs,
  nowMs,
  percentile,
  settle,
  tempDir,
} from './measure.ts';
import {
  FANOUT_EVENT_ID,
  type FanoutRigParams,
  type FanoutTickParams,
  type FanoutTiersParams,
  type FanoutWorkerParams,
} from './params.ts';
import type { KeptMessage } from './ws-clients.ts';

const CLIENTS_ENTRY = fileURLToPath(new URL('./ws-clients.ts', import.meta.url));

interface FanSpec {
  readonly position: number;
  readonly token: string;
}

interface Collected {
  readonly received: number;
  /** monoMs of each client's first message since `arm`; null (NaN over IPC) for none. */
  readonly firstAt: (number | null)[];
  readonly types: Record<string, number>;
  readonly moreThanOne: number;
  readonly wrongPosition: number;
  readonly badToken: number;
  readonly servingPositions: number[];
  readonly closedUnexpectedly: number;
  readonly open: number;
}

export interface FanoutRig {
  readonly server: BenchServer;
  readonly clients: BenchChild;
  readonly keyDir: string;
  /** The connected fans, in the clients' order. */
  readonly fans: readonly FanSpec[];
  readonly records: readonly (ConnectionRecord & { shard: number })[];
  readonly setup: {
    readonly placesTaken: number;
    readonly connectSeconds: Figure;
    readonly connectFailures: number;
    readonly firstConnectError: string | null;
    readonly openOnServer: number;
    readonly registered: number;
    readonly setupSeconds: Figure;
  };
  stop(): Promise<void>;
}

function log(line: string): void {
  process.stderr.write(`[bench]   ${line}\n`);
}

/** Starts the app and connects `params.connections` real ws clients, every one a waiting fan. */
export async function startFanoutRig(params: FanoutRigParams): Promise<FanoutRig> {
  const started = nowMs();
  const keyDir = tempDir('fq-bench-keys-');
  const server = await startServer({
    FQ_STORE: 'memory',
    FQ_KEY_DIR: keyDir,
    FQ_JOIN_RATE_LIMIT_PER_MINUTE: '0',
    FQ_WS_URL: '',
    // Push runs in its own Lambda on AWS; off here so the figures are the fan-out alone.
    FQ_PUSH: 'off',
    FQ_WS_SHARDS: String(params.shards),
    FQ_FANOUT_CONCURRENCY: String(params.concurrency),
    FQ_TICK_SECONDS: String(params.tickSeconds),
    FQ_WS_MESSAGES_PER_SECOND: String(params.messagesPerSecond),
    FQ_NEAR_HORIZON_SECONDS: String(params.nearHorizonSeconds),
    NODE_ENV: 'production',
  });
  let clients: BenchChild | undefined;
  try {
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/ws`;
    const total = params.unconnectedPlacesAhead + params.connections;
    const { fans: all } = await server.call<{ fans: FanSpec[] }>(
      'fans',
      {
        eventId: FANOUT_EVENT_ID,
        count: total,
        admitPerMinute: params.admitPerMinute,
        nearThreshold: params.nearThreshold,
      },
      120_000,
    );
    // The first places are never connected: they are the ones the ticks let in.
    const fans = all.filter((f) => f.position > params.unconnectedPlacesAhead);
    if (fans.length !== params.connections)
      throw new Error(`expected ${params.connections} fans, got ${fans.length}`);
    log(`${total} places taken; connecting ${fans.length} ws clients`);
    clients = forkBenchChild(CLIENTS_ENTRY, {}, 'ws clients');
    const connected = await clients.rpc.call<{
      open: number;
      failed: number;
      firstError: string | null;
      seconds: number;
    }>(
      'connect',
      { url: wsUrl, fans, inFlight: params.connectInFlight, timeoutMs: params.connectTimeoutSeconds * 1000 },
      (params.connectTimeoutSeconds + 30) * 1000,
    );
    log(`${connected.open} connected in ${connected.seconds.toFixed(1)} s (${connected.failed} failed)`);
    if (connected.failed > 0)
      throw new Error(`${connected.failed} clients could not connect: ${connected.firstError}`);
    // $connect registers before the upgrade completes; the count settles at once.
    let openOnServer = 0;
    for (let i = 0; i < 100; i++) {
      openOnServer = await server.call<number>('connectionCount');
      if (openOnServer >= params.connections) break;
      await settle(100);
    }
    const { records } = await server.call<{ records: (ConnectionRecord & { shard: number })[] }>(
      'connections',
      { eventId: FANOUT_EVENT_ID },
      60_000,
    );
    if (records.length !== params.connections)
      throw new Error(`${records.length} connections registered, expected ${params.connections}`);
    const rigClients = clients;
    return {
      server,
      clients: rigClients,
      keyDir,
      fans,
      records,
      setup: {
        placesTaken: total,
        connectSeconds: figure(connected.seconds, 's', {
          note: `${params.connections} handshakes, ${params.connectInFlight} in flight, each through the $connect handler (token verified)`,
        }),
        connectFailures: connected.failed,
        firstConnectError: connected.firstError,
        openOnServer,
        registered: records.length,
        setupSeconds: figure((nowMs() - started) / 1000, 's', { note: 'app start, places, connections' }),
      },
      stop: async () => {
        // Clients first: their sockets close from the far end, then the app stops.
        await rigClients.stop();
        await server.stop();
      },
    };
  } catch (error) {
    await clients?.stop();
    await server.stop();
    throw error;
  }
}

/** CPU µs so far of the app, this process and the client process, with the app's event-loop counters. */
async function sampleCpu(rig: FanoutRig) {
  const [server, clients] = await Promise.all([rig.server.usage(), rig.clients.rpc.call<number>('cpu')]);
  return { server, clients, bench: cpuMicros(), cores: coreTimes(), at: nowMs() };
}

type CpuSample = Awaited<ReturnType<typeof sampleCpu>>;

function cpuBetween(a: CpuSample, b: CpuSample) {
  const loopActive = b.server.loopActiveMs - a.server.loopActiveMs;
  const loopIdle = b.server.loopIdleMs - a.server.loopIdleMs;
  const machineBusy = machineBusyPercent(a.cores, b.cores);
  const ours = b.server.micros - a.server.micros + (b.clients - a.clients) + (b.bench - a.bench);
  return {
    serverMicros: b.server.micros - a.server.micros,
    clientsMicros: b.clients - a.clients,
    benchMicros: b.bench - a.bench,
    serverLoopBusy: (100 * loopActive) / Math.max(1e-9, loopActive + loopIdle),
    machineBusy,
    // Machine busy minus the three processes measured (app, clients, this one).
    otherProcessesBusy: Math.max(0, machineBusy - (100 * ours) / ((b.at - a.at) * 1000 * cpus().length)),
    stolen: machineStealPercent(a.cores, b.cores),
  };
}

function deliveryChecks(collected: Collected) {
  return {
    received: collected.received,
    types: collected.types,
    moreThanOne: collected.moreThanOne,
    wrongPosition: collected.wrongPosition,
    badToken: collected.badToken,
    servingPositions: collected.servingPositions.slice(0, 5),
    closedUnexpectedly: collected.closedUnexpectedly,
    clientsOpen: collected.open,
  };
}

// ---------------------------------------------------------------- part 4

/** Wraps the real poster: times every post and tracks how many are in flight. */
class TimedPoster implements ConnectionPoster {
  latencies: number[] = [];
  inFlight = 0;
  peakInFlight = 0;
  constructor(private readonly inner: ConnectionPoster) {}
  reset() {
    this.latencies = [];
    this.peakInFlight = 0;
  }
  close(connectionId: string) {
    return this.inner.close(connectionId);
  }
  async post(connectionId: string, data: string) {
    const started = nowMs();
    this.inFlight++;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    try {
      return await this.inner.post(connectionId, data);
    } finally {
      this.inFlight--;
      this.latencies.push(nowMs() - started);
    }
  }
}

/** Counts and drops: the fan-out with everything but the post (listing, messages, signing, JSON). */
const DROP_POSTER: ConnectionPoster = { post: async () => 'sent', close: async () => 'closed' };

/**
 * The same POST @connections/{id} with bare node:http (keep-alive, no SDK client), signed
 * with SigV4 as every caller of the management API must be: the floor any poster pays
 * for the request itself. Not a product path: it shows how much of a post's CPU is the
 * AWS SDK client around the signed request.
 */
class BareHttpPoster implements ConnectionPoster {
  readonly #agent: Agent;
  readonly #url: URL;
  readonly #signer: SignatureV4;
  constructor(base: string, sockets: number, credentials: BenchServer['credentials']) {
    this.#url = new URL(base);
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
    this.#signer = new SignatureV4({
      credentials,
      region: 'us-east-1',
      service: 'execute-api',
      sha256: NodeSha256,
    });
  }
  async post(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    return (await this.#send('POST', connectionId, data)) === 200 ? 'sent' : 'gone';
  }
  async close(connectionId: string): Promise<'closed' | 'gone'> {
    return (await this.#send('DELETE', connectionId, '')) === 204 ? 'closed' : 'gone';
  }
  async #send(method: string, connectionId: string, data: string): Promise<number> {
    const path = `/@connections/${encodeURIComponent(connectionId)}`;
    const signed = await this.#signer.sign({
      method,
      protocol: 'http:',
      hostname: this.#url.hostname,
      port: Number(this.#url.port),
      path,
      query: {},
      headers: { host: this.#url.host, 'content-type': 'application/json' },
      body: data,
    });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          method,
          path,
          headers: { ...signed.headers, 'content-length': Buffer.byteLength(data) },
        },
        (res) => {
          res.resume();
          res.on('error', reject);
          res.on('end', () => {
            if (res.statusCode === 200 || res.statusCode === 204 || res.statusCode === 410)
              resolve(res.statusCode);
            else reject(new Error(`@connections answered ${res.statusCode}`));
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', reject);
      req.end(data);
    });
  }
  destroy(): void {
    this.#agent.destroy();
  }
}

export interface FanoutRunFigures {
  readonly concurrency: number;
  readonly messagesPerSecond: Figure;
  readonly wallSeconds: Figure;
  readonly workerCpuPerMessage: Figure;
  readonly endpointCpuPerMessage: Figure;
  readonly clientCpuPerMessage: Figure;
  readonly postLatencyP50: Figure;
  readonly postLatencyP99: Figure;
  readonly peakPostsInFlight: Figure;
  readonly peakBusySockets: Figure;
  readonly machineBusy: Figure;
  readonly otherProcessesBusy: Figure;
  readonly stolen: Figure;
  readonly result: { sent: number; gone: number; failed: number; skipped: number; firstError: string | null };
  readonly delivered: number;
  readonly checks: ReturnType<typeof deliveryChecks>;
}

export interface FanoutWorkerResult {
  readonly params: FanoutWorkerParams;
  readonly setup: FanoutRig['setup'];
  readonly messageBytes: number;
  readonly figures: {
    readonly signOnlyCpuPerMessage: Figure;
    readonly postOnlyCpuPerMessage: Figure;
    readonly postOnlyMessagesPerSecond: Figure;
    readonly bareHttpCpuPerMessage: Figure;
    readonly bareHttpMessagesPerSecond: Figure;
    readonly sdkCpuPerPost: Figure;
    readonly fullCpuPerMessage: Figure;
    readonly postingShareOfFull: Figure;
    readonly signingShareOfFull: Figure;
    readonly notToldCpuPerConnection: Figure;
  };
  readonly runs: readonly FanoutRunFigures[];
  readonly postOnlyRun: FanoutRunFigures;
  readonly bareHttpRun: FanoutRunFigures;
}

/** Each job newer than the last, as the event's version grows: none is skipped as stale. */
let lastSeq = 0;

function movedChange(): LineChange {
  const at = Math.floor(Date.now() / 1000);
  // The event's serving position is 0; every connected place is far above 1: all get `position`.
  return { kind: 'moved', eventId: FANOUT_EVENT_ID, seq: ++lastSeq, from: 0, to: 1, claimBy: at + 300, at };
}

async function workerRuntime(rig: FanoutRig, concurrency: number): Promise<Runtime> {
  // The same wiring as the fan-out Lambda (buildRuntime: ManagementApiPoster over a real
  // ApiGatewayManagementApiClient), pointed at the app's @connections, one shard.
  const runtime = buildRuntime(
    readConfig({
      FQ_STORE: 'memory',
      FQ_KEY_DIR: rig.keyDir,
      FQ_WS_MANAGEMENT_ENDPOINT: rig.server.url,
      FQ_NOTIFIER: 'in-process',
      FQ_PUSH: 'off',
      FQ_WS_SHARDS: '1',
      FQ_FANOUT_CONCURRENCY: String(concurrency),
    }),
    // The app's @connections accepts only signatures made with its own made-up keys.
    { managementCredentials: rig.server.credentials },
  );
  await runtime.tokens.jwks();
  await runtime.room.putEvent(FANOUT_EVENT_ID, { capacity: 1_000_000, admitPerMinute: 60 });
  return runtime;
}

export async function measureFanoutWorker(
  rig: FanoutRig,
  params: FanoutWorkerParams,
): Promise<FanoutWorkerResult> {
  const configured = params.concurrencies[params.concurrencies.length - 1] ?? 64;
  const runtime = await workerRuntime(rig, configured);
  const realPoster = runtime.poster;
  if (!realPoster) throw new Error('no poster: the management endpoint is not configured');
  const poster = new TimedPoster(realPoster);
  const bare = new BareHttpPoster(rig.server.url, configured, rig.server.credentials);
  const barePoster = new TimedPoster(bare);
  const chosen = rig.records.slice(0, params.connections);
  for (const record of chosen) await runtime.registry.add(record);
  const expected = chosen.length;

  let failures = 0;
  let firstError: string | null = null;
  const worker = (concurrency: number, via: ConnectionPoster) =>
    new Fanout({
      store: runtime.store,
      registry: runtime.registry,
      poster: via,
      tokens: runtime.tokens,
      concurrency,
      onError: (error) => {
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      },
    });

  const run = async (
    concurrency: number,
    change: LineChange,
    via: TimedPoster = poster,
  ): Promise<FanoutRunFigures> => {
    await rig.clients.rpc.call('arm');
    via.reset();
    failures = 0;
    firstError = null;
    let peakSockets = 0;
    const sampler = setInterval(() => {
      peakSockets = Math.max(peakSockets, busyTcpSockets());
    }, 2);
    const before = await sampleCpu(rig);
    const started = nowMs();
    const result = await worker(concurrency, via).run(change, 0);
    const wallMs = nowMs() - started;
    clearInterval(sampler);
    const afterWorker = await sampleCpu(rig);
    const collected = await rig.clients.rpc.call<Collected>(
      'collect',
      { expected, timeoutMs: params.deliveryTimeoutSeconds * 1000 },
      (params.deliveryTimeoutSeconds + 30) * 1000,
    );
    const clientsAfter = await rig.clients.rpc.call<number>('cpu');
    const cpu = cpuBetween(before, afterWorker);
    const messages = Math.max(1, result.sent);
    const latencies = Float64Array.from(via.latencies).sort();
    return {
      concurrency,
      messagesPerSecond: figure(result.sent / (wallMs / 1000), 'messages/s', { digits: 0 }),
      wallSeconds: figure(wallMs / 1000, 's', { digits: 3 }),
      workerCpuPerMessage: figure(cpu.benchMicros / messages, 'µs CPU/message', {
        digits: 0,
        note: 'this process: the Fanout worker (listing, message, signing, JSON, SDK with SigV4, HTTP)',
      }),
      endpointCpuPerMessage: figure(cpu.serverMicros / messages, 'µs CPU/message', {
        digits: 0,
        note: "the app process: the local @connections endpoint and the ws send (API Gateway's part on AWS)",
      }),
      clientCpuPerMessage: figure((clientsAfter - before.clients) / messages, 'µs CPU/message', {
        digits: 0,
        note: 'the ws client process: receive, and the checks of collect',
      }),
      postLatencyP50: figure(percentile(latencies, 50), 'ms', { note: 'one post, SDK call to answer' }),
      postLatencyP99: figure(percentile(latencies, 99), 'ms'),
      peakPostsInFlight: figure(via.peakInFlight, 'posts', {
        digits: 0,
        note: 'posts started, not answered',
      }),
      peakBusySockets: figure(peakSockets, 'sockets', {
        digits: 0,
        note: "TCP sockets of this process carrying a request (sampled every 2 ms): the SDK agent's sockets",
      }),
      machineBusy: figure(cpu.machineBusy, '%', { digits: 0 }),
      otherProcessesBusy: figure(cpu.otherProcessesBusy, '%', {
        digits: 0,
        note: 'machine busy minus the app, the clients and this process',
      }),
      stolen: figure(cpu.stolen, '%', { digits: 0 }),
      result: { ...result, firstError },
      delivered: collected.received,
      checks: deliveryChecks(collected),
    };
  };

  const check = (figures: FanoutRunFigures, type: string) => {
    const { result, checks } = figures;
    if (result.sent !== expected || result.failed > 0 || result.gone > 0 || failures > 0)
      throw new Error(
        `fan-out at ${figures.concurrency}: sent ${result.sent}/${expected}, gone ${result.gone}, failed ${result.failed} (${result.firstError})`,
      );
    if (checks.received !== expected || (checks.types[type] ?? 0) !== expected || checks.moreThanOne > 0)
      throw new Error(`clients heard ${JSON.stringify(checks.types)} of ${expected} ${type} messages`);
    if (checks.wrongPosition > 0 || checks.badToken > 0)
      throw new Error(`${checks.wrongPosition} wrong positions, ${checks.badToken} bad tokens`);
  };

  for (let i = 0; i < params.warmupRuns; i++) check(await run(configured, movedChange()), 'position');
  await settle();

  // Everything but the post: the CPU of listing, building and signing each message.
  const signWorker = worker(configured, DROP_POSTER);
  let signed = 0;
  await signWorker.run(movedChange(), 0);
  const signCpuStart = cpuMicros();
  for (let i = 0; i < params.signOnlyRuns; i++) signed += (await signWorker.run(movedChange(), 0)).sent;
  const signCpu = (cpuMicros() - signCpuStart) / Math.max(1, signed);
  await settle();

  // Posting alone: `paused` to everyone, a 17-byte message with no token to sign;
  // through the real client, then through bare node:http (warmed once, not measured).
  const paused = (): LineChange => ({
    kind: 'state',
    eventId: FANOUT_EVENT_ID,
    seq: ++lastSeq,
    servingPosition: 0,
    state: 'paused',
    at: Math.floor(Date.now() / 1000),
  });
  const postOnlyRun = await run(configured, paused());
  check(postOnlyRun, 'paused');
  await settle();
  let bareRun: FanoutRunFigures;
  try {
    check(await run(configured, paused(), barePoster), 'paused');
    bareRun = await run(configured, paused(), barePoster);
    check(bareRun, 'paused');
  } finally {
    bare.destroy();
  }
  await settle();

  const runs: FanoutRunFigures[] = [];
  for (const concurrency of params.concurrencies) {
    const figures = await run(concurrency, movedChange());
    check(figures, 'position');
    log(
      `concurrency ${concurrency}: ${figures.messagesPerSecond.value} messages/s, ${figures.workerCpuPerMessage.value} µs CPU/message`,
    );
    runs.push(figures);
    await settle();
  }

  // What a connection costs the worker when it is not told (update tiers): listed, its place
  // and wait worked out, its tier and round decided. A budget of 1 a second is below the
  // near tier's own rate (places up to ~200, a wait within the 200 s horizon at one admission
  // a second), so every far fan is told at an endless interval: never. The near fans'
  // messages are signed and dropped.
  const planner = new Fanout({
    store: runtime.store,
    registry: runtime.registry,
    poster: DROP_POSTER,
    tokens: runtime.tokens,
    concurrency: configured,
    tickSeconds: 1,
    messagesPerSecond: 1,
    nearHorizonSeconds: 200,
  });
  await planner.run(movedChange(), 0);
  let planned = 0;
  let plannedSent = 0;
  const planCpuStart = cpuMicros();
  for (let i = 0; i < params.signOnlyRuns; i++) {
    const result = await planner.run(movedChange(), 0);
    planned += result.sent + (result.notDue ?? 0);
    plannedSent += result.sent;
  }
  const planCpu = cpuMicros() - planCpuStart;
  if (plannedSent === 0 || plannedSent > planned / 2)
    throw new Error(`planning run told ${plannedSent} of ${planned} connections: not the far tier alone`);
  // CPU = planned × per-connection + sent × signing, and sign-only = per-connection + signing.
  const perConnectionCpu = (planCpu - plannedSent * signCpu) / Math.max(1, planned - plannedSent);
  await settle();

  const full = runs.find((r) => r.concurrency === configured) ?? runs[runs.length - 1];
  const fullCpu = full?.workerCpuPerMessage.value ?? Number.NaN;
  let messageBytes = 0;
  const sample = await new Fanout({
    store: runtime.store,
    registry: runtime.registry,
    tokens: runtime.tokens,
    concurrency: 1,
    poster: {
      post: async (_id, data) => {
        messageBytes ||= Buffer.byteLength(data);
        return 'sent';
      },
      close: async () => 'closed',
    },
  }).run(movedChange(), 0);
  if (sample.sent === 0) throw new Error('no message to size');
  return {
    params,
    setup: rig.setup,
    messageBytes,
    figures: {
      signOnlyCpuPerMessage: figure(signCpu, 'µs CPU/message', {
        digits: 0,
        note: 'the worker with a poster that drops: listing, message, ES256 token signing, JSON',
      }),
      postOnlyCpuPerMessage: postOnlyRun.workerCpuPerMessage,
      postOnlyMessagesPerSecond: postOnlyRun.messagesPerSecond,
      bareHttpCpuPerMessage: figure(bareRun.workerCpuPerMessage.value, 'µs CPU/message', {
        digits: 0,
        note: 'paused to everyone through bare node:http, SigV4-signed without the SDK client, keep-alive, same concurrency',
      }),
      bareHttpMessagesPerSecond: bareRun.messagesPerSecond,
      sdkCpuPerPost: figure(
        postOnlyRun.workerCpuPerMessage.value - bareRun.workerCpuPerMessage.value,
        'µs CPU/post',
        {
          digits: 0,
          note: 'post only through the real client − through signed bare node:http: what the SDK client adds (middleware, serde, endpoint)',
        },
      ),
      fullCpuPerMessage: figure(fullCpu, 'µs CPU/message', {
        digits: 0,
        note: `position messages through the real client at concurrency ${configured}`,
      }),
      postingShareOfFull: figure((100 * (fullCpu - signCpu)) / fullCpu, '%', {
        digits: 0,
        note: '(full − sign only) ÷ full: the SDK call, SigV4, HTTP and socket writes',
      }),
      signingShareOfFull: figure((100 * signCpu) / fullCpu, '%', {
        digits: 0,
        note: 'sign only ÷ full',
      }),
      notToldCpuPerConnection: figure(perConnectionCpu, 'µs CPU/connection', {
        digits: 1,
        note: `a connection the worker lists and plans but does not tell (update tiers): ${planned - plannedSent} of ${planned} over ${params.signOnlyRuns} runs, the near fans' signing taken off at the sign-only figure; the in-memory registry (DynamoDB's Query pages not included)`,
      }),
    },
    runs,
    postOnlyRun,
    bareHttpRun: bareRun,
  };
}

// ---------------------------------------------------------------- part 5

interface TickInfo {
  readonly tickStartAt: number;
  readonly commitAt: number | null;
  readonly tickReturnedAt: number;
  readonly settledAt: number;
  readonly from: number | null;
  readonly to: number | null;
}

export interface TickFigures {
  readonly movedFrom: number;
  readonly movedTo: number;
  readonly totalSeconds: Figure;
  readonly firstReceiptMs: Figure;
  readonly latencyP50: Figure;
  readonly latencyP99: Figure;
  readonly tickStartToCommitMs: Figure;
  readonly commitToWorkersDoneSeconds: Figure;
  readonly messagesPerSecond: Figure;
  readonly serverCpuPerMessage: Figure;
  readonly serverEventLoopBusy: Figure;
  readonly clientCpuPerMessage: Figure;
  readonly machineBusy: Figure;
  readonly otherProcessesBusy: Figure;
  readonly stolen: Figure;
  readonly checks: ReturnType<typeof deliveryChecks>;
}

export interface FanoutTickResult {
  readonly params: FanoutTickParams;
  readonly setup: FanoutRig['setup'];
  readonly figures: {
    readonly totalSecondsMedian: Figure;
    readonly totalSecondsMin: Figure;
    readonly totalSecondsMax: Figure;
    readonly latencyP50: Figure;
    readonly latencyP90: Figure;
    readonly latencyP99: Figure;
    readonly latencyMax: Figure;
    readonly messagesPerSecond: Figure;
    readonly serverCpuPerMessage: Figure;
    readonly serverEventLoopBusy: Figure;
    readonly clientCpuPerMessage: Figure;
  };
  readonly ticks: readonly TickFigures[];
  readonly warmupTicks: readonly TickFigures[];
  readonly serverOutputTail: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(Float64Array.from(sorted), 50);
}

export async function measureFanoutTick(rig: FanoutRig, params: FanoutTickParams): Promise<FanoutTickResult> {
  const n = rig.fans.length;
  let lastCommit = 0;
  const all: number[] = [];

  const tick = async (): Promise<{ figures: TickFigures; latencies: Float64Array }> => {
    // The rate credit (admitPerMinute 60) earns one admission a second: wait so the tick moves the line.
    const sinceLast = monoMs() - lastCommit;
    if (sinceLast < 1_500) await settle(1_500 - sinceLast);
    await rig.clients.rpc.call('arm');
    const before = await sampleCpu(rig);
    const info = await rig.server.call<TickInfo>(
      'tick',
      { eventId: FANOUT_EVENT_ID },
      (params.deliveryTimeoutSeconds + 30) * 1000,
    );
    const collected = await rig.clients.rpc.call<Collected>(
      'collect',
      { expected: n, timeoutMs: params.deliveryTimeoutSeconds * 1000 },
      (params.deliveryTimeoutSeconds + 30) * 1000,
    );
    const after = await sampleCpu(rig);
    if (info.commitAt === null || info.from === null || info.to === null || info.to <= info.from)
      throw new Error(`the tick did not move the line (${info.from} → ${info.to})`);
    lastCommit = info.commitAt;
    const commitAt = info.commitAt;
    const latencies = Float64Array.from(
      collected.firstAt.filter((t): t is number => typeof t === 'number').map((t) => t - commitAt),
    ).sort();
    const checks = deliveryChecks(collected);
    if (checks.received !== n || (checks.types.position ?? 0) !== n)
      throw new Error(`${checks.received}/${n} clients heard the tick: ${JSON.stringify(checks.types)}`);
    if (checks.moreThanOne > 0 || checks.wrongPosition > 0 || checks.badToken > 0)
      throw new Error(`bad deliveries: ${JSON.stringify(checks)}`);
    if (checks.servingPositions.length !== 1 || checks.servingPositions[0] !== info.to)
      throw new Error(
        `serving positions ${checks.servingPositions} in the messages, the tick moved to ${info.to}`,
      );
    const cpu = cpuBetween(before, after);
    const lastMs = latencies[latencies.length - 1] ?? Number.NaN;
    return {
      latencies,
      figures: {
        movedFrom: info.from,
        movedTo: info.to,
        totalSeconds: figure(lastMs / 1000, 's', {
          digits: 3,
          note: 'tick commit → the last client received its message',
        }),
        firstReceiptMs: figure(latencies[0] ?? Number.NaN, 'ms', { note: 'tick commit → the first receipt' }),
        latencyP50: figure(percentile(latencies, 50), 'ms'),
        latencyP99: figure(percentile(latencies, 99), 'ms'),
        tickStartToCommitMs: figure(commitAt - info.tickStartAt, 'ms'),
        commitToWorkersDoneSeconds: figure((info.settledAt - commitAt) / 1000, 's', {
          digits: 3,
          note: 'tick commit → every fan-out worker returned (every post answered)',
        }),
        messagesPerSecond: figure(n / (lastMs / 1000), 'messages/s', { digits: 0 }),
        serverCpuPerMessage: figure(cpu.serverMicros / n, 'µs CPU/message', {
          digits: 0,
          note: 'the app process: 16 workers (signing, SDK, HTTP) + @connections endpoint + ws send',
        }),
        serverEventLoopBusy: figure(cpu.serverLoopBusy, '%', { digits: 0 }),
        clientCpuPerMessage: figure(cpu.clientsMicros / n, 'µs CPU/message', { digits: 0 }),
        machineBusy: figure(cpu.machineBusy, '%', { digits: 0 }),
        otherProcessesBusy: figure(cpu.otherProcessesBusy, '%', {
          digits: 0,
          note: 'machine busy minus the app, the clients and the bench process',
        }),
        stolen: figure(cpu.stolen, '%', { digits: 0 }),
        checks,
      },
    };
  };

  const warmupTicks: TickFigures[] = [];
  for (let i = 0; i < params.warmupTicks; i++) {
    const { figures } = await tick();
    log(`warm-up tick: ${figures.totalSeconds.value} s`);
    warmupTicks.push(figures);
  }
  const ticks: TickFigures[] = [];
  for (let i = 0; i < params.ticks; i++) {
    const { figures, latencies } = await tick();
    log(
      `tick ${i + 1}: ${n} clients in ${figures.totalSeconds.value} s (p50 ${figures.latencyP50.value} ms, p99 ${figures.latencyP99.value} ms)`,
    );
    ticks.push(figures);
    all.push(...latencies);
  }
  const pooled = Float64Array.from(all).sort();
  const totals = ticks.map((t) => t.totalSeconds.value);
  const med = (pick: (t: TickFigures) => number) => median(ticks.map(pick));
  return {
    params,
    setup: rig.setup,
    figures: {
      totalSecondsMedian: figure(median(totals), 's', {
        digits: 2,
        note: `median over ${ticks.length} ticks of commit → last receipt`,
      }),
      totalSecondsMin: figure(Math.min(...totals), 's'),
      totalSecondsMax: figure(Math.max(...totals), 's'),
      latencyP50: figure(percentile(pooled, 50), 'ms', {
        note: `commit → receipt, all ${pooled.length} receipts`,
      }),
      latencyP90: figure(percentile(pooled, 90), 'ms'),
      latencyP99: figure(percentile(pooled, 99), 'ms'),
      latencyMax: figure(pooled[pooled.length - 1] ?? Number.NaN, 'ms'),
      messagesPerSecond: figure(
        med((t) => t.messagesPerSecond.value),
        'messages/s',
        { digits: 0, note: 'median over ticks: connections ÷ total' },
      ),
      serverCpuPerMessage: figure(
        med((t) => t.serverCpuPerMessage.value),
        'µs CPU/message',
        { digits: 0, note: 'median over ticks; workers and endpoint in one process' },
      ),
      serverEventLoopBusy: figure(
        med((t) => t.serverEventLoopBusy.value),
        '%',
        { digits: 0 },
      ),
      clientCpuPerMessage: figure(
        med((t) => t.clientCpuPerMessage.value),
        'µs CPU/message',
        { digits: 0 },
      ),
    },
    ticks,
    warmupTicks,
    serverOutputTail: rig.server.output().slice(-1_000),
  };
}

// ---------------------------------------------------------------- part 5b

interface TierTickInfo extends TickInfo {
  readonly seq: number | null;
  readonly at: number | null;
}

/** One measured tick of part 5b: what the rule planned, what the fans heard, how fast. */
export interface TierTickFigures {
  readonly seq: number;
  readonly movedFrom: number;
  readonly movedTo: number;
  /** Since the previous tick's commit. */
  readonly spacingSeconds: Figure;
  readonly commitToWorkersDoneSeconds: Figure;
  /** Messages heard, by the tier the rule gives each fan at this move (`admitted` is near). */
  readonly heard: { readonly admitted: number; readonly near: number; readonly far: number };
  /** What the rule says this move tells (shared/domain/updates.ts, replayed per shard). */
  readonly planned: {
    readonly admitted: number;
    readonly near: number;
    readonly far: number;
    readonly notDue: number;
    /** Shards whose plan is everyone-every-move, overloaded (far ceiling 30 s) or beyond (one interval). */
    readonly everyMoveShards: number;
    readonly overloadedShards: number;
    readonly uniformShards: number;
    /** The shards' plans together, at one move per tick. */
    readonly messagesPerSecond: Figure;
  };
  readonly nearLatencyP99: Figure;
  readonly serverCpuPerMessage: Figure;
  readonly serverEventLoopBusy: Figure;
  readonly machineBusy: Figure;
  readonly otherProcessesBusy: Figure;
  readonly stolen: Figure;
}

export interface FanoutTiersResult {
  readonly params: FanoutTiersParams;
  readonly setup: FanoutRig['setup'];
  readonly figures: {
    readonly nearLatencyP50: Figure;
    readonly nearLatencyP99: Figure;
    readonly nearLatencyMax: Figure;
    readonly admittedLatencyP99: Figure;
    readonly admittedLatencyMax: Figure;
    readonly farLatencyP50: Figure;
    readonly farLatencyP99: Figure;
    readonly nearMessagesPerTick: Figure;
    readonly farMessagesPerTick: Figure;
    readonly admittedMessagesPerTick: Figure;
    readonly notToldPerTick: Figure;
    readonly messagesPerSecond: Figure;
    readonly plannedMessagesPerSecond: Figure;
    readonly everyoneEveryMovePerSecond: Figure;
    readonly tickSpacingMedian: Figure;
    readonly tickSpacingMax: Figure;
    readonly commitToWorkersDoneMedian: Figure;
    readonly farFans: Figure;
    readonly farFansAsTheRuleSays: Figure;
    readonly farMessagesPerFan: Figure;
    readonly farMessagesPerFanByRule: Figure;
    readonly farLongestSilenceP99: Figure;
    readonly farLongestSilenceMax: Figure;
    readonly serverCpuPerMessage: Figure;
    readonly serverEventLoopBusy: Figure;
  };
  /** Every (fan, measured move) against the rule: heard as it says, missed, or heard unasked. */
  readonly rule: {
    readonly nearExpected: number;
    readonly nearHeard: number;
    readonly farExpected: number;
    readonly farHeard: number;
    readonly heardNotDue: number;
    readonly wrongType: number;
    readonly duplicates: number;
    readonly badMessages: number;
  };
  readonly ticks: readonly TierTickFigures[];
  /** Warm-up ticks run before the measured ones, and how long after the one before each committed (s). */
  readonly warmupTicks: number;
  readonly warmupSpacingSeconds: readonly number[];
  readonly serverOutputTail: string;
}

/** Waits until the clients have received nothing new for `quietMs` (bounded by `timeoutMs`). */
async function clientsQuiet(rig: FanoutRig, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  let last = -1;
  while (nowMs() < deadline) {
    const count = await rig.clients.rpc.call<number>('count');
    if (count === last) return;
    last = count;
    await settle(quietMs);
  }
}

const sortedOf = (values: number[]) => Float64Array.from(values).sort();

/**
 * Part 5b: the tiered fan-out. Ticks that move the line, each after the last one's fan-out
 * has ended (and at least `minTickSpacingSeconds` after its commit); every message every fan
 * hears is kept, and the update rule is replayed per shard from what the workers worked out
 * (each fan's `ahead` and wait at the move, its connection's phase, the moves' times), so each
 * heard message has a tier and each fan a count the rule gives it.
 */
export async function measureFanoutTiers(
  rig: FanoutRig,
  params: FanoutTiersParams,
): Promise<FanoutTiersResult> {
  const n = rig.fans.length;
  const positions = rig.fans.map((f) => f.position);
  const recordOf = new Map(rig.records.map((r) => [r.position, r]));
  const policy: UpdatePolicy = {
    tickSeconds: params.tickSeconds,
    nearThreshold: params.nearThreshold,
    nearHorizonSeconds: params.nearHorizonSeconds,
    messagesPerSecond: params.messagesPerSecond,
  };
  await rig.clients.rpc.call('arm', { keepAll: true });

  interface Done {
    readonly info: TierTickInfo & { seq: number; at: number; commitAt: number; from: number; to: number };
    readonly cpu: ReturnType<typeof cpuBetween>;
    readonly fans: { ahead: number[]; waitSeconds: (number | null)[] };
  }
  const done: Done[] = [];
  let lastCommit = Number.NEGATIVE_INFINITY;
  // Warm-up until two ticks in a row came soon after the one before (at most maxWarmupTicks).
  let warmupTicks = params.maxWarmupTicks;
  const steady = (k: number) => {
    const a = done[k]?.info.commitAt;
    const b = done[k - 1]?.info.commitAt;
    return a !== undefined && b !== undefined && a - b <= params.steadySpacingSeconds * 1000;
  };
  for (let i = 0; i < warmupTicks + params.ticks; i++) {
    if (i < warmupTicks && i >= 3 && steady(i - 1) && steady(i - 2)) warmupTicks = i;
    const wait = lastCommit + params.minTickSpacingSeconds * 1000 - monoMs();
    if (wait > 0) await settle(wait);
    const before = await sampleCpu(rig);
    const info = await rig.server.call<TierTickInfo>(
      'tick',
      { eventId: FANOUT_EVENT_ID },
      (params.deliveryTimeoutSeconds + 30) * 1000,
    );
    const after = await sampleCpu(rig);
    const { commitAt, from, to, seq, at } = info;
    if (commitAt === null || from === null || to === null || seq === null || at === null || to <= from)
      throw new Error(`tick ${i + 1} did not move the line (${from} → ${to})`);
    // What the workers worked out for each fan at this move (after the CPU sample: not measured).
    const fans = await rig.server.call<Done['fans']>(
      'fansAt',
      { eventId: FANOUT_EVENT_ID, positions },
      60_000,
    );
    done.push({ info: { ...info, commitAt, from, to, seq, at }, cpu: cpuBetween(before, after), fans });
    lastCommit = commitAt;
    log(
      `tick ${i + 1}${i < warmupTicks ? ' (warm-up)' : ''}: ${from} → ${to}, workers done ${((info.settledAt - commitAt) / 1000).toFixed(2)} s after the commit`,
    );
  }
  // The last posts are answered before their messages land.
  await clientsQuiet(rig, 500, params.deliveryTimeoutSeconds * 1000);
  const received = await rig.clients.rpc.call<KeptMessage[][]>('received', null, 120_000);
  if (received.length !== n) throw new Error(`${received.length} clients reported, expected ${n}`);

  // Each fan's messages by seq; anything not a measured move's, twice, or wrong is counted.
  const rule = {
    nearExpected: 0,
    nearHeard: 0,
    farExpected: 0,
    farHeard: 0,
    heardNotDue: 0,
    wrongType: 0,
    duplicates: 0,
    badMessages: 0,
  };
  const heardBySeq = received.map((messages) => {
    const bySeq = new Map<number, KeptMessage>();
    for (const m of messages) {
      if (!m.ok || m.seq === null) rule.badMessages++;
      else if (bySeq.has(m.seq)) rule.duplicates++;
      else bySeq.set(m.seq, m);
    }
    return bySeq;
  });

  const nearLatencies: number[] = [];
  const admittedLatencies: number[] = [];
  const farLatencies: number[] = [];
  const farHeardPerFan = new Uint32Array(n);
  const farDuePerFan = new Uint32Array(n);
  const farAlways = new Uint8Array(n).fill(1);
  /** Per fan, the `at` of the moves it heard (measured moves, and the last warm-up one). */
  const heardAt: number[][] = Array.from({ length: n }, () => []);
  const ticks: TierTickFigures[] = [];
  const phases = rig.fans.map((f) => phaseOf(recordOf.get(f.position)?.connectionId ?? ''));
  const shardOf = rig.fans.map((f) => recordOf.get(f.position)?.shard ?? 0);

  for (let j = warmupTicks; j < done.length; j++) {
    const tick = done[j];
    const previous = done[j - 1];
    if (!tick || !previous) continue;
    const { info, fans } = tick;
    if (j === warmupTicks)
      for (let i = 0; i < n; i++)
        if (heardBySeq[i]?.has(previous.info.seq)) heardAt[i]?.push(previous.info.at);
    // The rule per shard, from the fans it tells this move (waiting ones), as each worker plans it.
    const waitingByShard = new Map<number, WaitingFan[]>();
    for (let i = 0; i < n; i++) {
      if ((positions[i] ?? 0) <= info.to) continue;
      const list = waitingByShard.get(shardOf[i] ?? 0) ?? [];
      list.push({ ahead: fans.ahead[i] ?? 0, waitSeconds: fans.waitSeconds[i] ?? null });
      waitingByShard.set(shardOf[i] ?? 0, list);
    }
    const plans = new Map(
      [...waitingByShard].map(([shard, list]) => [shard, planUpdates(policy, list, 1 / params.shards)]),
    );
    const planned = { admitted: 0, near: 0, far: 0, notDue: 0 };
    const heard = { admitted: 0, near: 0, far: 0 };
    const tickNear: number[] = [];
    const move = { previousMoveSec: previous.info.at, nowSec: info.at };
    for (let i = 0; i < n; i++) {
      const position = positions[i] ?? 0;
      if (position <= info.from) continue;
      const message = heardBySeq[i]?.get(info.seq);
      if (message) heardAt[i]?.push(info.at);
      const latency = message ? message.at - info.commitAt : Number.NaN;
      if (position <= info.to) {
        planned.admitted++;
        rule.nearExpected++;
        if (message?.type === 'admitted') {
          heard.admitted++;
          rule.nearHeard++;
          admittedLatencies.push(latency);
          nearLatencies.push(latency);
          tickNear.push(latency);
        } else if (message) rule.wrongType++;
        continue;
      }
      const plan = plans.get(shardOf[i] ?? 0);
      const fan = {
        ahead: fans.ahead[i] ?? 0,
        waitSeconds: fans.waitSeconds[i] ?? null,
        phase: phases[i] ?? 0,
      };
      const update = plan ? updateFor(policy, plan, fan, move, params.tickSeconds * 0.8) : null;
      if (!plan || plan.everyMove || tierOf(policy, fan) === 'near') farAlways[i] = 0;
      if (update === null) {
        planned.notDue++;
        if (message) rule.heardNotDue++;
        continue;
      }
      if (message && message.type !== 'position') rule.wrongType++;
      if (update.tier === 'near') {
        planned.near++;
        rule.nearExpected++;
        if (message?.type === 'position') {
          heard.near++;
          rule.nearHeard++;
          nearLatencies.push(latency);
          tickNear.push(latency);
        }
      } else {
        planned.far++;
        rule.farExpected++;
        farDuePerFan[i] = (farDuePerFan[i] ?? 0) + 1;
        if (message?.type === 'position') {
          heard.far++;
          rule.farHeard++;
          farLatencies.push(latency);
          farHeardPerFan[i] = (farHeardPerFan[i] ?? 0) + 1;
        }
      }
    }
    const plannedRate = [...plans.values()].reduce((sum, p) => sum + p.messagesPerSecond, 0);
    const messages = heard.admitted + heard.near + heard.far;
    const { cpu } = tick;
    ticks.push({
      seq: info.seq,
      movedFrom: info.from,
      movedTo: info.to,
      spacingSeconds: figure((info.commitAt - previous.info.commitAt) / 1000, 's', { digits: 3 }),
      commitToWorkersDoneSeconds: figure((info.settledAt - info.commitAt) / 1000, 's', { digits: 3 }),
      heard,
      planned: {
        ...planned,
        everyMoveShards: [...plans.values()].filter((p) => p.everyMove).length,
        overloadedShards: [...plans.values()].filter((p) => p.overloaded && !p.uniform).length,
        uniformShards: [...plans.values()].filter((p) => p.uniform).length,
        messagesPerSecond: figure(plannedRate, 'messages/s', { digits: 0 }),
      },
      nearLatencyP99: figure(percentile(sortedOf(tickNear), 99), 'ms'),
      serverCpuPerMessage: figure(cpu.serverMicros / Math.max(1, messages), 'µs CPU/message', { digits: 0 }),
      serverEventLoopBusy: figure(cpu.serverLoopBusy, '%', { digits: 0 }),
      machineBusy: figure(cpu.machineBusy, '%', { digits: 0 }),
      otherProcessesBusy: figure(cpu.otherProcessesBusy, '%', { digits: 0 }),
      stolen: figure(cpu.stolen, '%', { digits: 0 }),
    });
  }

  // Far all along: how many messages each heard against what the rule gives it, and its longest
  // silence between the moves it heard (the first and last measured moves bound it).
  const first = done[warmupTicks - 1]?.info;
  const last = done[done.length - 1]?.info;
  if (!first || !last) throw new Error('no measured ticks');
  let farFans = 0;
  let asTheRuleSays = 0;
  let farHeard = 0;
  let farDue = 0;
  const silences: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!farAlways[i] || (positions[i] ?? 0) <= last.to) continue;
    farFans++;
    if (farHeardPerFan[i] === farDuePerFan[i]) asTheRuleSays++;
    farHeard += farHeardPerFan[i] ?? 0;
    farDue += farDuePerFan[i] ?? 0;
    const told = [first.at, ...(heardAt[i] ?? []).filter((t) => t > first.at), last.at];
    let longest = 0;
    for (let k = 1; k < told.length; k++) longest = Math.max(longest, (told[k] ?? 0) - (told[k - 1] ?? 0));
    silences.push(longest);
  }
  const measured = ticks.length;
  const sum = (pick: (t: TierTickFigures) => number) => ticks.reduce((s, t) => s + pick(t), 0);
  const spans = ticks.map((t) => t.spacingSeconds.value);
  const totalMessages = sum((t) => t.heard.admitted + t.heard.near + t.heard.far);
  const near = sortedOf(nearLatencies);
  const admitted = sortedOf(admittedLatencies);
  const far = sortedOf(farLatencies);
  const silence = sortedOf(silences);
  const med = (pick: (t: TierTickFigures) => number) => median(ticks.map(pick));
  return {
    params,
    setup: rig.setup,
    figures: {
      nearLatencyP50: figure(percentile(near, 50), 'ms', {
        note: `tick commit → receipt of the near tier's messages (admitted and position), ${near.length} over ${measured} ticks`,
      }),
      nearLatencyP99: figure(percentile(near, 99), 'ms'),
      nearLatencyMax: figure(near[near.length - 1] ?? Number.NaN, 'ms'),
      admittedLatencyP99: figure(percentile(admitted, 99), 'ms', {
        note: `tick commit → receipt of admitted, ${admitted.length} messages`,
      }),
      admittedLatencyMax: figure(admitted[admitted.length - 1] ?? Number.NaN, 'ms'),
      farLatencyP50: figure(percentile(far, 50), 'ms', {
        note: 'tick commit → receipt of far-tier messages (a round of 256 or more per worker is spread over 80 % of the tick)',
      }),
      farLatencyP99: figure(percentile(far, 99), 'ms'),
      nearMessagesPerTick: figure(sum((t) => t.heard.near) / measured, 'messages/tick', {
        digits: 0,
        note: 'position messages to fans the rule puts in the near tier, mean over the measured ticks',
      }),
      farMessagesPerTick: figure(sum((t) => t.heard.far) / measured, 'messages/tick', { digits: 0 }),
      admittedMessagesPerTick: figure(sum((t) => t.heard.admitted) / measured, 'messages/tick', {
        digits: 1,
      }),
      notToldPerTick: figure(sum((t) => t.planned.notDue) / measured, 'fans/tick', {
        digits: 0,
        note: 'waiting fans of the far tier not due at the move',
      }),
      messagesPerSecond: figure(totalMessages / ((last.commitAt - first.commitAt) / 1000), 'messages/s', {
        digits: 0,
        note: 'messages heard over the measured ticks ÷ the time from the warm-up commit to the last commit',
      }),
      plannedMessagesPerSecond: figure(
        med((t) => t.planned.messagesPerSecond.value),
        'messages/s',
        {
          digits: 0,
          note: `median over ticks of the shards' plans (one move per ${params.tickSeconds} s tick), against the budget ${params.messagesPerSecond}/s`,
        },
      ),
      everyoneEveryMovePerSecond: figure(n / params.tickSeconds, 'messages/s', {
        digits: 0,
        note: 'every connected fan every tick: what part 5 sends',
      }),
      tickSpacingMedian: figure(median(spans), 's', {
        digits: 2,
        note: "commit to commit: a tick starts once the last one's fan-out has ended",
      }),
      tickSpacingMax: figure(Math.max(...spans), 's'),
      commitToWorkersDoneMedian: figure(
        med((t) => t.commitToWorkersDoneSeconds.value),
        's',
        {
          note: 'tick commit → every worker returned (its spread round included)',
        },
      ),
      farFans: figure(farFans, 'fans', {
        digits: 0,
        note: 'waiting and in the far tier at every measured move',
      }),
      farFansAsTheRuleSays: figure((100 * asTheRuleSays) / Math.max(1, farFans), '%', {
        note: 'of those, share that heard exactly the moves the rule makes them due at',
      }),
      farMessagesPerFan: figure(farHeard / Math.max(1, farFans), 'messages', {
        note: `over ${measured} moves in ${figure((last.commitAt - first.commitAt) / 1000, 's').value} s`,
      }),
      farMessagesPerFanByRule: figure(farDue / Math.max(1, farFans), 'messages'),
      farLongestSilenceP99: figure(percentile(silence, 99), 's', {
        digits: 0,
        note: "far fans' longest time between moves they heard (tick times, whole seconds); the rule: ≤ interval + the gap between moves",
      }),
      farLongestSilenceMax: figure(silence[silence.length - 1] ?? Number.NaN, 's', { digits: 0 }),
      serverCpuPerMessage: figure(
        med((t) => t.serverCpuPerMessage.value),
        'µs CPU/message',
        {
          digits: 0,
          note: 'median over ticks: app CPU ÷ messages heard; the workers also list and plan every fan',
        },
      ),
      serverEventLoopBusy: figure(
        med((t) => t.serverEventLoopBusy.value),
        '%',
        { digits: 0 },
      ),
    },
    rule,
    ticks,
    warmupTicks,
    warmupSpacingSeconds: done
      .slice(1, warmupTicks)
      .map((d, k) => Math.round((d.info.commitAt - (done[k]?.info.commitAt ?? 0)) / 10) / 100),
    serverOutputTail: rig.server.output().slice(-1_000),
  };
}
