/**
 * The online access check (contract v1.1 `GET /v1/events/{eventId}/access`): what a
 * verified access token and its place's session record say about the purchase session,
 * decided without I/O. Decision 0014.
 */
import type { Session } from './place.ts';
import type { AccessClaims } from './tokens.ts';

/**
 * Longest a running answer may be cached (`Cache-Control: private, max-age`): a backend that
 * caches it honours `complete` at most this late. The contract allows up to 5.
 */
export const ACCESS_CHECK_MAX_AGE_SECONDS = 5;

export type AccessCheckOutcome =
  /** The session runs: the backend may serve the fan, and cache that for `maxAgeSeconds`. */
  | { readonly outcome: 'running'; readonly maxAgeSeconds: number }
  /** The session was completed (or the place given up), or its purchase window is over. */
  | { readonly outcome: 'ended' }
  /**
   * The store holds no session this token was issued for (none at all, another session id,
   * subject or end): a token fairqueue never handed out for this place. `reason` is for logs.
   */
  | { readonly outcome: 'unknown'; readonly reason: string };

/**
 * Tokens are issued only by admission, from the session it stores: `sid`, `sub` and `exp`
 * (= `endsAt`) of a genuine token always equal its session's. Anything else is refused as a
 * token problem, so an expired token answers `ended` only when its session confirms it.
 */
export function accessCheck(args: {
  readonly claims: Pick<AccessClaims, 'sid' | 'sub' | 'exp'>;
  readonly session: Session | undefined;
  readonly nowSec: number;
}): AccessCheckOutcome {
  const { claims, session, nowSec } = args;
  if (!session) return { outcome: 'unknown', reason: 'no session for this place' };
  if (session.sessionId !== claims.sid) return { outcome: 'unknown', reason: 'sid of another session' };
  if (session.sub !== claims.sub) return { outcome: 'unknown', reason: 'place claimed by another subject' };
  if (session.endsAt !== claims.exp) return { outcome: 'unknown', reason: 'exp is not the session end' };
  if (session.completedAt !== null || nowSec >= session.endsAt) return { outcome: 'ended' };
  // Never cached past the window's end: a cached "running" is never older news than `exp`.
  return {
    outcome: 'running',
    maxAgeSeconds: Math.min(ACCESS_CHECK_MAX_AGE_SECONDS, session.endsAt - nowSec),
  };
}
