/**
 * Typed errors with a stable `code`. The HTTP layer maps them to statuses in one
 * place (shared/http/errors.ts); only these codes and messages ever reach a client.
 */
export abstract class FairqueueError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Extra fields merged into the error body (e.g. `ahead` for `not_yet`). */
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
    this.headers = options?.headers;
  }
}

export class InvalidRequestError extends FairqueueError {
  override readonly name = 'InvalidRequestError';
  readonly status = 400;
  constructor(
    readonly code: 'invalid_json' | 'invalid_body' | 'invalid_event_id' | 'invalid_request',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class PayloadTooLargeError extends FairqueueError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'payload_too_large';
  readonly status = 413;
}

export class UnsupportedMediaTypeError extends FairqueueError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'unsupported_media_type';
  readonly status = 415;
}

/** Every token problem is the same 401 to the client; `reason` goes to logs only. */
export class InvalidTokenError extends FairqueueError {
  override readonly name = 'InvalidTokenError';
  readonly code = 'invalid_token';
  readonly status = 401;
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('The token is missing, invalid or expired.', {
      ...options,
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
  }
}

export class UnauthorizedError extends FairqueueError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
  readonly status = 401;
}

export class EventNotFoundError extends FairqueueError {
  override readonly name = 'EventNotFoundError';
  readonly code = 'event_not_found';
  readonly status = 404;
  constructor(eventId: string) {
    super(`No event "${eventId}".`);
  }
}

export class RouteNotFoundError extends FairqueueError {
  override readonly name = 'RouteNotFoundError';
  readonly code = 'not_found';
  readonly status = 404;
}

export class MethodNotAllowedError extends FairqueueError {
  override readonly name = 'MethodNotAllowedError';
  readonly code = 'method_not_allowed';
  readonly status = 405;
}

export class NotYetError extends FairqueueError {
  override readonly name = 'NotYetError';
  readonly code = 'not_yet';
  readonly status = 409;
  constructor(ahead: number) {
    super(`Not admitted yet: ${ahead} ahead.`, { details: { ahead } });
  }
}

export class EventClosedError extends FairqueueError {
  override readonly name = 'EventClosedError';
  readonly code = 'event_closed';
  readonly status = 410;
  constructor() {
    super('The event is closed.');
  }
}

export class MissedError extends FairqueueError {
  override readonly name = 'MissedError';
  readonly code = 'missed';
  readonly status = 410;
  constructor() {
    super('The claim window for this place has passed.');
  }
}

export class RateLimitedError extends FairqueueError {
  override readonly name = 'RateLimitedError';
  readonly code = 'rate_limited';
  readonly status = 429;
  constructor(retryAfterSeconds: number) {
    super('Too many joins from this address; try again later.', {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/**
 * A WebSocket `$connect` that would itself be the oldest connection beyond its place's
 * cap (it raced newer connects of the same place): refused rather than registered.
 */
export class TooManyConnectionsError extends FairqueueError {
  override readonly name = 'TooManyConnectionsError';
  readonly code = 'too_many_connections';
  readonly status = 429;
  constructor(max: number) {
    super(`This place already holds ${max} newer connections; use one of them.`);
  }
}

/**
 * The event's live updates are past their budget for places this far back: the fan counts
 * down from the public event document and polls status instead (decision 0012).
 */
export class WebSocketBusyError extends FairqueueError {
  override readonly name = 'WebSocketBusyError';
  readonly code = 'websocket_busy';
  readonly status = 429;
  constructor() {
    super('Live updates are full for places this far back; read the event document and poll status.', {
      headers: { 'Retry-After': '60' },
    });
  }
}

/** A place may register only a few devices for push: each is an SNS endpoint, each milestone a publish per device. */
export class TooManyDevicesError extends FairqueueError {
  override readonly name = 'TooManyDevicesError';
  readonly code = 'too_many_devices';
  readonly status = 409;
  constructor(max: number) {
    super(`This place already has ${max} devices registered for push.`);
  }
}

export class SessionEndedError extends FairqueueError {
  override readonly name = 'SessionEndedError';
  readonly code = 'session_ended';
  readonly status = 410;
  constructor() {
    super('The purchase session of this place has ended.');
  }
}

/** The place was given up with `DELETE …/place`: it is void for good. */
export class LeftError extends FairqueueError {
  override readonly name = 'LeftError';
  readonly code = 'left';
  readonly status = 410;
  constructor() {
    super('This place was given up; join again for a new place.');
  }
}

/** A dependency throttled or is briefly unavailable: retryable, never a 500. */
export class ServiceUnavailableError extends FairqueueError {
  override readonly name = 'ServiceUnavailableError';
  readonly status = 503;
  constructor(
    readonly code: 'unavailable' | 'throttled',
    message: string,
    retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

/** This deployment has no push application for the platform (none configured on the stack). */
export class PushUnavailableError extends FairqueueError {
  override readonly name = 'PushUnavailableError';
  readonly code = 'push_unavailable';
  readonly status = 503;
  constructor(platform: string) {
    super(`Push notifications for ${platform} are not configured here; keep polling or use the WebSocket.`, {
      headers: { 'Retry-After': '3600' },
    });
  }
}

/** A state change that another writer won; callers retry or report. */
export class ConflictError extends FairqueueError {
  override readonly name = 'ConflictError';
  readonly status = 409;
  constructor(
    readonly code: 'conflict' | 'event_closed' | 'intake_locked',
    message: string,
  ) {
    super(message);
  }
}
