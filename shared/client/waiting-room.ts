/**
 * `fairqueue/client`: a fan's place in a waiting room, as an object (CONTRACT.md,
 * "Packages"). It does what the page at `/` does, on the same core: the place's clock
 * (PlaceClock), what to read when (readPlan), backoff with jitter (Backoff) and the wire
 * readers. Only `fetch`, `WebSocket` and timers, each injectable, plus a storage of the
 * AsyncStorage shape: no Node or DOM API, so it runs in browsers, React Native and Node.
 */
import { Backoff, LIVE_STATUS_SECONDS, readPlan } from './pacing.ts';
import { PlaceClock, type PlaceView } from './place-clock.ts';
import { memoryStorage, type WaitingRoomStorage } from './storage.ts';
import { readPositionToken } from './token.ts';
import {
  parseJson,
  readEpochSeconds,
  readEventDocument,
  readPlaceUpdate,
  readServerMessage,
} from './wire.ts';

/**
 * The response of a `fetch`, as far as the client reads it.
 *
 * @example
 * const response: FetchResponseLike = await fetch('https://queue.example.com/v1/events/demo');
 * const body: unknown = JSON.parse(await response.text());
 */
export interface FetchResponseLike {
  readonly status: number;
  text(): Promise<string>;
}

/**
 * `fetch`, as far as the client calls it: the global one unless given.
 *
 * @example
 * const traced: FetchLike = (url, init) =>
 *   fetch(url, { ...init, headers: { ...init.headers, 'x-request-id': crypto.randomUUID() } });
 * const room = createWaitingRoom({ baseUrl, eventId: 'demo', fetch: traced });
 */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<FetchResponseLike>;

/**
 * A handler slot of a WebSocket, as the client fills it. Its event is `never` because the
 * client only assigns handlers (reading `data` of a message): any socket's slot accepts
 * them, whatever its own event type (the DOM's `(ev: Event) => any` did not fit `unknown`).
 */
type SocketHandler = ((event: never) => void) | null;

/**
 * A WebSocket, as far as the client uses it (the browser's, React Native's, or the `ws` package's).
 *
 * @example
 * import WebSocket from 'ws';
 *
 * const socket: WebSocketLike = new WebSocket('wss://ws.queue.example.com');
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: SocketHandler;
  onmessage: SocketHandler;
  onclose: SocketHandler;
  onerror: SocketHandler;
  send(data: string): void;
  close(): void;
}

/**
 * A WebSocket class (`new WebSocket(url)`): the global one unless `WebSocket` is given to
 * `createWaitingRoom`; Node 20 has none, so pass the `ws` package's.
 *
 * @example
 * import WebSocket from 'ws';
 *
 * const socketClass: WebSocketConstructorLike = WebSocket;
 * const room = createWaitingRoom({ baseUrl, eventId: 'demo', WebSocket: socketClass });
 */
export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

/**
 * What `createWaitingRoom` takes: the waiting room, the event, and what to use for storage,
 * requests, the socket and the clock.
 *
 * @example
 * const options: WaitingRoomOptions = {
 *   baseUrl: 'https://queue.example.com',
 *   eventId: 'tour-2027-berlin',
 *   storage: localStorageAdapter(),
 *   WebSocket: null, // poll only
 * };
 * const room = createWaitingRoom(options);
 */
export interface WaitingRoomOptions {
  /** The waiting room's origin, e.g. `https://queue.example.com` (no trailing path). */
  readonly baseUrl: string;
  readonly eventId: string;
  /** Where the place is kept across restarts; in memory unless given. */
  readonly storage?: WaitingRoomStorage;
  /** The global `fetch` unless given. */
  readonly fetch?: FetchLike;
  /** The global `WebSocket` unless given; `null`: never connect, poll only. */
  readonly WebSocket?: WebSocketConstructorLike | null;
  /** Epoch milliseconds; `Date.now` unless given. */
  readonly now?: () => number;
  /** The key the place is stored under; `fairqueue:<eventId>` (as the page at `/` uses). */
  readonly storageKey?: string;
}

/**
 * What `claim()` resolves to: the session's access token, for the protected backend.
 *
 * @example
 * const grant: AccessGrant = await room.claim();
 * await fetch('/checkout', { method: 'POST', headers: { authorization: `Bearer ${grant.accessToken}` } });
 * const secondsLeft = grant.expiresAt - Math.floor(Date.now() / 1000);
 */
export interface AccessGrant {
  readonly accessToken: string;
  /** Epoch seconds at which the session ends. */
  readonly expiresAt: number;
  readonly sessionId: string;
}

/**
 * How the room hears about the place.
 *
 * @example
 * const labels: Record<Connection, string> = {
 *   idle: '',
 *   live: 'Live',
 *   polling: 'Updating every few seconds',
 *   reconnecting: 'Reconnecting…',
 * };
 * badge.textContent = labels[room.state.connection];
 */
export type Connection = 'idle' | 'live' | 'polling' | 'reconnecting';

/**
 * The place as shown now; `position` null until joined (or restored).
 *
 * @example
 * const state: WaitingRoomState = room.state;
 * if (state.status === 'waiting') render(state.position, state.ahead, state.estimatedWaitSeconds);
 */
export interface WaitingRoomState extends Omit<PlaceView, 'position'> {
  readonly eventId: string;
  readonly position: number | null;
  readonly connection: Connection;
  /** The running session's grant, once claimed (kept until `complete()`). */
  readonly access: AccessGrant | null;
  /**
   * How far the place has come from where it joined to the front, 0 … 1: the share of the
   * places ahead at the join that are gone; 1 once admitted (or later). Null until known.
   */
  readonly progress: number | null;
}

/**
 * How a listener is called.
 *
 * @example
 * // A page that draws countdowns hears every second one shows, not only changes.
 * const options: SubscribeOptions = { countdown: true };
 * room.subscribe((event) => event.type === 'state' && render(event.state), options);
 */
export interface SubscribeOptions {
  /**
   * Also call it whenever a countdown the state shows moves on by itself (the wait's second,
   * the claim's second, a reason that ran out), not only when something was heard: enough to
   * render a countdown with, without a timer of one's own.
   */
  readonly countdown?: boolean;
}

/**
 * What `subscribe` listeners hear.
 *
 * @example
 * room.subscribe((event: WaitingRoomEvent) => {
 *   if (event.type === 'admitted') showClaimButton(event.claimBy);
 *   else if (event.type === 'error') console.warn(event.error.code);
 *   else render(event.state);
 * });
 */
export type WaitingRoomEvent =
  | { readonly type: 'state'; readonly state: WaitingRoomState }
  | { readonly type: 'admitted'; readonly claimBy: number | null; readonly state: WaitingRoomState }
  | { readonly type: 'error'; readonly error: WaitingRoomError };

/**
 * A `subscribe` listener.
 *
 * @example
 * const log: WaitingRoomListener = (event) => console.log(event.type);
 * const unsubscribe = room.subscribe(log);
 */
export type WaitingRoomListener = (event: WaitingRoomEvent) => void;

/**
 * A request the waiting room refused or that did not reach it.
 *
 * @example
 * try {
 *   await room.claim();
 * } catch (error) {
 *   if (error instanceof WaitingRoomError && error.code === 'not_admitted') showStillWaiting();
 *   else throw error;
 * }
 */
export class WaitingRoomError extends Error {
  override readonly name = 'WaitingRoomError';
  /** The contract's error code (`not_admitted`, `invalid_token` …), `network_error` or `unexpected_response`. */
  readonly code: string;
  /** The HTTP status; 0 when the request did not reach the waiting room. */
  readonly status: number;

  constructor(code: string, message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = status;
  }
}

/**
 * A fan's place in one event's waiting room (`createWaitingRoom`).
 *
 * @example
 * const room: WaitingRoom = createWaitingRoom({ baseUrl: 'https://queue.example.com', eventId: 'demo' });
 * await room.ready;
 * if (room.state.position === null) await room.join();
 */
export interface WaitingRoom {
  /**
   * The place as shown now (the wait counts down between updates: read it when you render).
   *
   * @example
   * const { status, position, ahead, estimatedWaitSeconds, eventState, claimBy } = room.state;
   */
  readonly state: WaitingRoomState;
  /**
   * Settles once a stored place has been restored (and is being followed) or found absent.
   *
   * @example
   * await room.ready;
   * if (room.state.position === null) await room.join();
   */
  readonly ready: Promise<void>;
  /**
   * Takes a place (a place already held is kept) and starts following it.
   *
   * @example
   * const { position, ahead } = await room.join({ userId: 'alice' });
   */
  join(options?: { userId?: string }): Promise<WaitingRoomState>;
  /**
   * Claims an admitted place: the session's access token, for the protected backend.
   *
   * @example
   * const { accessToken, expiresAt, sessionId } = await room.claim();
   */
  claim(): Promise<AccessGrant>;
  /**
   * Ends the claimed session (the purchase is done): its access token stops working online.
   *
   * @example
   * await room.complete();
   */
  complete(): Promise<void>;
  /**
   * Gives the place up for good and forgets it.
   *
   * @example
   * await room.leave(); // room.state.status === 'left'
   */
  leave(): Promise<void>;
  /**
   * Stops every timer and the socket (the stored place stays, for the next `createWaitingRoom`).
   *
   * @example
   * room.close();
   */
  close(): void;
  /**
   * Calls `listener` on every change; answers the function that stops it. With
   * `{ countdown: true }`, also on every second a countdown shows.
   *
   * @example
   * const unsubscribe = room.subscribe((event) => {
   *   if (event.type === 'state') render(event.state);
   * }, { countdown: true });
   */
  subscribe(listener: WaitingRoomListener, options?: SubscribeOptions): () => void;
  /**
   * Catches up now instead of at the next timer: asks the status and the event document, and
   * connects if there is no socket (an app back in the foreground, a browser back online).
   *
   * @example
   * document.addEventListener('visibilitychange', () => document.hidden || room.refresh());
   */
  refresh(): void;
  /**
   * Stops following the place and forgets it on this device, without giving it up: the same
   * user id finds it again with `join`.
   *
   * @example
   * room.forget(); // room.state.position === null
   */
  forget(): void;
}

/** What is stored: the same record the page at `/` keeps. */
interface StoredPlace {
  token: string;
  position: number;
  wsUrl?: string;
  snapshot?: unknown;
  access?: AccessGrant;
  /** The places ahead when the place was taken (for `progress`). */
  joinedAhead?: number;
}

/** Nine quiet minutes: API Gateway drops a connection idle for ten. */
const HEARTBEAT_QUIET_MS = 9 * 60 * 1000;
const HEARTBEAT_CHECK_MS = 30 * 1000;
/** A connection that lasted this long starts the reconnect backoff over. */
const STABLE_MS = 30 * 1000;

interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
}

/** The host's timers, looked up when used (so fake timers installed later are used too). */
const timers: Timers = {
  setTimeout: (fn, ms) => (globalThis as unknown as Timers).setTimeout(fn, ms),
  clearTimeout: (id) => (globalThis as unknown as Timers).clearTimeout(id),
  setInterval: (fn, ms) => (globalThis as unknown as Timers).setInterval(fn, ms),
  clearInterval: (id) => (globalThis as unknown as Timers).clearInterval(id),
};

function readGrant(body: unknown): AccessGrant | null {
  if (typeof body !== 'object' || body === null) return null;
  const { accessToken, expiresAt, sessionId } = body as Record<string, unknown>;
  if (typeof accessToken !== 'string' || typeof sessionId !== 'string') return null;
  const ends = readEpochSeconds(expiresAt);
  if (ends === null) return null;
  return { accessToken, expiresAt: ends, sessionId };
}

function readStored(text: string | null | undefined): StoredPlace | null {
  if (!text) return null;
  const value = parseJson(text);
  if (typeof value !== 'object' || value === null) return null;
  const o = value as Record<string, unknown>;
  if (typeof o.token !== 'string') return null;
  const position = readPositionToken(o.token)?.pos ?? o.position;
  if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 1) return null;
  const access = readGrant(o.access);
  const joinedAhead = o.joinedAhead;
  return {
    token: o.token,
    position,
    ...(typeof joinedAhead === 'number' && Number.isSafeInteger(joinedAhead) && joinedAhead >= 0
      ? { joinedAhead }
      : {}),
    ...(typeof o.wsUrl === 'string' ? { wsUrl: o.wsUrl } : {}),
    ...(o.snapshot !== undefined ? { snapshot: o.snapshot } : {}),
    ...(access ? { access } : {}),
  };
}

function clockFor(place: StoredPlace): PlaceClock {
  const snapshot = place.snapshot as { update?: unknown; at?: unknown; skewMs?: unknown } | undefined;
  const update = snapshot ? readPlaceUpdate(snapshot.update) : null;
  if (update && update.position === place.position && typeof snapshot?.at === 'number') {
    const skewMs = typeof snapshot.skewMs === 'number' ? { skewMs: snapshot.skewMs } : {};
    return PlaceClock.restore({ update, at: snapshot.at, ...skewMs });
  }
  return new PlaceClock({ position: place.position });
}

/** The least time between two reads the socket's messages ask for. */
const NEWS_READ_MS = 1000;

/** How often a countdown listener's state is looked at; it hears only when a shown second moved. */
const COUNTDOWN_CHECK_MS = 250;

/** How far a place has come, 0 … 1 (`WaitingRoomState.progress`). */
function progressOf(view: PlaceView | null, joinedAhead: number | undefined): number | null {
  if (!view?.status || view.status === 'left') return null;
  if (view.status !== 'waiting') return 1;
  if (joinedAhead === undefined || view.ahead === null) return null;
  if (joinedAhead <= 0) return 1;
  return Math.min(1, Math.max(0, (joinedAhead - view.ahead) / joinedAhead));
}

/** What a countdown listener sees move: it hears when this changes. */
function countdownKey(state: WaitingRoomState): string {
  return [state.estimatedWaitSeconds, state.claimSecondsLeft, state.waitReason, state.waitFrozen].join();
}

/** The server did not answer for the place (network, 429, 5xx): not the fan's doing, so retry. */
const unanswered = (status: number) => status === 0 || status === 429 || status >= 500;

/**
 * A fan's place in one event's waiting room. A place kept in `storage` is restored and
 * followed at once; otherwise `join()` takes one. From then on the room keeps the place up
 * to date by itself (status at the server's pace, the public document at its pace, a
 * WebSocket when it can have one) until the place is over or `close()` is called.
 *
 * @example
 * import { createWaitingRoom, localStorageAdapter } from 'fairqueue/client';
 *
 * const room = createWaitingRoom({ baseUrl: 'https://queue.example.com', eventId: 'demo', storage: localStorageAdapter() });
 * room.subscribe(async (event) => {
 *   if (event.type === 'state') render(event.state);
 *   if (event.type === 'admitted') {
 *     const { accessToken } = await room.claim();
 *     location.assign(`/checkout#${accessToken}`);
 *   }
 * });
 * await room.ready;
 * if (room.state.position === null) await room.join();
 */
export function createWaitingRoom(options: WaitingRoomOptions): WaitingRoom {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const { eventId } = options;
  const storage = options.storage ?? memoryStorage();
  const storageKey = options.storageKey ?? `fairqueue:${eventId}`;
  const now = options.now ?? Date.now;
  const globals = globalThis as { fetch?: FetchLike; WebSocket?: WebSocketConstructorLike };
  const fetchFn: FetchLike =
    options.fetch ??
    ((url, init) => {
      if (!globals.fetch) throw new Error('no fetch: pass options.fetch');
      return globals.fetch(url, init);
    });
  const socketClass = (): WebSocketConstructorLike | null =>
    options.WebSocket === undefined ? (globals.WebSocket ?? null) : options.WebSocket;

  const listeners = new Set<WaitingRoomListener>();
  const countdownListeners = new Set<WaitingRoomListener>();
  let countdownTimer: unknown;
  let countdownShown = '';
  let claimLeftShown: number | null = null;
  let place: StoredPlace | null = null;
  let clock: PlaceClock | null = null;
  let closed = false;
  let finished = false;
  let live = false;
  let unreachable = false;
  let answeredAt = Number.NEGATIVE_INFINITY;
  let statusPace: number | null = null;
  let documentPace: number | null = null;
  let pollSeq = 0;
  let documentSeq = 0;
  let statusTimer: unknown;
  let documentTimer: unknown;
  let reconnectTimer: unknown;
  let heartbeat: unknown;
  let stableTimer: unknown;
  let socket: WebSocketLike | null = null;
  let wasAdmitted = false;
  let joining: Promise<WaitingRoomState> | null = null;
  const statusRetry = new Backoff();
  const documentRetry = new Backoff();
  const socketRetry = new Backoff();

  function state(): WaitingRoomState {
    const at = now();
    const view: PlaceView | null = clock?.view(at) ?? null;
    let connection: Connection = 'idle';
    if (clock && !finished && !closed) connection = live ? 'live' : unreachable ? 'reconnecting' : 'polling';
    return {
      eventId,
      position: view?.position ?? null,
      status: view?.status ?? null,
      eventState: view?.eventState ?? null,
      servingPosition: view?.servingPosition ?? null,
      ahead: view?.ahead ?? null,
      estimatedWaitSeconds: view?.estimatedWaitSeconds ?? null,
      waitReason: view?.waitReason ?? null,
      waitRose: view?.waitRose ?? false,
      waitFrozen: view?.waitFrozen ?? false,
      claimBy: view?.claimBy ?? null,
      claimSecondsLeft: view?.claimSecondsLeft ?? null,
      heardAt: view?.heardAt ?? null,
      connection,
      access: place?.access ?? null,
      progress: progressOf(view, place?.joinedAhead),
    };
  }

  function emit(event: WaitingRoomEvent): void {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own: the others still hear, the room goes on.
      }
    }
  }

  function changed(): void {
    if (place && place.joinedAhead === undefined && clock) {
      // A place stored by an older client: progress counts from where it is first seen.
      const ahead = clock.view(now()).ahead;
      if (ahead !== null) place = { ...place, joinedAhead: ahead };
    }
    const current = state();
    countdownShown = countdownKey(current);
    claimLeftShown = current.claimSecondsLeft;
    if (current.status === 'admitted' && !wasAdmitted)
      emit({ type: 'admitted', claimBy: current.claimBy, state: current });
    wasAdmitted = current.status === 'admitted';
    emit({ type: 'state', state: current });
  }

  /** Runs while a countdown listener listens and the place is followed. */
  function countdown(): void {
    timers.clearInterval(countdownTimer);
    countdownTimer = undefined;
    if (countdownListeners.size === 0 || !clock || finished || closed) return;
    countdownTimer = timers.setInterval(() => {
      const current = state();
      const key = countdownKey(current);
      if (key === countdownShown) return;
      const claimRanOut = current.claimSecondsLeft === 0 && claimLeftShown !== 0;
      countdownShown = key;
      claimLeftShown = current.claimSecondsLeft;
      for (const listener of [...countdownListeners]) {
        try {
          listener({ type: 'state', state: current });
        } catch {
          // As in emit.
        }
      }
      // The claim window is over by the clock: the status says whether it was missed.
      if (claimRanOut) void poll();
    }, COUNTDOWN_CHECK_MS);
  }

  function fail(error: WaitingRoomError): WaitingRoomError {
    emit({ type: 'error', error });
    return error;
  }

  /** Writes the place (with the clock's snapshot) to storage; failures are the storage's own. */
  function persist(): void {
    const key = storageKey;
    let write: void | Promise<void>;
    try {
      if (!place) write = storage.removeItem(key);
      else {
        const snapshot = clock?.snapshot(now());
        write = storage.setItem(key, JSON.stringify(snapshot ? { ...place, snapshot } : place));
      }
    } catch {
      return;
    }
    if (write) write.catch(() => undefined);
  }

  /** Never throws: a network failure is status 0, a body that is not JSON is null. */
  async function api(
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      const res = await fetchFn(`${baseUrl}/v1/events/${encodeURIComponent(eventId)}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      // Not JSON (an HTML error page from a proxy): no body to read.
      return { status: res.status, body: text ? (parseJson(text) ?? null) : null };
    } catch (cause) {
      return { status: 0, body: { error: { code: 'network_error', message: String(cause) } } };
    }
  }

  function errorOf(res: { status: number; body: unknown }, fallback: string): WaitingRoomError {
    const error = (res.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : 'unexpected_response';
    const message = typeof error?.message === 'string' ? error.message : `${fallback} (${res.status})`;
    return new WaitingRoomError(code, message, res.status);
  }

  function plan() {
    return readPlan({
      view: (clock as PlaceClock).view(now()),
      live,
      statusPollAfterSeconds: statusPace,
      documentPollAfterSeconds: documentPace,
    });
  }

  /**
   * A read the socket's news asks for, at most one every `NEWS_READ_MS`: a burst of messages
   * (an operator pausing and resuming, a server that floods) is one read, not one each.
   */
  function newsRead(read: () => Promise<void>): { ask(): void; cancel(): void } {
    let timer: unknown;
    let last = Number.NEGATIVE_INFINITY;
    const run = () => {
      timer = undefined;
      last = now();
      void read();
    };
    return {
      ask() {
        if (timer !== undefined) return;
        const wait = last + NEWS_READ_MS - now();
        // At once when the last was long enough ago (no timer: the news is acted on now).
        if (wait <= 0) run();
        else timer = timers.setTimeout(run, wait);
      },
      cancel() {
        timers.clearTimeout(timer);
        timer = undefined;
      },
    };
  }
  const newsStatus = newsRead(() => poll());
  const newsDocument = newsRead(() => readDocument());

  /** The place is over (or the room closed): no more reads. */
  function stop(): void {
    finished = true;
    newsStatus.cancel();
    newsDocument.cancel();
    timers.clearInterval(countdownTimer);
    countdownTimer = undefined;
    pollSeq++;
    documentSeq++;
    timers.clearTimeout(statusTimer);
    timers.clearTimeout(documentTimer);
    disconnect();
  }

  /** The place was given up (here, elsewhere, or its token is no good): it is gone for good. */
  function gone(): void {
    stop();
    clock?.applyMessage({ type: 'left', seq: null }, now());
    place = null;
    persist();
    changed();
  }

  async function poll(): Promise<void> {
    timers.clearTimeout(statusTimer);
    if (!place || !clock || finished) return;
    const seq = ++pollSeq;
    const res = await api('GET', '/status', place.token);
    if (seq !== pollSeq || !place || !clock || finished) return;
    if (res.status === 401 || (res.status === 410 && errorOf(res, '').code === 'left')) {
      if (res.status === 401) fail(errorOf(res, 'The place token was refused'));
      gone();
      return;
    }
    const update = res.status === 200 ? readPlaceUpdate(res.body) : null;
    if (!update) {
      if (unanswered(res.status) || res.status === 200) unreachable = true;
      else fail(errorOf(res, 'The status could not be read'));
      statusTimer = timers.setTimeout(poll, statusRetry.next());
      changed();
      return;
    }
    statusRetry.reset();
    answeredAt = now();
    unreachable = false;
    if (update.token) place = { ...place, token: update.token };
    statusPace = update.pollAfterSeconds;
    const applied = clock.applyUpdate(update, now());
    // Read before a message already shown (an eventually consistent read): ask again shortly.
    if (!applied.applied) {
      statusTimer = timers.setTimeout(poll, 1000);
      return;
    }
    persist();
    changed();
    if (applied.waitRose) void readDocument();
    const next = plan();
    if (next.done) {
      stop();
      changed();
      return;
    }
    if (next.statusSeconds !== null) statusTimer = timers.setTimeout(poll, next.statusSeconds * 1000);
  }

  /** The public event document: counts the place down between personal updates. */
  async function readDocument(): Promise<void> {
    timers.clearTimeout(documentTimer);
    if (finished || !clock) return;
    const seq = ++documentSeq;
    const res = await api('GET', '', null);
    if (seq !== documentSeq || finished || !clock) return;
    const doc = res.status === 200 ? readEventDocument(res.body) : null;
    if (!doc) {
      if (plan().documentSeconds !== null)
        documentTimer = timers.setTimeout(readDocument, documentRetry.next());
      return;
    }
    documentRetry.reset();
    documentPace = doc.pollAfterSeconds;
    const applied = clock.applyDocument(doc, now());
    persist();
    changed();
    // The line reached the place, or the sale changed state: the status says what it means.
    if (applied.refresh) void poll();
    const next = plan();
    if (next.documentSeconds !== null)
      documentTimer = timers.setTimeout(readDocument, next.documentSeconds * 1000);
  }

  function setLive(on: boolean): void {
    if (live === on) return;
    live = on;
    changed();
  }

  function disconnect(): void {
    timers.clearInterval(heartbeat);
    timers.clearTimeout(stableTimer);
    timers.clearTimeout(reconnectTimer);
    const ws = socket;
    socket = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      try {
        ws.close();
      } catch {
        // Already closing.
      }
    }
    setLive(false);
  }

  /** Connects with the place's token; on loss or refusal, reconnects with backoff and jitter. */
  function connect(): void {
    const Socket = socketClass();
    if (!place?.wsUrl || socket || finished || !Socket) return;
    let ws: WebSocketLike;
    try {
      ws = new Socket(`${place.wsUrl}?token=${encodeURIComponent(place.token)}`);
    } catch {
      return;
    }
    socket = ws;
    let lastHeard = now();
    ws.onerror = () => undefined;
    ws.onopen = () => {
      setLive(true);
      stableTimer = timers.setTimeout(() => socketRetry.reset(), STABLE_MS);
      // Nothing is sent on connect: ask where the place stands, unless the last answer is fresh.
      if (now() - answeredAt >= LIVE_STATUS_SECONDS * 1000) void poll();
      // Only after nine quiet minutes, so sockets that hear news never ping.
      heartbeat = timers.setInterval(() => {
        if (ws.readyState !== 1 || now() - lastHeard < HEARTBEAT_QUIET_MS) return;
        lastHeard = now();
        ws.send('{"type":"ping"}');
      }, HEARTBEAT_CHECK_MS);
    };
    ws.onmessage = (event: { data: unknown }) => {
      lastHeard = now();
      const message = readServerMessage(event.data);
      if (!message || !clock || !place) return;
      if (message.type === 'left') {
        gone();
        return;
      }
      const applied = clock.applyMessage(message, now());
      if (!applied.applied) return;
      if (message.type === 'position' && message.update.token)
        place = { ...place, token: message.update.token };
      persist();
      changed();
      if (applied.waitRose) newsDocument.ask();
      // admitted, paused, resumed, closed: the status says the rest.
      if (applied.refresh) newsStatus.ask();
    };
    ws.onclose = () => {
      timers.clearInterval(heartbeat);
      timers.clearTimeout(stableTimer);
      socket = null;
      const wasLive = live;
      setLive(false);
      if (!place || finished) return;
      // Polling takes over at once, at the server's pace, not the slow live pace.
      if (wasLive) void poll();
      reconnectTimer = timers.setTimeout(connect, socketRetry.next());
    };
  }

  /** Starts hearing about the place: status, event document, WebSocket. */
  function follow(pollNow: boolean): void {
    finished = false;
    changed();
    countdown();
    void readDocument();
    if (pollNow) void poll();
    else statusTimer = timers.setTimeout(poll, (statusPace ?? 5) * 1000);
    // A little jitter, so a crowd that joined (or reloaded) together does not connect at once.
    reconnectTimer = timers.setTimeout(connect, Math.random() * 1000);
  }

  const ready = (async () => {
    let text: string | null | undefined = null;
    try {
      text = await storage.getItem(storageKey);
    } catch {
      text = null;
    }
    if (closed || place) return;
    const stored = readStored(text);
    if (!stored) return;
    place = stored;
    clock = clockFor(stored);
    follow(true);
  })();

  /** Takes a place (see `join`); one call at a time. */
  async function takePlace(joinOptions: { userId?: string }): Promise<WaitingRoomState> {
    await ready;
    if (closed) throw new WaitingRoomError('closed', 'The waiting room was closed', 0);
    // A place still held is the fan's place: joining again changes nothing.
    if (place && clock && !finished) return state();
    const res = await api('POST', '/join', null, joinOptions.userId ? { userId: joinOptions.userId } : {});
    const update = res.status === 200 || res.status === 201 ? readPlaceUpdate(res.body) : null;
    const body = res.body as { token?: unknown; wsUrl?: unknown } | null;
    if (!update || typeof body?.token !== 'string') throw fail(errorOf(res, 'Joining failed'));
    if (closed) throw new WaitingRoomError('closed', 'The waiting room was closed', 0);
    place = {
      token: body.token,
      position: update.position,
      ...(typeof body.wsUrl === 'string' ? { wsUrl: body.wsUrl } : {}),
      joinedAhead: update.ahead,
    };
    clock = new PlaceClock({ position: update.position });
    clock.applyUpdate(update, now());
    statusPace = update.pollAfterSeconds;
    answeredAt = now();
    unreachable = false;
    wasAdmitted = false;
    persist();
    // A returning user id (200) may already be further along than waiting: ask at once.
    follow(res.status === 200);
    return state();
  }

  function need(): { place: StoredPlace; clock: PlaceClock } {
    if (closed) throw new WaitingRoomError('closed', 'The waiting room was closed', 0);
    if (!place || !clock) throw new WaitingRoomError('no_place', 'No place held: join first', 0);
    return { place, clock };
  }

  return {
    get state() {
      return state();
    },
    ready,

    join(joinOptions = {}) {
      // A join while another is on its way (a double click, two components) is the same
      // join: without a user id each would otherwise take a place of its own.
      joining ??= takePlace(joinOptions).finally(() => {
        joining = null;
      });
      return joining;
    },

    async claim() {
      const held = need();
      const res = await api('POST', '/admission', held.place.token);
      const grant = res.status === 200 ? readGrant(res.body) : null;
      if (!grant) {
        void poll();
        throw fail(errorOf(res, 'The claim failed'));
      }
      if (place) place = { ...place, access: grant };
      persist();
      changed();
      void poll();
      return grant;
    },

    async complete() {
      const held = need();
      const access = held.place.access;
      if (!access) throw new WaitingRoomError('no_session', 'No session to complete: claim first', 0);
      const res = await api('POST', '/complete', access.accessToken);
      if (res.status !== 204) throw fail(errorOf(res, 'Completing failed'));
      if (place) {
        const { access: _, ...rest } = place;
        place = rest;
      }
      persist();
      changed();
      // The status says `completed`, which ends the reads.
      if (!finished) void poll();
    },

    async leave() {
      const held = need();
      const res = await api('DELETE', '/place', held.place.token);
      // 401: the token is no good any more (expired); 410: already gone. Gone either way.
      if (res.status !== 204 && res.status !== 401 && res.status !== 410)
        throw fail(errorOf(res, 'Leaving failed'));
      gone();
    },

    close() {
      if (closed) return;
      stop();
      closed = true;
      changed();
      listeners.clear();
      countdownListeners.clear();
    },

    subscribe(listener, subscribeOptions = {}) {
      listeners.add(listener);
      if (subscribeOptions.countdown) {
        countdownListeners.add(listener);
        if (countdownTimer === undefined) countdown();
      }
      return () => {
        listeners.delete(listener);
        if (countdownListeners.delete(listener) && countdownListeners.size === 0) countdown();
      };
    },

    refresh() {
      if (closed || finished || !place || !clock) return;
      statusRetry.reset();
      documentRetry.reset();
      void poll();
      void readDocument();
      if (!socket) {
        timers.clearTimeout(reconnectTimer);
        socketRetry.reset();
        connect();
      }
    },

    forget() {
      if (closed) return;
      stop();
      place = null;
      clock = null;
      wasAdmitted = false;
      persist();
      changed();
    },
  };
}
