/**
 * Limits on what one WebSocket client may cost, pure. On AWS every connection is
 * held by API Gateway and every client message is a Lambda invocation, so a
 * client gets a few connections per place and a bounded number of messages.
 */

/** Client messages are counted per fixed window of this many seconds. */
export const MESSAGE_WINDOW_SECONDS = 60;

export const DEFAULT_MAX_CONNECTIONS_PER_PLACE = 3;
/**
 * Far above any honest client: the page sends one heartbeat every 4 minutes, the
 * documented duty is one every few minutes.
 */
export const DEFAULT_MAX_MESSAGES_PER_MINUTE = 60;

/** A connection of one place, as the per-place index holds it. */
export interface PlaceConnection {
  readonly connectionId: string;
  /** Epoch milliseconds of its `$connect`: the order in which a place's connections are kept. */
  readonly connectedAtMs: number;
}

/** Oldest first; ties (same millisecond) by id, so every racing `$connect` agrees on the order. */
function byAge(a: PlaceConnection, b: PlaceConnection): number {
  return a.connectedAtMs - b.connectedAtMs || (a.connectionId < b.connectionId ? -1 : 1);
}

/**
 * The connections of a place to close so that at most `max` remain: the oldest.
 * Every `$connect` of the place applies this to what it reads after registering
 * itself; since all use the same order, concurrent connects close the same ones
 * and the place converges to the `max` newest.
 */
export function connectionsToClose(connections: readonly PlaceConnection[], max: number): string[] {
  if (connections.length <= max) return [];
  return [...connections]
    .sort(byAge)
    .slice(0, connections.length - max)
    .map((connection) => connection.connectionId);
}

/** Start (epoch seconds) of the message-counting window that holds `nowSec`. */
export function messageWindowStart(nowSec: number): number {
  return nowSec - (nowSec % MESSAGE_WINDOW_SECONDS);
}

/** True when the `count`-th message of a window is one too many. */
export function overMessageLimit(count: number, maxPerMinute: number): boolean {
  return count > maxPerMinute;
}
