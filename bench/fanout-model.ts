/**
 * Part 6: what the measured fan-out worker implies for 100,000 connections of one
 * event on AWS. Pure arithmetic over one measured figure (the worker's CPU per
 * message, part 4) and stated assumptions (bench/params.ts, FANOUT_MODEL); the
 * README spells the model out. Nothing here is measured.
 */
import { type Figure, figure } from './measure.ts';
import type { FanoutModelParams } from './params.ts';

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
