/**
 * The waiting room's use cases: what each route does, over the store and token
 * ports. Handlers parse and map; everything decided about a fan's place is here
 * or in shared/domain.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import {
  ConflictError,
  EventClosedError,
  EventNotFoundError,
  InvalidTokenError,
  LeftError,
  MissedError,
  NotYetError,
  RateLimitedError,
  ServiceUnavailableError,
  SessionEndedError,
} from '#domain/errors';
import { admitRatePerMinute, pollAfterSeconds, waitCurve, waitEstimate } from '#domain/estimate';
import { type EventConfigInput, type EventRecord, mergeConfig, nextState } from '#domain/event';
import {
  admissibleFromSec,
  INTAKE_STRIPES,
  STRIPE_ATTEMPTS,
  shardedTiming,
  sliceAt,
  ticketOf,
  ticketPosition,
} from '#domain/intake';
import { type PlaceStatus, placeStatus, type Session } from '#domain/place';
import { decide, windowStart } from '#domain/rate-limit';
import {
  DOCUMENT_POLL_SECONDS,
  settlingPollSeconds,
  statusPollSeconds,
  UPDATE_DEFAULTS,
} from '#domain/updates';
import type { TokenService } from '#lib/token-service';
import type { IdentityVerifier } from '#ports/identity';
import { type Metrics, NO_METRICS } from '#ports/metrics';
import type { QueueStore } from '#ports/queue-store';
import { type ChangeNotifier, NO_NOTIFIER } from '#ports/realtime';
import { Line, type PlaceLine, publicLine } from './line.ts';
import { logger } from './logger.ts';

export interface WaitingRoomDeps {
  readonly store: QueueStore;
  readonly tokens: TokenService;
  /** Null: dev mode, the `userId` field is trusted. */
  readonly identity: IdentityVerifier | null;
  readonly wsUrl: string | null;
  readonly joinRateLimitPerMinute: number;
  readonly now?: () => number;
  /** Told when an operator changes an event's state, so connected fans hear it. */
  readonly notifier?: ChangeNotifier;
  readonly metrics?: Metrics;
  /**
   * How long join, status and the public document may reuse an event read (and leave
   * counts), per process: at 100,000 joins/s one META item cannot be read by every
   * request. 0 (the default) reads every time.
   */
  readonly eventCacheMs?: number;
  /** The admitter's tick interval (the wait estimate counts in ticks); 5 s when not given, as on AWS. */
  readonly tickSeconds?: number;
  /** Status polls per second one event's pollers are paced to (shared/domain/updates.ts). */
  readonly statusRequestsPerSecond?: number;
  /** How joins and leaves wait for a racing request of the same place; the simulator passes its virtual clock's. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_TICK_SECONDS = 5;

export interface JoinInput {
  readonly eventId: string;
  readonly userId?: string | undefined;
  readonly identityToken?: string | undefined;
  readonly clientIp?: string | undefined;
}

export interface PlaceView {
  readonly position: number;
  readonly servingPosition: number;
  readonly ahead: number;
  readonly estimatedWaitSeconds: number | null;
  readonly pollAfterSeconds: number;
  /**
   * Real places the event had admitted when `ahead` was worked out: a client takes the
   * public document's later `admittedTotal` off `ahead` to count down by itself.
   */
  readonly admittedTotal: number;
  /**
   * The places gone (admitted, or left) before the place's cell of the public document's
   * `line` when `ahead` was worked out, and the leaves of that cell then: with the document,
   * a client takes the leaves ahead off `ahead` too (decision 0013). Null when it cannot.
   */
  readonly line: PlaceLine | null;
}

export interface JoinResult extends PlaceView {
  readonly created: boolean;
  readonly eventId: string;
  readonly token: string;
  readonly wsUrl: string | null;
}

export interface StatusResult extends PlaceView {
  readonly status: PlaceStatus;
  readonly eventState: EventRecord['state'];
  /**
   * The event's version this answer was read at, the `seq` of WebSocket messages: a client
   * that has applied a message with a higher seq ignores this (older) answer's line.
   */
  readonly seq: number;
  readonly token: string;
  /** Present while `admitted`: claim before this epoch second. */
  readonly claimBy?: number;
  /** Present while `active`: the purchase window ends at this epoch second. */
  readonly sessionEndsAt?: number;
}

export interface AdmissionResult {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly sessionId: string;
}

export interface EventConfigView {
  readonly eventId: string;
  readonly state: EventRecord['state'];
  readonly capacity: number;
  readonly admitPerMinute: number | null;
  readonly purchaseWindowSeconds: number;
  readonly claimWindowSeconds: number;
  readonly positionTtlSeconds: number;
  readonly nearThreshold: number;
  readonly expectedPurchaseSeconds: number | null;
  readonly intake: EventRecord['config']['intake'];
  readonly createdAt: number;
  readonly updatedAt: number;
}

const ANONYMOUS_PREFIX = 'anon_';

/** What taking a position needs of an event; fixed when it is created. */
type IntakeOf = Pick<EventRecord, 'eventId' | 'createdAt'> & {
  readonly config: Pick<EventRecord['config'], 'intake'>;
};

/** A position just taken; a sharded ticket brings its stripe's counts (for `ahead` before the slice settles). */
interface Taken {
  readonly position: number;
  readonly stripeCounts?: ReadonlyMap<number, number> | undefined;
}
/** A reservation this old belongs to a join that died before it could bind a position. */
const USER_RESERVATION_STALE_SECONDS = 10;
/** About three seconds of polling (10 ms doubling to 250 ms) for a racing join to bind. */
const USER_RESERVATION_POLLS = 18;
/** `joinRateLimitPerMinute` counts over a sliding minute. */
const JOIN_LIMIT_WINDOW_SECONDS = 60;
/** How long a leave that met the admitter's fence waits for that admission (ticks are ≤ 5 s apart on AWS). */
const FENCED_LEAVE_WAIT_MS = 12_000;
const FENCED_LEAVE_POLL_MS = 200;
/** Concurrent operator updates of one event are re-merged this often before a 409. */
const PUT_EVENT_ATTEMPTS = 5;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function configView(event: EventRecord): EventConfigView {
  return {
    eventId: event.eventId,
    state: event.state,
    ...event.config,
    createdAt: event.createdAt,
    updatedAt: event.updatedAt,
  };
}

export class WaitingRoom {
  readonly #store: QueueStore;
  readonly #tokens: TokenService;
  readonly #deps: WaitingRoomDeps;
  readonly #now: () => number;
  readonly #line: Line;
  readonly #events = new Map<string, { event: EventRecord; at: number }>();

  constructor(deps: WaitingRoomDeps) {
    this.#deps = deps;
    this.#store = deps.store;
    this.#tokens = deps.tokens;
    this.#now = deps.now ?? Date.now;
    this.#line = new Line(deps.store, { cacheMs: deps.eventCacheMs ?? 0, now: this.#now });
  }

  /** The event as the hot routes see it: reused for `eventCacheMs`, so META is read that often per process. */
  async #cachedEvent(eventId: string): Promise<EventRecord> {
    const ttl = this.#deps.eventCacheMs ?? 0;
    const hit = this.#events.get(eventId);
    if (hit && this.#now() - hit.at < ttl) return hit.event;
    const event = await this.#event(eventId);
    if (ttl > 0) {
      if (this.#events.size >= 1024) this.#events.clear();
      this.#events.set(eventId, { event, at: this.#now() });
    }
    return event;
  }

  #nowSec(): number {
    return Math.floor(this.#now() / 1000);
  }

  async #event(eventId: string, consistent = false): Promise<EventRecord> {
    // An eventually consistent miss may be an event created a moment ago: a new
    // event accepts joins at once, so confirm with a consistent read before a 404.
    const event =
      (await this.#store.getEvent(eventId, { consistent })) ??
      (consistent ? undefined : await this.#store.getEvent(eventId, { consistent: true }));
    if (!event) throw new EventNotFoundError(eventId);
    return event;
  }

  #ahead(event: EventRecord, position: number): Promise<number> {
    return this.#line.ahead(event, position);
  }

  async #placeView(
    event: EventRecord,
    position: number,
    stripeCounts?: ReadonlyMap<number, number>,
  ): Promise<PlaceView> {
    const { ahead, line } = await this.#line.count(event, position, stripeCounts);
    const nowSec = this.#now() / 1000;
    const tickSeconds = this.#deps.tickSeconds ?? DEFAULT_TICK_SECONDS;
    const estimatedWaitSeconds = waitEstimate({
      event,
      ahead,
      nowSec,
      tickSeconds,
      ...(event.config.intake === 'sharded' && shardedTiming(event.createdAt, position, ahead)),
    });
    let pace = statusPollSeconds(pollAfterSeconds(ahead, estimatedWaitSeconds), ahead, {
      statusRequestsPerSecond: this.#deps.statusRequestsPerSecond ?? UPDATE_DEFAULTS.statusRequestsPerSecond,
      positionTtlSeconds: event.config.positionTtlSeconds,
    });
    // An estimate until the place's slice is settled: asked again once it is.
    if (event.config.intake === 'sharded' && ticketOf(position).slice > event.settledSlice)
      pace = settlingPollSeconds(pace, admissibleFromSec(event.createdAt, position), nowSec, tickSeconds);
    return {
      position,
      servingPosition: event.servingPosition,
      ahead,
      estimatedWaitSeconds,
      pollAfterSeconds: pace,
      admittedTotal: event.admittedTotal,
      line,
    };
  }

  async #limitJoins(clientIp: string | undefined, nowSec: number) {
    const limit = this.#deps.joinRateLimitPerMinute;
    if (limit <= 0 || !clientIp) return;
    const start = windowStart(nowSec, JOIN_LIMIT_WINDOW_SECONDS);
    const counts = await this.#store.hitRateLimit(`join:${clientIp}`, start, JOIN_LIMIT_WINDOW_SECONDS);
    const decision = decide(counts, limit, nowSec, JOIN_LIMIT_WINDOW_SECONDS);
    if (!decision.allowed) throw new RateLimitedError(decision.retryAfterSeconds);
  }

  async #userId(input: JoinInput): Promise<string | undefined> {
    if (!this.#deps.identity) return input.userId;
    if (!input.identityToken) throw new InvalidTokenError('identity token required');
    return this.#deps.identity.verify(input.identityToken);
  }

  async join(input: JoinInput): Promise<JoinResult> {
    const { eventId } = input;
    const nowSec = this.#nowSec();
    const userId = await this.#userId(input);
    await this.#limitJoins(input.clientIp, nowSec);
    // The (cached) event first: how it takes positions, and a closed event takes none. Read
    // before the position, so a failed read never leaves a number taken by nobody, and a
    // join's number is never older than its answer by a slow read (fairness).
    const event = await this.#cachedEvent(eventId);
    if (event.state === 'closed') throw new EventClosedError();
    // Closing is final in the store too (the counter's flag, sealed stripes): a join that
    // raced the close is refused there.
    const taken =
      userId === undefined
        ? { ...(await this.#takePosition(event)), created: true }
        : await this.#userPlace(event, userId, nowSec);
    const { position, created } = taken;
    const sub = userId ?? `${ANONYMOUS_PREFIX}${randomUUID()}`;
    const { token } = await this.#tokens.signPosition({
      eventId,
      sub,
      pos: position,
      nowSec,
      ttlSeconds: event.config.positionTtlSeconds,
    });
    if (created) (this.#deps.metrics ?? NO_METRICS).record('Joins', 1);
    return {
      created,
      eventId,
      token,
      wsUrl: this.#deps.wsUrl,
      ...(await this.#placeView(event, position, taken.stripeCounts)),
    };
  }

  /**
   * A new position: the event's counter (exact), or a ticket from a random stripe of the
   * current slice (sharded; decision 0008). The first ticket of a stripe in a slice rings
   * the intake bell, so the admitter knows the slice has joins to settle.
   */
  async #takePosition(event: IntakeOf): Promise<Taken> {
    if (event.config.intake === 'exact')
      return { position: await this.#store.allocatePosition(event.eventId) };
    let slice = sliceAt(event.createdAt, this.#now());
    for (let attempt = 0; attempt < STRIPE_ATTEMPTS + 2; attempt++) {
      const stripe = randomInt(INTAKE_STRIPES);
      const ticket = await this.#store.takeTicket(event.eventId, slice, stripe);
      if (ticket.outcome === 'closed') throw new EventClosedError();
      if (ticket.outcome === 'sealed') {
        // This clock is behind the admitter's: the slice is settled, take one after it.
        slice = Math.max(slice, ticket.sealedThrough + 1);
        continue;
      }
      if (ticket.outcome === 'full') continue;
      if (ticket.row === 1) await this.#store.ringIntake(event.eventId, slice);
      return {
        position: ticketPosition({ slice, stripe, row: ticket.row }),
        stripeCounts: ticket.stripeCounts,
      };
    }
    throw new ServiceUnavailableError(
      'throttled',
      'The queue is taking more joins than it can; retry shortly.',
      1,
    );
  }

  /**
   * The user's one place: the first join reserves it and only then takes a position,
   * so concurrent first joins of one user (many devices, retries) cost one position,
   * never a trail of empty places that would hold capacity slots.
   */
  async #userPlace(event: IntakeOf, userId: string, nowSec: number): Promise<Taken & { created: boolean }> {
    const { eventId } = event;
    for (let attempt = 0; attempt < USER_RESERVATION_POLLS; attempt++) {
      const slot = await this.#store.getUserSlot(eventId, userId);
      if (slot && 'position' in slot) return { position: slot.position, created: false };
      const stale = nowSec - USER_RESERVATION_STALE_SECONDS;
      if (!slot || slot.reservedAt < stale) {
        if (await this.#store.reserveUser(eventId, userId, nowSec, stale)) {
          let taken: Taken;
          try {
            taken = await this.#takePosition(event);
          } catch (error) {
            await this.#store.releaseUser(eventId, userId, nowSec);
            throw error;
          }
          if (await this.#bound(eventId, userId, taken.position, nowSec)) return { ...taken, created: true };
          // This join was so slow that another one took its reservation over as stale: that
          // one's place is the user's. This position is nobody's, so it is given up (void,
          // or its slot handed back) rather than left to hold a slot, and the loop reads the
          // other join's place.
          logger.warn('join lost its reservation; its position is given up', {
            eventId,
            position: taken.position,
          });
          await this.#giveUp(eventId, taken.position, userId);
          continue;
        }
        continue; // Another join reserved first: read what it did.
      }
      // Another join of this user holds the reservation: its position appears in milliseconds.
      await (this.#deps.sleep ?? defaultSleep)(Math.min(10 * 2 ** attempt, 250));
    }
    throw new ServiceUnavailableError(
      'throttled',
      'Another join of this user is in progress; retry shortly.',
      1,
    );
  }

  /**
   * Binds the user to `position` over the reservation made at `reservedAt`. A refusal is
   * read back: a bind that landed but whose answer was lost (and retried) is still this one.
   */
  async #bound(eventId: string, userId: string, position: number, reservedAt: number): Promise<boolean> {
    if (await this.#store.bindUser(eventId, userId, position, reservedAt)) return true;
    const slot = await this.#store.getUserSlot(eventId, userId);
    return slot !== undefined && 'position' in slot && slot.position === position;
  }

  async status(eventId: string, token: string): Promise<StatusResult> {
    const claims = await this.#tokens.verifyPosition(token, eventId);
    const nowSec = this.#nowSec();
    const event = await this.#cachedEvent(eventId);
    const admitted = claims.pos <= event.servingPosition;
    // A waiting place that left is counted in its block: most status calls need no marker read.
    // (A published copy's leave counts are a tick old: its own marker says for sure.)
    const mayHaveLeft =
      admitted || event.line !== undefined || (await this.#line.mayHaveLeft(eventId, claims.pos));
    const [batch, session, left] = await Promise.all([
      admitted ? this.#line.batch(eventId, claims.pos) : undefined,
      admitted ? this.#store.getSession(eventId, claims.pos) : undefined,
      mayHaveLeft ? this.#store.hasLeft(eventId, claims.pos) : false,
    ]);
    if (left) throw new LeftError();
    const status = placeStatus({
      position: claims.pos,
      servingPosition: event.servingPosition,
      batch,
      session,
      nowSec,
    });
    const refreshed = await this.#tokens.signPosition({
      eventId,
      sub: claims.sub,
      pos: claims.pos,
      nowSec,
      ttlSeconds: event.config.positionTtlSeconds,
    });
    return {
      status,
      eventState: event.state,
      seq: event.version,
      token: refreshed.token,
      ...(await this.#placeView(event, claims.pos)),
      ...(status === 'admitted' && batch ? { claimBy: batch.claimBy } : {}),
      ...(status === 'active' && session ? { sessionEndsAt: session.endsAt } : {}),
    };
  }

  async #access(eventId: string, session: Session, nowSec: number): Promise<AdmissionResult> {
    const accessToken = await this.#tokens.signAccess({
      eventId,
      sub: session.sub,
      pos: session.position,
      sid: session.sessionId,
      nowSec,
      exp: session.endsAt,
    });
    return { accessToken, expiresAt: session.endsAt, sessionId: session.sessionId };
  }

  /** Issues the access token once per place; a repeated call returns the same session. */
  async claim(eventId: string, token: string): Promise<AdmissionResult> {
    const claims = await this.#tokens.verifyPosition(token, eventId);
    const nowSec = this.#nowSec();
    const event = await this.#event(eventId, true);
    const existing = await this.#store.getSession(eventId, claims.pos);
    if (existing) {
      // A place given up after it claimed: its session was ended with it.
      if (await this.#store.hasLeft(eventId, claims.pos)) throw new LeftError();
      return this.#existingSession(eventId, existing, claims.sub, nowSec);
    }
    if (claims.pos > event.servingPosition) {
      if (await this.#store.hasLeft(eventId, claims.pos)) throw new LeftError();
      if (event.state === 'closed') throw new EventClosedError();
      throw new NotYetError(await this.#ahead(event, claims.pos));
    }
    // Closing stops admissions; places already admitted keep their claim window,
    // as `admitted` promises ("may claim now, until claimBy").
    const batch = await this.#line.batch(eventId, claims.pos);
    if (!batch) throw new NotYetError(0);
    if (nowSec >= batch.claimBy) {
      if (await this.#store.hasLeft(eventId, claims.pos)) throw new LeftError();
      throw new MissedError();
    }
    const session: Session = {
      position: claims.pos,
      sessionId: `s_${randomBytes(16).toString('base64url')}`,
      sub: claims.sub,
      claimedAt: nowSec,
      endsAt: nowSec + event.config.purchaseWindowSeconds,
      claimBy: batch.claimBy,
      completedAt: null,
    };
    const result = await this.#store.claimSession(eventId, session);
    if (result.outcome === 'missed') throw new MissedError();
    if (result.outcome === 'left') throw new LeftError();
    if (result.outcome === 'existing')
      return this.#existingSession(eventId, result.session, claims.sub, nowSec);
    return this.#access(eventId, result.session, nowSec);
  }

  async #existingSession(eventId: string, session: Session, sub: string, nowSec: number) {
    // Tokens are ours, so a different sub for the same place means a forged or crossed token.
    if (session.sub !== sub) throw new InvalidTokenError('place claimed by another subject');
    if (session.completedAt !== null || nowSec >= session.endsAt) {
      throw new SessionEndedError();
    }
    return this.#access(eventId, session, nowSec);
  }

  /** Ends the session now and frees its slot; repeating it changes nothing. */
  async complete(eventId: string, token: string): Promise<void> {
    const claims = await this.#tokens.verifyAccess(token, eventId);
    await this.#store.completeSession(eventId, claims.pos, claims.sid, this.#nowSec());
  }

  /**
   * Gives the place up for good (contract v1.1 `DELETE …/place`); repeating it changes
   * nothing. A waiting place becomes a void number the admitter skips; an admitted one
   * gives its slot back at once; a claimed one ends its session as `complete` would.
   */
  async leave(eventId: string, token: string): Promise<void> {
    const claims = await this.#tokens.verifyPosition(token, eventId);
    await this.#giveUp(eventId, claims.pos, claims.sub);
    // Only once the place is given up (a failed leave keeps it, and its user bound to it):
    // the user may join again later, for a new place. Repeating a leave repeats this too.
    if (!claims.sub.startsWith(ANONYMOUS_PREFIX))
      await this.#store.unbindUser(eventId, claims.sub, claims.pos);
  }

  async #giveUp(eventId: string, position: number, sub: string): Promise<void> {
    const nowSec = this.#nowSec();
    const session = await this.#store.getSession(eventId, position);
    if (session) {
      if (session.sub !== sub) throw new InvalidTokenError('place claimed by another subject');
      await this.#store.completeSession(eventId, position, session.sessionId, nowSec);
      if ((await this.#store.markLeft(eventId, position, nowSec)) === 'left') {
        const event = await this.#event(eventId);
        await this.#tellLeft(event, position, nowSec);
      }
      return;
    }
    const event = await this.#event(eventId, true);
    if (position > event.servingPosition) {
      const outcome = await this.#store.leaveWaiting(eventId, position, nowSec);
      if (outcome === 'left') await this.#tellLeft(event, position, nowSec);
      if (outcome !== 'fenced') return;
      // A tick fenced the place before this leave landed, so it counts the place as real and
      // gives it a slot: wait for that admission, then hand the slot back like an admitted leave.
      await this.#admittedBy(eventId, position);
    }
    // Any batch that covers a place never voided counted it, so freeing its slot is exact.
    const batch = await this.#store.findBatch(eventId, position);
    const outcome = await this.#store.leaveAdmitted(
      eventId,
      position,
      batch?.claimBy ?? null,
      this.#nowSec(),
    );
    if (outcome === 'left') await this.#tellLeft(event, position, nowSec);
  }

  /** Waits (a few ticks at most) until the serving position reaches a fenced place. */
  async #admittedBy(eventId: string, position: number): Promise<void> {
    for (let waited = 0; waited < FENCED_LEAVE_WAIT_MS; waited += FENCED_LEAVE_POLL_MS) {
      const event = await this.#event(eventId, true);
      if (event.servingPosition >= position || event.state !== 'open') return;
      await (this.#deps.sleep ?? defaultSleep)(FENCED_LEAVE_POLL_MS);
    }
    // Still not admitted (ticks failing): it is marked left below; its slot, when a tick
    // admits it, comes back when its claim window ends.
  }

  /** The place's open connections hear `left` and are closed (through the fan-out worker). */
  async #tellLeft(event: EventRecord, position: number, nowSec: number) {
    try {
      await (this.#deps.notifier ?? NO_NOTIFIER).notify([
        { kind: 'left', eventId: event.eventId, seq: event.version, position, at: nowSec },
      ]);
    } catch (error) {
      // The place is void either way; a connection left open only hears no more news for it.
      logger.error('could not hand off leave', { error: error as Error, eventId: event.eventId });
    }
  }

  /** Held numbers taken by joins: the exact counter, or the settled tickets of a sharded event. */
  #issued(event: EventRecord, counterIssued: number): number {
    return event.config.intake === 'exact' ? counterIssued : event.settledHeld;
  }

  async publicEvent(eventId: string) {
    const event = await this.#cachedEvent(eventId);
    // A sharded event's held numbers are in the event itself: no counter read on this hot route.
    const issued = this.#issued(
      event,
      event.config.intake === 'exact' ? await this.#store.getIssued(eventId) : 0,
    );
    const nowSec = this.#now() / 1000;
    const tickSeconds = this.#deps.tickSeconds ?? DEFAULT_TICK_SECONDS;
    return {
      eventId,
      state: event.state,
      servingPosition: event.servingPosition,
      issued,
      admitRatePerMinute: admitRatePerMinute(event.recentTicks, Math.floor(nowSec)),
      updatedAt: event.updatedAt,
      // What a client needs to count its own place down between personal updates (issue 8).
      admittedTotal: event.admittedTotal,
      capacity: event.config.capacity,
      admitPerMinute: event.config.admitPerMinute,
      generatedAt: Math.round(nowSec * 1000) / 1000,
      waitCurve: waitCurve(event, Math.max(0, issued - event.admittedTotal), nowSec, tickSeconds),
      pollAfterSeconds: DOCUMENT_POLL_SECONDS,
      line: publicLine(event),
    };
  }

  /**
   * Creates the event or merges a partial update into its configuration. The write
   * is conditional on the configuration read (its `configVersion`), so a concurrent
   * update is never lost: the loser reads again and merges on top of the winner.
   */
  async putEvent(eventId: string, input: EventConfigInput): Promise<EventConfigView> {
    for (let attempt = 0; attempt < PUT_EVENT_ATTEMPTS; attempt++) {
      const current = await this.#store.getEvent(eventId, { consistent: true });
      if (current && input.intake !== undefined && input.intake !== current.config.intake)
        throw new ConflictError(
          'intake_locked',
          `The intake of an event is fixed when it is created (this one is "${current.config.intake}").`,
        );
      const written = await this.#store.putEvent(
        eventId,
        mergeConfig(current?.config, input),
        this.#nowSec(),
        current?.configVersion,
      );
      if (written) {
        await this.#publish(eventId);
        return configView(written.event);
      }
    }
    throw new ConflictError(
      'conflict',
      'The event was changed by other requests at the same time; read it and try again.',
    );
  }

  async changeState(eventId: string, action: 'pause' | 'resume' | 'close'): Promise<EventConfigView> {
    const current = await this.#event(eventId, true);
    const target = nextState(current.state, action);
    if (target === 'forbidden')
      throw new ConflictError('event_closed', 'A closed event cannot be reopened or paused.');
    const nowSec = this.#nowSec();
    const updated = await this.#store.setEventState(eventId, target, nowSec);
    await this.#publish(eventId);
    if (current.state !== target) {
      try {
        await (this.#deps.notifier ?? NO_NOTIFIER).notify([
          {
            kind: 'state',
            eventId,
            // The version this change wrote, and the line as it stood then.
            seq: updated.version,
            state: target,
            servingPosition: updated.servingPosition,
            at: nowSec,
          },
        ]);
      } catch (error) {
        // The state has changed; pollers see it even if connected fans are not told at once.
        logger.error('could not hand off state change', { error: error as Error, eventId });
      }
    }
    return configView(updated);
  }

  /** Where the hot routes read the event from copies, they see an operator's change now, not at the next tick. */
  async #publish(eventId: string) {
    try {
      await this.#store.publishView(eventId);
    } catch (error) {
      // Changed anyway: the copies catch up at the next tick.
      logger.error('could not publish event', { error: error as Error, eventId });
    }
  }

  /**
   * The events the admitter still ticks (open, paused, and closed ones with slots still
   * held), by id: what an operator steers. A closed event whose slots are all released is
   * retired from that list and no longer shown; its stats stay readable by id.
   */
  async listEvents(): Promise<EventConfigView[]> {
    const ids = [...(await this.#store.listActiveEventIds())].sort();
    const events = await Promise.all(ids.map((id) => this.#store.getEvent(id, { consistent: true })));
    return events.flatMap((event) => (event ? [configView(event)] : []));
  }

  async stats(eventId: string) {
    const event = await this.#event(eventId, true);
    const counters = await this.#store.getCounters(eventId);
    const active = Math.max(0, counters.claimed - counters.completed - event.expired);
    const issued = this.#issued(event, counters.issued);
    const leavesWaiting = await this.#line.leavesAfter(eventId, event.servingPosition);
    return {
      eventId,
      // The server's time of these counts, so a chart can place them beside the ticks' `at`.
      at: this.#nowSec(),
      state: event.state,
      intake: event.config.intake,
      issued,
      servingPosition: event.servingPosition,
      waiting: Math.max(0, issued - event.heldThroughServing - leavesWaiting),
      admittedUnclaimed: Math.max(
        0,
        event.admittedTotal - counters.claimed - event.missed - counters.leftAdmitted,
      ),
      active,
      completed: counters.completed,
      expired: event.expired,
      missed: event.missed,
      capacity: event.config.capacity,
      admitRatePerMinute: admitRatePerMinute(event.recentTicks, this.#nowSec()),
      recentTicks: event.recentTicks,
    };
  }
}
