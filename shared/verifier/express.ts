/**
 * Connect/express middleware. Typed structurally (no import of express or connect), so the
 * package needs neither at runtime nor for its types; `express` stays an optional peer.
 */
import type { AccessClaims } from '../domain/tokens.ts';
import { type AccessMiddlewareOptions, headerVerifier } from './bearer.ts';
import { unauthorized } from './errors.ts';

declare global {
  // Express's own `Request` merges this in, so `req.fairqueue` is typed in express apps.
  namespace Express {
    interface Request {
      /** The access token's claims, set by `expressAccess` once the token verified. */
      fairqueue?: AccessClaims;
    }
  }
}

/**
 * The little of a Node/express request the middleware reads and writes.
 *
 * @example
 * ```ts
 * const req: ConnectRequest = { headers: { authorization: `Bearer ${token}` } };
 * ```
 */
export interface ConnectRequest {
  readonly headers: { readonly authorization?: string | undefined };
  fairqueue?: AccessClaims;
}

/**
 * The little of a Node/express response the middleware answers a 401 with (any `http.ServerResponse`).
 *
 * @example
 * ```ts
 * http.createServer((req, res) => expressAccess(options)(req, res, () => res.end('ok')));
 * ```
 */
export interface ConnectResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/**
 * Connect-style middleware: verifies `Authorization: Bearer <access token>` offline, sets
 * `req.fairqueue` to its claims and calls `next()`; otherwise answers `401` with the
 * contract's body `{"error":{"code":"invalid_token",…}}` and does not call `next`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { expressAccess } from 'fairqueue/verifier';
 *
 * const app = express();
 * app.use('/checkout', expressAccess({
 *   jwksUrl: 'https://queue.example.com/.well-known/jwks.json',
 *   eventId: 'tour-2027-berlin',
 * }));
 * app.post('/checkout', (req, res) => res.json({ fan: req.fairqueue?.sub }));
 * ```
 */
export function expressAccess(
  options: AccessMiddlewareOptions,
): (req: ConnectRequest, res: ConnectResponse, next: (error?: unknown) => void) => void {
  const verify = headerVerifier(options);
  return (req, res, next) => {
    verify(req.headers).then(
      (claims) => {
        req.fairqueue = claims;
        next();
      },
      () => {
        const answer = unauthorized();
        try {
          res.statusCode = answer.status;
          for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
          res.end(JSON.stringify(answer.body));
        } catch (error) {
          // The 401 cannot be written (an earlier middleware already answered): the app's
          // error handling decides, as connect's convention has it, not an unhandled rejection.
          next(error);
        }
      },
    );
  };
}
