/**
 * The WebSocket side of a fan's place: a connection is admitted at the
 * handshake only with a valid position token, and registered under its event.
 */
import { decodeJwt } from 'jose';
import { EventClosedError, EventNotFoundError, InvalidTokenError } from '#domain/errors';
import { EVENT_ID_PATTERN } from '#domain/event';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ConnectionPoster, ConnectionRegistry } from '#ports/realtime';

export class Connections {
  constructor(
    private readonly deps: {
      readonly store: QueueStore;
      readonly registry: ConnectionRegistry;
      readonly tokens: TokenService;
      readonly poster: ConnectionPoster | null;
      readonly now?: () => number;
    },
  ) {}

  /** The `$connect` check: throws InvalidTokenError, EventNotFoundError or EventClosedError to refuse. */
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
    await this.deps.registry.add({
      connectionId,
      eventId,
      position: claims.pos,
      sub: claims.sub,
      connectedAt: Math.floor((this.deps.now ?? Date.now)() / 1000),
    });
  }

  async disconnect(connectionId: string): Promise<void> {
    await this.deps.registry.remove(connectionId);
  }

  /** Client messages: `{"type":"ping"}` is answered with `{"type":"pong"}` (a heartbeat against idle timeouts). */
  async message(connectionId: string, body: string | undefined): Promise<void> {
    let type: unknown;
    try {
      type = (JSON.parse(body ?? '') as { type?: unknown }).type;
    } catch {
      type = undefined;
    }
    if (type !== 'ping' || !this.deps.poster) return;
    if ((await this.deps.poster.post(connectionId, JSON.stringify({ type: 'pong' }))) === 'gone') {
      await this.deps.registry.remove(connectionId);
    }
  }
}
