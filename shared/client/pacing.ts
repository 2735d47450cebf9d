/**
 * When a client reads what, and how it backs off. While the place waits it reads the public
 * event document at the document's pace (cached in front of the API: it costs the origin
 * nothing that grows with the crowd), live socket or not: past the message budget a far fan
 * hears the socket only every few minutes (decision 0012) and counts down from the document
 * in between. While its WebSocket is live the status route is only a backstop (and keeps
 * the token fresh); otherwise it is called at the pace the server gives. Everything that fails backs off exponentially with
 * jitter, so a crowd that lost the server does not come back all at once.
 */
import type { PlaceView } from './place-clock.ts';

/**
 * While the WebSocket is live, status is only a backstop (and keeps the token fresh).
 *
 * @example
 * readPlan({ view: { status: 'waiting', eventState: 'open' }, live: true, statusPollAfterSeconds: 5, documentPollAfterSeconds: 8 })
 *   .statusSeconds; // 30: LIVE_STATUS_SECONDS, not the server's 5
 */
export const LIVE_STATUS_SECONDS = 30;
/**
 * Seconds between reads of the public event document until the server has said
 * (`pollAfterSeconds` of the document).
 *
 * @example
 * readPlan({ view: { status: 'waiting', eventState: 'open' }, live: false, statusPollAfterSeconds: null, documentPollAfterSeconds: null })
 *   .documentSeconds; // 8: DEFAULT_DOCUMENT_SECONDS
 */
export const DEFAULT_DOCUMENT_SECONDS = 8;
/**
 * Seconds between status calls until the server has said (`pollAfterSeconds` of a join or
 * status answer).
 *
 * @example
 * readPlan({ view: { status: 'waiting', eventState: 'open' }, live: false, statusPollAfterSeconds: null, documentPollAfterSeconds: null })
 *   .statusSeconds; // 5: DEFAULT_STATUS_SECONDS
 */
export const DEFAULT_STATUS_SECONDS = 5;
/**
 * Near the front the shown count moves every tick, so the document is read faster there
 * (its own pace is for the whole line): every this many seconds while the wait is within
 * `NEAR_DOCUMENT_WAIT_SECONDS`. A small share of the line: a few hundred CDN requests a
 * second more for a line draining at 20 a second.
 *
 * @example
 * const plan = readPlan({ view: room.state, live: false, statusPollAfterSeconds: 5, documentPollAfterSeconds: 10 });
 * // plan.documentSeconds is NEAR_DOCUMENT_SECONDS (4) while room.state.estimatedWaitSeconds <= 600
 */
export const NEAR_DOCUMENT_SECONDS = 4;
/**
 * The wait (seconds) within which the document is read every `NEAR_DOCUMENT_SECONDS`.
 *
 * @example
 * const near = { status: 'waiting', eventState: 'open', estimatedWaitSeconds: 120 } as const;
 * readPlan({ view: near, live: false, statusPollAfterSeconds: 5, documentPollAfterSeconds: 10 })
 *   .documentSeconds; // 4: within NEAR_DOCUMENT_WAIT_SECONDS, every NEAR_DOCUMENT_SECONDS
 */
export const NEAR_DOCUMENT_WAIT_SECONDS = 600;

const OVER: readonly (string | null)[] = ['missed', 'completed', 'expired', 'left'];

/**
 * What `readPlan` decides from: the place as shown, the socket, the paces the server gave.
 *
 * @example
 * const input: ReadPlanInput = {
 *   view: room.state,
 *   live: room.state.connection === 'live',
 *   statusPollAfterSeconds: 5,
 *   documentPollAfterSeconds: 8,
 * };
 * const plan = readPlan(input);
 */
export interface ReadPlanInput {
  readonly view: Pick<PlaceView, 'status' | 'eventState'> & Partial<Pick<PlaceView, 'estimatedWaitSeconds'>>;
  /** A WebSocket is open and has not been lost since. */
  readonly live: boolean;
  /** The last status or join answer's `pollAfterSeconds`. */
  readonly statusPollAfterSeconds: number | null;
  /** The last document's `pollAfterSeconds`. */
  readonly documentPollAfterSeconds: number | null;
}

/**
 * When to read next (`readPlan`): seconds until the next status call and document read.
 *
 * @example
 * const { done, statusSeconds, documentSeconds }: ReadPlan = readPlan(input);
 * if (done) socket.close();
 * else if (documentSeconds !== null) setTimeout(readDocument, documentSeconds * 1000);
 */
export interface ReadPlan {
  /** Nothing more will change for this place: stop reading (and close the socket). */
  readonly done: boolean;
  /** Seconds until the next status call; null: none. */
  readonly statusSeconds: number | null;
  /** Seconds until the next read of the public event document; null: none. */
  readonly documentSeconds: number | null;
}

/**
 * When to read next, after a successful read. Failed reads back off instead (`Backoff`).
 *
 * @example
 * const plan = readPlan({ view: clock.view(Date.now()), live, statusPollAfterSeconds: 7, documentPollAfterSeconds: 5 });
 * if (plan.statusSeconds !== null) setTimeout(pollStatus, plan.statusSeconds * 1000);
 */
export function readPlan(input: ReadPlanInput): ReadPlan {
  const { status, eventState } = input.view;
  if (OVER.includes(status) || eventState === 'closed')
    return { done: true, statusSeconds: null, documentSeconds: null };
  const pace = input.statusPollAfterSeconds ?? DEFAULT_STATUS_SECONDS;
  // Once admitted the line's countdown is over: only the place's own status matters.
  const waiting = status === 'waiting' || status === null;
  return {
    done: false,
    statusSeconds: input.live ? Math.max(pace, LIVE_STATUS_SECONDS) : pace,
    // Live too: past the message budget a far fan hears the socket only every few minutes
    // (decision 0012), and counts its place down from the document in between.
    documentSeconds: waiting ? documentSeconds(input) : null,
  };
}

function documentSeconds(input: ReadPlanInput): number {
  const pace = input.documentPollAfterSeconds ?? DEFAULT_DOCUMENT_SECONDS;
  const wait = input.view.estimatedWaitSeconds;
  return wait !== null && wait !== undefined && wait <= NEAR_DOCUMENT_WAIT_SECONDS
    ? Math.min(pace, NEAR_DOCUMENT_SECONDS)
    : pace;
}

/**
 * Options of `Backoff`: the first and the longest delay, and the random source of the jitter.
 *
 * @example
 * const options: BackoffOptions = { initialMs: 500, maxMs: 10_000 };
 * const retry = new Backoff(options); // ~0.5 s, ~1 s, ~2 s … ~10 s
 */
export interface BackoffOptions {
  /** The first delay, before jitter. */
  readonly initialMs?: number;
  /** The longest delay, before jitter. */
  readonly maxMs?: number;
  /** A number in [0, 1): `Math.random` unless a test passes its own. */
  readonly random?: () => number;
}

/**
 * The delays a `Backoff` uses unless given: 1 s first, 30 s at most (before jitter).
 *
 * @example
 * const retry = new Backoff({ maxMs: BACKOFF_DEFAULTS.maxMs * 2 }); // ~1 s, ~2 s … ~60 s
 */
export const BACKOFF_DEFAULTS = { initialMs: 1_000, maxMs: 30_000 } as const;

/**
 * Exponential backoff with jitter: initial, twice that, four times … up to the maximum, each
 * multiplied by a random factor in [0.5, 1.5), so clients that failed together spread out.
 *
 * @example
 * const retry = new Backoff();
 * socket.onclose = () => setTimeout(connect, retry.next()); // ~1 s, ~2 s, ~4 s … ~30 s
 * socket.onopen = () => retry.reset();
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? BACKOFF_DEFAULTS.initialMs;
    this.#maxMs = Math.max(this.#initialMs, options.maxMs ?? BACKOFF_DEFAULTS.maxMs);
    this.#random = options.random ?? Math.random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The delay (ms) before the next attempt; counts one more failed attempt. */
  next(): number {
    // The exponent stops growing once past the maximum, so it never overflows.
    const base = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempts, 30));
    this.#attempts++;
    return Math.round(base * (0.5 + this.#random()));
  }

  /** After a success: the next failure starts from the initial delay again. */
  reset(): void {
    this.#attempts = 0;
  }
}
