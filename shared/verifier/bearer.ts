/** What every middleware shares: the bearer token out of a header bag, and the verifier it uses. */
import type { AccessClaims } from '../domain/tokens.ts';
import { AccessTokenRejectedError } from './errors.ts';
import { type AccessVerifier, type AccessVerifierOptions, createAccessVerifier } from './verify.ts';

/**
 * Options of `expressAccess`, `fastifyAccess` and `middyAccess`: either the verifier's own
 * options, or a verifier already built (to share one JWKS cache between middlewares).
 *
 * @example
 * ```ts
 * const verify = createAccessVerifier({ jwksUrl, eventId: 'demo' });
 * const options: AccessMiddlewareOptions = { verify, onRejected: (error) => logger.info('401', { cause: error.cause }) };
 * app.use(expressAccess(options));
 * ```
 */
export type AccessMiddlewareOptions = (AccessVerifierOptions | { readonly verify: AccessVerifier }) & {
  /** Called with every rejection's error (its `cause` says why), for logs; never for the client. */
  readonly onRejected?: (error: AccessTokenRejectedError) => void;
};

type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined | null>> | null | undefined;

/**
 * The token of an `Authorization: Bearer <token>` header, looked up case-insensitively
 * (API Gateway REST events keep the client's case); `undefined` for any other scheme.
 *
 * @example
 * ```ts
 * import { bearerToken } from 'fairqueue/verifier';
 *
 * const token = bearerToken(event.headers); // 'eyJ…' or undefined
 * ```
 */
export function bearerToken(headers: HeaderBag): string | undefined {
  if (!headers) return undefined;
  let value = headers.authorization;
  if (value === undefined) {
    for (const [name, v] of Object.entries(headers)) {
      if (name.toLowerCase() === 'authorization') value = v;
    }
  }
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(value);
  return match?.[1];
}

/**
 * Builds the middlewares' check once: headers in, claims out, or an `AccessTokenRejectedError`
 * (reported to `onRejected` first). Not exported by the package.
 *
 * @example
 * ```ts
 * const verify = headerVerifier({ jwksUrl, eventId });
 * const claims = await verify(req.headers);
 * ```
 */
export function headerVerifier(
  options: AccessMiddlewareOptions,
): (headers: HeaderBag) => Promise<AccessClaims> {
  const verify = 'verify' in options ? options.verify : createAccessVerifier(options);
  return async (headers) => {
    try {
      const token = bearerToken(headers);
      if (!token) throw new AccessTokenRejectedError('no bearer token');
      return await verify(token);
    } catch (error) {
      const rejected =
        error instanceof AccessTokenRejectedError
          ? error
          : new AccessTokenRejectedError('access token rejected', { cause: error });
      options.onRejected?.(rejected);
      throw rejected;
    }
  };
}
