/**
 * `fairqueue/verifier`: protect a ticketing backend with fairqueue access tokens. The offline
 * verifier (JWKS, no call per request), middleware for express/connect, fastify and middy,
 * and `checkAccess` for the online check. No framework is imported here: each is an optional
 * peer, and the middleware is typed structurally.
 */
export { type AccessMiddlewareOptions, bearerToken } from './bearer.ts';
export {
  type AccessCheckCache,
  type CheckAccessOptions,
  cacheSeconds,
  checkAccess,
  createAccessCheckCache,
  type SessionClaims,
} from './check-access.ts';
export {
  AccessCheckUnavailableError,
  AccessTokenRejectedError,
  type ErrorBody,
  SessionEndedError,
  unauthorized,
} from './errors.ts';
export { type ConnectRequest, type ConnectResponse, expressAccess } from './express.ts';
export { type FastifyAccessReply, type FastifyAccessRequest, fastifyAccess } from './fastify.ts';
export { type AccessDeniedResult, type MiddyAccessRequest, middyAccess } from './middy.ts';
export {
  type AccessClaims,
  type AccessVerifier,
  type AccessVerifierOptions,
  createAccessVerifier,
  type JSONWebKeySet,
} from './verify.ts';
