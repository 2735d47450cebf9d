/**
 * The WebSocket side of a fan's place: a connection is admitted at the
 * handshake only with a valid position token, and registered under its event
 * and its place. What one client may cost is bounded here, for AWS and the
 * local runtime alike: a few connections per place (a new one closes the
 * oldest) and a number of messages per connection and minute (one more closes
 * the connection).
 */
import { decodeJwt } from 'jose';
import { z } from 'zod';
import {
  connectionsToClose,
  messageWindowStart,
  overMessageLimit,
  type PlaceConnection,
} from '#domain/connection-limits';
import {
  EventClosedError,
  EventNotFoundError,
  InvalidTokenError,
  LeftError,
  TooManyConnectionsError,
  WebSocketBusyError,
} from '#domain/errors';
import { EVENT_ID_PATTERN } from '#domain/event';
import { PONG } from '#domain/messages';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ConnectionPoster, ConnectionRegistry } from '#ports/realtime';

/** A connection registered this recently may still be completing its handshake. */
const HANDSHAKE_MS = 10_000;
/** How long an eviction waits for a handshaking connection to be there: about 3 s in all. */
const EVICT_RETRY_DELAYS_MS = [100, 200, 400, 800, 1600];

/** The one client message with an answer; anything else is counted and ignored. */
const pingSchema = z.object({ type: z.literal('ping') });

export interface ConnectionLimits {
  readonly maxConnectionsPerPlace: number;
  readonly maxMessagesPerMinute: number;
}

export class Connections {
  readonly #now: () => number;

  constructor(
    private readonly deps: {
      readonly store: QueueStore;
      readonly registry: ConnectionRegistry;
      readonly tokens: TokenService;
      readonly poster: ConnectionPoster | null;
      readonly limits: ConnectionLimits;
      readonly now?: () => number;
      /** A connection that could not be closed (it stays until its next message or its TTL). */
      readonly onCloseError?: (error: unknown, connectionId: string) => void;
    },
  ) {
    this.#now = deps.now ?? Date.now;
  }

  /**
   * The `$connect` check: throws InvalidTokenError, EventNotFoundError or EventClosedError
   * to refuse; TooManyConnectionsError when this connection lost a race to newer ones.
   */
  async connect(connectionId: string, token: string | undefined): Promise<void> {
    if (!token) throw new InvalidTokenError('no token on connect');
    let eventId: unknown;
    try {
      // The event is the token's audience; the signature and every claim are checked right after.
      eventId = decodeJwt(token).aud;
    } catch (error) {
      throw new InvalidTokenError('malformed token on connect', { cause: error });
    }
    if (typeof eventId !== 'string' || !EVENT_ID_PATTERN.test(eventId))
      throw new InvalidTokenError('bad audience');
    const claims = await this.deps.tokens.verifyPosition(token, eventId);
    const event = await this.deps.store.getEvent(eventId);
    if (!event) throw new EventNotFoundError(eventId);
    if (event.state === 'closed') throw new EventClosedError();
    const { registry } = this.deps;
    // Past overload a shard takes only places near the front (its fan-out sets the limit).
    const gate = await registry.readFanoutCursor(eventId, registry.shardOf(connectionId));
    if (gate?.acceptsThrough !== undefined && claims.pos > gate.acceptsThrough)
      throw new WebSocketBusyError();
    const nowMs = this.#now();
    await registry.add(
      {
        connectionId,
        eventId,
        position: claims.pos,
        sub: claims.sub,
        connectedAt: Math.floor(nowMs / 1000),
      },
      nowMs,
    );
    // A place given up hears nothing more. Read after registering: a leave writes its marker
    // before it tells the place's connections, so either it finds this one or this finds it.
    if (await this.deps.store.hasLeft(eventId, claims.pos)) {
      await registry.remove(connectionId);
      throw new LeftError();
    }
    // Read after registering: of racing connects of one place, the last to register sees all
    // of them, and all agree on which are the oldest, so the place ends with at most the cap.
    const max = this.deps.limits.maxConnectionsPerPlace;
    const place = await registry.listPlace(eventId, claims.pos);
    const doomed = connectionsToClose(place, max);
    await Promise.all(
      place
        .filter((c) => c.connectionId !== connectionId && doomed.includes(c.connectionId))
        .map((c) => this.#evict(c, nowMs)),
    );
    // Newer connects of this place won the race: this one is among the oldest (or a racing
    // connect has already closed it), so it goes rather than stay open unregistered.
    if (doomed.includes(connectionId) || !place.some((c) => c.connectionId === connectionId)) {
      await registry.remove(connectionId);
      throw new TooManyConnectionsError(max);
    }
  }

  async disconnect(connectionId: string): Promise<void> {
    await this.deps.registry.remove(connectionId);
  }

  /**
   * Client messages: every one is counted (one write on the connection's own item) and a
   * connection over its per-minute limit is closed and forgotten. `{"type":"ping"}` is
   * answered with `{"type":"pong"}` (a heartbeat against idle timeouts); anything else is
   * ignored.
   */
  async message(connectionId: string, body: string | undefined): Promise<void> {
    const { registry, poster, limits } = this.deps;
    const windowStart = messageWindowStart(Math.floor(this.#now() / 1000));
    const count = await registry.countMessage(connectionId, windowStart);
    if (count === null) {
      // Not registered: closed for its place's cap (while its own `$connect` still ran) or
      // forgotten. Nothing would ever reach it, so it should not stay open.
      await this.#close(connectionId);
      return;
    }
    if (overMessageLimit(count, limits.maxMessagesPerMinute)) {
      await this.#drop(connectionId);
      return;
    }
    if (!poster || !isPing(body)) return;
    if ((await poster.post(connectionId, PONG)) === 'gone') await registry.remove(connectionId);
  }

  /** Forgets the connection and closes it. */
  async #drop(connectionId: string): Promise<void> {
    await this.deps.registry.remove(connectionId);
    await this.#close(connectionId);
  }

  /**
   * Closes one of a place's oldest connections. One that connected a moment ago may still be
   * in its handshake, where the management API answers Gone (the connection is not there
   * yet) and it would then open unregistered, told nothing, until its idle timeout: so a
   * young one that answers Gone is closed again, a little later, until it is really there.
   */
  async #evict(connection: PlaceConnection, nowMs: number): Promise<void> {
    await this.deps.registry.remove(connection.connectionId);
    const handshaking = nowMs - connection.connectedAtMs < HANDSHAKE_MS;
    for (const delayMs of handshaking ? EVICT_RETRY_DELAYS_MS : []) {
      if ((await this.#close(connection.connectionId)) !== 'gone') return;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    await this.#close(connection.connectionId);
  }

  async #close(connectionId: string): Promise<'closed' | 'gone' | 'failed'> {
    try {
      return (await this.deps.poster?.close(connectionId)) ?? 'closed';
    } catch (error) {
      // Forgotten already, so it hears nothing more; its next message tries the close again.
      this.deps.onCloseError?.(error, connectionId);
      return 'failed';
    }
  }
}

function isPing(body: string | undefined): boolean {
  try {
    return pingSchema.safeParse(JSON.parse(body ?? '')).success;
  } catch {
    return false;
  }
}
