/** Identity tokens from the ticketing platform, verified against its JWKS (fetched and cached by jose). */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError, ServiceUnavailableError } from '#domain/errors';
import type { IdentityVerifier } from '#ports/identity';

export class JwksIdentityVerifier implements IdentityVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly options: { issuer: string; jwksUrl: string; audience?: string }) {
    this.#jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      cacheMaxAge: 10 * 60_000,
      cooldownDuration: 30_000,
    });
  }

  async verify(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.options.issuer,
        ...(this.options.audience ? { audience: this.options.audience } : {}),
        // Asymmetric only: a shared-secret algorithm would let anyone holding the JWKS forge identities.
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'],
        requiredClaims: ['sub', 'exp'],
      });
      if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 128) {
        throw new InvalidTokenError('identity sub missing or too long');
      }
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
