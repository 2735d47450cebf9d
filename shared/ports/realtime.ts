/**
 * Ports of the real-time side: who is connected, how a message reaches a
 * connection, and how a change of the line is handed off without holding up
 * the admission tick.
 */

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
 * its own worker.
 */
export interface ConnectionRegistry {
  readonly shards: number;
  add(connection: ConnectionRecord): Promise<void>;
  /** Removes the connection; returns what was stored, if anything. Safe to repeat. */
  remove(connectionId: string): Promise<ConnectionRecord | undefined>;
  listShard(eventId: string, shard: number, cursor?: string): Promise<ConnectionPage>;
}

/** Sends one message to one connection: API Gateway's `@connections` (locally, its stand-in). */
export interface ConnectionPoster {
  /** `gone` when the connection no longer exists (API Gateway's GoneException). */
  post(connectionId: string, data: string): Promise<'sent' | 'gone'>;
}

/** What a committed tick or an operator action changed. */
export type LineChange =
  | {
      readonly kind: 'moved';
      readonly eventId: string;
      /** Serving position before and after: positions (from, to] were admitted. */
      readonly from: number;
      readonly to: number;
      readonly claimBy: number;
      readonly at: number;
    }
  | {
      readonly kind: 'state';
      readonly eventId: string;
      readonly state: 'open' | 'paused' | 'closed';
      readonly at: number;
    }
  /** Every committed tick, moved or not: time-based push milestones (claim expiring) are checked here. */
  | { readonly kind: 'tick'; readonly eventId: string; readonly at: number };

/**
 * Hands a change to the fan-out and push workers. Must return quickly: on AWS
 * it queues asynchronous Lambda invocations, locally it schedules in-process work.
 */
export interface ChangeNotifier {
  notify(changes: readonly LineChange[]): Promise<void>;
}

export const NO_NOTIFIER: ChangeNotifier = { notify: async () => {} };
