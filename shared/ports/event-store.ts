/** Events: configuration, state, counters, and which events the admitter ticks. */
import type { EventConfig, EventRecord, EventState, LineSnapshot } from '#domain/event';

export interface EventCounters {
  /** Positions handed out by the exact join counter (sharded events count settled tickets instead). */
  readonly issued: number;
  /** Sessions ever claimed. */
  readonly claimed: number;
  /** Sessions ever ended by `complete`. */
  readonly completed: number;
  /** Admitted places given up (`DELETE …/place`) while their claim window was open: slots freed early. */
  readonly leftAdmitted: number;
}

export interface EventStore {
  /**
   * Without `expectedConfigVersion`: creates the event (open, nobody admitted); null
   * when it exists already. With it: replaces the configuration if the event's
   * `configVersion` is still that value (and raises it); null when another update
   * got there first. Nothing is written when null is returned.
   */
  putEvent(
    eventId: string,
    config: EventConfig,
    nowSec: number,
    expectedConfigVersion?: number,
  ): Promise<{ event: EventRecord; created: boolean } | null>;
  /**
   * Throws EventNotFoundError; ConflictError('event_closed') when leaving `closed`.
   * Raises the event's `version`, so a tick planned before the change cannot commit.
   * Closing a sharded event also seals every intake stripe for good.
   */
  setEventState(eventId: string, state: EventState, nowSec: number): Promise<EventRecord>;
  /**
   * Consistent: the event as last written. Otherwise it may be a published copy
   * (`publishView`), a tick or so behind, with the line snapshot it was published with.
   */
  getEvent(eventId: string, options?: { consistent?: boolean }): Promise<EventRecord | undefined>;
  /**
   * Copies the event as it stands now (with `line`, if given; else the copies keep theirs)
   * to where eventually consistent reads find it, so that a million fans' reads do not
   * all land on one item. Never makes a copy older. Stores whose reads are not limited
   * per item, and events in exact intake, need no copies: nothing is written.
   */
  publishView(eventId: string, line?: LineSnapshot): Promise<void>;
  /** Every counter: a handful of reads on DynamoDB (release stripes). The admitter and stats use it. */
  getCounters(eventId: string): Promise<EventCounters>;
  /** Only `issued` (one read): what the hot routes need. */
  getIssued(eventId: string): Promise<number>;
  /** Events the admitter must tick: every event that is not closed with all its slots released. */
  listActiveEventIds(): Promise<string[]>;
  /** Stops ticking a closed event whose slots are all released. */
  retireEvent(eventId: string): Promise<void>;
}
