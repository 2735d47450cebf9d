/**
 * `npm run bench`: prints a table and writes bench/results/latest.json.
 * Order: the in-process parts first (nothing else running), then joins over
 * HTTP on the embedded store (SQLite, then in memory), then on DynamoDB Local.
 * bench/README.md says what each figure means.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setRuntime } from '#app/runtime';
import { createTable, startDynamoDbLocal, uniqueTableName } from '../test/support/dynamodb-local.ts';
import { type CpuPerJoinResult, inProcessRuntime, measureCpuPerJoin } from './cpu-per-join.ts';
import {
  type FanoutTickResult,
  type FanoutTiersResult,
  type FanoutWorkerResult,
  measureFanoutTick,
  measureFanoutTiers,
  measureFanoutWorker,
  startFanoutRig,
} from './fanout.ts';
import {
  type FanoutMillionResult,
  type FanoutModelResult,
  fanoutMillionModel,
  fanoutModel,
  readPrices,
} from './fanout-model.ts';
import { type HttpJoinResult, measureHttpJoins, startServer } from './http-join.ts';
import {
  backgroundLoad,
  childCpuReader,
  coreTimes,
  type Figure,
  figure,
  machineBusyPercent,
  machineInfo,
  machineStealPercent,
  nowMs,
  settle,
  tempDir,
} from './measure.ts';
import {
  CPU_PER_JOIN,
  FANOUT_MILLION,
  FANOUT_MODEL,
  FANOUT_TICK,
  FANOUT_TIERS,
  FANOUT_WORKER,
  HTTP_DYNAMODB,
  HTTP_DYNAMODB_SHARDED,
  HTTP_MEMORY,
  HTTP_SQLITE,
  HTTP_SQLITE_SHARDED,
  type HttpJoinParams,
  ONLY,
  QUICK,
  VERIFY,
} from './params.ts';
import { measureVerify, type VerifyResult } from './verify.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const AWS_LOCAL = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
} as const;

type Skipped = { readonly skipped: string };
type Outcome<T> = T | Skipped;

function isSkipped<T>(outcome: Outcome<T>): outcome is Skipped {
  return typeof outcome === 'object' && outcome !== null && 'skipped' in outcome;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function serverEnv(store: HttpJoinParams['store']): Record<string, string> {
  return {
    FQ_STORE: store,
    FQ_KEY_DIR: tempDir('fq-bench-keys-'),
    FQ_DATA_DIR: tempDir('fq-bench-data-'),
    FQ_JOIN_RATE_LIMIT_PER_MINUTE: '0',
    FQ_WS_URL: '',
    NODE_ENV: 'production',
  };
}

/** Joins on an embedded store: SQLite on disk (what `npm start` uses) or in memory. */
async function httpOnEmbedded(params: HttpJoinParams): Promise<HttpJoinResult> {
  const server = await startServer(serverEnv(params.store));
  try {
    return await measureHttpJoins(server, params);
  } finally {
    await server.stop();
  }
}

/** Exact and sharded intake on one server, one after the other, so the two rows compare. */
async function httpBothIntakes(
  params: HttpJoinParams,
  sharded: HttpJoinParams,
): Promise<{ exact: Outcome<HttpJoinResult>; sharded: Outcome<HttpJoinResult> }> {
  const server = await startServer(serverEnv(params.store));
  try {
    const exact = await attempt(`1a joins over HTTP, ${params.store}, exact intake`, () =>
      measureHttpJoins(server, params),
    );
    await settle();
    const other = await attempt(`1a joins over HTTP, ${params.store}, sharded intake`, () =>
      measureHttpJoins(server, sharded),
    );
    return { exact, sharded: other };
  } finally {
    await server.stop();
  }
}

async function httpOnDynamoDb(): Promise<{
  result: HttpJoinResult;
  sharded: Outcome<HttpJoinResult>;
  setupSeconds: Figure;
}> {
  const setupStart = nowMs();
  const ddb = await startDynamoDbLocal();
  try {
    const table = uniqueTableName('bench');
    await createTable(ddb.endpoint, table);
    const server = await startServer({
      ...serverEnv('dynamodb'),
      ...AWS_LOCAL,
      FQ_TABLE: table,
      AWS_ENDPOINT_URL: ddb.endpoint,
    });
    const setupSeconds = figure((nowMs() - setupStart) / 1000, 's');
    try {
      const jvmCpu = childCpuReader('java');
      const result = await measureHttpJoins(server, HTTP_DYNAMODB, jvmCpu);
      await settle();
      const sharded = await attempt('1b joins over HTTP, DynamoDB Local, sharded intake', () =>
        measureHttpJoins(server, HTTP_DYNAMODB_SHARDED, childCpuReader('java')),
      );
      return { result, sharded, setupSeconds };
    } finally {
      await server.stop();
    }
  } finally {
    await ddb.stop();
  }
}

type Row = readonly [part: string, what: string, value: string, unit: string];

function show(f: Figure): [string, string] {
  return [f.value.toLocaleString('en-US', { maximumFractionDigits: 2 }), f.unit];
}

function httpRows(label: string, outcome: Outcome<HttpJoinResult>): Row[] {
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const { figures: f, checks, params } = outcome;
  const ok = (checks.answersByStatus['201'] ?? 0) + (checks.answersByStatus['200'] ?? 0);
  return [
    [label, 'joins/s', ...show(f.joinsPerSecond)],
    [label, 'latency p50', ...show(f.latencyP50)],
    [label, 'latency p90', ...show(f.latencyP90)],
    [label, 'latency p99', ...show(f.latencyP99)],
    [label, 'latency max', ...show(f.latencyMax)],
    [label, 'server CPU per join', ...show(f.serverCpuPerJoin)],
    [label, 'server event loop busy', ...show(f.serverEventLoopBusy)],
    [label, 'load generator CPU per join', ...show(f.loadGeneratorCpuPerJoin)],
    ...(f.emulatorCpuPerJoin
      ? [[label, 'DynamoDB Local CPU per join', ...show(f.emulatorCpuPerJoin)] as const]
      : []),
    [label, 'machine busy', ...show(f.machineBusy)],
    [label, 'of which other processes', ...show(f.otherProcessesBusy)],
    [label, 'stolen by the hypervisor', ...show(f.stolen)],
    [
      label,
      'answered ok / measured',
      `${ok} / ${checks.measuredJoins}`,
      `joins (${params.concurrency} in flight, ${params.anonymousShare * 100}% anonymous)`,
    ],
  ];
}

function cpuRows(outcome: Outcome<CpuPerJoinResult>): Row[] {
  const label = '2 CPU per join';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const f = outcome.figures;
  return [
    [label, 'join handler', ...show(f.joinHandlerCpu)],
    [label, 'join handler (wall)', ...show(f.joinHandlerWall)],
    [label, 'token service sign', ...show(f.tokenServiceSignCpu)],
    [label, 'WebCrypto ECDSA sign', ...show(f.webCryptoSignCpu)],
    [label, 'raw node:crypto ES256 sign', ...show(f.rawSignCpu)],
    [label, 'join / raw sign', ...show(f.joinToRawSignRatio)],
    [label, 'token service sign / raw sign', ...show(f.tokenServiceSignToRawSignRatio)],
  ];
}

function verifyRows(outcome: Outcome<VerifyResult>): Row[] {
  const label = '3 access-token verify';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const f = outcome.figures;
  return [
    [label, 'public verifier', ...show(f.verifierPerSecond)],
    [label, 'public verifier CPU', ...show(f.verifierCpu)],
    [label, 'public verifier pipelined', ...show(f.verifierPipelinedPerSecond)],
    [label, 'raw node:crypto verify', ...show(f.rawPerSecond)],
    [label, 'raw node:crypto verify CPU', ...show(f.rawCpu)],
    [label, 'raw / verifier throughput', ...show(f.rawToVerifierRatio)],
    [label, 'verifier / raw CPU', ...show(f.rawToVerifierCpuRatio)],
  ];
}

function fanoutWorkerRows(outcome: Outcome<FanoutWorkerResult>): Row[] {
  const label = '4 fan-out, one worker';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const f = outcome.figures;
  const n = outcome.params.connections;
  return [
    ...outcome.runs.flatMap((r): Row[] => [
      [label, `concurrency ${r.concurrency}: messages/s`, ...show(r.messagesPerSecond)],
      [label, `concurrency ${r.concurrency}: worker CPU`, ...show(r.workerCpuPerMessage)],
      [label, `concurrency ${r.concurrency}: endpoint CPU`, ...show(r.endpointCpuPerMessage)],
      [
        label,
        `concurrency ${r.concurrency}: post p50 / p99`,
        `${r.postLatencyP50.value} / ${r.postLatencyP99.value}`,
        'ms',
      ],
      [
        label,
        `concurrency ${r.concurrency}: posts / sockets in flight`,
        `${r.peakPostsInFlight.value} / ${r.peakBusySockets.value}`,
        'peak',
      ],
    ]),
    [label, 'sign only (no post)', ...show(f.signOnlyCpuPerMessage)],
    [label, 'post only (paused, no token)', ...show(f.postOnlyCpuPerMessage)],
    [label, 'post only, bare node:http', ...show(f.bareHttpCpuPerMessage)],
    [label, 'what the SDK adds per post', ...show(f.sdkCpuPerPost)],
    [label, 'signing share of full', ...show(f.signingShareOfFull)],
    [label, 'connection listed and planned, not told', ...show(f.notToldCpuPerConnection)],
    [
      label,
      'machine busy · other processes',
      outcome.runs.map((r) => `${r.machineBusy.value} · ${r.otherProcessesBusy.value}`).join(', '),
      '% per concurrency',
    ],
    [
      label,
      'delivered',
      `${[outcome.postOnlyRun, outcome.bareHttpRun, ...outcome.runs].map((r) => r.delivered).join(' / ')} of ${n}`,
      'messages per run',
    ],
  ];
}

function fanoutTickRows(outcome: Outcome<FanoutTickResult>): Row[] {
  const label = '5 fan-out, one tick, everyone';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const f = outcome.figures;
  const p = outcome.params;
  return [
    [label, `${p.connections} clients: commit → last`, ...show(f.totalSecondsMedian)],
    [label, 'commit → last, min · max', `${f.totalSecondsMin.value} · ${f.totalSecondsMax.value}`, 's'],
    [label, 'delivery latency p50', ...show(f.latencyP50)],
    [label, 'delivery latency p99', ...show(f.latencyP99)],
    [label, 'delivery latency max', ...show(f.latencyMax)],
    [label, 'messages/s (all 16 workers)', ...show(f.messagesPerSecond)],
    [label, 'app CPU per message', ...show(f.serverCpuPerMessage)],
    [label, 'app event loop busy', ...show(f.serverEventLoopBusy)],
    [label, 'client CPU per message', ...show(f.clientCpuPerMessage)],
    [
      label,
      'machine busy · other processes',
      outcome.ticks.map((t) => `${t.machineBusy.value} · ${t.otherProcessesBusy.value}`).join(', '),
      '% per tick',
    ],
    [label, `connect ${p.connections} clients (setup)`, ...show(outcome.setup.connectSeconds)],
  ];
}

function fanoutModelRows(outcome: Outcome<FanoutModelResult>): Row[] {
  const label = '6 model: 100,000 on AWS';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const d = outcome.derived;
  const p = outcome.params;
  return [
    [label, 'measured worker CPU/message (part 4)', ...show(outcome.measured.workerCpuPerMessage)],
    [label, 'posts in flight per worker', ...show(d.postsInFlightPerWorker)],
    [
      label,
      'account quota floor (burst · none)',
      `${d.accountQuotaFloorSeconds.value} · ${d.accountQuotaFloorSteadySeconds.value}`,
      's',
    ],
    ...outcome.scenarios.flatMap((s): Row[] => {
      const name = `${s.lambdaMemoryMb} MB, ${s.postLatencyMs} ms posts`;
      return [
        [
          label,
          `${name}: per worker · ${p.configuredShards} shards`,
          `${s.perWorkerMessagesPerSecond.value}/s · ${s.secondsAtConfiguredShards.value} s`,
          `worker ${s.perWorkerLimit}-bound; time set by the ${s.limitAtConfiguredShards}`,
        ],
        [
          label,
          `${name}: shards for ${p.targetSeconds} s`,
          s.shardsForTarget ? String(s.shardsForTarget.value) : 'none',
          s.secondsAtShardsForTarget ? `shards (${s.secondsAtShardsForTarget.value} s with the quota)` : '',
        ],
        [label, `${name}: shards at the account quota`, ...show(s.shardsAtAccountQuota)],
      ];
    }),
  ];
}

function fanoutTiersRows(outcome: Outcome<FanoutTiersResult>): Row[] {
  const label = '5b fan-out, tiers';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  const f = outcome.figures;
  const p = outcome.params;
  const r = outcome.rule;
  return [
    [
      label,
      `${p.connections} clients, ${p.tickSeconds} s tick, budget`,
      `${p.messagesPerSecond}`,
      `messages/s (everyone every tick: ${f.everyoneEveryMovePerSecond.value})`,
    ],
    [
      label,
      'near tier latency p50 · p99 · max',
      `${f.nearLatencyP50.value} · ${f.nearLatencyP99.value} · ${f.nearLatencyMax.value}`,
      'ms from the tick commit',
    ],
    [
      label,
      'admitted latency p99 · max',
      `${f.admittedLatencyP99.value} · ${f.admittedLatencyMax.value}`,
      'ms',
    ],
    [label, 'far tier latency p50 · p99', `${f.farLatencyP50.value} · ${f.farLatencyP99.value}`, 'ms'],
    [
      label,
      'messages per tick: admitted · near · far',
      `${f.admittedMessagesPerTick.value} · ${f.nearMessagesPerTick.value} · ${f.farMessagesPerTick.value}`,
      `(${f.notToldPerTick.value} far fans not due)`,
    ],
    [
      label,
      'messages/s sent · planned',
      `${f.messagesPerSecond.value} · ${f.plannedMessagesPerSecond.value}`,
      'messages/s',
    ],
    [
      label,
      'far fans: messages each · by the rule',
      `${f.farMessagesPerFan.value} · ${f.farMessagesPerFanByRule.value}`,
      `(${f.farFansAsTheRuleSays.value} % of ${f.farFans.value} exactly)`,
    ],
    [
      label,
      'far fans: longest silence p99 · max',
      `${f.farLongestSilenceP99.value} · ${f.farLongestSilenceMax.value}`,
      's',
    ],
    [
      label,
      'heard as the rule says: near · far',
      `${r.nearHeard}/${r.nearExpected} · ${r.farHeard}/${r.farExpected}`,
      `(unasked ${r.heardNotDue}, wrong type ${r.wrongType}, twice ${r.duplicates}, bad ${r.badMessages})`,
    ],
    [
      label,
      'tick spacing median · max',
      `${f.tickSpacingMedian.value} · ${f.tickSpacingMax.value}`,
      `s (after ${outcome.warmupTicks} warm-up ticks)`,
    ],
    [
      label,
      'app CPU per message · event loop busy',
      `${f.serverCpuPerMessage.value} · ${f.serverEventLoopBusy.value}`,
      'µs · %',
    ],
    [
      label,
      'machine busy · other processes',
      outcome.ticks.map((t) => `${t.machineBusy.value}·${t.otherProcessesBusy.value}`).join(' '),
      '% per tick',
    ],
  ];
}

function fanoutMillionRows(outcome: Outcome<FanoutMillionResult>): Row[] {
  const label = '6b model: 1,000,000 waiting';
  if (isSkipped(outcome)) return [[label, 'skipped', outcome.skipped, '']];
  return [
    [
      label,
      'measured CPU/message · /connection not told',
      `${outcome.measured.workerCpuPerMessage.value} · ${outcome.measured.workerCpuPerConnectionNotTold.value}`,
      'µs CPU (part 4)',
    ],
    ...outcome.scenarios.flatMap((s): Row[] => [
      ...s.rules.map(
        (r): Row => [
          label,
          `${s.connectedFans.toLocaleString('en-US')} connected, ${r.rule}`,
          `${r.messagesPerSecond.value.toLocaleString('en-US')}/s · $${r.usdPerHour.value}/h`,
          `far every ${r.farIntervalSeconds.value} s; ${r.accountQuotaShare.value} % of the quota; ${r.lambdaEnvironments.value} Lambdas (${r.workerBusyShareOfTick.value} % of each worker's tick)`,
        ],
      ),
      [
        label,
        `${s.connectedFans.toLocaleString('en-US')} connected, any rule`,
        `$${s.connectionMinutesUsdPerHour.value}/h · $${s.listingUsdPerHour.value}/h`,
        'connection minutes · listing the shards every move',
      ],
    ]),
  ];
}

function table(rows: Row[]): string {
  const header: Row = ['part', 'figure', 'value', 'unit'];
  const all = [header, ...rows];
  const widths = [0, 1, 2].map((c) => Math.max(...all.map((r) => r[c]?.length ?? 0)));
  const line = (r: Row) =>
    [r[0].padEnd(widths[0] ?? 0), r[1].padEnd(widths[1] ?? 0), r[2].padStart(widths[2] ?? 0), r[3]].join(
      '  ',
    );
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  let previous = '';
  const body = rows.map((r) => {
    const text = line(r[0] === previous ? ['', r[1], r[2], r[3]] : r);
    previous = r[0];
    return text;
  });
  return [line(header), rule, ...body].join('\n');
}

/** How busy the whole machine was during each part: other people's work skews every figure. */
const partLoad: Record<string, { busy: Figure; stolen: Figure }> = {};

async function attempt<T>(name: string, run: () => Promise<T>): Promise<Outcome<T>> {
  const started = nowMs();
  const cores = coreTimes();
  log(`${name}...`);
  try {
    const result = await run();
    log(`${name} done in ${((nowMs() - started) / 1000).toFixed(1)} s`);
    return result;
  } catch (error) {
    log(`${name} FAILED: ${message(error)}`);
    return { skipped: `failed: ${message(error).split('\n')[0]}` };
  } finally {
    const after = coreTimes();
    partLoad[name] = {
      busy: figure(machineBusyPercent(cores, after), '%', {
        digits: 0,
        note: 'all cores busy during this part, the bench included',
      }),
      stolen: figure(machineStealPercent(cores, after), '%', {
        digits: 0,
        note: 'all cores time the hypervisor gave to other guests (steal) during this part',
      }),
    };
  }
}

/** Machine busy share (all cores, before the run) above which the figures are flagged as skewed. */
const QUIET_PERCENT = 15;

/** Every part is bounded by counts and time limits; this is the backstop if one still hangs. */
const WATCHDOG_MS = 8 * 60_000;

async function main(): Promise<void> {
  // process.exit runs the 'exit' hooks that kill the app child and the DynamoDB Local JVM.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  setTimeout(() => {
    log(`watchdog: still running after ${WATCHDOG_MS / 1000} s, giving up`);
    process.exit(2);
  }, WATCHDOG_MS).unref();
  const startedAt = new Date();
  const waitStart = nowMs();
  const machine = machineInfo();
  log(`${machine.cpuModel}, ${machine.logicalCores} cores, Node ${machine.node}`);
  let background = await backgroundLoad();
  // Opt-in on a shared machine: wait (bounded) for other people's builds to finish before measuring.
  const waitQuietUntil = nowMs() + Number(process.env.BENCH_WAIT_QUIET_SECONDS ?? 0) * 1000;
  while (background.machineBusyBeforeStart.value > QUIET_PERCENT && nowMs() < waitQuietUntil) {
    log(`machine ${background.machineBusyBeforeStart.value}% busy; waiting for it to be quiet`);
    await settle(4_000);
    background = await backgroundLoad();
  }
  const waited = figure((nowMs() - waitStart) / 1000, 's', {
    digits: 1,
    note: 'sampling the background load (and BENCH_WAIT_QUIET_SECONDS waiting), before the run',
  });
  const runStart = nowMs();
  log(
    `machine ${background.machineBusyBeforeStart.value}% busy before start, load average ${background.loadAverage1m.value}`,
  );
  if (background.machineBusyBeforeStart.value > QUIET_PERCENT) {
    log(
      'warning: other processes are using the CPU; figures will be lower and noisier than on a quiet machine',
    );
  }

  const notRun: Skipped = { skipped: `not run (BENCH_ONLY=${ONLY})` };
  const runs = (part: 'joins' | 'fanout') => ONLY === null || ONLY === part;
  let cpu: Outcome<CpuPerJoinResult> = notRun;
  let verification: Outcome<VerifyResult> = notRun;
  let sqlite: Outcome<HttpJoinResult> = notRun;
  let memory: Outcome<HttpJoinResult> = notRun;
  let sqliteSharded: Outcome<HttpJoinResult> = notRun;
  let dynamo: Outcome<{ result: HttpJoinResult; sharded: Outcome<HttpJoinResult>; setupSeconds: Figure }> =
    notRun;
  if (runs('joins')) {
    const runtime = await inProcessRuntime();
    cpu = await attempt('2 CPU per join (in process)', () => measureCpuPerJoin(runtime, CPU_PER_JOIN));
    await settle();
    verification = await attempt('3 access-token verification', () => measureVerify(runtime, VERIFY));
    setRuntime(undefined);
    await settle();

    ({ exact: sqlite, sharded: sqliteSharded } = await httpBothIntakes(HTTP_SQLITE, HTTP_SQLITE_SHARDED));
    await settle();
    memory = await attempt('1c joins over HTTP, in memory', () => httpOnEmbedded(HTTP_MEMORY));
    await settle();
    dynamo = await attempt('1b joins over HTTP, DynamoDB Local', httpOnDynamoDb);
    await settle(1_000);
  }

  let fanoutWorker: Outcome<FanoutWorkerResult> = notRun;
  let fanoutTick: Outcome<FanoutTickResult> = notRun;
  let fanoutTiers: Outcome<FanoutTiersResult> = notRun;
  let model: Outcome<FanoutModelResult> = notRun;
  let million: Outcome<FanoutMillionResult> = notRun;
  if (runs('fanout')) {
    const rig = await attempt(`4/5 fan-out setup: app and ${FANOUT_TICK.connections} ws clients`, () =>
      startFanoutRig(FANOUT_TICK),
    );
    if (isSkipped(rig)) {
      fanoutWorker = rig;
      fanoutTick = rig;
    } else {
      try {
        fanoutWorker = await attempt('4 fan-out, one worker', () => measureFanoutWorker(rig, FANOUT_WORKER));
        await settle(1_000);
        fanoutTick = await attempt('5 fan-out, one tick to every client', () =>
          measureFanoutTick(rig, FANOUT_TICK),
        );
      } finally {
        await rig.stop();
      }
    }
    await settle(1_000);
    // Another app for part 5b: the default budget and the local runtime's 1 s tick.
    fanoutTiers = await attempt('5b fan-out, update tiers', async () => {
      const tiers = await startFanoutRig(FANOUT_TIERS);
      try {
        return await measureFanoutTiers(tiers, FANOUT_TIERS);
      } finally {
        await tiers.stop();
      }
    });
    const worker = fanoutWorker;
    model = isSkipped(worker)
      ? { skipped: `no part 4 figures (${worker.skipped})` }
      : fanoutModel(
          {
            workerCpuPerMessageMicros: worker.figures.fullCpuPerMessage.value,
            localWorkerMessagesPerSecond:
              worker.runs[worker.runs.length - 1]?.messagesPerSecond.value ?? Number.NaN,
          },
          FANOUT_MODEL,
        );
    million = isSkipped(worker)
      ? { skipped: `no part 4 figures (${worker.skipped})` }
      : fanoutMillionModel(
          {
            workerCpuPerMessageMicros: worker.figures.fullCpuPerMessage.value,
            workerCpuPerConnectionNotToldMicros: worker.figures.notToldCpuPerConnection.value,
          },
          FANOUT_MILLION,
          readPrices(),
        );
  }
  const totalSeconds = figure((nowMs() - runStart) / 1000, 's', {
    digits: 1,
    note: 'all parts, from after the background sample to the end',
  });

  const rows = [
    ...httpRows('1a HTTP join, SQLite', sqlite),
    ...httpRows('1a HTTP join, SQLite, sharded', sqliteSharded),
    ...httpRows('1b HTTP join, DynamoDB Local', isSkipped(dynamo) ? dynamo : dynamo.result),
    ...httpRows('1b HTTP join, DynamoDB Local, sharded', isSkipped(dynamo) ? dynamo : dynamo.sharded),
    ...httpRows('1c HTTP join, memory', memory),
    ...cpuRows(cpu),
    ...verifyRows(verification),
    ...fanoutWorkerRows(fanoutWorker),
    ...fanoutTickRows(fanoutTick),
    ...fanoutTiersRows(fanoutTiers),
    ...fanoutModelRows(model),
    ...fanoutMillionRows(million),
  ];
  const results = {
    schema: 'fairqueue-bench/1',
    machine,
    date: startedAt.toISOString(),
    backgroundLoad: background,
    machineBusyDuringPart: partLoad,
    totalRunTime: totalSeconds,
    waitBeforeRun: waited,
    notes: [
      'Loopback only: the load generator, the app (a child process) and DynamoDB Local share the same cores.',
      'Fan-out (parts 4, 5): the app, the ws clients (another child process) and the worker or bench share the same cores.',
      'Part 6 is arithmetic: measured = part 4 worker CPU per message; everything else in fanout.model100k.params is assumed or a documented quota.',
      'Part 6b is arithmetic too: measured = part 4 worker CPU per message and per connection not told; everything else in fanout.model1m.params is assumed or a documented quota, prices from bench/prices.json.',
      'See bench/README.md for what each figure means.',
    ],
    httpJoin: {
      sqlite,
      sqliteSharded,
      memory,
      dynamodbLocal: isSkipped(dynamo)
        ? dynamo
        : {
            ...dynamo.result,
            setupTime: dynamo.setupSeconds,
            emulator: 'DynamoDB Local (-inMemory -sharedDb)',
          },
      dynamodbLocalSharded: isSkipped(dynamo) ? dynamo : dynamo.sharded,
    },
    cpuPerJoin: cpu,
    accessTokenVerification: verification,
    fanout: {
      perWorker: fanoutWorker,
      tenThousandConnections: fanoutTick,
      tenThousandTiered: fanoutTiers,
      model100k: model,
      model1m: million,
    },
  };

  const file = join(RESULTS_DIR, 'latest.json');
  const writeFile = !QUICK && ONLY === null;
  if (writeFile) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    // Write then rename, so a reader never sees half a file (*.tmp is gitignored).
    writeFileSync(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  const header = [
    `fairqueue bench — ${machine.cpuModel}, ${machine.logicalCores} cores, Node ${machine.node}, ${startedAt.toISOString()}`,
    `machine ${background.machineBusyBeforeStart.value}% busy before start (load average ${background.loadAverage1m.value}); loopback only`,
  ].join('\n');
  process.stdout.write(
    `\n${header}\n\n${table(rows)}\n\nrun time ${totalSeconds.value} s (+ ${waited.value} s sampling/waiting before it); ${writeFile ? `written ${file}` : 'BENCH_QUICK or BENCH_ONLY: no file written'}\n`,
  );

  const failed = [
    sqlite,
    sqliteSharded,
    memory,
    dynamo,
    cpu,
    verification,
    fanoutWorker,
    fanoutTick,
    fanoutTiers,
    model,
    million,
  ].some((o) => isSkipped(o) && o !== notRun);
  process.exitCode = failed ? 1 : 0;
}

await main();
