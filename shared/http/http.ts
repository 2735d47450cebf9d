/**
 * The HTTP edge shared by every API handler: a middy stack that maps typed
 * errors to the contract's error body in one place, plus request parsers that
 * turn anything malformed into a clear 4xx before the domain sees it.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger } from '#app/logger';
import { runtime } from '#app/runtime';
import {
  FairqueueError,
  InvalidRequestError,
  InvalidTokenError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
} from '#domain/errors';
import { clientAddress, EDGE_SECRET_HEADER, VIEWER_ADDRESS_HEADER } from './edge.ts';
import { eventIdSchema, MAX_BODY_BYTES } from './schemas.ts';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export interface HttpResponse {
  readonly statusCode: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export function json(statusCode: number, body?: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { ...(body === undefined ? {} : JSON_HEADERS), 'cache-control': 'no-store', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
}

/** The contract's error body, built here for the handlers and the local gateway alike. */
export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: { code, message, ...details } };
}

export const INTERNAL_ERROR_BODY = errorBody('internal_error', 'Something went wrong on our side.');

export function errorResult(error: unknown, requestId?: string): HttpResult {
  if (error instanceof FairqueueError) {
    return json(error.status, errorBody(error.code, error.message, error.details), error.headers ?? {});
  }
  // Anything unexpected is a bug: log it, tell the client nothing about it.
  logger.error('unhandled error', { error: error as Error, requestId });
  return json(500, INTERNAL_ERROR_BODY);
}

function logFailure(error: unknown) {
  if (error instanceof InvalidTokenError) logger.info('token rejected', { reason: error.reason });
  else if (error instanceof ServiceUnavailableError)
    logger.warn('dependency unavailable', { error: error.cause as Error });
}

export interface HttpHandlerOptions {
  /** Records how long the route took to answer under this metric (the join route's latency). */
  readonly latencyMetric?: 'JoinLatency';
}

/**
 * Counts what the answer says about the service (a 503 is a throttled dependency, a
 * 500 a bug), records the route's latency when asked to, and sends the invocation's
 * metrics, whatever the outcome.
 */
function recordAnswer(status: number | undefined, startedMs: number, options: HttpHandlerOptions) {
  const { metrics } = runtime();
  if (status === 503) metrics.record('Throttled', 1);
  else if (status === 500) metrics.record('ServerErrors', 1);
  if (options.latencyMetric) metrics.record(options.latencyMetric, performance.now() - startedMs);
  metrics.flush();
}

/** Wraps a route function in the shared middy stack. */
export function httpHandler(
  fn: (event: HttpEvent, context: Context) => Promise<HttpResult>,
  options: HttpHandlerOptions = {},
) {
  // Per invocation, not per module: the local gateway runs one handler for many requests at once.
  const started = new WeakMap<HttpEvent, number>();
  const startedMs = (event: HttpEvent) => started.get(event) ?? performance.now();
  return middy<HttpEvent, HttpResult>()
    .use({
      before: (request) => {
        started.set(request.event, performance.now());
        // Every route, body or not, refuses an oversized payload before any work.
        assertBodySize(request.event);
        logger.appendKeys({
          route: request.event.routeKey,
          requestId: request.event.requestContext?.requestId,
        });
      },
      after: (request) => {
        recordAnswer(request.response?.statusCode, startedMs(request.event), options);
        logger.resetKeys();
      },
      onError: (request) => {
        logFailure(request.error);
        request.response = errorResult(request.error, request.event.requestContext?.requestId);
        recordAnswer(request.response.statusCode, startedMs(request.event), options);
        logger.resetKeys();
      },
    })
    .handler(fn);
}

export function pathEventId(event: HttpEvent): string {
  const parsed = eventIdSchema.safeParse(event.pathParameters?.eventId);
  if (!parsed.success)
    throw new InvalidRequestError('invalid_event_id', 'Event ids match ^[a-zA-Z0-9_-]{1,64}$.');
  return parsed.data;
}

function header(event: HttpEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

/** `Authorization: Bearer <token>`; a missing or malformed header is a 401 like any token problem. */
export function bearerToken(event: HttpEvent): string {
  const value = header(event, 'authorization');
  // The auth scheme name is case-insensitive (RFC 9110 §11.1).
  const match = value?.match(/^Bearer ([A-Za-z0-9_\-.=]+)$/i);
  if (!match?.[1]) throw new InvalidTokenError('missing or malformed Authorization header');
  return match[1];
}

export function optionalBearerToken(event: HttpEvent): string | undefined {
  return header(event, 'authorization') === undefined ? undefined : bearerToken(event);
}

function sourceIp(event: HttpEvent): string | undefined {
  return event.requestContext?.http?.sourceIp;
}

/**
 * The address per-address limits count: behind the stack's CloudFront distribution the
 * viewer's (`CloudFront-Viewer-Address`, believed only with the distribution's secret,
 * `edgeSecret`), else the connection's. See `clientAddress` in edge.ts.
 */
export function clientIp(event: HttpEvent, edgeSecret: string | undefined): string | undefined {
  const client = clientAddress(
    {
      sourceIp: sourceIp(event),
      edgeSecret: header(event, EDGE_SECRET_HEADER),
      viewerAddress: header(event, VIEWER_ADDRESS_HEADER.toLowerCase()),
    },
    edgeSecret,
  );
  if (client.via === 'edge' && client.address === undefined) {
    // Only a distribution whose origin request policy lost the header gets here.
    logger.warn('request through the edge without a viewer address; not counted per address');
  }
  return client.address;
}

function bodyText(event: HttpEvent): string {
  const raw = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
}

function assertBodySize(event: HttpEvent): void {
  if (Buffer.byteLength(bodyText(event), 'utf8') > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`Bodies are limited to ${MAX_BODY_BYTES} bytes.`);
  }
}

/** Parses a JSON body against a schema. An absent body is `{}`. */
export function jsonBody<S extends z.ZodType>(event: HttpEvent, schema: S): z.infer<S> {
  assertBodySize(event);
  const text = bodyText(event);
  const contentType = header(event, 'content-type');
  if (text.trim() !== '' && contentType && !/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError('Send JSON with Content-Type: application/json.');
  }
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new InvalidRequestError('invalid_json', 'The body is not valid JSON.', { cause: error });
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`)
      .join('; ');
    throw new InvalidRequestError('invalid_body', `Invalid body: ${detail}`);
  }
  return parsed.data;
}
