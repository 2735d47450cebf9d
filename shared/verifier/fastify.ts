/** A fastify hook, typed structurally: fastify stays an optional peer, never imported. */
import type { AccessClaims } from '../domain/tokens.ts';
import { type AccessMiddlewareOptions, headerVerifier } from './bearer.ts';
import { unauthorized } from './errors.ts';

/**
 * The little of a fastify request the hook reads and writes.
 *
 * @example
 * ```ts
 * app.get('/checkout', async (request: FastifyRequest & FastifyAccessRequest) => request.fairqueue?.sub);
 * ```
 */
export interface FastifyAccessRequest {
  readonly headers: { readonly authorization?: string | undefined };
  fairqueue?: AccessClaims | null;
}

/**
 * The little of a fastify reply the hook answers a 401 with (fastify's `FastifyReply` fits).
 *
 * @example
 * ```ts
 * const reply: FastifyAccessReply = fastifyReply;
 * ```
 */
export interface FastifyAccessReply {
  code(statusCode: number): FastifyAccessReply;
  header(name: string, value: string): FastifyAccessReply;
  send(payload: unknown): FastifyAccessReply;
}

/**
 * A fastify `onRequest`/`preHandler` hook: verifies the bearer access token offline and sets
 * `request.fairqueue` to its claims, or answers `401 invalid_token` (the contract's body) and
 * ends the request. Decorate the request first so fastify knows the property.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fastifyAccess } from 'fairqueue/verifier';
 *
 * const app = Fastify();
 * app.decorateRequest('fairqueue', null);
 * app.addHook('preHandler', fastifyAccess({
 *   jwksUrl: 'https://queue.example.com/.well-known/jwks.json',
 *   eventId: 'tour-2027-berlin',
 * }));
 * app.post('/checkout', async (request) => ({ fan: request.fairqueue?.sub }));
 * ```
 */
export function fastifyAccess(
  options: AccessMiddlewareOptions,
): (request: FastifyAccessRequest, reply: FastifyAccessReply) => Promise<unknown> {
  const verify = headerVerifier(options);
  return async (request, reply) => {
    try {
      request.fairqueue = await verify(request.headers);
      return undefined;
    } catch {
      const answer = unauthorized();
      let r = reply.code(answer.status);
      for (const [name, value] of Object.entries(answer.headers)) r = r.header(name, value);
      // Returning the reply tells fastify the hook answered: the handler does not run.
      return r.send(answer.body);
    }
  };
}
