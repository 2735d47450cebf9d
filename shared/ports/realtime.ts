/**
 * Ports of the real-time side: who is connected, how a message reaches a
 * connection, and how a change of the line is handed off without holding up
 * the admission tick.
 */
import type { PlaceConnection } from '#domain/connection-limits';
import type { FanoutCursor } from '#domain/fanout-cursor';

export type { FanoutCursor, PlaceConnection };

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly eventId: string;
  readonly position: number;
  readonly sub: string;
  /** Epoch seconds. */
  readonly connectedAt: number;
}

export interface ConnectionPage {
  readonly items: readonly ConnectionRecord[];
  /** Opaque cursor of the next page; absent on the last. */
  readonly next?: string;
}

/**
 * Open WebSocket connections, per event and spread over `shards` partitions so
 * a hot event's connections do not sit on one key; each shard is fanned out by
 * its own worker. Also indexed per place (for the connection cap), with a
 * message counter per connection and a fan-out cursor per shard.
 */
export interface ConnectionRegistry {
  readonly shards: number;
  /** The shard a connection is stored under (a stable hash of its id). */
  shardOf(connectionId: string): number;
  /**
   * Stores the connection under its event's shard and under its place, both or neither.
   * `connectedAtMs` orders the place's connections (default: `connectedAt` in ms).
   */
  add(connection: ConnectionRecord, connectedAtMs?: number): Promise<void>;
  /** Removes the connection everywhere; returns what was stored, if anything. Safe to repeat. */
  remove(connectionId: string): Promise<ConnectionRecord | undefined>;
  listShard(eventId: string, shard: number, cursor?: string): Promise<ConnectionPage>;
  /** Every connection of one place (a few), read consistently. */
  listPlace(eventId: string, position: number): Promise<PlaceConnection[]>;
  /**
   * Counts one client message of the connection in the window that starts at
   * `windowStartSec` (a count kept on the connection's own item) and returns the
   * window's count so far, or null when the connection is not registered.
   */
  countMessage(connectionId: string, windowStartSec: number): Promise<number | null>;
  /** How far the fan-out of one shard has gone (consistent read); undefined before any. */
  readFanoutCursor(eventId: string, shard: number): Promise<FanoutCursor | undefined>;
  /**
   * Writes `next` if the cursor's `seq` is still `expectedSeq` (0: no cursor yet);
   * false, writing nothing, when another worker moved it first.
   */
  advanceFanoutCursor(
    eventId: string,
    shard: number,
    expectedSeq: number,
    next: FanoutCursor,
  ): Promise<boolean>;
}

/** Talks to one connection: API Gateway's `@connections` (locally, its stand-in). */
export interface ConnectionPoster {
  /** `gone` when the connection no longer exists (API Gateway's GoneException). */
  post(connectionId: string, data: string): Promise<'sent' | 'gone'>;
  /** Closes the connection (DeleteConnection); `gone` when it was not there. Safe to repeat. */
  close(connectionId: string): Promise<'closed' | 'gone'>;
}

/**
 * What a committed tick or an operator action changed. `seq` is the event's
 * version after the change (it grows with every tick and every change of state):
 * fan-out orders jobs by it and every WebSocket message carries it.
 */
export type LineChange =
  | {
      readonly kind: 'moved';
      readonly eventId: string;
      readonly seq: number;
      /** Serving position before and after: positions (from, to] were admitted; `to` is the serving position at `seq`. */
      readonly from: number;
      readonly to: number;
      readonly claimBy: number;
      readonly at: number;
    }
  | {
      readonly kind: 'state';
      readonly eventId: string;
      readonly seq: number;
      readonly state: 'open' | 'paused' | 'closed';
      /** The serving position at `seq`. */
      readonly servingPosition: number;
      readonly at: number;
    }
  /** Every committed tick, moved or not: time-based push milestones (claim expiring) are checked here. */
  | { readonly kind: 'tick'; readonly eventId: string; readonly seq: number; readonly at: number }
  /** A place was given up (`DELETE …/place`): its open connections hear `left` and are closed. */
  | {
      readonly kind: 'left';
      readonly eventId: string;
      readonly seq: number;
      readonly position: number;
      readonly at: number;
    };

/**
 * Hands a change to the fan-out and push workers. Must return quickly: on AWS
 * it queues asynchronous Lambda invocations, locally it schedules in-process work.
 */
export interface ChangeNotifier {
  notify(changes: readonly LineChange[]): Promise<void>;
}

export const NO_NOTIFIER: ChangeNotifier = { notify: async () => {} };
