/**
 * Part 1: joins through the local HTTP gateway. The app runs in a forked child
 * (bench/server.ts); this process only generates load: node:http with a
 * keep-alive agent, a fixed number of requests in flight, on 127.0.0.1, bounded
 * by a count and a time limit.
 */
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { forkBenchChild, type Rpc } from './ipc.ts';
import {
  coreTimes,
  cpuMicros,
  type Figure,
  figure,
  machineBusyPercent,
  machineStealPercent,
  nowMs,
  percentile,
  settle,
} from './measure.ts';
import { BENCH_EVENT_ID, BENCH_SHARDED_EVENT_ID, type HttpJoinParams } from './params.ts';

const SERVER_ENTRY = fileURLToPath(new URL('./server.ts', import.meta.url));
const SERVER_START_TIMEOUT_MS = 90_000;

export interface BenchServer {
  readonly url: string;
  /** What the server's @connections endpoint accepts signatures of (a worker posting from here needs them). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** CPU µs the server process has used so far (all its threads), and its event loop's busy/idle ms. */
  usage(): Promise<ServerUsage>;
  /** The last few KB the server wrote to stdout/stderr (warnings, errors). */
  output(): string;
  /** Calls one of the server's bench handlers (bench/server.ts, `fanoutHandlers`). */
  readonly call: Rpc['call'];
  stop(): Promise<void>;
}

export interface ServerUsage {
  readonly micros: number;
  readonly loopActiveMs: number;
  readonly loopIdleMs: number;
}

type ChildMessage =
  | {
      readonly type: 'ready';
      readonly url: string;
      readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
    }
  | ({ readonly type: 'cpu' } & ServerUsage)
  | { readonly type: 'error'; readonly message: string };

function isChildMessage(value: unknown): value is ChildMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  return (
    (message.type === 'ready' &&
      typeof message.url === 'string' &&
      typeof (message.credentials as Record<string, unknown> | undefined)?.accessKeyId === 'string' &&
      typeof (message.credentials as Record<string, unknown> | undefined)?.secretAccessKey === 'string') ||
    (message.type === 'cpu' &&
      typeof message.micros === 'number' &&
      typeof message.loopActiveMs === 'number' &&
      typeof message.loopIdleMs === 'number') ||
    (message.type === 'error' && typeof message.message === 'string')
  );
}

/**
 * Forks bench/server.ts with `env` and resolves once it listens. `nodeFlags` are
 * extra Node flags for the server (e.g. `--cpu-prof` when looking into a figure).
 */
export async function startServer(
  env: Record<string, string>,
  nodeFlags: string[] = [],
): Promise<BenchServer> {
  const server = forkBenchChild(SERVER_ENTRY, env, 'bench server', {
    nodeFlags,
    requestStop: (child) => child.send({ type: 'stop' }),
  });
  const { child, rpc } = server;
  const { url, credentials } = await new Promise<{
    url: string;
    credentials: BenchServer['credentials'];
  }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`bench server did not start within ${SERVER_START_TIMEOUT_MS} ms:\n${server.output()}`),
      );
    }, SERVER_START_TIMEOUT_MS);
    child.on('message', (message: unknown) => {
      if (!isChildMessage(message)) return;
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({ url: message.url, credentials: message.credentials });
      } else if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`bench server failed to start:\n${message.message}\n${server.output()}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`bench server exited (${signal ?? code}) before it was ready:\n${server.output()}`));
    });
  });

  return {
    url,
    credentials,
    output: server.output,
    call: rpc.call,
    usage: () =>
      new Promise<ServerUsage>((resolve, reject) => {
        const onMessage = (message: unknown) => {
          if (!isChildMessage(message) || message.type !== 'cpu') return;
          child.off('message', onMessage);
          resolve(message);
        };
        child.on('message', onMessage);
        if (!child.send({ type: 'cpu' })) reject(new Error('bench server IPC channel is closed'));
      }),
    stop: () => server.stop(5_000),
  };
}

interface JoinAnswer {
  readonly status: number;
  readonly ms: number;
  readonly position: number | undefined;
}

/** The fields of a join answer the bench checks; anything else in the body is ignored. */
function positionOf(body: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { position, token } = parsed as { position?: unknown; token?: unknown };
    if (typeof token !== 'string' || token.split('.').length !== 3) return undefined;
    return typeof position === 'number' && Number.isSafeInteger(position) ? position : undefined;
  } catch {
    return undefined;
  }
}

function postJoin(
  agent: Agent,
  url: URL,
  path: string,
  body: string,
  timeoutMs: number,
): Promise<JoinAnswer> {
  return new Promise((resolve, reject) => {
    const started = nowMs();
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const ms = nowMs() - started;
          const status = res.statusCode ?? 0;
          const position =
            status === 201 || status === 200 ? positionOf(Buffer.concat(chunks).toString('utf8')) : undefined;
          resolve({ status, ms, position });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadOutcome {
  readonly attempted: number;
  readonly completed: number;
  readonly byStatus: Record<string, number>;
  readonly networkErrors: number;
  readonly firstError: string | null;
  readonly stoppedByTimeLimit: boolean;
  readonly wallMs: number;
  readonly latenciesMs: Float64Array;
  readonly badBodies: number;
  readonly duplicatePositions: number;
}

/**
 * Sends `count` joins with `concurrency` in flight. Request i is anonymous or
 * carries the never-seen userId `${userPrefix}-${i}`, interleaved so that the
 * anonymous share holds over any stretch of the run.
 */
async function sendJoins(
  agent: Agent,
  base: URL,
  count: number,
  params: HttpJoinParams,
  userPrefix: string,
  positions: Set<number>,
): Promise<LoadOutcome> {
  const path = `/v1/events/${params.intake === 'sharded' ? BENCH_SHARDED_EVENT_ID : BENCH_EVENT_ID}/join`;
  const latencies = new Float64Array(count);
  const byStatus: Record<string, number> = {};
  let next = 0;
  let completed = 0;
  let networkErrors = 0;
  let badBodies = 0;
  let duplicatePositions = 0;
  let firstError: string | null = null;
  let stoppedByTimeLimit = false;
  const started = nowMs();
  const deadline = started + params.timeLimitSeconds * 1000;

  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      if (nowMs() > deadline) {
        stoppedByTimeLimit = true;
        return;
      }
      const anonymous = Math.floor((i + 1) * params.anonymousShare) > Math.floor(i * params.anonymousShare);
      const body = anonymous ? '{}' : JSON.stringify({ userId: `${userPrefix}-${i}` });
      try {
        const answer = await postJoin(agent, base, path, body, params.requestTimeoutMs);
        latencies[completed++] = answer.ms;
        byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
        if (answer.status === 201 || answer.status === 200) {
          if (answer.position === undefined) badBodies++;
          else if (positions.has(answer.position)) duplicatePositions++;
          else positions.add(answer.position);
        }
      } catch (error) {
        networkErrors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: params.concurrency }, worker));
  const wallMs = nowMs() - started;
  const measured = latencies.slice(0, completed).sort();
  return {
    attempted: Math.min(next, count),
    completed,
    byStatus,
    networkErrors,
    firstError,
    stoppedByTimeLimit,
    wallMs,
    latenciesMs: measured,
    badBodies,
    duplicatePositions,
  };
}

export interface HttpJoinResult {
  readonly params: HttpJoinParams;
  readonly figures: {
    readonly joinsPerSecond: Figure;
    readonly latencyP50: Figure;
    readonly latencyP90: Figure;
    readonly latencyP99: Figure;
    readonly latencyMax: Figure;
    readonly serverCpuPerJoin: Figure;
    readonly serverEventLoopBusy: Figure;
    readonly loadGeneratorCpuPerJoin: Figure;
    /** The DynamoDB Local JVM, when there is one and /proc can be read. */
    readonly emulatorCpuPerJoin?: Figure;
    readonly machineBusy: Figure;
    readonly otherProcessesBusy: Figure;
    readonly stolen: Figure;
  };
  readonly checks: {
    readonly measuredJoins: number;
    readonly answersByStatus: Record<string, number>;
    readonly networkErrors: number;
    readonly firstError: string | null;
    readonly badBodies: number;
    readonly duplicatePositions: number;
    readonly stoppedByTimeLimit: boolean;
    readonly serverOutputTail: string;
  };
  readonly wallSeconds: Figure;
}

/**
 * Warms up, then measures joins against a running bench server. `emulatorCpu`
 * reads the CPU µs of the store's emulator process, when there is one.
 */
export async function measureHttpJoins(
  server: BenchServer,
  params: HttpJoinParams,
  emulatorCpu?: () => number,
): Promise<HttpJoinResult> {
  const base = new URL(server.url);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: params.concurrency,
    maxFreeSockets: params.concurrency,
  });
  const positions = new Set<number>();
  try {
    const runId = Date.now().toString(36);
    await sendJoins(agent, base, params.warmupJoins, params, `warm-${runId}`, positions);
    await settle();

    const serverBefore = await server.usage();
    const emulatorCpuBefore = emulatorCpu?.();
    const clientCpuBefore = cpuMicros();
    const coresBefore = coreTimes();
    const outcome = await sendJoins(agent, base, params.joins, params, `user-${runId}`, positions);
    const coresAfter = coreTimes();
    const clientCpu = cpuMicros() - clientCpuBefore;
    const emulatorCpuUsed =
      emulatorCpu && emulatorCpuBefore !== undefined ? emulatorCpu() - emulatorCpuBefore : undefined;
    const serverAfter = await server.usage();
    const serverCpu = serverAfter.micros - serverBefore.micros;
    const loopActive = serverAfter.loopActiveMs - serverBefore.loopActiveMs;
    const loopBusy = (100 * loopActive) / (loopActive + serverAfter.loopIdleMs - serverBefore.loopIdleMs);

    const { latenciesMs: sorted, completed } = outcome;
    const divisor = Math.max(1, completed);
    const machineBusy = machineBusyPercent(coresBefore, coresAfter);
    const oursPercent =
      (100 * (serverCpu + clientCpu + (emulatorCpuUsed ?? 0))) / (outcome.wallMs * 1000 * cpus().length);
    return {
      params,
      figures: {
        joinsPerSecond: figure(completed / (outcome.wallMs / 1000), 'joins/s', { digits: 0 }),
        latencyP50: figure(percentile(sorted, 50), 'ms'),
        latencyP90: figure(percentile(sorted, 90), 'ms'),
        latencyP99: figure(percentile(sorted, 99), 'ms'),
        latencyMax: figure(sorted[sorted.length - 1] ?? Number.NaN, 'ms'),
        serverCpuPerJoin: figure(serverCpu / divisor, 'µs CPU/join', {
          digits: 0,
          note: 'the app process: gateway, handler, store client',
        }),
        serverEventLoopBusy: figure(loopBusy, '%', {
          digits: 0,
          note: 'event loop utilisation of the app process; near 100% means its one loop is the bottleneck',
        }),
        loadGeneratorCpuPerJoin: figure(clientCpu / divisor, 'µs CPU/join', {
          digits: 0,
          note: 'the bench process sending the requests',
        }),
        ...(emulatorCpuUsed !== undefined && Number.isFinite(emulatorCpuUsed)
          ? {
              emulatorCpuPerJoin: figure(emulatorCpuUsed / divisor, 'µs CPU/join', {
                digits: 0,
                note: 'the DynamoDB Local JVM',
              }),
            }
          : {}),
        machineBusy: figure(machineBusy, '%', {
          digits: 0,
          note: 'all cores busy during the measured joins',
        }),
        otherProcessesBusy: figure(Math.max(0, machineBusy - oursPercent), '%', {
          digits: 0,
          note: 'all cores busy with processes outside the bench (machine busy minus the processes measured)',
        }),
        stolen: figure(machineStealPercent(coresBefore, coresAfter), '%', {
          digits: 0,
          note: 'all cores time the hypervisor gave to other guests (steal) during the measured joins',
        }),
      },
      checks: {
        measuredJoins: completed,
        answersByStatus: outcome.byStatus,
        networkErrors: outcome.networkErrors,
        firstError: outcome.firstError,
        badBodies: outcome.badBodies,
        duplicatePositions: outcome.duplicatePositions,
        stoppedByTimeLimit: outcome.stoppedByTimeLimit,
        serverOutputTail: server.output().slice(-1_000),
      },
      wallSeconds: figure(outcome.wallMs / 1000, 's'),
    };
  } finally {
    agent.destroy();
  }
}
