/** Payloads of the asynchronous workers, and which changes each one needs. */
import { z } from 'zod';
import type { LineChange } from '#ports/realtime';

export interface FanoutJob {
  readonly change: LineChange;
  readonly shard: number;
}

export interface PushJob {
  readonly changes: readonly LineChange[];
}

const count = z.number().int().min(0);
const lineChangeSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('moved'),
    eventId: z.string(),
    seq: count,
    from: count,
    to: count,
    claimBy: count,
    at: count,
  }),
  z.object({
    kind: z.literal('state'),
    eventId: z.string(),
    seq: count,
    state: z.enum(['open', 'paused', 'closed']),
    servingPosition: count,
    at: count,
  }),
  z.object({ kind: z.literal('tick'), eventId: z.string(), seq: count, at: count }),
  z.object({ kind: z.literal('left'), eventId: z.string(), seq: count, position: count, at: count }),
]);

/**
 * A fan-out invocation's payload. Jobs queued before `seq` existed (a deploy with
 * invocations in flight) fail here: their news is superseded by the next tick.
 */
export const fanoutJobSchema = z.object({
  change: lineChangeSchema,
  shard: count,
}) satisfies z.ZodType<FanoutJob>;

/**
 * Fan-out only cares about a moved line or a new state, told to every shard; a bare tick
 * changes nothing a socket shows; a leave concerns one place, found through its own
 * index, so it is one job.
 */
export function fanoutJobs(changes: readonly LineChange[], shards: number): FanoutJob[] {
  return changes
    .filter((change) => change.kind !== 'tick')
    .flatMap((change): FanoutJob[] =>
      change.kind === 'left'
        ? [{ change, shard: 0 }]
        : Array.from({ length: shards }, (_, shard) => ({ change, shard })),
    );
}
