/**
 * The aggregate model (issue 8): what a line of `waiting.projectTo` fans (seed 001's
 * 50,000,000) costs an hour and which quotas it needs, projected from the run's measured
 * window. Each figure is the run's own rate times a scaling law, so the run calibrates it
 * and only the law is a model:
 *
 * - linear in the line: document reads at the edge; WebSocket connections, connection
 *   minutes, reconnects (each connection at least every 2 hours) and fixed-interval pings,
 *   unless the run's connections were gated (past overload only places near the front may
 *   connect: then they are what the budget serves, as many whatever the line);
 * - the product's own pacing, worked out for both lines with the product's functions:
 *   status polls (`statusPollSeconds` over every distance), `position` messages
 *   (`planUpdates` over the WebSocket fans), pings sent only when idle (a far fan's
 *   interval in that plan);
 * - the fan-out worker: listing and placing every connection of its shard on every move
 *   (CPU and reads linear in the connections), at least 80 % of a tick per job;
 * - constant: origin fetches of the document (one per regional cache per TTL), admissions
 *   and claims (the line drains at the same pace), the admitter.
 */
import { pollAfterSeconds } from '#domain/estimate';
import { planUpdates, statusPollSeconds, type WaitingFan } from '#domain/updates';
import type { RateMeter } from './api-gateway.ts';
import type { Prices } from './prices.ts';
import type { SimulationRecord } from './simulation.ts';
import type { WindowUsage } from './waiting-report.ts';
import { DEFAULT_QUOTAS } from './waiting-report.ts';

const MB_PER_VCPU = 1769;
/** Quotas are asked for with this margin over the projected need. */
const MARGIN = 1.25;
/** Share of a tick a far round is spread over (shared/app/fanout.ts). */
const SPREAD_SHARE_OF_TICK = 0.8;
/** The fan-out reads connections 1,000 a page. */
const PAGE = 1000;
/** What the projection assumes one page of 1,000 connections takes to read (ms). */
const PAGE_MS = 15;

export interface ProjectionInput {
  readonly record: SimulationRecord;
  readonly used: WindowUsage;
  readonly seconds: number;
  readonly waitingFans: number;
  readonly admittedPerSecond: number;
  readonly meter: RateMeter;
  readonly from: number;
  readonly to: number;
  readonly prices: Prices;
  readonly cloudFrontPerSecond: number;
  readonly cloudFrontBytesPerSecond: number;
  readonly openConnections: number;
}

const round = (x: number, digits = 1) =>
  Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null;

/** Status polls a second of a line of `fans` pollers spread evenly over distances 1…fans (relative). */
function statusLaw(
  fans: number,
  drain: number,
  limits: { statusRequestsPerSecond: number; positionTtlSeconds: number },
) {
  let sum = 0;
  let a = 1;
  while (a <= fans) {
    const next = Math.min(fans, Math.max(a + 1, Math.floor(a * 1.01)));
    const count = next - a + 1;
    const mid = (a + next) / 2;
    const wait = drain > 0 ? mid / drain : null;
    sum += count / statusPollSeconds(pollAfterSeconds(mid, wait), mid, limits);
    a = next + 1;
  }
  return sum;
}

/** `position` messages a second, and the far tier's interval, for `connections` spread evenly over a line of `fans`. */
function messageLaw(
  fans: number,
  connections: number,
  drain: number,
  policy: {
    tickSeconds: number;
    nearThreshold: number;
    nearHorizonSeconds: number;
    messagesPerSecond: number;
  },
) {
  // Planned for an evenly spaced sample with the budget shrunk alike, as the simulator does.
  const sample = Math.max(1, Math.min(connections, 400_000));
  const share = sample / Math.max(1, connections);
  const fansOf = function* (): Generator<WaitingFan> {
    for (let i = 0; i < sample; i++) {
      const ahead = Math.max(1, Math.round(((i + 0.5) / sample) * fans));
      yield { ahead, waitSeconds: drain > 0 ? ahead / drain : null };
    }
  };
  const plan = planUpdates(policy, fansOf(), share);
  return {
    messagesPerSecond: plan.messagesPerSecond / share,
    near: plan.near / share,
    far: plan.far / share,
    ceilingSeconds: plan.ceilingSeconds,
    uniform: plan.uniform,
    overloaded: plan.overloaded,
  };
}

export function projectWaiting(input: ProjectionInput) {
  const { record, used, seconds, meter, from, to, prices } = input;
  const scenario = record.scenario;
  const config = scenario.waiting;
  if (!config) throw new Error('no waiting section');
  const ws = config.webSocket;
  const mean = (key: string) => meter.total(key, from, to) / seconds;
  const runFans = Math.max(1, input.waitingFans);
  const targetFans = config.projectTo;
  const k = targetFans / runFans;
  const drain = input.admittedPerSecond;
  const tick = scenario.admitter.tickSeconds;
  const limits = {
    statusRequestsPerSecond: config.statusRequestsPerSecond,
    positionTtlSeconds: scenario.event.positionTtlSeconds,
  };
  const policy = {
    tickSeconds: tick,
    nearThreshold: 100,
    nearHorizonSeconds: ws.nearHorizonSeconds,
    messagesPerSecond: ws.messagesPerSecond,
  };
  const wsShare = config.shares.webSocket;
  const runConnections = Math.max(1, input.openConnections);
  // Past overload the fan-out lets only places near the front connect (websocket_busy): the
  // connections are then what the budget serves, not a share of the line, and stay as many.
  const gated = (record.waiting?.counts.connectsRefused.websocket_busy ?? 0) > 0;
  const targetConnections = gated ? runConnections : runConnections * k;

  // --- the laws, for both lines -------------------------------------------------------------
  const statusRun = statusLaw(runFans, drain, limits);
  const statusTarget = statusLaw(targetFans, drain, limits);
  const messagesRun = messageLaw(runFans, runConnections, drain, policy);
  const messagesTarget = messageLaw(targetFans, targetConnections, drain, policy);
  const { everySeconds, whenIdle } = ws.heartbeat;
  const pingsPerConnection = (plan: ReturnType<typeof messageLaw>) => {
    if (!whenIdle) return 1 / everySeconds;
    // Pinged only after `everySeconds` without a message: far fans, between two of theirs
    // (beyond overload every far fan is told at one interval; below it, at most every 30 s).
    const interval = plan.uniform ? plan.ceilingSeconds : 0;
    if (interval <= everySeconds) return 0;
    const farShare = plan.far / Math.max(1, plan.near + plan.far);
    return (farShare * Math.floor(interval / everySeconds)) / interval;
  };
  const pingRun = pingsPerConnection(messagesRun) * runConnections;
  const pingTarget = pingsPerConnection(messagesTarget) * targetConnections;
  const memoryMb = scenario.lambda.memoryMbByFunction.fanout ?? scenario.lambda.memoryMb;
  const vcpu = Math.min(1, memoryMb / MB_PER_VCPU);
  const perConnectionMs = ws.cpuMsPerListedConnection + ws.cpuMsPerPlacedConnection;
  /** Seconds one shard's worker needs per move before it sends any `position`: pages and each connection's place. */
  const prepSeconds = (connections: number, shards: number) => {
    const n = connections / shards;
    return (n * perConnectionMs) / vcpu / 1000 + (Math.ceil(n / PAGE) * PAGE_MS) / 1000;
  };
  /** …and before it tells the admitted: the pages alone. */
  const listSeconds = (connections: number, shards: number) => {
    const n = connections / shards;
    return (n * ws.cpuMsPerListedConnection) / vcpu / 1000 + (Math.ceil(n / PAGE) * PAGE_MS) / 1000;
  };
  const fanoutBusy = (connections: number, messages: number) => {
    const perShardMessages = (messages * tick) / ws.shards;
    const job = Math.max(
      SPREAD_SHARE_OF_TICK * tick,
      prepSeconds(connections, ws.shards) + (perShardMessages * ws.cpuMsPerMessage) / vcpu / 1000,
    );
    return (ws.shards * job) / tick; // concurrent workers, while the line moves every tick
  };
  const busyRun = fanoutBusy(runConnections, messagesRun.messagesPerSecond);
  const busyTarget = fanoutBusy(targetConnections, messagesTarget.messagesPerSecond);

  // --- rates: the run's, and projected ------------------------------------------------------
  const measured = {
    documentReads: mean('cloudfront:requests'),
    originFetches: mean('route:event'),
    status: mean('route:status'),
    claims: mean('route:admission') + mean('route:complete') + mean('route:leave'),
    connects: runConnections / ws.maxConnectionSeconds,
    pings: mean('route:$default'),
    positionMessages: mean('messages:position'),
    admittedMessages: mean('messages:admitted'),
    pongs: mean('messages:pong'),
    connectionSeconds: runConnections,
  };
  const scaleBy = (run: number, target: number) => (run > 0 ? target / run : 0);
  const ratio = {
    linear: k,
    status: scaleBy(statusRun, statusTarget),
    messages: scaleBy(messagesRun.messagesPerSecond, messagesTarget.messagesPerSecond),
    pings: whenIdle ? scaleBy(pingRun, pingTarget) : k,
    fanout: scaleBy(busyRun, busyTarget),
  };
  const projected = {
    documentReads: measured.documentReads * k,
    originFetches: measured.originFetches,
    status: measured.status * ratio.status,
    claims: measured.claims,
    connects: targetConnections / ws.maxConnectionSeconds,
    // The law is the pings of connections idle by design (the far tier's interval beyond the
    // heartbeat); the run's own (a far fan now and then missing a round) scale with the line.
    pings: Math.max(pingTarget, measured.pings * (pingRun > 0 ? ratio.pings : k)),
    positionMessages: measured.positionMessages * ratio.messages,
    admittedMessages: measured.admittedMessages,
    pongs: Math.max(pingTarget, measured.pongs * (pingRun > 0 ? ratio.pings : k)),
    connectionSeconds: targetConnections,
  };
  const cloudFrontTarget = projected.documentReads + projected.status + projected.claims;

  // --- Lambda and DynamoDB by function -------------------------------------------------------
  const perSecondOf = (fn: string) => (used.lambda[fn]?.invocations ?? 0) / seconds;
  const runRate: Record<string, number> = {};
  const targetRate: Record<string, number> = {};
  const scaleOf: Record<string, number> = {
    status: ratio.status,
    event: 1,
    admission: 1,
    complete: 1,
    leave: 1,
    admitter: 1,
    join: 1,
    wsConnect: scaleBy(measured.connects, projected.connects),
    wsDisconnect: scaleBy(measured.connects, projected.connects),
    wsMessage: 1, // set below from the projected pings
    fanout: ratio.fanout,
  };
  let concurrencyTarget = 0;
  let gbSecondsTarget = 0;
  let invocationsTarget = 0;
  let readUnitsTarget = 0;
  let writeUnitsTarget = 0;
  const byFunction: Record<string, unknown> = {};
  const seen = new Set([...Object.keys(used.lambda), ...Object.keys(used.byCaller)]);
  // What one invocation of a function costs: in the window, or over the whole run for a
  // function the window did not run (reconnects every 2 hours do not fall in a shorter one).
  const wholeRun = record.lambda.figures();
  const unit = (fn: string) => {
    const f = used.lambda[fn];
    const dynamo = used.byCaller[fn];
    if (f && f.invocations > 0)
      return {
        gbSeconds: f.gbSeconds / f.invocations,
        durationS: (f.meanDurationMs ?? 0) / 1000,
        readUnits: (dynamo?.readUnits ?? 0) / f.invocations,
        writeUnits: (dynamo?.writeUnits ?? 0) / f.invocations,
      };
    const all = wholeRun.get(fn as never);
    const calls = record.engine.byCaller.get(fn);
    const n = all?.invocations ?? 0;
    return n > 0 && all
      ? {
          gbSeconds: all.gbSeconds / n,
          durationS: all.durationMsSum / n / 1000,
          readUnits: (calls?.readUnits ?? 0) / n,
          writeUnits: (calls?.writeUnits ?? 0) / n,
        }
      : { gbSeconds: 0, durationS: 0, readUnits: 0, writeUnits: 0 };
  };
  for (const fn of seen) {
    const dynamo = used.byCaller[fn];
    const rate = perSecondOf(fn);
    runRate[fn] = rate;
    // Projected invocations a second: the run's rate times its law, or the law's own rate.
    let target = rate * (scaleOf[fn] ?? 1);
    if (fn === 'wsConnect' || fn === 'wsDisconnect') target = projected.connects;
    if (fn === 'wsMessage') target = projected.pings;
    targetRate[fn] = target;
    const u = unit(fn);
    const fanout = fn === 'fanout';
    // Fan-out: concurrency is the busy workers, its reads grow with the connections listed;
    // the others by Little's law and per invocation.
    const concurrency = fanout ? busyTarget : target * u.durationS;
    concurrencyTarget += concurrency;
    const gbs = fanout ? ((used.lambda[fn]?.gbSeconds ?? 0) / seconds) * ratio.fanout : target * u.gbSeconds;
    gbSecondsTarget += gbs;
    invocationsTarget += target;
    const rru = fanout
      ? ((dynamo?.readUnits ?? 0) / seconds) * (targetConnections / runConnections)
      : target * u.readUnits;
    const wru = fanout ? (dynamo?.writeUnits ?? 0) / seconds : target * u.writeUnits;
    readUnitsTarget += rru;
    writeUnitsTarget += wru;
    byFunction[fn] = {
      invocationsPerSecond: round(target),
      concurrency: round(concurrency),
      gbSecondsPerSecond: round(gbs, 2),
      readUnitsPerSecond: round(rru),
      writeUnitsPerSecond: round(wru),
    };
  }

  // --- quotas ---------------------------------------------------------------------------------
  const posts = projected.positionMessages + projected.admittedMessages + projected.pongs;
  const needs = {
    apiGatewayAccount:
      projected.status +
      projected.originFetches +
      projected.claims +
      projected.connects +
      projected.pings +
      posts,
    httpStage: projected.status + projected.originFetches + projected.claims,
    webSocketStage: projected.connects + projected.pings,
    webSocketConnects: projected.connects,
    cloudFront: cloudFrontTarget,
    lambdaConcurrency: concurrencyTarget,
    dynamodbReadUnits: readUnitsTarget,
    dynamodbWriteUnits: writeUnitsTarget,
  };
  const quotas = Object.fromEntries(
    Object.entries(needs).map(([name, need]) => {
      const limit = DEFAULT_QUOTAS[name as keyof typeof DEFAULT_QUOTAS].perSecond;
      return [
        name,
        {
          need: Math.ceil(need),
          defaultQuota: limit,
          raiseTo: need > limit ? Math.ceil((need * MARGIN) / 1000) * 1000 : null,
        },
      ];
    }),
  );
  const quotasToRaise = Object.fromEntries(
    Object.entries(quotas)
      .filter(([, q]) => q.raiseTo !== null)
      .map(([name, q]) => [name, q.raiseTo]),
  );

  // --- an hour ---------------------------------------------------------------------------------
  const cf = prices.cloudFront;
  const bytesPerCloudFrontRequest =
    input.cloudFrontPerSecond > 0 ? input.cloudFrontBytesPerSecond / input.cloudFrontPerSecond : 0;
  const httpTarget = projected.status + projected.originFetches + projected.claims;
  const wsMessagesTarget = projected.pings + posts;
  const lines = [
    ['CloudFront HTTPS requests', cf ? ((cloudFrontTarget * 3600) / 1e6) * cf.httpsRequestsPerMillion : 0],
    [
      'CloudFront data transfer out',
      cf ? ((cloudFrontTarget * bytesPerCloudFrontRequest * 3600) / 1e9) * cf.dataTransferOutPerGb : 0,
    ],
    [
      'API Gateway HTTP API requests',
      ((httpTarget * 3600) / 1e6) * prices.apiGateway.httpApiRequestsPerMillion,
    ],
    [
      'API Gateway WebSocket messages',
      ((wsMessagesTarget * 3600) / 1e6) * prices.apiGateway.webSocketMessagesPerMillion,
    ],
    [
      'API Gateway WebSocket connection minutes',
      ((targetConnections * 60) / 1e6) * prices.apiGateway.webSocketConnectionMinutesPerMillion,
    ],
    ['Lambda requests', ((invocationsTarget * 3600) / 1e6) * prices.lambda.requestsPerMillion],
    ['Lambda duration', gbSecondsTarget * 3600 * prices.lambda.arm64PerGbSecond],
    ['DynamoDB reads', ((readUnitsTarget * 3600) / 1e6) * prices.dynamodb.readRequestUnitsPerMillion],
    ['DynamoDB writes', ((writeUnitsTarget * 3600) / 1e6) * prices.dynamodb.writeRequestUnitsPerMillion],
  ] as const;
  const costPerHourUsd = lines.reduce((n, [, usd]) => n + usd, 0);
  // Shards whose workers list their connections within a second (the near tier's `admitted`),
  // and place them within a tick (every move's `position` messages).
  const shardsToListWithinOneSecond = Math.ceil(
    (targetConnections * (ws.cpuMsPerListedConnection / vcpu + PAGE_MS / PAGE)) / 1000,
  );
  const shardsToPlaceWithinATick = Math.ceil(
    (targetConnections * (perConnectionMs / vcpu + PAGE_MS / PAGE)) / 1000 / tick,
  );
  const prepTarget = prepSeconds(targetConnections, ws.shards);
  return {
    summary: {
      fans: targetFans,
      costPerHourUsd: round(costPerHourUsd, 0),
      quotasToRaise,
      fanoutPrepSecondsPerMove: round(prepTarget, 1),
    },
    details: {
      fans: targetFans,
      fromRun: {
        waitingFans: Math.round(runFans),
        openConnections: Math.round(runConnections),
        admittedPerSecond: round(drain, 2),
        connectionsGated: gated,
      },
      scale: Object.fromEntries(Object.entries(ratio).map(([name, r]) => [name, round(r, 3)])),
      laws: {
        statusPollsPerSecond: { run: round(statusRun), target: round(statusTarget) },
        positionMessages: {
          run: { ...messagesRun, messagesPerSecond: round(messagesRun.messagesPerSecond) },
          target: { ...messagesTarget, messagesPerSecond: round(messagesTarget.messagesPerSecond) },
        },
        pingsPerSecond: { run: round(pingRun), target: round(pingTarget) },
        fanoutBusyWorkers: { run: round(busyRun, 2), target: round(busyTarget, 2) },
      },
      perSecond: {
        run: Object.fromEntries(Object.entries(measured).map(([name, v]) => [name, round(v)])),
        target: Object.fromEntries(Object.entries(projected).map(([name, v]) => [name, round(v)])),
      },
      byFunction,
      quotas,
      fanout: {
        connections: Math.round(targetConnections),
        shards: ws.shards,
        prepSecondsPerShardPerMove: round(prepTarget, 2),
        listSecondsPerShardPerMove: round(listSeconds(targetConnections, ws.shards), 2),
        shardsToListWithinOneSecond,
        shardsToPlaceWithinATick,
        maxShards: 1024,
        note: 'every move of the line lists every connection of a shard before it tells the admitted, and places every one before any `position` goes out (shared/app/fanout.ts); a shard that needs longer than the tick falls behind',
      },
      fill: {
        hoursToConnectAtDefaultQuota: round(
          (targetFans * wsShare) / DEFAULT_QUOTAS.webSocketConnects.perSecond / 3600,
          1,
        ),
        hoursToJoinAtTheStageThrottle: round(targetFans / DEFAULT_QUOTAS.httpStage.perSecond / 3600, 1),
      },
      costPerHourUsd: round(costPerHourUsd, 0),
      costLines: lines.map(([what, usd]) => ({ what, usd: round(usd, 2) })),
    },
  };
}
