/**
 * The queue store: every state change the waiting room makes, as atomic operations,
 * split by concern — events, places, the release ledger, sharded intake, leaves and
 * the join limiter. Adapters: DynamoDB (shared/adapters/dynamo-store.ts) and the
 * embedded stores, on disk (shared/adapters/sqlite-store.ts) and in memory
 * (shared/adapters/memory-store.ts); one contract suite
 * (test/integration/queue-store.contract.ts) runs against all three.
 */
import type { EventStore } from './event-store.ts';
import type { IntakeStore } from './intake-store.ts';
import type { LeaveStore } from './leave-store.ts';
import type { LedgerStore } from './ledger-store.ts';
import type { PlaceStore } from './place-store.ts';
import type { RateLimiter } from './rate-limiter.ts';

export type { EventCounters, EventStore } from './event-store.ts';
export type { IntakeStore, TicketResult } from './intake-store.ts';
export type { LeaveAdmittedResult, LeaveStore, LeaveWaitingResult } from './leave-store.ts';
export type { LedgerStore, SealedReleases, TickCommit } from './ledger-store.ts';
export type { ClaimResult, CompleteResult, PlaceStore, UserSlot } from './place-store.ts';
export type { RateLimitCounts, RateLimiter } from './rate-limiter.ts';

export interface QueueStore
  extends EventStore,
    PlaceStore,
    LedgerStore,
    IntakeStore,
    LeaveStore,
    RateLimiter {}
