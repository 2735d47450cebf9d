/**
 * The online access check (contract v1.1 `GET /v1/events/{eventId}/access`), for ticketing
 * backends that must honour `complete` before the access token's `exp`: one verification and
 * one strongly consistent read of the place's session item, nothing else (decision 0014).
 */
import { type AccessCheckOutcome, accessCheck } from '#domain/access';
import { InvalidTokenError, SessionEndedError } from '#domain/errors';
import type { TokenService } from '#lib/token-service';
import type { PlaceStore } from '#ports/place-store';

export interface AccessCheckDeps {
  /** Only the session read: the check never reads the event or writes anything. */
  readonly store: Pick<PlaceStore, 'getSession'>;
  readonly tokens: Pick<TokenService, 'verifyAccess'>;
  readonly now?: () => number;
}

/** The session's claims, as the contract answers them, and how long the answer may be cached. */
export interface AccessCheckResult {
  readonly sub: string;
  readonly sid: string;
  readonly pos: number;
  /** Epoch seconds: the end of the purchase window (the token's `exp`). */
  readonly exp: number;
  /** For `Cache-Control: private, max-age`: at most 5, never past `exp`. */
  readonly maxAgeSeconds: number;
}

export class AccessCheck {
  readonly #deps: AccessCheckDeps;

  constructor(deps: AccessCheckDeps) {
    this.#deps = deps;
  }

  /**
   * Answers the claims while the session runs. Throws `SessionEndedError` once `complete` (or
   * a leave) ended it or its window is over, and `InvalidTokenError` for anything that is not
   * a genuine access token of this event's session.
   *
   * @example
   * ```ts
   * const { sub, sid, maxAgeSeconds } = await check.check('tour-2027-berlin', accessToken);
   * ```
   */
  async check(eventId: string, token: string): Promise<AccessCheckResult> {
    // Expired tokens are let through the signature check: past its window a genuine token's
    // session has ended, which the fan's backend should hear as such, not as a forgery.
    const claims = await this.#deps.tokens.verifyAccess(token, eventId, { acceptExpired: true });
    const nowSec = Math.floor((this.#deps.now ?? Date.now)() / 1000);
    // getSession reads consistently: a `complete` that has answered is never missed here.
    const session = await this.#deps.store.getSession(eventId, claims.pos);
    const decided: AccessCheckOutcome = accessCheck({ claims, session, nowSec });
    if (decided.outcome === 'unknown') throw new InvalidTokenError(decided.reason);
    if (decided.outcome === 'ended') throw new SessionEndedError();
    return {
      sub: claims.sub,
      sid: claims.sid,
      pos: claims.pos,
      exp: claims.exp,
      maxAgeSeconds: decided.maxAgeSeconds,
    };
  }
}
