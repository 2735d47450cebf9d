/**
 * The admitter: ticks every active event. Run by the scheduled Lambda (which
 * ticks every `tickSeconds` within one invocation, since EventBridge's floor is
 * a minute) and by the local scheduler. Any number of admitters may overlap:
 * each tick commits under the event's version, so a tick that lost the race
 * writes nothing and capacity is never exceeded.
 */
import { planTick } from '#domain/admission';
import type { QueueStore } from '#ports/queue-store';
import { type ChangeNotifier, type LineChange, NO_NOTIFIER } from '#ports/realtime';
import { logger } from './logger.ts';

export interface TickOutcome {
  readonly eventId: string;
  readonly committed: boolean;
  readonly from: number;
  readonly to: number;
}

export interface AdmitterOptions {
  readonly tickSeconds: number;
  /** Events ticked at once. */
  readonly concurrency?: number;
  readonly now?: () => number;
  /** Told about every committed tick, after the commit: fan-out and push run elsewhere. */
  readonly notifier?: ChangeNotifier;
}

export class Admitter {
  readonly #store: QueueStore;
  readonly #options: Required<AdmitterOptions>;

  constructor(store: QueueStore, options: AdmitterOptions) {
    this.#store = store;
    this.#options = { concurrency: 8, now: Date.now, notifier: NO_NOTIFIER, ...options };
  }

  async tickEvent(eventId: string): Promise<TickOutcome> {
    const event = await this.#store.getEvent(eventId, { consistent: true });
    if (!event) {
      await this.#store.retireEvent(eventId);
      return { eventId, committed: false, from: 0, to: 0 };
    }
    const nowMs = this.#options.now();
    const nowSec = Math.floor(nowMs / 1000);
    const releases = await this.#store.sealReleases(eventId, event.releasedThrough, nowSec);
    const counters = await this.#store.getCounters(eventId);
    const plan = planTick({
      event,
      releases,
      issued: counters.issued,
      completed: counters.completed,
      nowMs,
      tickSeconds: this.#options.tickSeconds,
      sealedThrough: releases.sealedThrough,
    });
    const moved = plan.to > plan.from;
    const committed = await this.#store.commitTick(eventId, event.version, {
      next: plan.next,
      batch: moved ? { from: plan.from, to: plan.to, at: nowSec, claimBy: plan.claimBy } : null,
      updatedAt: moved ? nowSec : event.updatedAt,
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
    // A closed event is ticked until every slot it handed out is released, then dropped.
    if (committed && event.state === 'closed' && plan.next.inUse === 0)
      await this.#store.retireEvent(eventId);
    return { eventId, committed, from: plan.from, to: committed ? plan.to : plan.from };
  }

  /** Ticks every active event; one event's failure is reported and does not stop the others. */
  async tickAll(onError: (error: unknown, eventId: string) => void = () => {}): Promise<TickOutcome[]> {
    const ids = await this.#store.listActiveEventIds();
    const outcomes: TickOutcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        if (id === undefined) continue;
        try {
          outcomes.push(await this.tickEvent(id));
        } catch (error) {
          onError(error, id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#options.concurrency, ids.length) }, worker));
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
