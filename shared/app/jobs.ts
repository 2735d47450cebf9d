/** Payloads of the asynchronous workers, and which changes each one needs. */
import type { LineChange } from '#ports/realtime';

export interface FanoutJob {
  readonly change: LineChange;
  readonly shard: number;
}

export interface PushJob {
  readonly changes: readonly LineChange[];
}

/** Fan-out only cares about a moved line or a new state; a bare tick changes nothing a socket shows. */
export function fanoutJobs(changes: readonly LineChange[], shards: number): FanoutJob[] {
  return changes
    .filter((change) => change.kind !== 'tick')
    .flatMap((change) => Array.from({ length: shards }, (_, shard) => ({ change, shard })));
}
