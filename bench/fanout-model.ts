/**
 * Part 6: what the measured fan-out worker implies for 100,000 connections of one
 * event on AWS. Pure arithmetic over one measured figure (the worker's CPU per
 * message, part 4) and stated assumptions (bench/params.ts, FANOUT_MODEL); the
 * README spells the model out. Nothing here is measured. Part 6b, at the end: a
 * million fans waiting, today's rule against update tiers (FANOUT_MILLION, prices.json).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  FRESH_SECONDS,
  farIntervalSeconds,
  OVERLOAD_SECONDS,
  planUpdates,
  tierOf,
  type UpdatePolicy,
  type WaitingFan,
} from '#domain/updates';
import { type Figure, figure } from './measure.ts';
import type { FanoutMillionParams, FanoutModelParams } from './params.ts';

export interface FanoutModelInput {
  /** Measured (part 4): CPU of the worker process per position message at the configured concurrency. */
  readonly workerCpuPerMessageMicros: number;
  /** Measured (part 4): one worker's messages/s against the local endpoint, for comparison only. */
  readonly localWorkerMessagesPerSecond: number;
}

export interface FanoutScenario {
  readonly postLatencyMs: number;
  readonly lambdaMemoryMb: number;
  readonly workerCpuPerMessageOnLambda: Figure;
  readonly perWorkerMessagesPerSecond: Figure;
  readonly perWorkerLimit: 'network' | 'cpu';
  readonly workerSecondsAtConfiguredShards: Figure;
  readonly secondsAtConfiguredShards: Figure;
  readonly limitAtConfiguredShards: 'workers' | 'account quota';
  /** Fewest shards whose workers finish in time, the quota not counted; null: none up to the search bound. */
  readonly shardsForTarget: Figure | null;
  /** Seconds with that many shards, the quota counted. */
  readonly secondsAtShardsForTarget: Figure | null;
  /** Shards whose workers together post at the account quota: more only buys throttling (429). */
  readonly shardsAtAccountQuota: Figure;
}

export interface FanoutModelResult {
  readonly params: FanoutModelParams;
  readonly measured: {
    readonly workerCpuPerMessage: Figure;
    readonly localWorkerMessagesPerSecond: Figure;
  };
  readonly derived: {
    readonly postsInFlightPerWorker: Figure;
    readonly accountQuotaFloorSeconds: Figure;
    readonly accountQuotaFloorSteadySeconds: Figure;
    readonly accountRpsNeededForTarget: Figure;
    readonly sustainedRpsIfEveryTickMoves: Figure;
  };
  readonly scenarios: readonly FanoutScenario[];
  readonly summary: string;
}

export function fanoutModel(input: FanoutModelInput, p: FanoutModelParams): FanoutModelResult {
  const inFlight = Math.min(p.configuredConcurrency, p.sdkMaxSockets);
  const quotaFloor = Math.max(0, p.connections - p.accountBurst) / p.accountRps;
  const budget = p.targetSeconds - p.dispatchSeconds;

  const scenario = (latencyMs: number, memoryMb: number): FanoutScenario => {
    const vcpu = Math.min(1, memoryMb / p.lambdaMbPerVcpu);
    // One message's CPU on the worker: serial, on the vCPU share Lambda gives this memory size.
    const cpuSec = (input.workerCpuPerMessageMicros * p.lambdaCpuSlowdown) / vcpu / 1e6;
    const networkRate = inFlight / (latencyMs / 1000 + cpuSec);
    const cpuRate = 1 / cpuSec;
    const rate = Math.min(networkRate, cpuRate);
    // Pages are listed one after another, each drained before the next is read
    // (shared/app/fanout.ts): every page adds a Query and about one post latency of tail.
    const workerSeconds = (shards: number) => {
      const n = Math.ceil(p.connections / shards);
      return n / rate + Math.max(1, Math.ceil(n / p.pageSize)) * ((p.pageQueryMs + latencyMs) / 1000);
    };
    const total = (shards: number) => p.dispatchSeconds + Math.max(workerSeconds(shards), quotaFloor);
    let needed: number | null = null;
    for (let s = 1; s <= p.maxShardsConsidered && needed === null; s++)
      if (workerSeconds(s) <= budget) needed = s;
    const atConfigured = workerSeconds(p.configuredShards);
    return {
      postLatencyMs: latencyMs,
      lambdaMemoryMb: memoryMb,
      workerCpuPerMessageOnLambda: figure(cpuSec * 1e6, 'µs CPU/message', {
        digits: 0,
        note: `measured CPU per message ÷ ${figure(vcpu, 'vCPU').value} vCPU × slowdown ${p.lambdaCpuSlowdown}`,
      }),
      perWorkerMessagesPerSecond: figure(rate, 'messages/s', {
        digits: 0,
        note: `min(${inFlight} in flight ÷ (latency + CPU) = ${Math.round(networkRate)}, 1 ÷ CPU = ${Math.round(cpuRate)})`,
      }),
      perWorkerLimit: networkRate <= cpuRate ? 'network' : 'cpu',
      workerSecondsAtConfiguredShards: figure(atConfigured, 's', {
        note: `one worker, ${Math.ceil(p.connections / p.configuredShards)} connections, pages included`,
      }),
      secondsAtConfiguredShards: figure(total(p.configuredShards), 's', {
        note: 'dispatch + the slower of the workers and the account quota floor',
      }),
      limitAtConfiguredShards: quotaFloor > atConfigured ? 'account quota' : 'workers',
      shardsForTarget:
        needed === null
          ? null
          : figure(needed, 'shards', { digits: 0, note: `workers done within ${p.targetSeconds} s` }),
      secondsAtShardsForTarget: needed === null ? null : figure(total(needed), 's'),
      shardsAtAccountQuota: figure(p.accountRps / rate, 'shards', {
        digits: 1,
        note: 'account RPS ÷ per-worker rate: beyond it the workers post faster than API Gateway admits',
      }),
    };
  };

  const scenarios = p.lambdaMemoryMb.flatMap((mb) => p.postLatencyMs.map((ms) => scenario(ms, mb)));
  const configured = scenarios.filter((s) => s.lambdaMemoryMb === p.lambdaMemoryMb[0]);
  const range = (pick: (s: FanoutScenario) => number | undefined) => {
    const values = configured.map(pick).filter((v): v is number => v !== undefined);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? `${lo}` : `${lo}–${hi}`;
  };
  const summary =
    `${p.connections.toLocaleString('en-US')} connections at ${p.configuredShards} shards, ${p.lambdaMemoryMb[0]} MB workers, ` +
    `${p.postLatencyMs.join('–')} ms posts: ${range((s) => s.secondsAtConfiguredShards.value)} s ` +
    `(per worker ${range((s) => s.perWorkerMessagesPerSecond.value)} messages/s); ` +
    `${range((s) => s.shardsForTarget?.value)} shards for ${p.targetSeconds} s. ` +
    `The default account quota alone takes ${figure(quotaFloor, 's').value} s with its burst bucket full ` +
    `and ${figure(p.connections / p.accountRps, 's').value} s without; ` +
    `a fan-out to everyone every ${p.tickSeconds} s would need ${Math.round(p.connections / p.tickSeconds).toLocaleString('en-US')} posts/s.`;

  return {
    params: p,
    measured: {
      workerCpuPerMessage: figure(input.workerCpuPerMessageMicros, 'µs CPU/message', {
        digits: 0,
        note: 'part 4, full fan-out at the configured concurrency: signing, JSON, SDK (SigV4 included), HTTP',
      }),
      localWorkerMessagesPerSecond: figure(input.localWorkerMessagesPerSecond, 'messages/s', {
        digits: 0,
        note: 'part 4 on this machine (endpoint and clients on the same 2 cores); not used by the model',
      }),
    },
    derived: {
      postsInFlightPerWorker: figure(inFlight, 'posts', {
        digits: 0,
        note: 'min(FQ_FANOUT_CONCURRENCY, the SDK http agent maxSockets); part 4 shows the cap',
      }),
      accountQuotaFloorSeconds: figure(quotaFloor, 's', {
        note: '(connections − burst) ÷ account RPS: no number of shards goes below it',
      }),
      accountQuotaFloorSteadySeconds: figure(p.connections / p.accountRps, 's', {
        note: 'connections ÷ account RPS: the floor once the burst bucket is spent (back-to-back fan-outs)',
      }),
      accountRpsNeededForTarget: figure(Math.max(0, p.connections - p.accountBurst) / budget, 'requests/s', {
        digits: 0,
        note: `account-wide API Gateway rate the fan-out alone needs within ${p.targetSeconds} s, full burst bucket, nothing else in the account`,
      }),
      sustainedRpsIfEveryTickMoves: figure(p.connections / p.tickSeconds, 'requests/s', {
        digits: 0,
        note: 'posts per second if every tick (FQ_TICK_SECONDS) moves the line and fans out to everyone',
      }),
    },
    scenarios,
    summary,
  };
}

// ---------------------------------------------------------------- part 6b

const money = z.number().nonnegative();
/** The few prices part 6b needs, from the dated table (bench/prices.json). */
const pricesSchema = z.object({
  asOf: z.string(),
  lambda: z.object({ arm64PerGbSecond: money, requestsPerMillion: money }),
  dynamodb: z.object({ readRequestUnitsPerMillion: money }),
  apiGateway: z.object({ webSocketMessagesPerMillion: money, webSocketConnectionMinutesPerMillion: money }),
});
export type FanoutPrices = z.infer<typeof pricesSchema>;

export function readPrices(file = new URL('./prices.json', import.meta.url)): FanoutPrices {
  return pricesSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export interface FanoutMillionInput {
  /** Measured (part 4): worker CPU per `position` message, the connection's listing and planning included. */
  readonly workerCpuPerMessageMicros: number;
  /** Measured (part 4): worker CPU per connection listed and planned but not told. */
  readonly workerCpuPerConnectionNotToldMicros: number;
}

/** One way of telling the connected fans, and what it costs an hour. */
export interface FanoutRuleFigures {
  readonly rule: string;
  readonly messagesPerSecond: Figure;
  /** Most seconds between a far fan's WebSocket messages (today: a tick). */
  readonly farIntervalSeconds: Figure;
  readonly accountQuotaShare: Figure;
  readonly workerCpuSecondsPerSecond: Figure;
  /** Fan-out Lambda environments busy on average (billed duration a second), spread rounds included. */
  readonly lambdaEnvironments: Figure;
  /** One shard's worker: its busy time per tick ÷ the tick (over 100 %: it falls behind). */
  readonly workerBusyShareOfTick: Figure;
  readonly lambdaUsdPerHour: Figure;
  readonly messagesUsdPerHour: Figure;
  readonly usdPerHour: Figure;
}

export interface FanoutMillionScenario {
  readonly connectedFans: number;
  readonly near: number;
  readonly far: number;
  readonly rules: readonly FanoutRuleFigures[];
  /** The same whatever the rule: connection minutes, and the Query that lists every shard every move. */
  readonly connectionMinutesUsdPerHour: Figure;
  readonly listingReadUnitsPerSecond: Figure;
  readonly listingUsdPerHour: Figure;
}

export interface FanoutMillionResult {
  readonly params: FanoutMillionParams;
  readonly pricesAsOf: string;
  readonly measured: {
    readonly workerCpuPerMessage: Figure;
    readonly workerCpuPerConnectionNotTold: Figure;
  };
  readonly derived: {
    readonly secondsToConnectEveryone: Figure;
    readonly reconnectsPerSecondAtTheCap: Figure;
    readonly lambdaVcpu: Figure;
  };
  readonly scenarios: readonly FanoutMillionScenario[];
  readonly summary: string;
}

/**
 * A million fans waiting, `connectedFans` of them on a WebSocket (spread evenly along the
 * line): today's rule against the update tiers (shared/domain/updates.ts, the real
 * `planUpdates`), with the far tier kept within 10 s, within 30 s, and under the default
 * budget (what ships). Pure arithmetic over part 4's two CPU figures and FANOUT_MILLION.
 */
export function fanoutMillionModel(
  input: FanoutMillionInput,
  p: FanoutMillionParams,
  prices: FanoutPrices,
): FanoutMillionResult {
  const T = p.tickSeconds;
  const vcpu = Math.min(1, p.lambdaMemoryMb / p.lambdaMbPerVcpu);
  const gb = p.lambdaMemoryMb / 1024;
  const policy: UpdatePolicy = {
    tickSeconds: T,
    nearThreshold: p.nearThreshold,
    nearHorizonSeconds: p.nearHorizonSeconds,
    messagesPerSecond: p.messagesPerSecond,
  };
  const perMessage = input.workerCpuPerMessageMicros * p.lambdaCpuSlowdown;
  const perConnection = Math.min(perMessage, input.workerCpuPerConnectionNotToldMicros * p.lambdaCpuSlowdown);

  const scenario = (connected: number): FanoutMillionScenario => {
    // Connected fans evenly along the line; a fan `ahead` places back waits ahead ÷ rate.
    const fans: WaitingFan[] = Array.from({ length: connected }, (_, k) => {
      const ahead = Math.max(1, Math.round(((k + 0.5) * p.waitingFans) / connected));
      return { ahead, waitSeconds: ahead / p.admittedPerSecond };
    });
    const near = fans.filter((f) => tierOf(policy, f) === 'near').length;
    const far = connected - near;
    const farRate = (ceiling: number) =>
      fans.reduce(
        (sum, f) =>
          tierOf(policy, f) === 'near'
            ? sum
            : sum + 1 / Math.max(T, farIntervalSeconds(policy, f.waitSeconds, ceiling)),
        0,
      );
    const rule = (name: string, messages: number, told: 'everyone' | 'tiers', farInterval: number) => {
      // Today every connection is told (its listing and planning are in the per-message
      // figure); with tiers every connection is listed and planned, and only some are told.
      const cpu =
        told === 'everyone'
          ? (messages * perMessage) / 1e6
          : ((connected / T) * perConnection + messages * (perMessage - perConnection)) / 1e6;
      const busy = cpu / vcpu;
      // A far round of 256 or more per worker is spread over 80 % of the tick: the worker stays up.
      const farPerShardPerTick = ((messages - near / T) * T) / p.shards;
      const spreadFloor =
        told === 'tiers' && farPerShardPerTick >= p.spreadFromMessages ? p.shards * p.spreadShareOfTick : 0;
      const environments = Math.max(busy, spreadFloor);
      const lambdaUsd =
        environments * gb * 3600 * prices.lambda.arm64PerGbSecond +
        ((p.shards / T) * 3600 * prices.lambda.requestsPerMillion) / 1e6;
      const messagesUsd = (messages * 3600 * prices.apiGateway.webSocketMessagesPerMillion) / 1e6;
      return {
        rule: name,
        messagesPerSecond: figure(messages, 'messages/s', { digits: 0 }),
        farIntervalSeconds: figure(farInterval, 's', { digits: 0 }),
        accountQuotaShare: figure((100 * messages) / p.accountRps, '%', {
          digits: 0,
          note: `posts ÷ the account's ${p.accountRps.toLocaleString('en-US')} requests/s, shared with every other API call`,
        }),
        workerCpuSecondsPerSecond: figure(cpu, 'CPU-s/s', { digits: 2 }),
        lambdaEnvironments: figure(environments, 'environments', {
          digits: 1,
          note: `CPU-bound at ${figure(vcpu, 'vCPU').value} vCPU${spreadFloor > busy ? `; spread rounds keep ${p.shards} workers up ${p.spreadShareOfTick * 100} % of each tick` : ''}`,
        }),
        workerBusyShareOfTick: figure((100 * busy) / p.shards, '%', {
          digits: 0,
          note: `one of ${p.shards} workers: CPU per tick ÷ vCPU ÷ the ${T} s tick`,
        }),
        lambdaUsdPerHour: figure(lambdaUsd, 'USD/h'),
        messagesUsdPerHour: figure(messagesUsd, 'USD/h'),
        usdPerHour: figure(lambdaUsd + messagesUsd, 'USD/h', { note: 'fan-out Lambda + WebSocket messages' }),
      } satisfies FanoutRuleFigures;
    };
    const shipped = planUpdates(policy, fans);
    const listingUnits = (connected / T) * p.connectionItemBytes * (0.5 / 4096);
    return {
      connectedFans: connected,
      near,
      far,
      rules: [
        rule('today: every connected fan every tick', connected / T, 'everyone', T),
        rule(
          'tiers, far fans within 10 s (what the rounds need)',
          near / T + farRate(FRESH_SECONDS),
          'tiers',
          FRESH_SECONDS,
        ),
        rule(
          'tiers, far fans within 30 s (overload)',
          near / T + farRate(OVERLOAD_SECONDS),
          'tiers',
          OVERLOAD_SECONDS,
        ),
        rule(
          `tiers under the default budget (${p.messagesPerSecond}/s): what ships`,
          shipped.messagesPerSecond,
          shipped.everyMove ? 'everyone' : 'tiers',
          shipped.everyMove ? T : shipped.ceilingSeconds,
        ),
      ],
      connectionMinutesUsdPerHour: figure(
        (connected * 60 * prices.apiGateway.webSocketConnectionMinutesPerMillion) / 1e6,
        'USD/h',
        { note: 'the same whatever the rule' },
      ),
      listingReadUnitsPerSecond: figure(listingUnits, 'RRU/s', {
        digits: 0,
        note: `every shard listed every ${T} s move (eventually consistent Query, ${p.connectionItemBytes} B a connection): the same whatever the rule`,
      }),
      listingUsdPerHour: figure(
        (listingUnits * 3600 * prices.dynamodb.readRequestUnitsPerMillion) / 1e6,
        'USD/h',
      ),
    };
  };

  const scenarios = p.connectedFans.map(scenario);
  const all = scenarios[scenarios.length - 1];
  const [today, , , shipped] = all?.rules ?? [];
  const need = all?.rules[1];
  const summary =
    all && today && shipped && need
      ? `${p.waitingFans.toLocaleString('en-US')} waiting, ${all.connectedFans.toLocaleString('en-US')} connected: ` +
        `today ${today.messagesPerSecond.value.toLocaleString('en-US')} messages/s (${today.accountQuotaShare.value} % of the account quota, $${today.usdPerHour.value}/h); ` +
        `far rounds within 10 s need ${need.messagesPerSecond.value.toLocaleString('en-US')}/s ($${need.usdPerHour.value}/h); ` +
        `the default budget sends ${shipped.messagesPerSecond.value.toLocaleString('en-US')}/s ($${shipped.usdPerHour.value}/h), far fans every ${shipped.farIntervalSeconds.value} s over the WebSocket.`
      : '';
  return {
    params: p,
    pricesAsOf: prices.asOf,
    measured: {
      workerCpuPerMessage: figure(input.workerCpuPerMessageMicros, 'µs CPU/message', {
        digits: 0,
        note: 'part 4: listing, planning, signing, JSON, SDK (SigV4 included), HTTP',
      }),
      workerCpuPerConnectionNotTold: figure(input.workerCpuPerConnectionNotToldMicros, 'µs CPU/connection', {
        digits: 1,
        note: 'part 4: listed and planned, not told (in-memory registry)',
      }),
    },
    derived: {
      secondsToConnectEveryone: figure(p.waitingFans / p.newConnectionsPerSecond, 's', {
        digits: 0,
        note: `${p.newConnectionsPerSecond} new WebSocket connections a second per account`,
      }),
      reconnectsPerSecondAtTheCap: figure(p.waitingFans / p.connectionMaxSeconds, 'connections/s', {
        digits: 0,
        note: `every connection is closed after ${p.connectionMaxSeconds} s and reconnects`,
      }),
      lambdaVcpu: figure(vcpu, 'vCPU', { note: `${p.lambdaMemoryMb} MB ÷ ${p.lambdaMbPerVcpu} MB per vCPU` }),
    },
    scenarios,
    summary,
  };
}
