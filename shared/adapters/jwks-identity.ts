/** Identity tokens from the ticketing platform, verified against its JWKS (fetched and cached by jose). */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError, ServiceUnavailableError } from '#domain/errors';
import { isValidUserId } from '#domain/user';
import type { IdentityVerifier } from '#ports/identity';

export class JwksIdentityVerifier implements IdentityVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly options: { issuer: string; jwksUrl: string; audience: string }) {
    this.#jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      cacheMaxAge: 10 * 60_000,
      cooldownDuration: 30_000,
    });
  }

  async verify(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.options.issuer,
        // Always pinned: a token the platform issued for another of its services is not a join.
        audience: this.options.audience,
        // Asymmetric only: a shared-secret algorithm would let anyone holding the JWKS forge identities.
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'],
        requiredClaims: ['sub', 'exp'],
      });
      // The same rule as a body's userId: the sub becomes a store key and a token claim.
      if (!isValidUserId(payload.sub)) throw new InvalidTokenError('identity sub is not a valid user id');
      return payload.sub;
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      // The platform's JWKS could not be fetched: our dependency is down, not the fan's token bad.
      if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) {
        throw new ServiceUnavailableError('unavailable', 'Identity keys are unavailable; retry shortly.', 5, {
          cause: error,
        });
      }
      throw new InvalidTokenError('identity token rejected', { cause: error });
    }
  }
}
