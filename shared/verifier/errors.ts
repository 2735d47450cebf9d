/**
 * The verifier's typed errors, each with a stable `code` (the contract's error codes), so a
 * backend can tell a forged or foreign token from a finished session without reading messages.
 */

/**
 * A token that is not a genuine, unexpired access token of this event: bad signature, unknown
 * `kid`, wrong `typ`, issuer or audience, expired, missing, or (online) answered 401. The
 * detail is in `cause`, for logs only; a client hears `401 invalid_token` and nothing more.
 *
 * @example
 * ```ts
 * try {
 *   await verify(token);
 * } catch (error) {
 *   if (error instanceof AccessTokenRejectedError) console.warn('rejected', error.cause);
 * }
 * ```
 */
export class AccessTokenRejectedError extends Error {
  override readonly name = 'AccessTokenRejectedError';
  readonly code = 'invalid_token';
}

/**
 * The online check's 410: the session was completed or given up, or its purchase window is
 * over. The token was genuine; the fan's time is simply up.
 *
 * @example
 * ```ts
 * try {
 *   await checkAccess({ baseUrl, eventId, token });
 * } catch (error) {
 *   if (error instanceof SessionEndedError) return showSessionOver();
 *   throw error;
 * }
 * ```
 */
export class SessionEndedError extends Error {
  override readonly name = 'SessionEndedError';
  readonly code = 'session_ended';
}

/**
 * The online check got no usable answer (network failure, 5xx, 429, a body that is not the
 * contract's): nothing is known about the token. Decide whether to fail open or closed.
 *
 * @example
 * ```ts
 * try {
 *   await checkAccess({ baseUrl, eventId, token });
 * } catch (error) {
 *   if (error instanceof AccessCheckUnavailableError) console.error('check failed', error.status);
 *   throw error;
 * }
 * ```
 */
export class AccessCheckUnavailableError extends Error {
  override readonly name = 'AccessCheckUnavailableError';
  readonly code = 'access_check_unavailable';
  /** The HTTP status fairqueue answered, or `undefined` when no answer came. */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}

/**
 * The contract's error body: `{"error":{"code","message"}}`.
 *
 * @example
 * ```ts
 * const body: ErrorBody = { error: { code: 'invalid_token', message: 'A valid access token is required.' } };
 * ```
 */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/**
 * The body, headers and status every middleware answers a rejected token with: the
 * contract's `401 invalid_token`, never the reason (that goes to `onRejected`, for logs).
 *
 * @example
 * ```ts
 * const { status, headers, body } = unauthorized();
 * res.writeHead(status, headers).end(JSON.stringify(body));
 * ```
 */
export function unauthorized(): {
  status: 401;
  headers: Record<string, string>;
  body: ErrorBody;
} {
  return {
    status: 401,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'www-authenticate': 'Bearer error="invalid_token"',
    },
    body: { error: { code: 'invalid_token', message: 'A valid access token is required.' } },
  };
}
