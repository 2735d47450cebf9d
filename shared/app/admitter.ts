/**
 * The admitter: ticks every active event. Run by the scheduled Lambda (which
 * ticks every `tickSeconds` within one invocation, since EventBridge's floor is
 * a minute) and by the local scheduler. Any number of admitters may overlap:
 * each tick commits under the event's version, so a tick that lost the race
 * writes nothing and capacity is never exceeded.
 */
import { completeTick, planTick } from '#domain/admission';
import type { EventRecord, LineSnapshot } from '#domain/event';
import { leaveBlockOf, SLICES_KEPT_AFTER_SETTLING, sealableSlice, settleSlices } from '#domain/intake';
import { type Metrics, NO_METRICS } from '#ports/metrics';
import type { QueueStore } from '#ports/queue-store';
import { type ChangeNotifier, type LineChange, NO_NOTIFIER } from '#ports/realtime';
import { Line } from './line.ts';
import { logger } from './logger.ts';
import { eachLimited } from './pool.ts';

/** Most real places one tick looks for: bounds a tick's reads whatever the capacity. */
export const MAX_ADMIT_PER_TICK = 50_000;

export interface TickOutcome {
  readonly eventId: string;
  readonly committed: boolean;
  readonly from: number;
  readonly to: number;
  /**
   * Seconds since the event's last committed tick, as this one started (0 before its
   * first): what says an admitter is stalled. Absent when the event was gone.
   */
  readonly tickAgeSec?: number;
  /** What the tick found and did, for metrics; absent when it failed or the event was gone. */
  readonly figures?: TickFigures;
}

/** A tick that failed after it read its event: the age it found still counts. */
export class TickFailedError extends Error {
  override readonly name = 'TickFailedError';
  constructor(
    readonly eventId: string,
    readonly tickAgeSec: number,
    options: { cause: unknown },
  ) {
    super(`tick of event ${eventId} failed`, options);
  }
}

export interface TickFigures {
  /** After this tick (or as before it, when it did not commit). */
  readonly queueLength: number;
  readonly activeSessions: number;
  /** Released or admitted by this tick: 0 when it did not commit. */
  readonly admitted: number;
  readonly missed: number;
  readonly expired: number;
}

export interface AdmitterOptions {
  readonly tickSeconds: number;
  /** Events ticked at once. */
  readonly concurrency?: number;
  readonly now?: () => number;
  /** Told about every committed tick, after the commit: fan-out and push run elsewhere. */
  readonly notifier?: ChangeNotifier;
  /** Recorded per event and in total after every tick over all events, and flushed then. */
  readonly metrics?: Metrics;
}

export class Admitter {
  readonly #store: QueueStore;
  readonly #options: Required<AdmitterOptions>;
  readonly #line: Line;

  constructor(store: QueueStore, options: AdmitterOptions) {
    this.#store = store;
    this.#options = { concurrency: 8, now: Date.now, notifier: NO_NOTIFIER, metrics: NO_METRICS, ...options };
    this.#line = new Line(store);
  }

  /**
   * Sharded intake: seals the slices that are over (and that joins rang for), records
   * their final counts and returns the event as if they were settled; the tick commits
   * the new settled state with everything else, under the version.
   */
  async #settle(event: EventRecord, nowMs: number): Promise<EventRecord> {
    if (event.config.intake !== 'sharded') return event;
    const rung = await this.#store.rungSlice(event.eventId);
    const through = sealableSlice(event.createdAt, nowMs, rung, event.state === 'closed');
    if (through <= event.settledSlice) return event;
    const counts = await this.#store.sealIntake(
      event.eventId,
      event.settledSlice,
      through,
      // Kept a while after they settle: a join may read a copy of the event a tick or two old.
      event.settledSlice - SLICES_KEPT_AFTER_SETTLING,
    );
    const { records, held } = settleSlices(counts, event.settledHeld);
    // Written before the commit that makes them settled, and never changed after.
    await this.#store.putSlices(event.eventId, records);
    return { ...event, settledSlice: through, settledHeld: held };
  }

  /** Throws TickFailedError (with the cause) when the tick fails after reading its event. */
  async tickEvent(eventId: string): Promise<TickOutcome> {
    const event = await this.#store.getEvent(eventId, { consistent: true });
    if (!event) {
      await this.#store.retireEvent(eventId);
      return { eventId, committed: false, from: 0, to: 0 };
    }
    const nowMs = this.#options.now();
    const tickAgeSec = event.lastTickAtMs === 0 ? 0 : Math.max(0, (nowMs - event.lastTickAtMs) / 1000);
    try {
      return await this.#tick(event, nowMs, tickAgeSec);
    } catch (error) {
      throw new TickFailedError(eventId, tickAgeSec, { cause: error });
    }
  }

  async #tick(stored: EventRecord, nowMs: number, tickAgeSec: number): Promise<TickOutcome> {
    const { eventId } = stored;
    const nowSec = Math.floor(nowMs / 1000);
    const event = await this.#settle(stored, nowMs);
    const releases = await this.#store.sealReleases(eventId, event.releasedThrough, nowSec);
    const counters = await this.#store.getCounters(eventId);
    const input = {
      event,
      releases,
      completed: counters.completed,
      leftAdmitted: counters.leftAdmitted,
      nowMs,
      tickSeconds: this.#options.tickSeconds,
      sealedThrough: releases.sealedThrough,
    };
    // How many could go in, then who: the real places waiting, void numbers skipped.
    const most = Math.min(MAX_ADMIT_PER_TICK, planTick({ ...input, waiting: MAX_ADMIT_PER_TICK }).admit);
    const real = most > 0 ? await this.#line.realPlacesAfter(event, counters.issued, most) : undefined;
    const planned = planTick({ ...input, waiting: real?.positions.length ?? 0 });
    const last = planned.admit - 1;
    const plan =
      planned.admit > 0 && real
        ? completeTick(
            planned,
            real.positions[last] ?? event.servingPosition,
            event.heldThroughServing + (real.heldThrough[last] ?? 0),
          )
        : completeTick(planned, event.servingPosition, event.heldThroughServing);
    const moved = plan.to > plan.from;
    const committed = await this.#store.commitTick(eventId, stored.version, {
      next: plan.next,
      batch: moved
        ? { from: plan.from, to: plan.to, admitted: plan.admit, at: nowSec, claimBy: plan.claimBy }
        : null,
      updatedAt: moved ? nowSec : stored.updatedAt,
    });
    if (committed) {
      // The committed version is the change's seq: fan-out orders its jobs by it.
      const seq = plan.next.version;
      const changes: LineChange[] = [{ kind: 'tick', eventId, seq, at: nowSec }];
      if (moved)
        changes.push({
          kind: 'moved',
          eventId,
          seq,
          from: plan.from,
          to: plan.to,
          claimBy: plan.claimBy,
          at: nowSec,
        });
      try {
        await this.#options.notifier.notify(changes);
      } catch (error) {
        // The tick is committed: a lost notification only delays updates, and pollers still see it.
        logger.error('could not hand off line change', { error: error as Error, eventId });
      }
    }
    const snapshot =
      committed && event.config.intake === 'sharded'
        ? await this.#publish(eventId, plan.next.servingPosition)
        : undefined;
    // Leave counts of blocks the line has passed are never read again.
    if (committed && leaveBlockOf(plan.to + 1) > leaveBlockOf(plan.from + 1))
      await this.#store.forgetLeaveBlocks(eventId, leaveBlockOf(plan.to + 1));
    // A closed event is ticked until every slot it handed out is released, then dropped.
    if (committed && event.state === 'closed' && plan.next.inUse === 0)
      await this.#store.retireEvent(eventId);
    const after = committed ? { ...event, ...plan.next } : stored;
    const figures: TickFigures = {
      queueLength: await this.#queueLength(after, counters.issued, snapshot),
      activeSessions: Math.max(0, counters.claimed - counters.completed - after.expired),
      admitted: committed ? plan.admit : 0,
      missed: committed ? releases.missed : 0,
      expired: committed ? releases.expired : 0,
    };
    return { eventId, committed, from: plan.from, to: committed ? plan.to : plan.from, tickAgeSec, figures };
  }

  /**
   * A sharded event's hot reads go to published copies (decision 0010): after each commit
   * they get the new state and the leaves around the new front. Returns the snapshot taken,
   * which the tick's queue length reuses.
   */
  async #publish(eventId: string, servingPosition: number): Promise<LineSnapshot | undefined> {
    let snapshot: LineSnapshot | undefined;
    try {
      snapshot = await this.#line.snapshot(eventId, servingPosition);
      await this.#store.publishView(eventId, snapshot);
      return snapshot;
    } catch (error) {
      logger.error('could not publish event', { error: error as Error, eventId, withLine: !!snapshot });
    }
    // The new state goes out without the line, which may be what failed: one too big for
    // an item (a sharded line of millions with leaves everywhere). Status then counts the
    // leaves from the event's own counts (a copy's line of another serving position is never
    // used): slower, but the copies never stay behind on the serving position, pauses, closes.
    try {
      await this.#store.publishView(eventId);
    } catch (error) {
      // Committed anyway: the copies stay a tick behind, and the next tick publishes again.
      logger.error('could not publish event state', { error: error as Error, eventId });
    }
    return snapshot;
  }

  /** Real places waiting: held numbers beyond the serving position less the leaves among them. */
  async #queueLength(event: EventRecord, issued: number, snapshot?: LineSnapshot) {
    const held = event.config.intake === 'exact' ? issued : event.settledHeld;
    const leaves = await this.#line.leavesAfter(event.eventId, event.servingPosition, snapshot);
    return Math.max(0, held - event.heldThroughServing - leaves);
  }

  /**
   * Ticks every active event; one event's failure is reported and does not stop the
   * others. Records the tick's figures and flushes them: one invocation of the
   * scheduled admitter runs many ticks, and each should be seen when it happens.
   */
  async tickAll(onError: (error: unknown, eventId: string) => void = () => {}): Promise<TickOutcome[]> {
    const startedMs = this.#options.now();
    const outcomes = await this.#tickEach(onError);
    this.#record(outcomes, this.#options.now() - startedMs);
    return outcomes;
  }

  #record(outcomes: readonly TickOutcome[], durationMs: number) {
    const { metrics } = this.#options;
    const totals = { QueueLength: 0, ActiveSessions: 0, Admitted: 0, Missed: 0, Expired: 0, TickAge: 0 };
    for (const { eventId, figures, tickAgeSec } of outcomes) {
      const perEvent = {
        ...(tickAgeSec === undefined ? {} : { TickAge: tickAgeSec }),
        ...(figures && {
          QueueLength: figures.queueLength,
          ActiveSessions: figures.activeSessions,
          Admitted: figures.admitted,
          Missed: figures.missed,
          Expired: figures.expired,
        }),
      };
      for (const [name, value] of Object.entries(perEvent) as [keyof typeof perEvent, number][]) {
        metrics.record(name, value, eventId);
        // Levels and counts add up across events; the age that matters is the oldest.
        totals[name] = name === 'TickAge' ? Math.max(totals[name], value) : totals[name] + value;
      }
    }
    for (const [name, value] of Object.entries(totals) as [keyof typeof totals, number][])
      metrics.record(name, value);
    metrics.record('TickDuration', durationMs);
    metrics.flush();
  }

  async #tickEach(onError: (error: unknown, eventId: string) => void): Promise<TickOutcome[]> {
    const ids = await this.#store.listActiveEventIds();
    const outcomes: TickOutcome[] = [];
    await eachLimited(ids, this.#options.concurrency, async (id) => {
      try {
        outcomes.push(await this.tickEvent(id));
      } catch (error) {
        if (!(error instanceof TickFailedError)) return onError(error, id);
        onError(error.cause, id);
        // Not committed; its age still counts, so a tick that keeps failing shows as a stall.
        outcomes.push({ eventId: id, committed: false, from: 0, to: 0, tickAgeSec: error.tickAgeSec });
      }
    });
    return outcomes;
  }

  /** Ticks every `tickSeconds` until `runSeconds` have passed (at least once). */
  async run(runSeconds: number, onError: (error: unknown, eventId?: string) => void): Promise<number> {
    const start = this.#options.now();
    let ticks = 0;
    for (;;) {
      const tickStart = this.#options.now();
      try {
        await this.tickAll(onError);
      } catch (error) {
        // One bad tick must not end the invocation: the next tick retries from stored state.
        onError(error);
      }
      ticks++;
      const nextAt = tickStart + this.#options.tickSeconds * 1000;
      if (nextAt - start >= runSeconds * 1000) return ticks;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextAt - this.#options.now())));
    }
  }
}
