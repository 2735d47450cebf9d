import { createHash } from 'node:crypto';

/** A stable shard in [0, shards) for a connection id: the same id always lands on the same shard. */
export function shardOf(connectionId: string, shards: number): number {
  return createHash('sha1').update(connectionId).digest().readUInt32BE(0) % shards;
}

/** API Gateway drops a WebSocket connection after two hours; a stored one is stale a little after. */
export const CONNECTION_TTL_SECONDS = 2 * 3600 + 300;
