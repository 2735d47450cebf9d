/**
 * The offline verifier for ticketing backends: checks a fairqueue access token
 * against the JWKS with no call to fairqueue per request. It pins everything a
 * token must have: ES256, `typ` fq-access+jwt, the issuer, the backend's event
 * as audience, and an unexpired `exp`. A position token never passes.
 *
 * Part of the `fairqueue/verifier` package: relative imports only (no `#aliases`), so
 * the package build emits it as is.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet as JoseJSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { ACCESS_TYP, type AccessClaims } from '../domain/tokens.ts';
import { AccessTokenRejectedError } from './errors.ts';

export type { AccessClaims } from '../domain/tokens.ts';

/**
 * A JSON Web Key Set, `{ keys: [...] }`, as `GET /.well-known/jwks.json` answers it (jose's type).
 *
 * @example
 * ```ts
 * import { createAccessVerifier, type JSONWebKeySet } from 'fairqueue/verifier';
 *
 * const res = await fetch('https://queue.example.com/.well-known/jwks.json');
 * const jwks = (await res.json()) as JSONWebKeySet;
 * const verify = createAccessVerifier({ jwks, eventId: 'tour-2027-berlin' });
 * ```
 */
export type JSONWebKeySet = JoseJSONWebKeySet;

/**
 * What `createAccessVerifier` and every middleware take: one event, one key source.
 *
 * @example
 * ```ts
 * const options: AccessVerifierOptions = { jwksUrl: 'https://queue.example.com/.well-known/jwks.json', eventId: 'demo' };
 * ```
 */
export interface AccessVerifierOptions {
  /** Fairqueue's `iss` (default `fairqueue`). */
  readonly issuer?: string;
  /** The event this backend sells: the token's `aud` must equal it. */
  readonly eventId: string;
  /** Either the JWKS URL (fetched and cached, refetched on an unknown `kid`) or a JWKS already in hand. */
  readonly jwksUrl?: string | URL;
  readonly jwks?: JSONWebKeySet;
  /** Seconds of clock skew tolerated on `exp`/`iat` (default 0). */
  readonly clockToleranceSeconds?: number;
}

/**
 * Resolves to the token's claims, or rejects with `AccessTokenRejectedError`.
 *
 * @example
 * ```ts
 * const verify: AccessVerifier = createAccessVerifier({ jwks, eventId: 'demo' });
 * const { sub, sid, exp } = await verify(token);
 * ```
 */
export type AccessVerifier = (token: string) => Promise<AccessClaims>;

/**
 * Builds a verifier for one event. Build it once (at module scope): a remote JWKS is
 * fetched on first use, cached, and fetched again when a token names a `kid` it does not
 * hold (key rotation), at most once every 30 s.
 *
 * @example
 * ```ts
 * import { createAccessVerifier } from 'fairqueue/verifier';
 *
 * const verify = createAccessVerifier({
 *   jwksUrl: 'https://queue.example.com/.well-known/jwks.json',
 *   eventId: 'tour-2027-berlin',
 * });
 * const claims = await verify(accessToken); // throws AccessTokenRejectedError on any problem
 * // claims.sub is the fan, claims.sid the purchase session, claims.exp when it ends.
 * ```
 */
export function createAccessVerifier(options: AccessVerifierOptions): AccessVerifier {
  let keys: JWTVerifyGetKey;
  if (options.jwks) keys = createLocalJWKSet(options.jwks);
  else if (options.jwksUrl) keys = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000 });
  else throw new TypeError('createAccessVerifier needs jwksUrl or jwks');
  const verifyOptions = {
    algorithms: ['ES256'],
    typ: ACCESS_TYP,
    issuer: options.issuer ?? 'fairqueue',
    audience: options.eventId,
    requiredClaims: ['sub', 'exp', 'iat', 'jti', 'sid', 'pos'],
    clockTolerance: options.clockToleranceSeconds ?? 0,
  };
  return async (token: string) => {
    try {
      const { payload } = await jwtVerify(token, keys, verifyOptions);
      if (typeof payload.sid !== 'string' || typeof payload.pos !== 'number') {
        throw new AccessTokenRejectedError('access token lacks sid or pos');
      }
      return payload as unknown as AccessClaims;
    } catch (error) {
      if (error instanceof AccessTokenRejectedError) throw error;
      throw new AccessTokenRejectedError('access token rejected', { cause: error });
    }
  };
}
