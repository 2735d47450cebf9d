/**
 * The waiting model's figures (issue 8): staleness of the shown `ahead` by distance band,
 * `admitted` latency, peak requests per second by route and by quota over the measured
 * window, whether the run stayed within the default quotas, and what an hour of waiting
 * costs. The aggregate model for a bigger line is in projection.ts.
 */
import type { RateMeter } from './api-gateway.ts';
import type { Prices } from './prices.ts';
import { projectWaiting } from './projection.ts';
import type { SimulationRecord, Usage } from './simulation.ts';
import type { SecondsHistogram } from './staleness.ts';

/**
 * AWS's default quotas and the stack's default throttles (docs/deploy-big-onsales.md):
 * what "within the default quotas" is judged against, whatever the scenario sets.
 */
export const DEFAULT_QUOTAS = {
  apiGatewayAccount: {
    perSecond: 10_000,
    what: 'API Gateway requests per second, account and Region (HTTP, WebSocket and @connections together)',
  },
  httpStage: {
    perSecond: 2_000,
    what: "the HTTP API stage's throttle (the stack's default; a deploy sizes it: docs/deploy-big-onsales.md)",
    deployed: true,
  },
  webSocketStage: {
    perSecond: 1_000,
    what: "the WebSocket stage's throttle: connects and client messages (the stack's default)",
    deployed: true,
  },
  webSocketConnects: { perSecond: 500, what: 'new WebSocket connections per second, account and Region' },
  cloudFront: { perSecond: 250_000, what: 'CloudFront requests per second per distribution' },
  lambdaConcurrency: {
    perSecond: 1_000,
    what: 'Lambda concurrent executions, account and Region (not per second)',
  },
  dynamodbReadUnits: {
    perSecond: 40_000,
    what: 'DynamoDB read request units per second, per table (on demand)',
  },
  dynamodbWriteUnits: {
    perSecond: 40_000,
    what: 'DynamoDB write request units per second, per table (on demand)',
  },
} as const;
export type QuotaName = keyof typeof DEFAULT_QUOTAS;

const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
const r4 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10_000) / 10_000 : null);

/** HTTP routes as the report names them (through CloudFront, to API Gateway). */
const HTTP_ROUTES: Record<string, string> = {
  status: 'GET /v1/events/{id}/status',
  event: 'GET /v1/events/{id} (CloudFront → origin)',
  join: 'POST /v1/events/{id}/join',
  admission: 'POST /v1/events/{id}/admission',
  complete: 'POST /v1/events/{id}/complete',
  leave: 'DELETE /v1/events/{id}/place',
};
const WS_ROUTES: Record<string, string> = {
  $connect: 'WebSocket $connect',
  $default: 'WebSocket client message ($default: pings)',
  '@connections': '@connections posts (fan-out, pongs)',
  '@connections:delete': '@connections deletes',
};

function stats(h: SecondsHistogram) {
  return {
    samples: h.count,
    p50: r2(h.percentile(50)),
    p90: r2(h.percentile(90)),
    p99: r2(h.percentile(99)),
    max: r2(h.max),
  };
}

function delta(to: Usage, from: Usage) {
  const lambda: Record<string, { invocations: number; gbSeconds: number; meanDurationMs: number | null }> =
    {};
  for (const [fn, f] of Object.entries(to.lambda)) {
    const before = from.lambda[fn] ?? { invocations: 0, gbSeconds: 0, durationMsSum: 0 };
    const invocations = f.invocations - before.invocations;
    lambda[fn] = {
      invocations,
      gbSeconds: f.gbSeconds - before.gbSeconds,
      meanDurationMs: invocations > 0 ? (f.durationMsSum - before.durationMsSum) / invocations : null,
    };
  }
  const byCaller: Record<string, { requests: number; readUnits: number; writeUnits: number }> = {};
  for (const [caller, c] of Object.entries(to.byCaller)) {
    const before = from.byCaller[caller] ?? { requests: 0, readUnits: 0, writeUnits: 0 };
    byCaller[caller] = {
      requests: c.requests - before.requests,
      readUnits: c.readUnits - before.readUnits,
      writeUnits: c.writeUnits - before.writeUnits,
    };
  }
  return {
    lambda,
    byCaller,
    dynamodb: {
      requests: to.dynamodb.requests - from.dynamodb.requests,
      readUnits: to.dynamodb.readUnits - from.dynamodb.readUnits,
      writeUnits: to.dynamodb.writeUnits - from.dynamodb.writeUnits,
    },
  };
}
export type WindowUsage = ReturnType<typeof delta>;

/** Peak of a per-second series (sparse array) over [from, to), over `width`-second means. */
function peakOf(values: readonly number[], from: number, to: number, width = 1): number {
  let best = 0;
  let sum = 0;
  for (let s = from; s < to; s++) {
    sum += values[s] ?? 0;
    if (s - from >= width) sum -= values[s - width] ?? 0;
    if (s - from >= width - 1) best = Math.max(best, sum / width);
  }
  return best;
}

function meanOf(values: readonly number[], from: number, to: number): number {
  let sum = 0;
  for (let s = from; s < to; s++) sum += values[s] ?? 0;
  return to > from ? sum / (to - from) : 0;
}

/** Mean of a series sampled every few seconds (its holes are not zeros). */
function sampledMean(values: readonly number[], from: number, to: number): number {
  let sum = 0;
  let n = 0;
  for (let s = from; s < to; s++) {
    const v = values[s];
    if (v === undefined) continue;
    sum += v;
    n++;
  }
  return n > 0 ? sum / n : 0;
}

export interface WaitingFigures {
  readonly summary: Record<string, unknown>;
  readonly details: Record<string, unknown>;
}

export function waitingFigures(record: SimulationRecord, prices: Prices): WaitingFigures | null {
  const waiting = record.waiting;
  const scenario = record.scenario;
  const config = scenario.waiting;
  if (!waiting || !config || !record.window) return null;
  const from = Math.floor(waiting.measureFromMs / 1000);
  const to = Math.floor(waiting.untilMs / 1000);
  const seconds = Math.max(1, to - from);
  const meter: RateMeter = record.apiGateway.meter;
  const mean = (key: string) => meter.total(key, from, to) / seconds;
  const peak = (key: string, width = 1) => meter.peak(key, from, to, width);
  const sum = (key: string) => meter.total(key, from, to);
  const used = delta(record.window.to, record.window.from);

  // --- staleness and admitted ----------------------------------------------------------
  const bands = Object.fromEntries(
    waiting.bands.map((band, i) => [
      band.label,
      {
        ...stats(band.histogram),
        /** The same samples, of the page's exact count (what it would show without rounding). */
        exactCount: stats(band.exactCount),
        byMode: {
          webSocket: stats(band.byMode.webSocket),
          polling: stats(band.byMode.polling),
          backgrounded: stats(band.byMode.backgrounded),
        },
        /** Pages whose last personal update (status, `position`) was exact: made once the place's slice was settled. */
        afterExactUpdate: stats(band.afterExactUpdate),
        /** Samples staler than 10 s, by why (see bench/README.md, Simulator). */
        over10s: band.over10s,
        /** Share of samples whose page still counted down from an estimate (the join's answer, or an update before the slice settled). */
        onEstimateShare: band.histogram.count > 0 ? r4(band.onEstimate / band.histogram.count) : null,
        /** Samples whose page was above the truth since the place's slice settled. */
        wrongSinceJoin: band.lowerBounds,
        /** Share of samples whose page showed fewer places ahead than the truth. */
        belowTruthShare:
          band.histogram.count > 0 ? r4((waiting.belowTruth[i] ?? 0) / band.histogram.count) : null,
      },
    ]),
  );
  const stalenessP99SecondsByBand = Object.fromEntries(
    waiting.bands.map((band) => [band.label, r2(band.histogram.percentile(99))]),
  );
  const exactCountStalenessP99SecondsByBand = Object.fromEntries(
    waiting.bands.map((band) => [band.label, r2(band.exactCount.percentile(99))]),
  );
  const admitted = Object.fromEntries(
    (['webSocket', 'polling', 'backgrounded', 'hidden'] as const).map((mode) => [
      mode,
      { ...stats(waiting.admittedLatency[mode]), neverKnewBeforeTheEnd: waiting.admittedUnknown[mode] },
    ]),
  );
  const nearTierAdmittedP99Seconds = r2(waiting.admittedLatency.webSocket.percentile(99));

  // --- requests by route and by quota -----------------------------------------------------
  const route = (key: string, label: string) => ({
    route: label,
    meanPerSecond: r1(mean(`route:${key}`)),
    peakPerSecond: r1(peak(`route:${key}`)),
    peak10sPerSecond: r1(peak(`route:${key}`, 10)),
  });
  const originByRoute = [
    ...Object.entries(HTTP_ROUTES).map(([key, label]) => route(key, label)),
    ...Object.entries(WS_ROUTES).map(([key, label]) => route(key, label)),
  ].filter((r) => (r.peakPerSecond ?? 0) > 0);
  // Every HTTP request goes through the distribution (ApiUrl points at it), the document's reads too.
  const viewerHttp = ['status', 'join', 'admission', 'complete', 'leave'];
  const cloudFrontSeries: number[] = [];
  for (let s = from; s < to; s++)
    cloudFrontSeries[s] =
      (meter.series('cloudfront:requests')[s] ?? 0) +
      viewerHttp.reduce((n, key) => n + (meter.series(`route:${key}`)[s] ?? 0), 0);
  const lambdaConcurrency = record.lambda.concurrencyPerSecond;
  const quota = (
    name: QuotaName,
    series: readonly number[],
    refusedKey: string | null,
    scenarioLimit: number | null,
  ) => {
    const peak1 = peakOf(series, from, to, 1);
    const peak10 = peakOf(series, from, to, 10);
    const refused = refusedKey ? sum(refusedKey) : 0;
    // A stage throttle is the deploy's own setting (sized from the budgets and the crowd):
    // judged against what the scenario deploys. AWS's quotas are judged against their defaults.
    const quota: { perSecond: number; deployed?: boolean } = DEFAULT_QUOTAS[name];
    const limit = quota.deployed && scenarioLimit !== null ? scenarioLimit : quota.perSecond;
    return {
      what: DEFAULT_QUOTAS[name].what,
      defaultQuota: quota.perSecond,
      scenarioLimit,
      /** What the peak is judged against: AWS's default, or the stage throttle as deployed. */
      limit,
      meanPerSecond: r1(meanOf(series, from, to)),
      peakPerSecond: r1(peak1),
      peak10sPerSecond: r1(peak10),
      refusedInWindow: Math.round(refused),
      // Sampled requests make single seconds lumpy (each stands for many) and the token
      // buckets absorb bursts: judged on the 10 s peak, and on nothing refused.
      within: peak10 <= limit && refused === 0,
    };
  };
  const api = scenario.apiGateway;
  const byQuota = {
    apiGatewayAccount: quota(
      'apiGatewayAccount',
      meter.series('limit:account'),
      'refused:account',
      api.account.rps,
    ),
    httpStage: quota(
      'httpStage',
      meter.series('limit:httpStage'),
      'refused:httpStage',
      api.stage?.rps ?? null,
    ),
    webSocketStage: quota(
      'webSocketStage',
      meter.series('limit:webSocketStage'),
      'refused:webSocketStage',
      api.webSocketStage?.rps ?? null,
    ),
    webSocketConnects: quota(
      'webSocketConnects',
      meter.series('limit:webSocketConnects'),
      'refused:webSocketConnects',
      api.webSocketConnects.rps,
    ),
    cloudFront: quota('cloudFront', cloudFrontSeries, null, config.cdn.requestsPerSecondQuota),
    lambdaConcurrency: quota(
      'lambdaConcurrency',
      lambdaConcurrency,
      null,
      scenario.lambda.accountConcurrency,
    ),
    dynamodbReadUnits: quota(
      'dynamodbReadUnits',
      record.engine.perSecond.readUnits,
      null,
      scenario.dynamodb.throughput.tableReadUnits,
    ),
    dynamodbWriteUnits: quota(
      'dynamodbWriteUnits',
      record.engine.perSecond.writeUnits,
      null,
      scenario.dynamodb.throughput.tableWriteUnits,
    ),
  };
  // Lambda throttles and DynamoDB throttles in the window count against "within" too.
  const lambdaThrottled = meanOf(record.lambda.throttledPerSecond, from, to) * seconds;
  byQuota.lambdaConcurrency.refusedInWindow = Math.round(lambdaThrottled);
  byQuota.lambdaConcurrency.within &&= lambdaThrottled === 0;
  const dynamoThrottled = meanOf(record.engine.perSecond.throttled, from, to) * seconds;
  byQuota.dynamodbReadUnits.refusedInWindow = Math.round(dynamoThrottled);
  byQuota.dynamodbReadUnits.within &&= dynamoThrottled === 0;
  const withinDefaultQuotas = Object.values(byQuota).every((q) => q.within);
  const peakRequestsPerSecond = {
    byRoute: Object.fromEntries(originByRoute.map((r) => [r.route, r.peak10sPerSecond])),
    byQuota: Object.fromEntries(
      Object.entries(byQuota).map(([name, q]) => [name, { peak: q.peak10sPerSecond, quota: q.limit }]),
    ),
  };

  // --- WebSocket and CloudFront ------------------------------------------------------------
  const messageTypes = meter
    .keys()
    .filter((k) => k.startsWith('messages:'))
    .map((k) => k.slice('messages:'.length));
  const webSocket = {
    openConnections: {
      atWindowStart: Math.round(waiting.openConnections[from] ?? 0),
      mean: Math.round(meanOf(waiting.openConnections, from, to)),
      atEnd: Math.round(waiting.openConnections[to - 1] ?? 0),
    },
    connectsPerSecond: {
      offeredMean: r1(mean('route:$connect')),
      offeredPeak10s: r1(peak('route:$connect', 10)),
      openedMean: r1(mean('passed:$connect')),
    },
    messagesPerSecond: {
      serverToClient: {
        mean: r1(mean('passed:@connections')),
        peak10s: r1(peak('passed:@connections', 10)),
        byType: Object.fromEntries(messageTypes.map((t) => [t, r1(mean(`messages:${t}`))])),
      },
      clientToServer: { mean: r1(mean('passed:$default')), peak10s: r1(peak('passed:$default', 10)) },
    },
    counts: waiting.counts,
  };
  const cloudFront = {
    requestsPerSecond: {
      mean: r1(meanOf(cloudFrontSeries, from, to)),
      peak10s: r1(peakOf(cloudFrontSeries, from, to, 10)),
    },
    documentRequestsPerSecond: r1(mean('cloudfront:requests')),
    edgeMissesPerSecond: r1(mean('cloudfront:edgeMisses')),
    regionalMissesPerSecond: r1(mean('cloudfront:regionalMisses')),
    originFetchesPerSecond: r1(mean('cloudfront:originFetches')),
    hitRatio: r4(1 - mean('cloudfront:edgeMisses') / Math.max(1e-9, mean('cloudfront:requests'))),
    bytes: waiting.bytes,
  };

  // --- an hour of waiting --------------------------------------------------------------------
  const cf = prices.cloudFront;
  const header = config.cdn.headerBytes;
  const statusBytes = waiting.bytes.status || 700;
  const cloudFrontRequests = cloudFrontSeries.reduce((n, v) => n + (v ?? 0), 0);
  const cloudFrontBytes =
    sum('cloudfront:bytes') +
    viewerHttp.reduce((n, key) => n + sum(`passed:${key}`), 0) * (statusBytes + header);
  const httpRequests = [...Object.keys(HTTP_ROUTES)].reduce((n, key) => n + sum(`passed:${key}`), 0);
  const wsMessages = sum('passed:$default') + sum('passed:@connections');
  const connectionMinutes = sum('ws:connectionSeconds') / 60;
  let lambdaRequests = 0;
  let gbSeconds = 0;
  for (const f of Object.values(used.lambda)) {
    lambdaRequests += f.invocations;
    gbSeconds += f.gbSeconds;
  }
  const perHour = 3600 / seconds;
  const lines = [
    {
      what: 'CloudFront HTTPS requests (the document and every API request through the distribution)',
      quantity: cloudFrontRequests,
      unit: 'requests',
      usd: cf ? (cloudFrontRequests / 1e6) * cf.httpsRequestsPerMillion : 0,
    },
    {
      what: 'CloudFront data transfer out',
      quantity: cloudFrontBytes / 1e9,
      unit: 'GB',
      usd: cf ? (cloudFrontBytes / 1e9) * cf.dataTransferOutPerGb : 0,
    },
    {
      what: 'API Gateway HTTP API requests (passed the throttles)',
      quantity: httpRequests,
      unit: 'requests',
      usd: (httpRequests / 1e6) * prices.apiGateway.httpApiRequestsPerMillion,
    },
    {
      what: 'API Gateway WebSocket messages (client pings, fan-out posts, pongs)',
      quantity: wsMessages,
      unit: 'messages',
      usd: (wsMessages / 1e6) * prices.apiGateway.webSocketMessagesPerMillion,
    },
    {
      what: 'API Gateway WebSocket connection minutes',
      quantity: connectionMinutes,
      unit: 'minutes',
      usd: (connectionMinutes / 1e6) * prices.apiGateway.webSocketConnectionMinutesPerMillion,
    },
    {
      what: 'Lambda requests (every function)',
      quantity: lambdaRequests,
      unit: 'requests',
      usd: (lambdaRequests / 1e6) * prices.lambda.requestsPerMillion,
    },
    {
      what: 'Lambda duration (arm64; the fan-out at its own memory)',
      quantity: gbSeconds,
      unit: 'GB-s',
      usd: gbSeconds * prices.lambda.arm64PerGbSecond,
    },
    {
      what: 'DynamoDB read request units',
      quantity: used.dynamodb.readUnits,
      unit: 'RRU',
      usd: (used.dynamodb.readUnits / 1e6) * prices.dynamodb.readRequestUnitsPerMillion,
    },
    {
      what: 'DynamoDB write request units',
      quantity: used.dynamodb.writeUnits,
      unit: 'WRU',
      usd: (used.dynamodb.writeUnits / 1e6) * prices.dynamodb.writeRequestUnitsPerMillion,
    },
  ].map((line) => ({
    ...line,
    quantity: Math.round(line.quantity * perHour * 100) / 100,
    usd: line.usd * perHour,
  }));
  const costPerHourUsd = lines.reduce((n, line) => n + line.usd, 0);

  // --- the line during the window ------------------------------------------------------------
  const queue = record.perSecond.queueLength;
  const admittedPerSecond = meanOf(record.perSecond.admitted, from, to);
  const waitingMean = sampledMean(queue, from, to);

  const projection = projectWaiting({
    record,
    used,
    seconds,
    waitingFans: waitingMean,
    admittedPerSecond,
    meter,
    from,
    to,
    prices,
    cloudFrontPerSecond: meanOf(cloudFrontSeries, from, to),
    cloudFrontBytesPerSecond: cloudFrontBytes / seconds,
    openConnections: meanOf(waiting.openConnections, from, to),
  });

  const goals = {
    stalenessP99AtMost10s: Object.values(stalenessP99SecondsByBand).every((v) => v !== null && v <= 10),
    nearTierAdmittedP99AtMost1s: nearTierAdmittedP99Seconds !== null && nearTierAdmittedP99Seconds <= 1,
    withinDefaultQuotas,
  };
  return {
    summary: {
      stalenessP99SecondsByBand,
      exactCountStalenessP99SecondsByBand,
      nearTierAdmittedP99Seconds,
      peakRequestsPerSecond,
      withinDefaultQuotas,
      costPerHourUsd: r2(costPerHourUsd),
      goalsMet: goals,
      projection: projection.summary,
    },
    details: {
      window: {
        fromSecond: from,
        toSecond: to,
        trackedFromSecond: Math.floor(waiting.trackFromMs / 1000),
        waitingFansMean: Math.round(waitingMean),
        waitingFansAtStart: Math.round(queue[from] ?? 0),
        admittedPerSecond: r2(admittedPerSecond),
        sampledClients: waiting.clients,
        trackedClients: waiting.tracked,
      },
      staleness: bands,
      admittedLatencySeconds: admitted,
      admittedKnownBy: waiting.knewBy,
      requests: { originByRoute, byQuota },
      webSocket,
      cloudFront,
      cost: { perHourUsd: r2(costPerHourUsd), lines: lines.map((l) => ({ ...l, usd: r4(l.usd) })) },
      usage: used,
      projection: projection.details,
    },
  };
}
