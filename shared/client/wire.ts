/**
 * What the waiting room's public surface sends a client (docs/openapi.yaml), read from
 * untrusted JSON. Every reader checks the shape by hand and answers null for anything it
 * cannot use, so a client never acts on a body it does not understand (no schema library:
 * this is the core of the browser client, and it stays small). Unknown fields are ignored,
 * as the contract asks of clients.
 */
// The curve's type is the server's own (shared/domain/estimate.ts: pure, no I/O, type only).
import type { WaitCurve } from '../domain/estimate.ts';
// As are the line's (shared/domain/line-cells.ts: pure).
import type { PlaceLine, PublicLine } from '../domain/line-cells.ts';

export type { PlaceLine, WaitCurve };

/**
 * The event's sale state.
 *
 * @example
 * const state: EventState | null = room.state.eventState;
 * if (state === 'paused') showBanner('The sale is paused');
 */
export type EventState = 'open' | 'paused' | 'closed';
/**
 * A place's status, as the server tells it.
 *
 * @example
 * const labels: Record<PlaceStatus, string> = {
 *   waiting: 'In line',
 *   admitted: 'Your turn: claim it',
 *   active: 'Buying',
 *   missed: 'Your turn passed',
 *   completed: 'Done',
 *   expired: 'Your time ran out',
 * };
 */
export type PlaceStatus = 'waiting' | 'admitted' | 'active' | 'missed' | 'completed' | 'expired';

const EVENT_STATES: readonly string[] = ['open', 'paused', 'closed'];
const PLACE_STATUSES: readonly string[] = ['waiting', 'admitted', 'active', 'missed', 'completed', 'expired'];

/**
 * What a join answer, a status answer or a `position` message says about a place. Fields a
 * source does not carry are null (a join answer has no `status` or `seq`; an older server
 * sends no `admittedTotal`).
 *
 * @example
 * const update: PlaceUpdate | null = readPlaceUpdate(await res.json());
 * if (update?.token) localStorage.setItem('token', update.token); // the refreshed token, from now on
 */
export interface PlaceUpdate {
  readonly seq: number | null;
  readonly status: PlaceStatus | null;
  readonly eventState: EventState | null;
  readonly position: number;
  readonly servingPosition: number;
  readonly ahead: number;
  readonly estimatedWaitSeconds: number | null;
  /** Real places the event had admitted when `ahead` was worked out. */
  readonly admittedTotal: number | null;
  /**
   * What the place counts the leaves ahead with (the document's `line` counts the same way);
   * null when the server cannot say (the place is in the serving position's cell, an exact
   * event, an older server).
   */
  readonly line: PlaceLine | null;
  readonly claimBy: number | null;
  readonly pollAfterSeconds: number | null;
  /** A refreshed position token, to use from now on. */
  readonly token: string | null;
}

/**
 * The public event document (`GET /v1/events/{eventId}`), as far as a client counts with it.
 *
 * @example
 * const doc: EventDocument | null = readEventDocument(await (await fetch(`${baseUrl}/v1/events/demo`)).json());
 * if (doc?.waitCurve) console.log(curveWaitSeconds(doc.waitCurve, 120));
 */
export interface EventDocument {
  readonly state: EventState;
  readonly servingPosition: number;
  readonly admittedTotal: number | null;
  /** The event's capacity and rate cap (null: no cap); null when the server does not say. */
  readonly limits: { readonly capacity: number; readonly admitPerMinute: number | null } | null;
  /** Epoch seconds (fractions allowed) at which `waitCurve` was worked out. */
  readonly generatedAt: number | null;
  readonly waitCurve: WaitCurve | null;
  readonly pollAfterSeconds: number | null;
  /** The leaves around and beyond the front, by leave block; null when the server does not say. */
  readonly line: LineLeaves | null;
}

/**
 * The public document's `line`: leaves by cell (a run of blocks), to count the places gone before a cell.
 *
 * @example
 * const line: LineLeaves | null = readEventDocument(body)?.line ?? null;
 * const listedLeaves = line ? line.leaves.reduce((sum, [, , left]) => sum + left, 0) : 0;
 */
export type LineLeaves = PublicLine;

/**
 * A server message over the WebSocket.
 *
 * @example
 * socket.onmessage = (event) => {
 *   const message: ServerMessage | null = readServerMessage(event.data);
 *   if (message?.type === 'admitted') showClaimButton(message.claimBy);
 * };
 */
export type ServerMessage =
  | { readonly type: 'position'; readonly seq: number | null; readonly update: PlaceUpdate }
  | { readonly type: 'admitted'; readonly seq: number | null; readonly claimBy: number | null }
  | { readonly type: 'paused' | 'resumed' | 'closed' | 'left'; readonly seq: number | null }
  | { readonly type: 'pong' };

type Json = Record<string, unknown>;

function object(value: unknown): Json | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function oneOf<T extends string>(value: unknown, allowed: readonly string[]): T | null {
  return typeof value === 'string' && allowed.includes(value) ? (value as T) : null;
}

function nonNegative(value: unknown): number | null {
  const n = finite(value);
  return n !== null && n >= 0 ? n : null;
}

/**
 * Reads a join answer, a status answer or the body of a `position` message; null when it
 * lacks what every one of them carries (`position`, `servingPosition`, `ahead`).
 *
 * @example
 * const update = readPlaceUpdate(await res.json());
 * if (update) clock.applyUpdate(update, Date.now());
 */
export function readPlaceUpdate(body: unknown): PlaceUpdate | null {
  const o = object(body);
  if (!o) return null;
  const position = count(o.position);
  const servingPosition = count(o.servingPosition);
  const ahead = count(o.ahead);
  if (position === null || position < 1 || servingPosition === null || ahead === null) return null;
  return {
    seq: finite(o.seq),
    status: oneOf<PlaceStatus>(o.status, PLACE_STATUSES),
    eventState: oneOf<EventState>(o.eventState, EVENT_STATES),
    position,
    servingPosition,
    ahead,
    estimatedWaitSeconds: nonNegative(o.estimatedWaitSeconds),
    admittedTotal: count(o.admittedTotal),
    line: readPlaceLine(o.line),
    claimBy: readEpochSeconds(o.claimBy),
    pollAfterSeconds: pace(o.pollAfterSeconds),
    token: typeof o.token === 'string' && o.token.length > 0 ? o.token : null,
  };
}

function positive(value: unknown): number | null {
  const n = finite(value);
  return n !== null && n > 0 ? n : null;
}

/**
 * The pace a client may wait between reads, in seconds: a second at least, so a tiny
 * `pollAfterSeconds` never makes a tight loop; a day at most, since a timer of more than
 * 2^31 - 1 ms (24.8 days) fires at once, which would make one too. The server's own paces
 * (at most half the position token's lifetime) sit well within.
 */
const PACE_SECONDS = { min: 1, max: 24 * 60 * 60 } as const;

/**
 * The last second of the year 9999: well within what a JavaScript `Date` holds (8.64e15 ms),
 * beyond which a time shows as "Invalid Date".
 */
const LAST_EPOCH_SECONDS = 253_402_300_799;

/**
 * An instant in epoch seconds (`claimBy`, `expiresAt`) a client can count down to and show
 * as a time; null for anything else (a string, a negative number, 1e300).
 *
 * @example
 * const claimBy = readEpochSeconds(body.claimBy); // 1767225600, or null
 * if (claimBy !== null) showDeadline(new Date(claimBy * 1000));
 */
export function readEpochSeconds(value: unknown): number | null {
  const n = finite(value);
  return n !== null && n >= 0 && n <= LAST_EPOCH_SECONDS ? n : null;
}

function pace(value: unknown): number | null {
  const n = positive(value);
  return n === null ? null : Math.min(PACE_SECONDS.max, Math.max(PACE_SECONDS.min, n));
}

/**
 * Reads a `waitCurve`; null when it is absent or not a curve a client can read.
 *
 * @example
 * const curve = readWaitCurve(doc.waitCurve);
 * const wait = curve && curveWaitSeconds(curve, 120); // seconds for 120 places to be admitted
 */
export function readWaitCurve(value: unknown): WaitCurve | null {
  const o = object(value);
  if (!o || !Array.isArray(o.admitted)) return null;
  const nextTickInSeconds = nonNegative(o.nextTickInSeconds);
  const tickSeconds = positive(o.tickSeconds);
  const stride = count(o.stride);
  const perSecond = nonNegative(o.perSecond);
  if (nextTickInSeconds === null || tickSeconds === null || !stride || perSecond === null) return null;
  const admitted: number[] = [];
  for (const entry of o.admitted) {
    const n = nonNegative(entry);
    // Cumulative: an entry below the one before is not a curve.
    if (n === null || n < (admitted[admitted.length - 1] ?? 0)) return null;
    admitted.push(n);
  }
  return { nextTickInSeconds, tickSeconds, stride, admitted, perSecond };
}

/**
 * Reads the public event document; null when it has no `state` or `servingPosition`.
 *
 * @example
 * const doc = readEventDocument(await (await fetch(`${baseUrl}/v1/events/${eventId}`)).json());
 * if (doc) clock.applyDocument(doc, Date.now());
 */
export function readEventDocument(body: unknown): EventDocument | null {
  const o = object(body);
  if (!o) return null;
  const state = oneOf<EventState>(o.state, EVENT_STATES);
  const servingPosition = count(o.servingPosition);
  if (state === null || servingPosition === null) return null;
  const capacity = count(o.capacity);
  const admitPerMinute = o.admitPerMinute === null ? null : positive(o.admitPerMinute);
  const limitsKnown =
    capacity !== null && capacity > 0 && (o.admitPerMinute === null || admitPerMinute !== null);
  return {
    state,
    servingPosition,
    admittedTotal: count(o.admittedTotal),
    limits: limitsKnown ? { capacity, admitPerMinute } : null,
    generatedAt: positive(o.generatedAt),
    waitCurve: readWaitCurve(o.waitCurve),
    pollAfterSeconds: pace(o.pollAfterSeconds),
    line: readLineLeaves(o.line),
  };
}

function readPlaceLine(value: unknown): PlaceLine | null {
  const o = object(value);
  if (!o) return null;
  const blockSize = count(o.blockSize);
  const block = count(o.block);
  const blocks = count(o.blocks);
  const goneBefore = count(o.goneBefore);
  const blockLeaves = count(o.blockLeaves);
  if (!blockSize || block === null || !blocks || goneBefore === null || blockLeaves === null) return null;
  return { blockSize, block, blocks, goneBefore, blockLeaves };
}

/**
 * Reads a document's `line`; null when it is absent or not one a client can count with.
 *
 * @example
 * const line = readLineLeaves(doc.line);
 * if (line) console.log(line.goneThroughServing, 'gone through the serving position');
 */
export function readLineLeaves(value: unknown): LineLeaves | null {
  const o = object(value);
  if (!o || !Array.isArray(o.leaves)) return null;
  const blockSize = count(o.blockSize);
  const goneThroughServing = count(o.goneThroughServing);
  if (!blockSize || goneThroughServing === null) return null;
  const leaves: [number, number, number][] = [];
  let end = 0;
  for (const entry of o.leaves) {
    if (!Array.isArray(entry) || entry.length !== 3) return null;
    const block = count(entry[0]);
    const blocks = count(entry[1]);
    const left = count(entry[2]);
    // Cells in order, none overlapping: anything else is not a list to sum over.
    if (block === null || !blocks || left === null || block < end) return null;
    leaves.push([block, blocks, left]);
    end = block + blocks;
  }
  return { blockSize, goneThroughServing, leaves };
}

/** The value `text` holds as JSON; undefined when it is not JSON (JSON itself never yields undefined). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads a WebSocket text frame (the string, or JSON already parsed); null for anything that
 * is not a message this client knows (the contract asks clients to ignore those).
 *
 * @example
 * socket.onmessage = (event) => {
 *   const message = readServerMessage(event.data);
 *   if (message) clock.applyMessage(message, Date.now());
 * };
 */
export function readServerMessage(data: unknown): ServerMessage | null {
  const o = object(typeof data === 'string' ? parseJson(data) : data);
  if (!o) return null;
  const seq = finite(o.seq);
  switch (o.type) {
    case 'position': {
      const update = readPlaceUpdate(o);
      return update
        ? { type: 'position', seq, update: { ...update, status: 'waiting', eventState: 'open' } }
        : null;
    }
    case 'admitted':
      return { type: 'admitted', seq, claimBy: readEpochSeconds(o.claimBy) };
    case 'paused':
    case 'resumed':
    case 'closed':
    case 'left':
      return { type: o.type, seq };
    case 'pong':
      return { type: 'pong' };
    default:
      return null;
  }
}
