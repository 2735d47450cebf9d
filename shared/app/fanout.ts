/**
 * The fan-out worker: tells every connection of one shard of an event what a
 * change means for it. Runs apart from the admission tick (an asynchronous
 * Lambda per shard on AWS, scheduled work locally), posts with bounded
 * concurrency, and forgets connections that API Gateway says are gone.
 *
 * Jobs race and arrive in any order, so each shard keeps a cursor (the newest
 * `seq` sent and the admissions it covered, shared/domain/fanout-cursor.ts): a job
 * older than the cursor is skipped, and a newer one covers every admission since
 * the cursor, so skipping never loses an `admitted`.
 */
import { waitEstimate } from '#domain/estimate';
import { type FanoutCursor, fanoutStep, NO_CURSOR } from '#domain/fanout-cursor';
import { shardedTiming } from '#domain/intake';
import { fanoutPlan, type MessageKind, messageKinds, type ServerMessage } from '#domain/messages';
import type { AdmissionBatch } from '#domain/place';
import {
  phaseOf,
  planUpdates,
  tierOf,
  UPDATE_DEFAULTS,
  type UpdatePlan,
  type UpdatePolicy,
  updateFor,
  type WaitingFan,
} from '#domain/updates';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ConnectionPoster, ConnectionRecord, ConnectionRegistry, LineChange } from '#ports/realtime';
import { Line, type PlaceLine } from './line.ts';
import { eachLimited } from './pool.ts';

/** How long after `$connect` a Gone answer may just mean the handshake has not finished. */
const CONNECT_GRACE_SECONDS = 30;
/** Workers racing on one shard's cursor settle within a few rounds (each round, one of them wins). */
const CURSOR_ATTEMPTS = 8;

export interface FanoutDeps {
  readonly store: QueueStore;
  readonly registry: ConnectionRegistry;
  readonly poster: ConnectionPoster;
  readonly tokens: TokenService;
  /** Posts in flight at once per worker. */
  readonly concurrency: number;
  readonly now?: () => number;
  readonly onError?: (error: unknown, connectionId: string) => void;
  /** The admitter's tick interval, for the wait estimate (5 s when not given, as on AWS). */
  readonly tickSeconds?: number;
  /** Workers (connection shards) of one event: each takes its share of the message budget. */
  readonly shards?: number;
  /** `position` messages per second one event may send (shared/domain/updates.ts). */
  readonly messagesPerSecond?: number;
  /** Fans expected in within this many seconds hear every move. */
  readonly nearHorizonSeconds?: number;
  /** Waits (for spreading a round's far messages); tests pass a fake. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Far rounds of at least this many messages are spread over the tick (256 when not given);
   * a worker that stands for a sample of the connections (the simulator) scales it like the budget.
   */
  readonly spreadFromMessages?: number;
}

export interface FanoutResult {
  /** Messages posted. */
  readonly sent: number;
  readonly gone: number;
  readonly failed: number;
  /** Connections that had nothing to hear. */
  readonly skipped: number;
  /** True when a newer job had already gone out to the shard: this one sent nothing. */
  readonly superseded: boolean;
  /** Waiting fans of the far tier not due a `position` this move (shared/domain/updates.ts). */
  readonly notDue?: number;
  /** True when the far tier is told less often than every 10 s to stay within the budget. */
  readonly overloaded?: boolean;
}

const NOTHING: FanoutResult = { sent: 0, gone: 0, failed: 0, skipped: 0, superseded: false };
/** A round's far messages are spread over this share of the tick, so they end before the next. */
const SPREAD_SHARE_OF_TICK = 0.8;
/** Rounds this small go out at once: spreading them saves nothing. */
const SPREAD_FROM_MESSAGES = 256;
/** Spread rounds go out in this many steps. */
const SPREAD_STEPS = 10;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** When the line moved before `at`, as the kept tick records say; -∞ when they do not reach back. */
function previousMoveSec(ticks: readonly { at: number; from: number; to: number }[], at: number): number {
  for (let i = ticks.length - 1; i >= 0; i--) {
    const tick = ticks[i];
    if (tick && tick.at < at && tick.to > tick.from) return tick.at;
  }
  return Number.NEGATIVE_INFINITY;
}

/** The admission batch of a position: the job's own batch needs no read, others are cached per job. */
class BatchLookup {
  readonly #known: AdmissionBatch[] = [];

  constructor(
    private readonly store: QueueStore,
    private readonly eventId: string,
    seed: AdmissionBatch | null,
  ) {
    if (seed) this.#known.push(seed);
  }

  async claimBy(position: number): Promise<number | null> {
    let batch = this.#known.find((b) => position > b.from && position <= b.to);
    if (!batch) {
      batch = await this.store.findBatch(this.eventId, position);
      if (batch) this.#known.push(batch);
    }
    return batch?.claimBy ?? null;
  }
}

export class Fanout {
  readonly #deps: FanoutDeps;
  readonly #now: () => number;
  readonly #line: Line;

  constructor(deps: FanoutDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    // Leave counts are read once per job, not once per connection.
    this.#line = new Line(deps.store, { cacheMs: 1000, now: this.#now });
  }

  /**
   * Moves the shard's cursor to this job, or finds that a newer job went first. Returns
   * the admissions this job covers, or null to skip it.
   */
  async #claim(change: Extract<LineChange, { kind: 'moved' | 'state' }>, shard: number) {
    const { registry } = this.#deps;
    const serving = change.kind === 'moved' ? change.to : change.servingPosition;
    for (let attempt = 0; attempt < CURSOR_ATTEMPTS; attempt++) {
      const cursor = (await registry.readFanoutCursor(change.eventId, shard)) ?? NO_CURSOR;
      const step = fanoutStep(cursor, { seq: change.seq, serving });
      if (step.kind === 'skip') return null;
      // The same job again: what it covered is sent once more (messages are safe to repeat).
      if (step.kind === 'resend') return { from: step.from, to: step.to, cursor };
      if (await registry.advanceFanoutCursor(change.eventId, shard, cursor.seq, step.next)) {
        return { from: step.next.from, to: step.next.to, cursor: step.next };
      }
      // Another worker moved the cursor between our read and write: read what it did.
    }
    throw new Error(`fan-out cursor of ${change.eventId} shard ${shard} kept moving`);
  }

  /**
   * Past overload (every far fan at one interval beyond 30 s) the shard takes no new
   * connection beyond its near tier: the fans connected keep the contract's pace, the others
   * count down from the public document. Lifted by the first plan that fits again.
   */
  async #gate(
    change: LineChange,
    shard: number,
    cursor: FanoutCursor,
    line: {
      readonly plan: UpdatePlan;
      readonly policy: UpdatePolicy;
      readonly targets: readonly { readonly connection: ConnectionRecord; readonly fan?: WaitingFan }[];
      readonly servingPosition: number;
    },
  ) {
    let acceptsThrough: number | undefined;
    if (line.plan.uniform) {
      // Places within nearThreshold of the front, and as far back as the near tier reaches.
      acceptsThrough = line.servingPosition + line.policy.nearThreshold;
      for (const { connection, fan } of line.targets)
        if (fan && tierOf(line.policy, fan) === 'near')
          acceptsThrough = Math.max(acceptsThrough, connection.position);
    }
    if (acceptsThrough === cursor.acceptsThrough) return;
    const { acceptsThrough: _dropped, ...rest } = cursor;
    const next = acceptsThrough === undefined ? rest : { ...rest, acceptsThrough };
    // Lost to a newer job: that one's plan decides.
    await this.#deps.registry.advanceFanoutCursor(change.eventId, shard, cursor.seq, next);
  }

  /** A place was given up: its connections hear `left` and are closed (no cursor: it concerns one place). */
  async #tellLeft(change: Extract<LineChange, { kind: 'left' }>): Promise<FanoutResult> {
    const { registry, poster } = this.#deps;
    const message = JSON.stringify({ type: 'left', seq: change.seq });
    let sent = 0;
    let gone = 0;
    for (const { connectionId } of await registry.listPlace(change.eventId, change.position)) {
      if ((await poster.post(connectionId, message)) === 'gone') gone++;
      else sent++;
      await poster.close(connectionId);
      await registry.remove(connectionId);
    }
    return { ...NOTHING, sent, gone };
  }

  async run(change: LineChange, shard: number): Promise<FanoutResult> {
    if (change.kind === 'tick') return NOTHING;
    if (change.kind === 'left') return this.#tellLeft(change);
    // No age limit: a late job either finds a newer one has gone out (and is skipped) or is
    // itself the newest news, whose admissions must be told however late.
    const range = await this.#claim(change, shard);
    if (!range) return { ...NOTHING, superseded: true };
    const { store, registry, poster, tokens } = this.#deps;
    // Consistent: the positions told are the freshest, and never older than this job's.
    const event = await store.getEvent(change.eventId, { consistent: true });
    if (!event) return NOTHING;
    const nowSec = Math.floor(this.#now() / 1000);
    const plan = fanoutPlan({ change, range, current: event });
    const batches = new BatchLookup(
      store,
      change.eventId,
      change.kind === 'moved'
        ? {
            from: change.from,
            to: change.to,
            admitted: change.to - change.from,
            at: change.at,
            claimBy: change.claimBy,
          }
        : null,
    );

    const nowSec0 = this.#now() / 1000;
    const T = this.#deps.tickSeconds ?? 5;
    const policy: UpdatePolicy = {
      tickSeconds: T,
      nearThreshold: event.config.nearThreshold,
      nearHorizonSeconds: this.#deps.nearHorizonSeconds ?? UPDATE_DEFAULTS.nearHorizonSeconds,
      messagesPerSecond: this.#deps.messagesPerSecond ?? UPDATE_DEFAULTS.messagesPerSecond,
    };

    // Who hears what: every connection of the shard; a waiting fan's place is worked out for
    // its tier, and again exactly if it is told this move (its `position` message carries it).
    interface Target {
      readonly connection: ConnectionRecord;
      readonly kinds: MessageKind[];
      fan?: WaitingFan & { readonly line: PlaceLine | null };
    }
    const targets: Target[] = [];
    let cursor: string | undefined;
    do {
      const page = await registry.listShard(change.eventId, shard, cursor);
      for (const connection of page.items)
        targets.push({ connection, kinds: messageKinds(plan, connection.position) });
      cursor = page.next;
    } while (cursor);
    let failed = 0;

    const message = async (kind: MessageKind, target: Target): Promise<ServerMessage | null> => {
      const { connection } = target;
      if (kind === 'paused' || kind === 'resumed' || kind === 'closed')
        return { type: kind, seq: change.seq };
      if (kind === 'admitted') {
        // Only while the place may still claim: a missed place has nothing to act on.
        const claimBy = await batches.claimBy(connection.position);
        return claimBy !== null && claimBy > nowSec ? { type: 'admitted', seq: change.seq, claimBy } : null;
      }
      const fan = target.fan;
      if (!fan) return null;
      const { token } = await tokens.signPosition({
        eventId: change.eventId,
        sub: connection.sub,
        pos: connection.position,
        nowSec: Math.floor(this.#now() / 1000),
        ttlSeconds: event.config.positionTtlSeconds,
      });
      // The seq of the event read it was computed from: a newer read never loses to this one.
      // A message sent later in the round counts its wait down by the time it waited.
      const waited = this.#now() / 1000 - nowSec0;
      return {
        type: 'position',
        seq: event.version,
        position: connection.position,
        servingPosition: event.servingPosition,
        ahead: fan.ahead,
        estimatedWaitSeconds:
          fan.waitSeconds === null ? null : Math.max(1, Math.round(fan.waitSeconds - waited)),
        token,
        admittedTotal: event.admittedTotal,
        line: fan.line,
      };
    };

    let sent = 0;
    let gone = 0;
    let skipped = 0;
    const tell = async (target: Target) => {
      const { connection } = target;
      try {
        let told = 0;
        for (const kind of target.kinds) {
          const next = await message(kind, target);
          if (!next) continue;
          if ((await poster.post(connection.connectionId, JSON.stringify(next))) === 'gone') {
            gone++;
            // API Gateway answers Gone until `$connect` has returned: a brand-new connection is
            // kept (a later fan-out or its TTL sorts it out), an old one is forgotten.
            if (nowSec - connection.connectedAt > CONNECT_GRACE_SECONDS)
              await registry.remove(connection.connectionId);
            return;
          }
          sent++;
          told++;
        }
        if (told === 0) skipped++;
      } catch (error) {
        // One connection's failure must not stop the rest of the shard.
        failed++;
        this.#deps.onError?.(error, connection.connectionId);
      }
    };
    // Admissions and changes of state need no place: they go out before any is worked out,
    // so the near tier's `admitted` does not wait for the places of a shard's whole line.
    const placeless = new Set(targets.filter((t) => !t.kinds.includes('position')));
    await eachLimited([...placeless], this.#deps.concurrency, tell);

    const place = (exact: boolean) => async (target: Target) => {
      try {
        const position = target.connection.position;
        const counted = exact
          ? await this.#line.count(event, position)
          : { ahead: await this.#line.aheadAtMost(event, position), line: null };
        const { ahead } = counted;
        target.fan = {
          ahead,
          line: counted.line,
          waitSeconds: waitEstimate({
            event,
            ahead,
            nowSec: nowSec0,
            tickSeconds: T,
            ...(event.config.intake === 'sharded' && shardedTiming(event.createdAt, position, ahead)),
          }),
        };
      } catch (error) {
        failed++;
        target.kinds.length = 0;
        target.fan = undefined;
        this.#deps.onError?.(error, target.connection.connectionId);
      }
    };
    // Tiers from places worked out without reading each place's own leave block (at most a
    // few places more than exact): one read per block a shard's connections fall in, on
    // every move, would be most of the table's reads for a long sharded line.
    await eachLimited(
      targets.filter((t) => t.kinds.includes('position')),
      this.#deps.concurrency,
      place(false),
    );

    // The far tier hears a move in rounds (shared/domain/updates.ts); a resume, everyone.
    const waiting = targets.flatMap((t) => (t.fan ? [t.fan] : []));
    const updates: UpdatePlan = planUpdates(policy, waiting, 1 / Math.max(1, this.#deps.shards ?? 1));
    // Between this move's time and the one before, as the admitter stamped both: a job run
    // late still covers its own move, and consecutive moves cover time without overlap or
    // gap, so a far fan hears each point of its schedule once. (The worker's own clock, a
    // dispatch and a listing late, often into the next second, told some fans twice.)
    const movedAt = change.kind === 'moved' ? change.at : nowSec;
    const move = { previousMoveSec: previousMoveSec(event.recentTicks, movedAt), nowSec: movedAt };
    const spreadSeconds = T * SPREAD_SHARE_OF_TICK;
    const offsets = new Map<Target, number>();
    let notDue = 0;
    for (const target of targets) {
      if (!target.fan) continue;
      const update =
        change.kind === 'moved'
          ? updateFor(
              policy,
              updates,
              { ...target.fan, phase: phaseOf(target.connection.connectionId) },
              move,
              spreadSeconds,
            )
          : { tier: 'near' as const, offsetSeconds: 0 };
      if (update === null) {
        notDue++;
        target.kinds.splice(target.kinds.indexOf('position'), 1);
      } else if (update.offsetSeconds > 0) offsets.set(target, update.offsetSeconds);
    }
    const spread = offsets.size >= (this.#deps.spreadFromMessages ?? SPREAD_FROM_MESSAGES);
    await this.#gate(change, shard, range.cursor, {
      plan: updates,
      policy,
      targets,
      servingPosition: event.servingPosition,
    });
    // The places told are exact.
    await eachLimited(
      targets.filter((t) => t.fan && t.kinds.includes('position')),
      this.#deps.concurrency,
      place(true),
    );

    // The near tier at once; a big far round in steps over most of the tick (no burst of
    // posts after every tick). A round too small to spread goes after it, in phase order:
    // the near tier never waits behind far fans.
    const now = targets
      .filter((t) => !placeless.has(t) && (!spread || !offsets.has(t)))
      .sort((a, b) => (offsets.get(a) ?? 0) - (offsets.get(b) ?? 0));
    await eachLimited(now, this.#deps.concurrency, tell);
    if (spread) {
      const sleep = this.#deps.sleep ?? defaultSleep;
      const startMs = nowSec0 * 1000;
      for (let step = 0; step < SPREAD_STEPS; step++) {
        const lo = (step / SPREAD_STEPS) * spreadSeconds;
        const hi = ((step + 1) / SPREAD_STEPS) * spreadSeconds;
        const due = [...offsets].filter(([, o]) => o >= lo && (o < hi || step === SPREAD_STEPS - 1));
        const waitMs = startMs + lo * 1000 - this.#now();
        if (waitMs > 0) await sleep(waitMs);
        await eachLimited(
          due.map(([t]) => t),
          this.#deps.concurrency,
          tell,
        );
      }
    }
    return { sent, gone, failed, skipped, superseded: false, notDue, overloaded: updates.overloaded };
  }
}
