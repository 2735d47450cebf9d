/**
 * The local stand-in for API Gateway: matches requests against the route table
 * (shared/http/routes.ts), builds the same API Gateway v2 events, calls the same
 * handlers in process, and checks the operator token where AWS would check IAM.
 * It implements nothing of the waiting room itself.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorBody, INTERNAL_ERROR_BODY } from '#http/http';
import { type FunctionName, ROUTES, type RouteDef } from '#http/routes';

type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** API Gateway's own payload limit is far above ours; this only keeps a local socket from filling memory. */
const MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * Past the limit a body is read and dropped, so the 413 reaches a client still sending and
 * its connection stays usable; but only this far: beyond it (or when the body is announced
 * bigger), the answer goes out at once and the connection is closed.
 */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

interface CompiledRoute {
  readonly def: RouteDef;
  readonly method: string;
  readonly pattern: RegExp;
  readonly params: string[];
}

function compile(def: RouteDef): CompiledRoute {
  const [method = '', path = ''] = def.routeKey.split(' ');
  const params: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = segment.match(/^\{(\w+)\}$/);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1]);
      return '([^/]+)';
    })
    .join('/');
  return { def, method, pattern: new RegExp(`^${source}$`), params };
}

const COMPILED = ROUTES.map(compile);

export function lambdaContext(functionName: string): Context {
  const deadline = Date.now() + 30_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) {
  sendJson(res, status, errorBody(code, message), headers);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** `localhost:3000` → `localhost`; `[::1]:3000` → `[::1]`. */
function hostnameOf(host: string | undefined): string {
  if (!host) return '';
  const bracket = host.match(/^(\[[^\]]*\])/);
  return (bracket?.[1] ?? host.split(':')[0] ?? '').toLowerCase();
}

/** Writes a complete JSON error answer on a raw socket and closes it. */
function answerStatus(socket: Duplex, status: number, code: string, message: string) {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Cache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Node's HTTP parser rejects some requests before any handler sees them (headers over
 * its 16 KiB limit, a malformed request line) and would answer with a bare status line.
 * Answer with the contract's JSON error body instead, then close: the connection's byte
 * stream can no longer be trusted.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex) {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'Request headers are limited to 16 KiB.']
      : error.code === 'HPE_URI_TOO_LONG'
        ? [414, 'uri_too_long', 'The request URI is too long.']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout', 'The request took too long to arrive.']
          : [400, 'invalid_request', 'The request is not valid HTTP.'];
  answerStatus(socket, status, code, message);
}

/**
 * The request target as a URL. An origin-form target is a path, whatever it starts with:
 * resolved against a base, `//x/v1/events/demo` would take `x` for a host and reach
 * `/v1/events/demo` (and `//client.js` the page at `/`). An absolute-form target
 * (`http://host/path`, RFC 9112 §3.2.2) is a URL already.
 */
export function requestUrl(target: string): URL {
  // Throws on a target that is not even a URL reference (`//[`, `http://[::1`): no client's.
  const reference = new URL(target, 'http://local');
  return target.startsWith('/') ? new URL(`http://local${target}`) : reference;
}

async function readBody(req: IncomingMessage): Promise<string | 'too_large' | 'far_too_large'> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_DRAIN_BYTES) return 'far_too_large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_DRAIN_BYTES) return 'far_too_large';
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_REQUEST_BYTES ? 'too_large' : Buffer.concat(chunks).toString('utf8');
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface GatewayOptions {
  readonly port: number;
  readonly host?: string;
  readonly adminToken: string;
  /** Extra local-only routes (e.g. pages), tried before the API routes. */
  readonly extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  readonly loadHandler?: (fn: FunctionName) => Promise<HttpHandler>;
  /** Answer 503 `starting` until `open()` is called (the local app, while its store is prepared). */
  readonly startClosed?: boolean;
}

export interface Gateway {
  readonly server: Server;
  readonly url: string;
  /**
   * Until this is called every request is answered 503 `starting` with Retry-After: the
   * gateway listens early (tests ask for port 0, and the handlers' config needs the real
   * URL), but nothing reaches a handler before the store and runtime exist.
   */
  open(): void;
  close(): Promise<void>;
}

async function defaultLoadHandler(fn: FunctionName): Promise<HttpHandler> {
  const mod = (await import(`../functions/${fn}.ts`)) as { handler: HttpHandler };
  return mod.handler;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const load = options.loadHandler ?? defaultLoadHandler;
  const handlers = new Map<FunctionName, Promise<HttpHandler>>();
  const handlerFor = (fn: FunctionName) => {
    let handler = handlers.get(fn);
    if (!handler) {
      handler = load(fn);
      handlers.set(fn, handler);
    }
    return handler;
  };

  let ready = !options.startClosed;
  const loopback = LOOPBACK_NAMES.has(options.host ?? '127.0.0.1');
  // Node would answer an HTTP/1.1 request without Host itself, with a bare 400.
  const server = createServer({ requireHostHeader: false }, async (req, res) => {
    try {
      if (!ready) {
        req.resume();
        return sendError(res, 503, 'starting', 'The waiting room is starting; retry in a moment.', {
          'retry-after': '1',
        });
      }
      if (req.headers.host === undefined && req.httpVersion === '1.1') {
        req.resume();
        return sendError(res, 400, 'invalid_request', 'HTTP/1.1 requests need a Host header.');
      }
      let url: URL;
      try {
        url = requestUrl(req.url ?? '/');
      } catch {
        // `//[`, `http://[::1` and the like: not a target any route could match.
        req.resume();
        return sendError(res, 400, 'invalid_request', 'The request target is not a valid URL.', {
          connection: 'close',
        });
      }
      if (options.extraRoutes && (await options.extraRoutes(req, res, url))) return;
      const method = req.method ?? 'GET';
      const candidates = COMPILED.map((route) => ({
        route,
        match: url.pathname.match(route.pattern),
      })).filter((c) => c.match);
      const hit = candidates.find((c) => c.route.method === method);
      if (!hit?.match) {
        if (candidates.length > 0) {
          res.setHeader('allow', [...new Set(candidates.map((c) => c.route.method))].join(', '));
          return sendError(res, 405, 'method_not_allowed', `${method} is not allowed here.`);
        }
        return sendError(res, 404, 'not_found', `No route for ${method} ${url.pathname}.`);
      }
      const { route, match } = hit;
      if (route.def.auth === 'iam') {
        // A page elsewhere whose name resolves to this machine (DNS rebinding) reaches a
        // loopback server with its own Host: operator routes answer only the names of here.
        if (loopback && !LOOPBACK_NAMES.has(hostnameOf(req.headers.host))) {
          return sendError(
            res,
            421,
            'misdirected_request',
            'Operator routes answer only on 127.0.0.1 or localhost.',
          );
        }
        const given = req.headers.authorization?.match(/^Bearer (.+)$/i)?.[1] ?? '';
        if (!sameSecret(given, options.adminToken)) {
          return sendError(
            res,
            401,
            'unauthorized',
            'Operator routes need Authorization: Bearer $ADMIN_TOKEN.',
          );
        }
      }
      const body = await readBody(req);
      if (body === 'far_too_large') {
        // Not read to the end: answered now, and the connection goes with the answer.
        res.once('finish', () => req.socket.destroy());
        return sendError(res, 413, 'payload_too_large', 'Request body too large.', { connection: 'close' });
      }
      if (body === 'too_large') return sendError(res, 413, 'payload_too_large', 'Request body too large.');
      const pathParameters: Record<string, string> = {};
      try {
        route.params.forEach((name, i) => {
          const value = match[i + 1];
          if (value !== undefined) pathParameters[name] = decodeURIComponent(value);
        });
      } catch {
        return sendError(res, 400, 'invalid_request', 'The path is not valid percent-encoding.');
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
      }
      const now = new Date();
      const event: APIGatewayProxyEventV2 = {
        version: '2.0',
        routeKey: route.def.routeKey,
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        headers,
        ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
        ...(route.params.length ? { pathParameters } : {}),
        requestContext: {
          accountId: 'local',
          apiId: 'local',
          domainName: headers.host ?? 'localhost',
          domainPrefix: 'local',
          http: {
            method,
            path: url.pathname,
            protocol: `HTTP/${req.httpVersion}`,
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
            userAgent: headers['user-agent'] ?? '',
          },
          requestId: randomUUID(),
          routeKey: route.def.routeKey,
          stage: '$default',
          time: now.toISOString(),
          timeEpoch: now.getTime(),
        },
        ...(body ? { body } : {}),
        isBase64Encoded: false,
      };
      const handler = await handlerFor(route.def.fn);
      const result = await handler(event, lambdaContext(route.def.fn));
      res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string> | undefined);
      res.end(result.body ?? '');
    } catch (error) {
      // A client that went away mid-body is not news; anything else here is a gateway bug.
      // (Not `req.destroyed`: a request read to its end is destroyed too, so a handler that
      // failed to load was answered with a dropped connection, and nothing was logged.)
      if ((error as { code?: string }).code === 'ECONNRESET' || req.socket.destroyed) {
        res.destroy();
        return;
      }
      console.error('gateway error', error);
      if (!res.headersSent) sendJson(res, 500, INTERNAL_ERROR_BODY);
      else res.end();
    }
  });
  server.on('clientError', answerClientError);
  // CONNECT (a proxy tunnel) is no route of ours: answered, not silently dropped.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    answerStatus(socket, 405, 'method_not_allowed', 'CONNECT is not allowed here.');
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    open: () => {
      ready = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function servePage(res: ServerResponse, file: URL) {
  const html = await readFile(file, 'utf8');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}
