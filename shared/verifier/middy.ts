/** A middy middleware, typed structurally: `@middy/core` stays an optional peer, never imported. */
import type { AccessClaims } from '../domain/tokens.ts';
import { type AccessMiddlewareOptions, headerVerifier } from './bearer.ts';
import { unauthorized } from './errors.ts';

/**
 * The little of a middy request the middleware reads and writes (API Gateway REST or HTTP API events).
 *
 * @example
 * ```ts
 * await middyAccess(options).before({ event: { headers: { authorization: `Bearer ${token}` } }, context: {} });
 * ```
 */
export interface MiddyAccessRequest {
  readonly event: { readonly headers?: Readonly<Record<string, string | undefined>> | null };
  readonly context: object & { fairqueue?: AccessClaims };
}

/**
 * The API Gateway proxy result the middleware answers a rejected token with.
 *
 * @example
 * ```ts
 * const denied: AccessDeniedResult | undefined = await middyAccess(options).before(request);
 * if (denied) console.log(denied.statusCode); // 401
 * ```
 */
export interface AccessDeniedResult {
  readonly statusCode: 401;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A middy middleware for API Gateway handlers: verifies the bearer access token offline and
 * sets `context.fairqueue` to its claims; otherwise returns early with `401 invalid_token`
 * (the contract's body), so the handler does not run.
 *
 * @example
 * ```ts
 * import middy from '@middy/core';
 * import { middyAccess } from 'fairqueue/verifier';
 *
 * export const handler = middy()
 *   .use(middyAccess({ jwksUrl: 'https://queue.example.com/.well-known/jwks.json', eventId: 'tour-2027-berlin' }))
 *   .handler(async (_event, context) => ({ statusCode: 200, body: JSON.stringify({ fan: context.fairqueue?.sub }) }));
 * ```
 */
export function middyAccess(options: AccessMiddlewareOptions): {
  before: (request: MiddyAccessRequest) => Promise<AccessDeniedResult | undefined>;
} {
  const verify = headerVerifier(options);
  return {
    before: async (request) => {
      try {
        request.context.fairqueue = await verify(request.event.headers);
        return undefined;
      } catch {
        const answer = unauthorized();
        // A value returned from `before` is middy's early response.
        return { statusCode: answer.status, headers: answer.headers, body: JSON.stringify(answer.body) };
      }
    },
  };
}
