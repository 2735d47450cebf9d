/**
 * The figures of a run, from what simulation.ts recorded: throughput, fairness, accounting,
 * wait-estimate error, utilisation, requests, throttles and cost. Times are virtual.
 */
import { keyKind } from './dynamodb.ts';
import type { IdleCost } from './idle.ts';
import { type Prices, round, runCost } from './prices.ts';
import { SALE_START_MS, type SimulationRecord } from './simulation.ts';
import { waitingFigures } from './waiting-report.ts';

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const isSet = (x: number | undefined): x is number => x !== undefined && !Number.isNaN(x);

/** Most accepted joins in any 1 s window (a sliding window over acceptance times). */
function peakPerSecond(times: Float64Array): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** The highest rate held for 10 consecutive seconds in which no join was throttled. */
function sustained(accepted: readonly number[], throttled: readonly number[], seconds = 10): number {
  let best = 0;
  for (let s = 0; s + seconds <= accepted.length; s++) {
    let lowest = Number.POSITIVE_INFINITY;
    let refused = 0;
    for (let k = s; k < s + seconds; k++) {
      lowest = Math.min(lowest, accepted[k] ?? 0);
      refused += throttled[k] ?? 0;
    }
    if (refused === 0) best = Math.max(best, lowest);
  }
  return best;
}

/**
 * Order inversion: for fans A and B where A's join was accepted before B's but B was
 * admitted first, by how much A was accepted earlier. Per fan, the worst such B: fans are
 * taken in admission order (batches; the still waiting last) with the latest acceptance
 * seen in earlier batches.
 */
function inversions(record: SimulationRecord) {
  const { fans, batches } = record;
  const byBatch = new Map<number, number[]>();
  const waiting: number[] = [];
  const batchIndex = new Map(batches.map((b, i) => [b.atMs, i]));
  for (let fan = 0; fan < record.crowd.size; fan++) {
    if (!isSet(fans.acceptedAt[fan]) || isSet(fans.leftAt[fan])) continue;
    const admitted = fans.admittedAt[fan];
    if (!isSet(admitted)) {
      waiting.push(fan);
      continue;
    }
    const index = batchIndex.get(admitted) ?? -1;
    const list = byBatch.get(index) ?? [];
    list.push(fan);
    byBatch.set(index, list);
  }
  const values: number[] = [];
  let latest = Number.NEGATIVE_INFINITY;
  const groups = [...[...byBatch.entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list), waiting];
  for (const group of groups) {
    let groupLatest = Number.NEGATIVE_INFINITY;
    for (const fan of group) {
      const accepted = fans.acceptedAt[fan] ?? 0;
      values.push(Math.max(0, latest - accepted) / 1000);
      groupLatest = Math.max(groupLatest, accepted);
    }
    latest = Math.max(latest, groupLatest);
  }
  const sorted = Float64Array.from(values).sort();
  return {
    max: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
    p99: percentile(sorted, 99),
    fansOverOneSecond: values.filter((v) => v > 1).length,
    fans: values.length,
  };
}

/**
 * |estimate − actual| / max(actual, tick) of every estimate whose outcome is known, as
 * decision 0009 and bench/estimate-check.ts define it: nobody is admitted between ticks,
 * so a wait is never foretold finer than one; a fan told "3 s" who went in after 1 s
 * is not a 200 % error.
 */
function relativeError(estimate: number, actualMs: number, tickSeconds: number): number {
  return Math.abs(estimate * 1000 - actualMs) / Math.max(actualMs, tickSeconds * 1000);
}

function estimateErrors(estimates: Iterable<{ estimate: number; actualMs: number }>, tickSeconds: number) {
  const errors: number[] = [];
  let missing = 0;
  for (const { estimate, actualMs } of estimates) {
    if (actualMs < 0) continue;
    if (!Number.isFinite(estimate)) {
      missing++;
      continue;
    }
    errors.push(relativeError(estimate, actualMs, tickSeconds));
  }
  const sorted = Float64Array.from(errors).sort();
  return {
    median: r3(percentile(sorted, 50)),
    p90: r3(percentile(sorted, 90)),
    estimates: errors.length,
    withoutEstimate: missing,
  };
}

/** Bands of the actual wait (seconds) the estimate errors are also broken down by. */
const WAIT_BANDS = [
  { band: '0-10s', below: 10 },
  { band: '10-60s', below: 60 },
  { band: '60-300s', below: 300 },
  { band: '300s+', below: Number.POSITIVE_INFINITY },
] as const;

/** The same errors by how long the fans actually waited: where an estimate is off, and how. */
function estimateErrorsByWait(
  estimates: Iterable<{ estimate: number; actualMs: number }>,
  tickSeconds: number,
) {
  const bands = WAIT_BANDS.map(() => ({ errors: [] as number[], bias: [] as number[] }));
  for (const { estimate, actualMs } of estimates) {
    if (actualMs < 0 || !Number.isFinite(estimate)) continue;
    const index = WAIT_BANDS.findIndex((b) => actualMs / 1000 < b.below);
    const band = bands[index];
    if (!band) continue;
    band.errors.push(relativeError(estimate, actualMs, tickSeconds));
    band.bias.push((estimate * 1000 - actualMs) / Math.max(actualMs, tickSeconds * 1000));
  }
  return Object.fromEntries(
    WAIT_BANDS.map((b, i) => {
      const errors = Float64Array.from(bands[i]?.errors ?? []).sort();
      const bias = Float64Array.from(bands[i]?.bias ?? []).sort();
      return [
        b.band,
        {
          estimates: errors.length,
          median: r3(percentile(errors, 50)),
          p90: r3(percentile(errors, 90)),
          /** Signed: below 0 the estimate was too short. */
          medianBias: r3(percentile(bias, 50)),
        },
      ];
    }),
  );
}

function* atJoin(record: SimulationRecord) {
  const { fans } = record;
  for (let fan = 0; fan < record.crowd.size; fan++) {
    const admitted = fans.admittedAt[fan];
    const accepted = fans.acceptedAt[fan];
    if (!isSet(admitted) || !isSet(accepted)) continue;
    yield { estimate: fans.estimateAtJoin[fan] ?? Number.NaN, actualMs: admitted - accepted };
  }
}

function* whileWaiting(record: SimulationRecord) {
  const { waitingEstimates: w, fans } = record;
  for (let i = 0; i < w.fan.length; i++) {
    const admitted = fans.admittedAt[w.fan[i] ?? -1];
    if (!isSet(admitted)) continue;
    yield { estimate: w.estimate[i] ?? Number.NaN, actualMs: admitted - (w.atMs[i] ?? 0) };
  }
}

function utilisation(record: SimulationRecord) {
  const { fans, scenario, batches } = record;
  const horizon = scenario.durationSeconds * 1000;
  const windowMs = scenario.event.purchaseWindowSeconds * 1000;
  const batchAt = new Map(batches.map((b) => [b.atMs, b]));
  let usedMs = 0;
  let heldMs = 0;
  let lastAdmission = 0;
  let allAdmitted = true;
  for (let fan = 0; fan < record.crowd.size; fan++) {
    const admitted = fans.admittedAt[fan];
    if (!isSet(fans.acceptedAt[fan])) continue;
    if (!isSet(admitted)) {
      if (!isSet(fans.leftAt[fan])) allAdmitted = false;
      continue;
    }
    lastAdmission = Math.max(lastAdmission, admitted);
    const claimed = fans.claimedAt[fan];
    if (isSet(claimed)) {
      const completed = fans.completedAt[fan];
      const end = Math.min(isSet(completed) ? completed : claimed + windowMs, claimed + windowMs, horizon);
      usedMs += Math.max(0, end - claimed);
      heldMs += Math.max(0, end - admitted);
    } else {
      // An admitted place that never claims holds its slot until the claim deadline.
      const batch = batchAt.get(admitted);
      const deadline = batch ? batch.claimBy * 1000 - record.saleStartMs : horizon;
      heldMs += Math.max(0, Math.min(deadline, horizon) - admitted);
    }
  }
  const first = batches.find((b) => b.to > b.from)?.atMs ?? 0;
  // When everyone was let in before the end, slots stood empty for want of fans, not by design.
  const end = allAdmitted ? Math.min(horizon, lastAdmission + windowMs) : horizon;
  const capacityMs = scenario.event.capacity * Math.max(1, end - first);
  return {
    utilisation: r3(usedMs / capacityMs),
    heldUtilisation: r3(heldMs / capacityMs),
    windowSeconds: r1((end - first) / 1000),
  };
}

function hottest(record: SimulationRecord) {
  const items: {
    key: string;
    kind: string;
    reads: number;
    writes: number;
    readUnits: number;
    writeUnits: number;
  }[] = [];
  for (const partition of record.engine.capacity.touched) {
    const state = record.engine.capacity.peekState(partition);
    if (!state) continue;
    if (!state.itemLoads) {
      const peaks = state.load.peaks();
      const sk = partition.items.keys().next().value;
      items.push({
        key: `${partition.pk} ${String(sk ?? '')}`,
        kind: `${keyKind(partition.pk)} ${keyKind(sk)}`,
        ...peaks,
      });
      continue;
    }
    for (const [sk, load] of state.itemLoads) {
      items.push({
        key: `${partition.pk} ${sk === undefined ? '(query)' : String(sk)}`,
        kind: `${keyKind(partition.pk)} ${keyKind(sk)}`,
        ...load.peaks(),
      });
    }
  }
  const top = (by: (i: (typeof items)[number]) => number) =>
    [...items]
      .sort((a, b) => by(b) - by(a))
      .slice(0, 5)
      .map((i) => ({
        item: i.key,
        kind: i.kind,
        peakWritesPerSecond: r1(i.writes),
        peakWriteUnitsPerSecond: r1(i.writeUnits),
        peakReadsPerSecond: r1(i.reads),
        peakReadUnitsPerSecond: r1(i.readUnits),
      }));
  const throttled = [...record.engine.capacity.touched]
    .map((partition) => ({
      partition: partition.pk,
      kind: keyKind(partition.pk),
      throttled: record.engine.capacity.peekState(partition)?.load.throttledTotal ?? 0,
    }))
    .filter((p) => p.throttled > 0)
    .sort((a, b) => b.throttled - a.throttled)
    .slice(0, 5)
    .map((p) => ({ ...p, throttled: r1(p.throttled) }));
  return { byWrites: top((i) => i.writes), byReads: top((i) => i.reads), byThrottles: throttled };
}

const counterJson = (
  map: Map<string, { requests: number; readUnits: number; writeUnits: number; throttled: number }>,
) =>
  Object.fromEntries(
    [...map]
      .sort((a, b) => b[1].requests - a[1].requests)
      .map(([key, c]) => [
        key,
        {
          requests: Math.round(c.requests),
          readUnits: Math.round(c.readUnits),
          writeUnits: Math.round(c.writeUnits),
          throttled: Math.round(c.throttled),
        },
      ]),
  );

export interface Report {
  readonly summary: Record<string, unknown>;
  readonly details: Record<string, unknown>;
}

export function buildReport(
  record: SimulationRecord,
  prices: Prices,
  idle: IdleCost | null,
  run: { readonly wallSeconds: number; readonly cpuSeconds?: number; readonly loadAverage?: number },
): Report {
  const { fans, counts, audit, scenario } = record;
  const acceptedTimes: number[] = [];
  let joins = 0;
  let held = 0;
  let admitted = 0;
  let claimed = 0;
  let completed = 0;
  let left = 0;
  let heldAtOrBelowServing = 0;
  let failed = 0;
  for (let fan = 0; fan < record.crowd.size; fan++) {
    const accepted = fans.acceptedAt[fan];
    if (fans.joinFailed[fan]) failed++;
    if (!isSet(accepted)) continue;
    joins++;
    acceptedTimes.push(accepted);
    if (isSet(fans.claimedAt[fan])) claimed++;
    if (isSet(fans.completedAt[fan])) completed++;
    // A place given up is void from then on, whatever happened to it before.
    if (isSet(fans.leftAt[fan])) {
      left++;
      continue;
    }
    held++;
    if (isSet(fans.admittedAt[fan])) admitted++;
    if ((fans.position[fan] ?? Number.POSITIVE_INFINITY) <= audit.servingPosition) heldAtOrBelowServing++;
  }
  const times = Float64Array.from(acceptedTimes).sort();
  const inversion = inversions(record);

  // Accounting: every number issued is held by one acknowledged join or known void.
  const voidNumbers = audit.voidByStore ?? left;
  const orphaned = audit.issued - (held + left) - Math.max(0, voidNumbers - left);
  const accounting = {
    issued: audit.issued,
    heldByAcknowledgedJoins: held,
    knownVoid: voidNumbers,
    voidSource: audit.voidByStore === null ? 'the fans who left' : 'the fans who left, and the store',
    voidedForNobody: audit.voidedForNobody,
    orphaned,
    duplicatePositions: audit.duplicatePositions,
    userBindingMismatches: audit.userBindingMismatches,
    userBindingMismatchExamples: audit.mismatchExamples,
    repeatJoinMismatches: counts.repeatJoinMismatches,
    capacity: scenario.event.capacity,
    maxSlotsHeld: record.capacity.maxSlotsHeld,
    maxStoreInUse: record.capacity.maxStoreInUse,
    capacityViolations: record.capacity.violations,
    servingPosition: audit.servingPosition,
    heldPlacesAtOrBelowServing: heldAtOrBelowServing,
    heldPlacesAdmitted: admitted,
    claimedByStore: audit.claimed,
    claimedByFans: claimed,
    completedByStore: audit.completed,
    completedByFans: completed,
    sessionsWithoutAdmission: audit.sessionsWithoutAdmission,
  };
  const accountingExact =
    orphaned === 0 &&
    accounting.duplicatePositions === 0 &&
    accounting.userBindingMismatches === 0 &&
    accounting.repeatJoinMismatches === 0 &&
    accounting.capacityViolations === 0 &&
    accounting.maxStoreInUse <= scenario.event.capacity &&
    accounting.heldPlacesAtOrBelowServing === accounting.heldPlacesAdmitted &&
    accounting.claimedByStore === claimed &&
    accounting.completedByStore === completed &&
    accounting.sessionsWithoutAdmission === 0;

  // Requests and cost.
  const engine = record.engine;
  let readUnits = 0;
  let writeUnits = 0;
  let dynamoRequests = 0;
  let dynamoThrottled = 0;
  for (const c of engine.byOperation.values()) {
    readUnits += c.readUnits;
    writeUnits += c.writeUnits;
    dynamoRequests += c.requests;
    dynamoThrottled += c.throttled;
  }
  const lambdaFigures = Object.fromEntries(
    [...record.lambda.figures()].map(([fn, f]) => [
      fn,
      {
        invocations: Math.round(f.invocations),
        gbSeconds: r1(f.gbSeconds),
        meanDurationMs: f.invocations > 0 ? r1(f.durationMsSum / f.invocations) : null,
        coldStarts: Math.round(f.coldStarts),
        throttledConcurrency: Math.round(f.throttledConcurrency),
        throttledScaling: Math.round(f.throttledScaling),
        peakConcurrency: Math.round(f.peakConcurrency),
        environments: Math.round(f.environments),
      },
    ]),
  );
  let lambdaRequests = 0;
  let gbSeconds = 0;
  for (const f of record.lambda.figures().values()) {
    lambdaRequests += f.invocations;
    gbSeconds += f.gbSeconds;
  }
  const apiRequests = record.apiGateway.requests - record.apiGateway.throttled;
  const cost = runCost(
    {
      lambdaRequests,
      lambdaGbSeconds: gbSeconds,
      dynamoReadUnits: readUnits,
      dynamoWriteUnits: writeUnits,
      apiRequests,
    },
    prices,
  );
  const total = (values: readonly number[]) => Math.round(values.reduce((sum, v) => sum + (v ?? 0), 0));
  const series = record.perSecond.throttles;
  const throttles = {
    apiGateway: total(series.apiGateway),
    lambdaConcurrency: total(series.lambdaConcurrency),
    lambdaScaling: total(series.lambdaScaling),
    dynamodb: {
      /** Requests answered 503 because DynamoDB kept throttling (after the SDK's retries). */
      answered503: total(series.dynamodb),
      /** Throttled DynamoDB requests, every attempt, the admitter's included. */
      throttledRequests: Math.round(dynamoThrottled),
      sdkRetries: Math.round(engine.events.sdkRetries),
      transactionConflicts: Math.round(engine.events.transactionConflicts),
    },
  };
  const tick = scenario.admitter.tickSeconds;
  const waitingEstimate = estimateErrors(whileWaiting(record), tick);
  const summary = {
    scenario: scenario.name,
    intake: record.intake.applied,
    joins,
    throttledJoins: counts.throttledJoins,
    peakJoinsPerSecond: peakPerSecond(times),
    maxSustainedJoinsPerSecond: sustained(record.perSecond.joinsAccepted, record.perSecond.joinsThrottled),
    maxInversionSeconds: r3(inversion.max),
    p99InversionSeconds: r3(inversion.p99),
    accountingExact,
    estimateErrorAtJoin: estimateErrors(atJoin(record), tick),
    estimateErrorWaiting: waitingEstimate,
    utilisation: utilisation(record).utilisation,
    costPerMillionJoinsUsd: joins > 0 ? round((cost.usd / joins) * 1e6, 2) : null,
    idleCostPerMonthUsd: idle ? idle.perMonthUsd : null,
    requests: {
      dynamodb: {
        requests: Math.round(dynamoRequests),
        readUnits: Math.round(readUnits),
        writeUnits: Math.round(writeUnits),
      },
      lambda: { invocations: Math.round(lambdaRequests), gbSeconds: r1(gbSeconds) },
      apiGateway: {
        requests: Math.round(record.apiGateway.requests),
        throttled: Math.round(record.apiGateway.throttled),
      },
    },
    throttles,
    wallSeconds: r1(run.wallSeconds),
    cpuSeconds: run.cpuSeconds === undefined ? null : r1(run.cpuSeconds),
  };
  // The waiting model's figures (issue 8), when the scenario has one; its summary fields
  // come before the run's own.
  const waiting = waitingFigures(record, prices);
  const details = {
    description: scenario.description,
    notes: [
      ...scenario.notes,
      ...(record.intake.note ? [record.intake.note] : []),
      `status polling is sampled: ${Math.round(scenario.crowd.pollerShare * 100 * 100) / 100}% of fans poll through the real code, each standing for ${r1(record.pollerWeight)} fans in every limit and count; the others learn of admission at the tick, as a WebSocket client would, at no request cost`,
      scenario.tokens === 'fast'
        ? 'tokens: a stand-in without signatures; the CPU of signing and verifying is in lambda.cpuMs'
        : 'tokens: real ES256 signatures and verification',
    ],
    virtualSeconds: scenario.durationSeconds,
    fans: {
      crowd: record.crowd.size,
      joined: joins,
      joinFailed: failed,
      left,
      admitted,
      claimed,
      completed,
      stillWaiting: held - admitted,
      joinAttempts: counts.joinAttempts,
      repeatJoins: counts.repeatJoins,
      failedJoinsByCode: counts.failedJoinsByCode,
      claimOutcomes: counts.claimOutcomes,
      leaveOutcomes: counts.leaveOutcomes,
      statusErrors: Object.fromEntries(
        Object.entries(counts.statusErrors).map(([k, v]) => [k, Math.round(v)]),
      ),
      polls: Math.round(counts.polls),
    },
    throttledJoinsByKind: counts.throttledJoinsByKind,
    throttledRequestsByRoute: Object.fromEntries(
      Object.entries(counts.throttledRequestsByRoute).map(([k, v]) => [k, Math.round(v)]),
    ),
    inversion,
    accounting,
    estimateErrorByActualWait: {
      atJoin: estimateErrorsByWait(atJoin(record), tick),
      waiting: estimateErrorsByWait(whileWaiting(record), tick),
    },
    utilisation: utilisation(record),
    admitter: {
      ticks: counts.ticks,
      failedTicks: counts.tickFailures,
      failures: counts.tickFailureCodes,
      batches: record.batches.length,
      /** From a tick's clock (whole seconds) to its admissions being known: how long a tick takes. */
      admissionLagSeconds: (() => {
        const lags = Float64Array.from(
          record.batches.map((b) => (SALE_START_MS + b.atMs) / 1000 - b.tickAt),
        ).sort();
        return {
          median: r3(percentile(lags, 50)),
          p90: r3(percentile(lags, 90)),
          max: r3(lags[lags.length - 1] ?? 0),
        };
      })(),
    },
    dynamodb: {
      byOperation: counterJson(engine.byOperation),
      byItemKind: counterJson(engine.byPartitionKind),
      byCaller: counterJson(engine.byCaller),
      hottestItems: hottest(record),
      splitForHeat: engine.capacity.isolated.map((i) => ({
        pk: i.pk,
        atSecond: r1((i.atMs - record.saleStartMs) / 1000),
      })),
      conditionalFailures: Math.round(engine.events.conditionalFailures),
      transactionConflicts: Object.fromEntries(
        [...engine.conflictsByKind].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v)]),
      ),
      cancellations: Math.round(engine.events.cancellations),
      limits: scenario.dynamodb.throughput,
    },
    lambda: lambdaFigures,
    apiGateway: {
      byRoute: Object.fromEntries(
        [...record.apiGateway.byRoute].map(([route, c]) => [
          route,
          { requests: Math.round(c.requests), throttled: Math.round(c.throttled) },
        ]),
      ),
      limits: scenario.apiGateway,
    },
    cost: {
      pricesAsOf: prices.asOf,
      region: prices.region,
      runUsd: round(cost.usd, 4),
      run: cost.lines.map((line) => ({
        ...line,
        quantity: Math.round(line.quantity),
        usd: round(line.usd, 4),
      })),
      notModelled: [
        'WebSocket connection-minutes and messages (fans who are not sampled pollers are assumed to wait on the WebSocket)',
        'the fan-out and push workers',
        'CloudWatch Logs of the request path',
      ],
      idle,
    },
    run: {
      wallSeconds: r1(run.wallSeconds),
      /** Process CPU (user + system): the figure that travels when the machine is shared. */
      cpuSeconds: run.cpuSeconds === undefined ? null : r1(run.cpuSeconds),
      loadAverageAtEnd: run.loadAverage === undefined ? null : r1(run.loadAverage),
      events: record.wall.events,
    },
  };
  if (!waiting) return { summary, details };
  return {
    summary: (() => {
      const { scenario: name, ...rest } = summary;
      return { scenario: name, ...waiting.summary, ...rest };
    })(),
    details: { ...details, waiting: waiting.details },
  };
}
