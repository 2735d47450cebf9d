/**
 * The place clock: what a fan is shown about their place at any moment, from the last
 * personal update (join, status, a `position` message) and the public event document read
 * since, counted down against the clock in between. Pure: the caller says what time it is
 * (epoch milliseconds of its own clock), so it runs anywhere and tests need no timers.
 *
 * The rules (issue 8; why: docs/decisions/0013-client-countdown.md):
 * - `ahead` is the last personal `ahead` less the real places the document says were
 *   admitted since (`admittedTotal`): never below 1 while waiting (unless the server itself
 *   said 0), never more than the truth, and never going up while the place waits.
 * - The wait counts down second by second. A new estimate below the countdown replaces it;
 *   one above it by more than a tolerance (max(5 s, 10 %)) is shown only with its reason:
 *   `paused`, `capacity` (the operator cut capacity or the rate) or `slowed` (the line fell
 *   behind its estimate). Within the tolerance the countdown goes on.
 * - While the sale is paused, or the line has stopped moving although its estimate expected
 *   admissions (a stall), the countdown stands still instead of running out.
 */
import { curveAdmittedWithin, curveWaitSeconds } from './curve.ts';
import type {
  EventDocument,
  EventState,
  PlaceStatus,
  PlaceUpdate,
  ServerMessage,
  WaitCurve,
} from './wire.ts';

/**
 * Why the shown wait is not simply counting down.
 *
 * @example
 * const reasons: Record<WaitReason, string> = {
 *   paused: 'The sale is paused.',
 *   capacity: 'Fewer fans are let in at a time now.',
 *   slowed: 'The line is moving more slowly than expected.',
 * };
 * const { waitReason } = clock.view(Date.now());
 * note.textContent = waitReason ? reasons[waitReason] : '';
 */
export type WaitReason = 'paused' | 'capacity' | 'slowed';

/**
 * What to show a fan about their place at one moment.
 *
 * @example
 * const view: PlaceView = clock.view(Date.now());
 * if (view.status === 'waiting') render(view.position, view.ahead, view.estimatedWaitSeconds);
 */
export interface PlaceView {
  readonly position: number;
  /** `left`: the place was given up. Null until the server has said anything. */
  readonly status: PlaceStatus | 'left' | null;
  readonly eventState: EventState | null;
  readonly servingPosition: number | null;
  readonly ahead: number | null;
  /** Whole seconds, counted down; at least 1 while waiting, 0 once admitted; null while unknown or closed. */
  readonly estimatedWaitSeconds: number | null;
  /** Why the wait stands still (`waitFrozen`) or recently went up (`waitRose`); null while it just counts down. */
  readonly waitReason: WaitReason | null;
  /** The wait went up within the last `reasonSeconds`. */
  readonly waitRose: boolean;
  /** The countdown stands still: the sale is paused, or the line has stopped moving. */
  readonly waitFrozen: boolean;
  readonly claimBy: number | null;
  /**
   * Whole seconds left to claim, counted down: `claimBy` against the server's clock as the
   * event documents read show it (the caller's own clock before any), rounded down; 0 once it
   * passed. Null unless admitted with a deadline.
   */
  readonly claimSecondsLeft: number | null;
  /** When (caller's epoch ms) the server last said anything about the place or its event. */
  readonly heardAt: number | null;
}

/**
 * What applying an update did.
 *
 * @example
 * socket.onmessage = (event) => {
 *   const message = readServerMessage(event.data);
 *   const applied: Applied | null = message && clock.applyMessage(message, Date.now());
 *   if (applied?.refresh) void pollStatus();
 * };
 */
export interface Applied {
  /** False when the update was ignored: older than what is shown (`seq`), or another place's. */
  readonly applied: boolean;
  /**
   * Ask the status route now: the place may just have been admitted, or the event's state
   * changed (the status answer is the source of truth and catches what a message missed).
   */
  readonly refresh: boolean;
  /**
   * The shown wait went up with this update. A client that is not reading the public event
   * document (its WebSocket is live) reads it once: a capacity or rate cut it shows is then
   * given as the reason.
   */
  readonly waitRose: boolean;
}

/**
 * A place as last shown, to carry across a reload (`PlaceClock.restore`). JSON-safe.
 *
 * @example
 * const snapshot: PlaceSnapshot | null = clock.snapshot(Date.now());
 * if (snapshot) localStorage.setItem('place', JSON.stringify(snapshot));
 * // After the reload: the stored JSON is untrusted, so its update is read again.
 * const stored = JSON.parse(localStorage.getItem('place') ?? 'null');
 * const update = stored && readPlaceUpdate(stored.update);
 * const restored = update ? PlaceClock.restore({ update, at: stored.at }) : null;
 */
export interface PlaceSnapshot {
  readonly update: PlaceUpdate;
  /** The caller's epoch ms at which `update` held. */
  readonly at: number;
  /** Server clock minus the caller's (ms), as the event documents read showed it; absent before any. */
  readonly skewMs?: number;
}

/**
 * Options of `PlaceClock`: the place's position, and how big a rise of the estimate is shown.
 *
 * @example
 * const options: PlaceClockOptions = { position: joined.position, toleranceSeconds: 10 };
 * const clock = new PlaceClock(options);
 */
export interface PlaceClockOptions {
  /** The place's position (from the join answer, or the position token's `pos`). */
  readonly position: number;
  /** A new estimate above the countdown by at most max(this, share × countdown) is not shown. */
  readonly toleranceSeconds?: number;
  readonly toleranceShare?: number;
  /** How long a rise's reason stays shown. */
  readonly reasonSeconds?: number;
}

const IGNORED: Applied = { applied: false, refresh: false, waitRose: false };

/**
 * The tolerances a `PlaceClock` uses unless given: a rise above max(5 s, 10 %) is shown, with
 * its reason for 30 s.
 *
 * @example
 * const clock = new PlaceClock({ position: 42, toleranceShare: CLOCK_DEFAULTS.toleranceShare * 2 }); // max(5 s, 20 %)
 */
export const CLOCK_DEFAULTS = { toleranceSeconds: 5, toleranceShare: 0.1, reasonSeconds: 30 } as const;

/**
 * The document is cached for a second in front of the API and read every few: a state told
 * in order (`seq`) this recently wins over a document that may have been read before it.
 */
const DOCUMENT_STATE_GRACE_MS = 3_000;
/** A rise this soon after a capacity or rate cut is put down to the cut… */
const CUT_CAUSE_MS = 60_000;
/** …and so is one this shortly before it (the status answer can tell before the document does). */
const CUT_RELABEL_MS = 10_000;
/**
 * The line has stalled when it has not moved for this long (a document read or two) and
 * at least three ticks, although the curve then expected admissions.
 */
const STALL_SECONDS = 10;
const STALL_TICKS = 3;
/** Documents whose clock offset is remembered (the freshest read tells the offset best). */
const SKEW_SAMPLES = 8;

function rateCut(before: number | null, after: number | null): boolean {
  return after !== null && (before === null || after < before);
}

/**
 * Counts a place down between updates.
 *
 * @example
 * const joined = readPlaceUpdate(await res.json());
 * if (!joined) throw new Error('not a join answer');
 * const clock = new PlaceClock({ position: joined.position });
 * clock.applyUpdate(joined, Date.now());
 * // …every few seconds, the public event document; on every socket message, the message:
 * const doc = readEventDocument(await (await fetch(documentUrl)).json());
 * if (doc) clock.applyDocument(doc, Date.now());
 * setInterval(() => render(clock.view(Date.now())), 250);
 */
export class PlaceClock {
  readonly position: number;
  readonly #tolerance: { seconds: number; share: number };
  readonly #reasonMs: number;

  #seq = Number.NEGATIVE_INFINITY;
  #status: PlaceStatus | 'left' | null = null;
  #eventState: EventState | null = null;
  /** When a state was last told in order (a message or a status answer). */
  #stateToldAt = Number.NEGATIVE_INFINITY;
  #claimBy: number | null = null;
  #serving: number | null = null;
  /** The last personal update and when it arrived. */
  #base: { update: PlaceUpdate; at: number } | null = null;
  /** The `ahead` shown. */
  #ahead: number | null = null;
  /** A refresh was asked for because the document says the place is probably admitted. */
  #askedAdmission = false;
  #doc: EventDocument | null = null;
  /** Server clock minus ours (ms), as each document showed it. */
  #skews: number[] = [];
  #cutAt = Number.NEGATIVE_INFINITY;
  /** The document at which the line last moved, to tell a stall. */
  #moved: { admittedTotal: number; generatedAt: number; curve: WaitCurve | null } | null = null;
  #stalled = false;
  /** The countdown: `seconds` left at time `at` (ms), unrounded. */
  #wait: { seconds: number; at: number } | null = null;
  #rise: { reason: WaitReason; at: number } | null = null;
  #heardAt: number | null = null;

  constructor(options: PlaceClockOptions) {
    this.position = options.position;
    this.#tolerance = {
      seconds: options.toleranceSeconds ?? CLOCK_DEFAULTS.toleranceSeconds,
      share: options.toleranceShare ?? CLOCK_DEFAULTS.toleranceShare,
    };
    this.#reasonMs = (options.reasonSeconds ?? CLOCK_DEFAULTS.reasonSeconds) * 1000;
  }

  /**
   * A clock for a place as it was last shown (a page reloaded, an app restarted): it goes on
   * counting from there, with the time that has passed since.
   *
   * @example
   * const stored = JSON.parse(localStorage.getItem('place') ?? 'null');
   * const update = stored && readPlaceUpdate(stored.snapshot.update);
   * const clock = update ? PlaceClock.restore({ update, at: stored.snapshot.at }) : null;
   */
  static restore(snapshot: PlaceSnapshot, options: Omit<PlaceClockOptions, 'position'> = {}): PlaceClock {
    const clock = new PlaceClock({ ...options, position: snapshot.update.position });
    clock.applyUpdate(snapshot.update, snapshot.at);
    if (typeof snapshot.skewMs === 'number' && Number.isFinite(snapshot.skewMs))
      clock.#skews.push(snapshot.skewMs);
    return clock;
  }

  /**
   * A join or status answer (or a `position` message's content). Ignored when its `seq` is
   * older than the last applied.
   *
   * @example
   * const update = readPlaceUpdate(await res.json());
   * // Read before what is shown (an eventually consistent read): ask again.
   * if (update && !clock.applyUpdate(update, Date.now()).applied) setTimeout(pollStatus, 1000);
   */
  applyUpdate(update: PlaceUpdate, now: number): Applied {
    if (update.position !== this.position || !this.#inOrder(update.seq)) return IGNORED;
    this.#reanchor(now);
    this.#heardAt = now;
    if (update.eventState) this.#tellState(update.eventState, now);
    if (this.#status !== 'left') this.#status = update.status ?? this.#status ?? 'waiting';
    const waiting = this.#status === 'waiting';
    this.#claimBy = this.#status === 'admitted' ? (update.claimBy ?? this.#claimBy) : null;
    this.#serving = Math.max(this.#serving ?? 0, update.servingPosition);
    this.#base = { update, at: now };
    this.#askedAdmission = false;
    if (!waiting) {
      this.#ahead = update.ahead;
      this.#wait = this.#status === 'left' ? null : { seconds: 0, at: now };
      this.#rise = null;
      return { applied: true, refresh: false, waitRose: false };
    }
    this.#ahead = this.#ahead === null ? update.ahead : Math.min(this.#ahead, update.ahead);
    if (update.admittedTotal !== null && this.#moved && update.admittedTotal > this.#moved.admittedTotal)
      this.#stalled = false;
    // A document newer than this answer (in line terms) still counts places off it.
    this.#countFromDocument();
    const rose = this.#offer(update.estimatedWaitSeconds, now);
    return { applied: true, refresh: false, waitRose: rose };
  }

  /**
   * A WebSocket message. `left` is applied whatever its `seq` (it is final for the place);
   * `admitted`, `paused`, `resumed` and `closed` ask for a status call.
   *
   * @example
   * const message = readServerMessage(event.data);
   * if (message && clock.applyMessage(message, Date.now()).refresh) pollStatus();
   */
  applyMessage(message: ServerMessage, now: number): Applied {
    switch (message.type) {
      case 'pong':
        return IGNORED;
      case 'left':
        this.#status = 'left';
        this.#wait = null;
        this.#heardAt = now;
        return { applied: true, refresh: false, waitRose: false };
      case 'position':
        // Another tab's place (a shared connection), or older than what is shown.
        if (message.update.position !== this.position) return IGNORED;
        return this.applyUpdate({ ...message.update, seq: message.seq }, now);
    }
    if (!this.#inOrder(message.seq)) return IGNORED;
    this.#reanchor(now);
    this.#heardAt = now;
    if (message.type === 'admitted') {
      // Only a waiting place becomes admitted: a claim (active) made since does not go back.
      if (this.#status === 'waiting' || this.#status === null) {
        this.#status = 'admitted';
        this.#claimBy = message.claimBy;
        this.#ahead = 0;
        this.#wait = { seconds: 0, at: now };
        this.#rise = null;
      }
    } else {
      this.#tellState(message.type === 'resumed' ? 'open' : message.type, now);
    }
    return { applied: true, refresh: true, waitRose: false };
  }

  /**
   * The public event document. A document older than one already applied is ignored.
   *
   * @example
   * const doc = readEventDocument(await res.json());
   * if (doc && clock.applyDocument(doc, Date.now()).refresh) pollStatus();
   */
  applyDocument(doc: EventDocument, now: number): Applied {
    const before = this.#doc;
    if (before && this.#older(doc, before)) return IGNORED;
    this.#reanchor(now);
    this.#heardAt = now;
    if (doc.generatedAt !== null) {
      this.#skews.push(doc.generatedAt * 1000 - now);
      if (this.#skews.length > SKEW_SAMPLES) this.#skews.shift();
    }
    if (before?.limits && doc.limits) {
      const { capacity, admitPerMinute } = doc.limits;
      if (capacity < before.limits.capacity || rateCut(before.limits.admitPerMinute, admitPerMinute)) {
        this.#cutAt = now;
        if (this.#rise?.reason === 'slowed' && now - this.#rise.at <= CUT_RELABEL_MS)
          this.#rise = { reason: 'capacity', at: this.#rise.at };
      }
    }
    this.#doc = doc;
    let refresh = false;
    if (this.#eventState !== doc.state && now - this.#stateToldAt >= DOCUMENT_STATE_GRACE_MS) {
      // The status answer this asks for confirms it, in order.
      refresh = this.#eventState !== null;
      this.#eventState = doc.state;
    }
    this.#serving = Math.max(this.#serving ?? 0, doc.servingPosition);
    if (this.#status !== 'waiting') return { applied: true, refresh, waitRose: false };
    this.#trackMovement(doc);
    const reached = this.#countFromDocument() || doc.servingPosition >= this.position;
    if (reached && !this.#askedAdmission) {
      // The line has reached this place: the status answer says whether it is admitted.
      this.#askedAdmission = true;
      refresh = true;
    }
    let rose = false;
    if (this.#eventState === 'closed') this.#wait = null;
    // Paused, the line does not move: a document read (every few seconds, live or not) says
    // nothing new, and the countdown stands still; the status answers of the pause and the
    // resume say what the wait is.
    else if (this.#eventState !== 'paused') rose = this.#offer(this.#documentEstimate(now), now);
    return { applied: true, refresh, waitRose: rose };
  }

  /**
   * What to show at `now` (the caller's epoch ms).
   *
   * @example
   * const { ahead, estimatedWaitSeconds, waitReason } = clock.view(Date.now());
   */
  view(now: number): PlaceView {
    const waiting = this.#status === 'waiting';
    const frozen = waiting && this.#frozen();
    const seconds = this.#waitAt(now);
    let estimatedWaitSeconds: number | null = null;
    if (seconds !== null && !(waiting && this.#eventState === 'closed'))
      estimatedWaitSeconds = waiting ? Math.max(1, Math.ceil(seconds - 1e-9)) : 0;
    const rose = waiting && this.#rise !== null && now - this.#rise.at < this.#reasonMs;
    let waitReason: WaitReason | null = null;
    if (waiting && this.#eventState === 'paused') waitReason = 'paused';
    else if (frozen) waitReason = 'slowed';
    else if (rose && this.#rise) waitReason = this.#rise.reason;
    let servingPosition = this.#serving;
    // The document may be read after the line passed this place, before its status says so.
    if (waiting && servingPosition !== null) servingPosition = Math.min(servingPosition, this.position - 1);
    return {
      position: this.position,
      status: this.#status,
      eventState: this.#eventState,
      servingPosition,
      ahead: this.#ahead,
      estimatedWaitSeconds,
      waitReason,
      waitRose: rose,
      waitFrozen: frozen,
      claimBy: this.#status === 'admitted' ? this.#claimBy : null,
      claimSecondsLeft: this.#claimSecondsLeft(now),
      heardAt: this.#heardAt,
    };
  }

  /**
   * The place as shown at `now`, to restore after a reload; null before the server said
   * anything about it.
   *
   * @example
   * localStorage.setItem('place', JSON.stringify({ token, snapshot: clock.snapshot(Date.now()) }));
   */
  snapshot(now: number): PlaceSnapshot | null {
    const base = this.#base?.update;
    if (!base) return null;
    const view = this.view(now);
    const doc = this.#doc;
    const counted =
      doc?.admittedTotal != null && base.admittedTotal !== null && doc.admittedTotal >= base.admittedTotal;
    return {
      at: now,
      ...(this.#skews.length > 0 ? { skewMs: Math.max(...this.#skews) } : {}),
      update: {
        ...base,
        seq: Number.isFinite(this.#seq) ? this.#seq : null,
        status: view.status === 'left' ? base.status : view.status,
        eventState: view.eventState,
        servingPosition: view.servingPosition ?? base.servingPosition,
        ahead: view.ahead ?? base.ahead,
        estimatedWaitSeconds: this.#status === 'waiting' ? this.#waitAt(now) : view.estimatedWaitSeconds,
        admittedTotal: counted ? (doc?.admittedTotal ?? null) : base.admittedTotal,
        // `ahead` above may already count the line's leaves: counting them again from these
        // would count them twice. The next personal update brings fresh ones.
        line: null,
        claimBy: view.claimBy,
        token: null,
      },
    };
  }

  #claimSecondsLeft(now: number): number | null {
    if (this.#status !== 'admitted' || this.#claimBy === null) return null;
    // The freshest document tells the offset best; each one is a little behind the server.
    const skew = this.#skews.length > 0 ? Math.max(...this.#skews) : 0;
    return Math.max(0, Math.floor(this.#claimBy - (now + skew) / 1000));
  }

  /** True (and remembered) unless `seq` is older than the last applied; no seq is not ordered. */
  #inOrder(seq: number | null): boolean {
    if (seq === null) return true;
    if (seq < this.#seq) return false;
    this.#seq = seq;
    return true;
  }

  #tellState(state: EventState, now: number): void {
    this.#eventState = state;
    this.#stateToldAt = now;
    if (state !== 'open') {
      this.#moved = null;
      this.#stalled = false;
    }
  }

  #older(doc: EventDocument, than: EventDocument): boolean {
    if (doc.generatedAt !== null && than.generatedAt !== null && doc.generatedAt < than.generatedAt)
      return true;
    return (
      doc.admittedTotal !== null && than.admittedTotal !== null && doc.admittedTotal < than.admittedTotal
    );
  }

  #frozen(): boolean {
    return this.#eventState === 'paused' || this.#stalled;
  }

  /** The countdown's seconds left at `now`, unrounded; it stands still while frozen. */
  #waitAt(now: number): number | null {
    const wait = this.#wait;
    if (!wait) return null;
    if (this.#status === 'waiting' && this.#frozen()) return wait.seconds;
    return Math.max(0, wait.seconds - Math.max(0, now - wait.at) / 1000);
  }

  /** Restarts the countdown from where it is now, before something may freeze or thaw it. */
  #reanchor(now: number): void {
    const seconds = this.#waitAt(now);
    this.#wait = seconds === null ? null : { seconds, at: now };
  }

  /**
   * A new estimate of the wait: lower than the countdown, it replaces it; higher by more
   * than the tolerance, it is shown with its reason; otherwise the countdown goes on.
   */
  #offer(estimate: number | null, now: number): boolean {
    if (estimate === null) return false;
    const shown = this.#waitAt(now);
    if (shown === null || estimate < shown) {
      this.#wait = { seconds: estimate, at: now };
      return false;
    }
    const tolerance = Math.max(this.#tolerance.seconds, this.#tolerance.share * shown);
    if (estimate <= shown + tolerance) return false;
    this.#wait = { seconds: estimate, at: now };
    this.#rise = { reason: this.#riseReason(now), at: now };
    return true;
  }

  #riseReason(now: number): WaitReason {
    if (this.#eventState === 'paused') return 'paused';
    if (now - this.#cutAt <= CUT_CAUSE_MS) return 'capacity';
    return 'slowed';
  }

  /**
   * The last personal update's `ahead` as of the document; null when they cannot be
   * compared (an older server, or a document older than the update). Two counts, the lower
   * one wins (each only ever counts places truly gone):
   * - by admissions: the document's `admittedTotal` minus the update's is how many real
   *   places went in since;
   * - by the line (when both carry it): the places gone before the place's cell since
   *   (admitted, or given up), and a share of its own cell's new leaves as large as the
   *   share of the cell before the place, rounded down (shared/domain/line-cells.ts).
   */
  #aheadAsOfDocument(): number | null {
    const base = this.#base?.update;
    const doc = this.#doc;
    if (!base || !doc) return null;
    let byCount: number | null = null;
    if (base.admittedTotal !== null && doc.admittedTotal !== null && doc.admittedTotal >= base.admittedTotal)
      byCount = base.ahead - (doc.admittedTotal - base.admittedTotal);
    const byLine = this.#aheadByLine(base, doc);
    if (byLine === null) return byCount;
    return byCount === null ? byLine : Math.min(byCount, byLine);
  }

  #aheadByLine(base: PlaceUpdate, doc: EventDocument): number | null {
    const line = doc.line;
    const told = base.line;
    if (!line || !told || line.blockSize !== told.blockSize) return null;
    const start = told.block;
    const end = told.block + told.blocks;
    // The serving position's block counts differently (only its leaves after the serving position).
    if (Math.floor(doc.servingPosition / line.blockSize) >= start) return null;
    let gone = line.goneThroughServing;
    let inCell = 0;
    for (const [block, blocks, left] of line.leaves) {
      if (block + blocks <= start) gone += left;
      else if (block >= end) break;
      // Cells only split as the front comes closer: one across the told cell's edge is not this line's.
      else if (block < start || block + blocks > end) return null;
      else inCell += left;
    }
    // A document read before the update (a copy a tick behind) says nothing new.
    if (gone < told.goneBefore) return null;
    // Of the cell's new leaves, the share of the cell before the place.
    const share = (this.position - 1 - start * told.blockSize) / (told.blocks * told.blockSize);
    const ownAhead = Math.floor(Math.max(0, inCell - told.blockLeaves) * share);
    return base.ahead - (gone - told.goneBefore) - ownAhead;
  }

  /** Counts the places the document says went in off the shown `ahead`; true when none are left. */
  #countFromDocument(): boolean {
    const base = this.#base?.update;
    const ahead = this.#aheadAsOfDocument();
    if (!base || ahead === null || this.#ahead === null) return false;
    // Never below 1 by counting alone: only the server says a place has nobody ahead.
    const floor = Math.min(1, base.ahead);
    this.#ahead = Math.min(this.#ahead, Math.max(floor, ahead));
    return ahead <= 0 && base.ahead > 0;
  }

  /** The wait the document's curve gives the shown `ahead`, as of `now`. */
  #documentEstimate(now: number): number | null {
    const doc = this.#doc;
    if (!doc?.waitCurve || this.#ahead === null || this.#aheadAsOfDocument() === null) return null;
    const wait = curveWaitSeconds(doc.waitCurve, Math.max(1, this.#ahead));
    if (wait === null) return null;
    // Paused: the curve is the wait once admissions resume, which does not run down meanwhile.
    if (this.#eventState === 'paused' || doc.generatedAt === null) return wait;
    const skew = Math.max(...this.#skews);
    const elapsed = Math.max(0, (now + skew) / 1000 - doc.generatedAt);
    return Math.max(0, wait - elapsed);
  }

  /** A stall: the line has not moved for a while although the curve then expected it to. */
  #trackMovement(doc: EventDocument): void {
    if (doc.state !== 'open' || doc.admittedTotal === null || doc.generatedAt === null) {
      this.#moved = null;
      this.#stalled = false;
      return;
    }
    const moved = this.#moved;
    if (!moved || doc.admittedTotal !== moved.admittedTotal) {
      this.#moved = { admittedTotal: doc.admittedTotal, generatedAt: doc.generatedAt, curve: doc.waitCurve };
      this.#stalled = false;
      return;
    }
    if (!moved.curve) return;
    const span = doc.generatedAt - moved.generatedAt;
    const tick = moved.curve.tickSeconds;
    // A tick's grace: a tick that runs a little late is not a stall.
    const expected = curveAdmittedWithin(moved.curve, span - tick);
    this.#stalled = span >= Math.max(STALL_SECONDS, STALL_TICKS * tick) && expected >= 1;
  }
}
