/**
 * `createWaitingRoom` (fairqueue/client) against a fake fetch, a fake WebSocket and fake
 * timers: what it asks, what it stores, what it tells its listeners. No timing assertions:
 * the timers are only run forward so the room's next read happens.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  createWaitingRoom,
  type FetchLike,
  localStorageAdapter,
  memoryStorage,
  type WaitingRoomEvent,
  type WaitingRoomStorage,
  type WebSocketLike,
} from '#client/index';

const BASE = 'https://queue.test';
const EVENT = 'shop';

function positionToken(pos: number, n = 0): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'fq-position+jwt' })}.${part({ pos, aud: EVENT, exp: 2e9 })}.sig${n}`;
}

interface Call {
  method: string;
  path: string;
  authorization: string | null;
  body: unknown;
}

type Reply = { status: number; body?: unknown };
type Route = (call: Call) => Reply | undefined;

/** A fake waiting room: answers by `METHOD path` (path after /v1/events/{eventId}); records every call. */
function fakeServer(routes: Record<string, Route | Reply>) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const path = url.slice(`${BASE}/v1/events/${EVENT}`.length);
    const call: Call = {
      method: init.method,
      path,
      authorization: init.headers.authorization ?? null,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    calls.push(call);
    const route = routes[`${init.method} ${path}`];
    const reply = (typeof route === 'function' ? route(call) : route) ?? { status: 404 };
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    return { status: reply.status, text: async () => text };
  };
  return { fetch, calls, of: (key: string) => calls.filter((c) => `${c.method} ${c.path}` === key) };
}

const waiting = (position: number, ahead: number, extra: object = {}) => ({
  status: 200,
  body: {
    status: 'waiting',
    eventState: 'open',
    position,
    servingPosition: position - ahead - 1,
    ahead,
    estimatedWaitSeconds: ahead * 2,
    pollAfterSeconds: 5,
    ...extra,
  },
});
const DOCUMENT = { status: 200, body: { state: 'open', servingPosition: 0, pollAfterSeconds: 8 } };

class FakeSocket implements WebSocketLike {
  static opened: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({});
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.opened = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createWaitingRoom', () => {
  test('join → admitted → claim → complete, polling only; close leaves no timer behind', async () => {
    let status: Reply = waiting(3, 2);
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(3, 2).body, token: positionToken(3) } },
      'GET /status': () => status,
      'GET ': DOCUMENT,
      'POST /admission': {
        status: 200,
        body: { accessToken: 'access.jwt.x', expiresAt: 2_000_000_000, sessionId: 's_1' },
      },
      'POST /complete': { status: 204 },
    });
    const storage = memoryStorage();
    const room = createWaitingRoom({
      baseUrl: `${BASE}/`,
      eventId: EVENT,
      storage,
      fetch: server.fetch,
      WebSocket: null,
    });
    const events: WaitingRoomEvent[] = [];
    room.subscribe((event) => events.push(event));

    const joined = await room.join({ userId: 'alice' });
    expect(joined).toMatchObject({ position: 3, ahead: 2, status: 'waiting', connection: 'polling' });
    expect(server.of('POST /join')[0]?.body).toEqual({ userId: 'alice' });
    const stored = JSON.parse((await storage.getItem(`fairqueue:${EVENT}`)) ?? 'null');
    expect(stored).toMatchObject({ token: positionToken(3), position: 3 });

    status = waiting(3, 0, { status: 'admitted', ahead: 0, claimBy: 1_900_000_000 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(room.state).toMatchObject({ status: 'admitted', claimBy: 1_900_000_000 });
    expect(events.filter((e) => e.type === 'admitted')).toHaveLength(1);
    expect(server.of('GET /status').every((c) => c.authorization === `Bearer ${positionToken(3)}`)).toBe(
      true,
    );

    const grant = await room.claim();
    expect(grant).toEqual({ accessToken: 'access.jwt.x', expiresAt: 2_000_000_000, sessionId: 's_1' });
    expect(server.of('POST /admission')[0]?.authorization).toBe(`Bearer ${positionToken(3)}`);
    expect(room.state.access).toEqual(grant);

    status = waiting(3, 0, { status: 'completed', ahead: 0 });
    await room.complete();
    expect(server.of('POST /complete')[0]?.authorization).toBe('Bearer access.jwt.x');
    await vi.advanceTimersByTimeAsync(0);
    expect(room.state).toMatchObject({ status: 'completed', access: null, connection: 'idle' });
    expect(events.some((e) => e.type === 'state' && e.state.status === 'completed')).toBe(true);

    room.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('restores a stored place from an async storage and follows it with the stored token', async () => {
    const token = positionToken(42);
    const items = new Map([
      [`fairqueue:${EVENT}`, JSON.stringify({ token, position: 42, wsUrl: 'wss://q/ws' })],
    ]);
    const storage: WaitingRoomStorage = {
      getItem: async (key) => items.get(key) ?? null,
      setItem: async (key, value) => {
        items.set(key, value);
      },
      removeItem: async (key) => {
        items.delete(key);
      },
    };
    const server = fakeServer({ 'GET /status': waiting(42, 30), 'GET ': DOCUMENT });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      storage,
      fetch: server.fetch,
      WebSocket: null,
    });
    expect(room.state.position).toBeNull();
    await room.ready;
    await vi.advanceTimersByTimeAsync(0);
    expect(room.state).toMatchObject({ position: 42, ahead: 30, status: 'waiting' });
    expect(server.of('GET /status')[0]?.authorization).toBe(`Bearer ${token}`);
    // Joining again while a place is held keeps it.
    await room.join();
    expect(server.of('POST /join')).toHaveLength(0);
    room.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('live over the WebSocket: an admitted message asks the status; heartbeat after quiet minutes; reconnects when dropped', async () => {
    let status: Reply = waiting(5, 4);
    const server = fakeServer({
      'POST /join': {
        status: 201,
        body: { ...waiting(5, 4).body, token: positionToken(5), wsUrl: 'wss://q/ws' },
      },
      'GET /status': () => status,
      'GET ': DOCUMENT,
    });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      fetch: server.fetch,
      WebSocket: FakeSocket,
    });
    await room.join();
    await vi.advanceTimersByTimeAsync(1_000);
    const [socket] = FakeSocket.opened;
    if (!socket) throw new Error('no socket opened');
    expect(socket.url).toBe(`wss://q/ws?token=${encodeURIComponent(positionToken(5))}`);
    socket.open();
    expect(room.state.connection).toBe('live');

    await vi.advanceTimersByTimeAsync(10 * 60 * 1000);
    expect(socket.sent).toContain('{"type":"ping"}');

    const polls = server.of('GET /status').length;
    status = waiting(5, 0, { status: 'admitted', ahead: 0, claimBy: 1_900_000_000 });
    socket.receive({ type: 'admitted', seq: 99, claimBy: 1_900_000_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(server.of('GET /status').length).toBeGreaterThan(polls);
    expect(room.state.status).toBe('admitted');

    socket.drop();
    expect(room.state.connection).not.toBe('live');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.opened.length).toBeGreaterThan(1);

    room.close();
    expect(FakeSocket.opened.at(-1)?.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a flood of socket messages asks the status and the document a few times, not once each', async () => {
    const server = fakeServer({
      'POST /join': {
        status: 201,
        body: { ...waiting(5, 4).body, token: positionToken(5), wsUrl: 'wss://q/ws' },
      },
      'GET /status': waiting(5, 4),
      'GET ': DOCUMENT,
    });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      fetch: server.fetch,
      WebSocket: FakeSocket,
    });
    await room.join();
    await vi.advanceTimersByTimeAsync(1_000);
    const [socket] = FakeSocket.opened;
    if (!socket) throw new Error('no socket opened');
    socket.open();
    await vi.advanceTimersByTimeAsync(0);
    const polls = server.of('GET /status').length;
    const reads = server.of('GET ').length;
    // An operator pausing and resuming in a hurry, or a server that floods: each message is news.
    for (let seq = 10; seq < 1_010; seq++) {
      socket.receive({ type: seq % 2 ? 'paused' : 'resumed', seq });
      socket.receive({ ...waiting(5, 4).body, type: 'position', seq, estimatedWaitSeconds: seq * 10 });
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    // A thousand messages a millisecond apart over a second: a read a second at most.
    expect(server.of('GET /status').length - polls).toBeLessThanOrEqual(3);
    expect(server.of('GET ').length - reads).toBeLessThanOrEqual(3);
    room.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('leave gives the place up and forgets it', async () => {
    const storage = memoryStorage();
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(2, 1).body, token: positionToken(2) } },
      'GET /status': waiting(2, 1),
      'GET ': DOCUMENT,
      'DELETE /place': { status: 204 },
    });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      storage,
      fetch: server.fetch,
      WebSocket: null,
    });
    await room.join();
    await room.leave();
    expect(server.of('DELETE /place')[0]?.authorization).toBe(`Bearer ${positionToken(2)}`);
    expect(room.state.status).toBe('left');
    expect(await storage.getItem(`fairqueue:${EVENT}`)).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a refused claim rejects with the contract error and tells the listeners', async () => {
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(9, 8).body, token: positionToken(9) } },
      'GET /status': waiting(9, 8),
      'GET ': DOCUMENT,
      'POST /admission': { status: 409, body: { error: { code: 'not_admitted', message: 'Not yet.' } } },
    });
    const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
    const errors: string[] = [];
    room.subscribe((event) => {
      if (event.type === 'error') errors.push(event.error.code);
    });
    await room.join();
    await expect(room.claim()).rejects.toMatchObject({
      name: 'WaitingRoomError',
      code: 'not_admitted',
      status: 409,
    });
    expect(errors).toEqual(['not_admitted']);
    await expect(room.complete()).rejects.toMatchObject({ code: 'no_session' });
    room.close();
    await expect(room.join()).rejects.toMatchObject({ code: 'closed' });
  });

  test('a join the server refuses rejects; a network failure is network_error', async () => {
    const refused = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      fetch: fakeServer({
        'POST /join': { status: 409, body: { error: { code: 'event_closed', message: 'x' } } },
      }).fetch,
      WebSocket: null,
    });
    await expect(refused.join()).rejects.toMatchObject({ code: 'event_closed', status: 409 });
    const offline = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
      WebSocket: null,
    });
    await expect(offline.join()).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });

  test('progress runs from where the place joined to the front, and is kept across a restart', async () => {
    let status: Reply = waiting(11, 10);
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(11, 10).body, token: positionToken(11) } },
      'GET /status': () => status,
      'GET ': DOCUMENT,
    });
    const storage = memoryStorage();
    const options = { baseUrl: BASE, eventId: EVENT, storage, fetch: server.fetch, WebSocket: null };
    const room = createWaitingRoom(options);
    expect(room.state.progress).toBeNull();
    await room.join();
    expect(room.state.progress).toBe(0);
    status = waiting(11, 4);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(room.state).toMatchObject({ ahead: 4, progress: 0.6 });
    room.close();

    // Restored: still counted from the join, not from where it is now.
    const again = createWaitingRoom(options);
    await again.ready;
    expect(again.state.progress).toBe(0.6);
    await vi.advanceTimersByTimeAsync(0);
    status = waiting(11, 0, { status: 'admitted', ahead: 0, claimBy: 1_900_000_000 });
    again.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(again.state).toMatchObject({ status: 'admitted', progress: 1 });
    again.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a countdown listener hears each second of the claim window; when it runs out the status is asked', async () => {
    vi.setSystemTime(1_000_000_000_000);
    const claimBy = 1_000_000_000 + 5;
    let status: Reply = waiting(3, 0, { status: 'admitted', ahead: 0, claimBy });
    const server = fakeServer({
      'POST /join': { status: 200, body: { ...waiting(3, 0).body, token: positionToken(3) } },
      'GET /status': () => status,
      // The server's clock is 2 s ahead of this one: the deadline is read on the server's.
      'GET ': { status: 200, body: { ...DOCUMENT.body, generatedAt: 1_000_000_002 } },
    });
    const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
    const left: (number | null)[] = [];
    const plain: (number | null)[] = [];
    room.subscribe((event) => event.type === 'state' && left.push(event.state.claimSecondsLeft), {
      countdown: true,
    });
    room.subscribe((event) => event.type === 'state' && plain.push(event.state.claimSecondsLeft));
    await room.join();
    await vi.advanceTimersByTimeAsync(0);
    expect(room.state).toMatchObject({ status: 'admitted', claimBy, claimSecondsLeft: 3 });
    const polls = server.of('GET /status').length;
    status = waiting(3, 0, { status: 'missed', ahead: 0 });
    await vi.advanceTimersByTimeAsync(4_000);
    // 3, 2, 1, 0: each second once, then the status, which says missed.
    expect(left.filter((n) => n !== null)).toEqual(expect.arrayContaining([3, 2, 1, 0]));
    expect(new Set(left.filter((n) => n !== null && n < 3)).size).toBe(3);
    expect(plain).not.toContain(1);
    expect(server.of('GET /status').length).toBeGreaterThan(polls);
    expect(room.state).toMatchObject({ status: 'missed', claimSecondsLeft: null, connection: 'idle' });
    room.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a countdown listener hears the wait count down; unsubscribed, no timer is left', async () => {
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(30, 20).body, token: positionToken(30) } },
      'GET /status': waiting(30, 20),
      'GET ': DOCUMENT,
    });
    const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
    const waits: (number | null)[] = [];
    const unsubscribe = room.subscribe(
      (event) => event.type === 'state' && waits.push(event.state.estimatedWaitSeconds),
      { countdown: true },
    );
    await room.join();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(waits).toEqual(expect.arrayContaining([40, 39, 38, 37]));
    unsubscribe();
    const heard = waits.length;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(waits).toHaveLength(heard);
    room.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('refresh asks now; forget stops and drops the stored place without giving it up', async () => {
    const storage = memoryStorage();
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(2, 1).body, token: positionToken(2) } },
      'GET /status': waiting(2, 1),
      'GET ': DOCUMENT,
      'DELETE /place': { status: 204 },
    });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      storage,
      fetch: server.fetch,
      WebSocket: null,
    });
    await room.join();
    await vi.advanceTimersByTimeAsync(0);
    const reads = [server.of('GET /status').length, server.of('GET ').length];
    room.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(server.of('GET /status').length).toBe((reads[0] ?? 0) + 1);
    expect(server.of('GET ').length).toBe((reads[1] ?? 0) + 1);

    room.forget();
    expect(room.state).toMatchObject({ position: null, status: null, connection: 'idle', progress: null });
    expect(await storage.getItem(`fairqueue:${EVENT}`)).toBeNull();
    expect(server.of('DELETE /place')).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    room.refresh();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.of('GET /status').length).toBe((reads[0] ?? 0) + 1);
    room.close();
  });

  test('unsubscribe stops the listener', async () => {
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(2, 1).body, token: positionToken(2) } },
      'GET /status': waiting(2, 1),
      'GET ': DOCUMENT,
    });
    const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
    const heard: string[] = [];
    const unsubscribe = room.subscribe((event) => heard.push(event.type));
    unsubscribe();
    await room.join();
    expect(heard).toEqual([]);
    room.close();
  });

  test('a double click on join takes one place, and every caller gets it', async () => {
    const server = fakeServer({
      'POST /join': { status: 201, body: { ...waiting(4, 3).body, token: positionToken(4) } },
      'GET /status': waiting(4, 3),
      'GET ': DOCUMENT,
    });
    const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
    const joined = await Promise.all([room.join(), room.join(), room.join()]);
    expect(server.of('POST /join')).toHaveLength(1);
    expect(joined.map((state) => state.position)).toEqual([4, 4, 4]);
    room.close();
  });

  test('a claim deadline or session end no clock can show (1e300, -1, a string) is not taken as a time', async () => {
    const storage = memoryStorage();
    // A stored grant that says so too (a tampered or corrupted storage) is not restored.
    const tampered = { accessToken: 'access.jwt.x', expiresAt: 1e300, sessionId: 's_1' };
    await storage.setItem(
      `fairqueue:${EVENT}`,
      JSON.stringify({ token: positionToken(6), position: 6, access: tampered }),
    );
    let status: Reply = waiting(6, 0, { status: 'admitted', ahead: 0, servingPosition: 6, claimBy: 1e300 });
    let grant: unknown = tampered;
    const server = fakeServer({
      'GET /status': () => status,
      'GET ': DOCUMENT,
      'POST /admission': () => ({ status: 200, body: grant }),
    });
    const room = createWaitingRoom({
      baseUrl: BASE,
      eventId: EVENT,
      storage,
      fetch: server.fetch,
      WebSocket: null,
    });
    await room.ready;
    await vi.advanceTimersByTimeAsync(0);
    expect(room.state).toMatchObject({
      status: 'admitted',
      claimBy: null,
      claimSecondsLeft: null,
      access: null,
    });
    for (const claimBy of [-1, '1900000000', Number.MAX_VALUE]) {
      status = waiting(6, 0, { status: 'admitted', ahead: 0, servingPosition: 6, claimBy });
      room.refresh();
      await vi.advanceTimersByTimeAsync(0);
      expect(room.state.claimBy).toBeNull();
    }
    await expect(room.claim()).rejects.toMatchObject({ code: 'unexpected_response' });
    grant = { ...tampered, expiresAt: 1_900_000_000 };
    expect(await room.claim()).toMatchObject({ expiresAt: 1_900_000_000 });
    room.close();
  });

  for (const pace of [1e-4, 0, -5, 3e6, 1e12, Number.MAX_VALUE])
    test(`pollAfterSeconds ${pace} from the server never makes a tight loop of reads`, async () => {
      const server = fakeServer({
        'POST /join': {
          status: 201,
          body: { ...waiting(9, 8).body, token: positionToken(9), pollAfterSeconds: pace },
        },
        'GET /status': waiting(9, 8, { pollAfterSeconds: pace, estimatedWaitSeconds: 3600 }),
        'GET ': { status: 200, body: { ...DOCUMENT.body, pollAfterSeconds: pace } },
      });
      const room = createWaitingRoom({ baseUrl: BASE, eventId: EVENT, fetch: server.fetch, WebSocket: null });
      await room.join();
      room.refresh();
      // A timer past 2^31 - 1 ms, or of a few microseconds, fires at once: hundreds of reads a
      // second. At a second's pace at least, ten seconds hold ten of each, plus the reads of join and refresh.
      await vi.advanceTimersByTimeAsync(10_000);
      expect(server.of('GET /status').length).toBeLessThanOrEqual(15);
      expect(server.of('GET ').length).toBeLessThanOrEqual(15);
      room.close();
    });
});

describe('storage adapters', () => {
  test('localStorageAdapter wraps any object of the Web Storage shape, and survives its failures', () => {
    const items = new Map<string, string>();
    const web = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => {
        if (value === 'too big') throw new Error('QuotaExceededError');
        items.set(key, value);
      },
      removeItem: (key: string) => {
        items.delete(key);
      },
    };
    const storage = localStorageAdapter(web);
    storage.setItem('a', '1');
    expect(storage.getItem('a')).toBe('1');
    expect(() => storage.setItem('a', 'too big')).not.toThrow();
    storage.removeItem('a');
    expect(items.size).toBe(0);
  });

  test('localStorageAdapter() without a global localStorage falls back to memory', () => {
    const storage = localStorageAdapter();
    storage.setItem('k', 'v');
    expect(storage.getItem('k')).toBe('v');
    expect(memoryStorage().getItem('k')).toBeNull();
  });
});
