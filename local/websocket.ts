/**
 * The local stand-in for API Gateway's WebSocket API: `/ws` runs the same
 * `$connect` / `$default` / `$disconnect` handlers, and `/@connections/{id}`
 * answers the management API exactly as far as the real
 * `ApiGatewayManagementApiClient` needs (POST a message, GET, DELETE; 410
 * GoneException for a connection that is not there).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { errorBody } from '#http/http';
import type { WebSocketEvent, WebSocketResult } from '#http/websocket';
import { requestUrl } from './gateway.ts';
import { type LocalCredentials, verifySigV4 } from './sigv4.ts';

type WsHandler = (event: WebSocketEvent) => Promise<WebSocketResult>;

export interface WebSocketHandlers {
  readonly connect: WsHandler;
  readonly disconnect: WsHandler;
  readonly message: WsHandler;
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not Found',
  410: 'Gone',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};
/** API Gateway's cap on a WebSocket message (frames are 32 KB; a message may span frames up to 128 KB). */
const MAX_FRAME_BYTES = 128 * 1024;
/**
 * Client messages of one connection wait here while the one before is handled, as a
 * connection's messages queue for Lambda concurrency on AWS; a client that floods
 * past it is disconnected (1008) instead of making the process queue without end.
 */
const MAX_QUEUED_MESSAGES = 8;
/**
 * What a connection may have sent to it but not yet taken: past this, a post is refused
 * (Gone) and the connection dropped, so a stalled reader cannot grow the process.
 */
const MAX_BUFFERED_BYTES = 512 * 1024;

/** API Gateway closes a connection that has been idle this long, and any connection at two hours. */
const IDLE_TIMEOUT_MS = 10 * 60_000;
const MAX_CONNECTION_MS = 2 * 3600_000;
const SWEEP_MS = 15_000;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
};

/** Answers a refused upgrade with the contract's JSON error body and closes the socket. */
function refuse(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
) {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(code, message));
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** What is wrong with an upgrade request as a WebSocket handshake (RFC 6455 §4.2.1), if anything. */
function handshakeProblem(
  req: IncomingMessage,
): { status: number; code: string; message: string; headers?: Record<string, string> } | null {
  const bad = (message: string) => ({ status: 400, code: 'invalid_request', message });
  if (req.method !== 'GET') return bad('A WebSocket handshake is a GET.');
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return bad('Upgrade must be websocket.');
  if (!/^[A-Za-z0-9+/]{22}==$/.test(req.headers['sec-websocket-key'] ?? ''))
    return bad('Sec-WebSocket-Key must be 16 bytes in base64.');
  if (req.headers['sec-websocket-version'] !== '13') {
    return {
      status: 426,
      code: 'upgrade_required',
      message: 'Only WebSocket version 13 is spoken here.',
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  return null;
}

interface Live {
  readonly socket: WebSocket;
  readonly connectedAt: number;
  readonly sourceIp: string;
  readonly userAgent: string;
  lastActiveAt: number;
  /** Client messages waiting for the `$default` handler, which runs one at a time. */
  readonly queue: string[];
  draining: boolean;
}

/**
 * Reads a body of at most `max` bytes; past that, stops reading and answers 'too_large'
 * (the caller answers and closes the connection, so the rest is never buffered).
 */
function readBounded(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve('too_large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        req.pause();
        resolve('too_large');
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

export class LocalWebSocketApi {
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  readonly #live = new Map<string, Live>();
  /**
   * Connections whose `$connect` is still running, and whether a DeleteConnection arrived
   * meanwhile: such a connection is closed the moment its handshake completes, rather than
   * opening unregistered (its place's cap closed it while it was still connecting).
   */
  readonly #connecting = new Map<string, { closeOnOpen: boolean }>();
  #sweeper: NodeJS.Timeout | undefined;
  #refusing = false;
  #refused = 0;

  /**
   * @param credentials what the runtime's management client signs with: `@connections`
   *   requests signed otherwise (or not at all) are refused with 403, as API Gateway refuses
   *   callers without `execute-api:ManageConnections`.
   */
  constructor(
    private readonly handlers: () => Promise<WebSocketHandlers>,
    private readonly credentials: LocalCredentials,
    private readonly path = '/ws',
  ) {}

  get connectionCount(): number {
    return this.#live.size;
  }

  /**
   * While on, every handshake on the path is refused with 429, as API Gateway refuses new
   * connections beyond the account's quota (about 500 a second): for tests of clients that
   * must fall back to polling. Connections already open stay open.
   */
  refuseHandshakes(on: boolean): void {
    this.#refusing = on;
  }

  /** Handshakes refused by `refuseHandshakes` so far. */
  get refusedHandshakes(): number {
    return this.#refused;
  }

  #event(routeKey: string, connectionId: string, req: IncomingMessage | null, body?: string): WebSocketEvent {
    const now = Date.now();
    const url = req ? requestUrl(req.url ?? '/') : null;
    return {
      requestContext: {
        routeKey,
        eventType:
          routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
        connectionId,
        messageId: randomUUID(),
        extendedRequestId: randomUUID(),
        requestTime: new Date(now).toUTCString(),
        messageDirection: 'IN',
        stage: '$default',
        connectedAt: this.#live.get(connectionId)?.connectedAt ?? now,
        requestTimeEpoch: now,
        requestId: randomUUID(),
        domainName: req?.headers.host ?? 'localhost',
        apiId: 'local',
      },
      ...(url ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
      ...(body !== undefined ? { body } : {}),
      isBase64Encoded: false,
    };
  }

  /**
   * API Gateway's limits on a connection: 10 minutes without a message either way, or two
   * hours in all, and it is closed. The local stand-in applies them too, so a connection
   * nobody will ever write to (a client that went silent, one closed while its handshake
   * still ran) does not stay open for the life of the process.
   */
  #sweep(): void {
    const now = Date.now();
    for (const live of this.#live.values()) {
      if (now - live.lastActiveAt > IDLE_TIMEOUT_MS || now - live.connectedAt > MAX_CONNECTION_MS)
        live.socket.close(1001, 'Going away');
    }
  }

  /** Attach to the HTTP server: upgrades on `path` go through `$connect`. */
  attach(server: Server): void {
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Node hands over the socket with no 'error' listener of its own: a client that resets
      // while `$connect` runs would otherwise end the process. The socket is simply dropped.
      socket.on('error', () => socket.destroy());
      this.#upgrade(req, socket, head).catch(() => socket.destroy());
    });
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    let url: URL;
    try {
      url = requestUrl(req.url ?? '/');
    } catch {
      refuse(socket, 400, 'invalid_request', 'The request target is not a valid URL.');
      return;
    }
    if (url.pathname !== this.path) {
      refuse(socket, 404, 'not_found', `No WebSocket endpoint at ${url.pathname.slice(0, 100)}.`);
      return;
    }
    if (this.#refusing) {
      this.#refused++;
      refuse(
        socket,
        429,
        'too_many_connections',
        'No new connections for now: poll the status route instead.',
      );
      return;
    }
    // As API Gateway: a request that is not a valid WebSocket handshake never reaches `$connect`
    // (which would register it, and could close the place's oldest real connection).
    const invalid = handshakeProblem(req);
    if (invalid) {
      refuse(socket, invalid.status, invalid.code, invalid.message, invalid.headers);
      return;
    }
    // API Gateway connection ids are short base64 strings ending in '='.
    const connectionId = `${randomBytes(9).toString('base64').replace(/[+/]/g, 'A')}=`;
    const handlers = await this.handlers();
    const connecting = { closeOnOpen: false };
    this.#connecting.set(connectionId, connecting);
    const result = await handlers
      .connect(this.#event('$connect', connectionId, req))
      .finally(() => this.#connecting.delete(connectionId));
    if (result.statusCode < 200 || result.statusCode > 299) {
      const body = result.body ?? '';
      const reason = STATUS_TEXT[result.statusCode] ?? 'Forbidden';
      if (!socket.destroyed) {
        socket.end(
          `HTTP/1.1 ${result.statusCode} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      return;
    }
    const disconnect = () => {
      handlers.disconnect(this.#event('$disconnect', connectionId, null)).catch(() => {});
    };
    if (socket.destroyed) {
      // The client left while `$connect` ran: API Gateway would still run `$disconnect`.
      disconnect();
      return;
    }
    let upgraded = false;
    // ws drops a socket that died during the handshake without calling back: `$disconnect` still runs.
    socket.once('close', () => {
      if (!upgraded) disconnect();
    });
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      const now = Date.now();
      const live: Live = {
        socket: ws,
        connectedAt: now,
        lastActiveAt: now,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? '',
        queue: [],
        draining: false,
      };
      this.#live.set(connectionId, live);
      if (connecting.closeOnOpen) {
        ws.close(1000, 'closed by the server');
      }
      // A malformed frame (bad UTF-8, no mask, RSV bits, unknown opcode, too big) is a receiver
      // error: ws has already sent the close frame (1002, 1007 or 1009) and ends this connection.
      // Without a listener the 'error' event would throw and end the whole process.
      ws.on('error', () => {});
      ws.on('message', (data) => {
        // A connection already closing (flooded, evicted, or closed by its client) is not served.
        if (ws.readyState !== ws.OPEN) return;
        live.lastActiveAt = Date.now();
        if (live.queue.length >= MAX_QUEUED_MESSAGES) {
          live.queue.length = 0;
          ws.close(1008, 'too many messages');
          return;
        }
        live.queue.push(data.toString());
        if (!live.draining) this.#drain(connectionId, live, handlers);
      });
      ws.on('close', () => {
        this.#live.delete(connectionId);
        disconnect();
      });
    });
  }

  /** Hands a connection's queued messages to `$default`, one at a time. Never throws. */
  #drain(connectionId: string, live: Live, handlers: WebSocketHandlers): void {
    live.draining = true;
    const next = (): void => {
      const body = live.queue.shift();
      if (body === undefined || live.socket.readyState !== live.socket.OPEN) {
        live.queue.length = 0;
        live.draining = false;
        return;
      }
      handlers
        .message(this.#event('$default', connectionId, null, body))
        // The handler maps its own errors; a rejection here is a bug, not the client's doing.
        .catch(() => {})
        .finally(next);
    };
    next();
  }

  /** Serves `/@connections/{id}`; returns false for any other path. */
  async serveManagement(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const match = url.pathname.match(/^\/@connections\/([^/]+)$/);
    if (!match?.[1]) return false;
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[1]);
    } catch {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: 'Bad Request' }));
      return true;
    }
    const gone = () => {
      res.writeHead(410, { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' });
      res.end(JSON.stringify({ message: 'Gone' }));
    };
    const data = await readBounded(req, MAX_FRAME_BYTES);
    if (data === 'too_large') {
      res.writeHead(413, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'PayloadTooLargeException',
        connection: 'close',
      });
      // The rest of the body is never read: the connection goes once the answer is out.
      res.end(JSON.stringify({ message: 'Payload too large' }), () => req.socket.destroy());
      return true;
    }
    // Only the runtime's own management client may post to or close a connection.
    if (!(await verifySigV4(req, url, data, this.credentials))) {
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException' });
      res.end(JSON.stringify({ message: 'Forbidden' }));
      return true;
    }
    // Looked up once the request is read and checked: a connection whose handshake completes
    // meanwhile is found, as API Gateway finds it once its `$connect` has returned.
    const live = this.#live.get(connectionId);
    const connecting = this.#connecting.get(connectionId);
    if (req.method === 'DELETE' && !live && connecting) {
      // Closed while its `$connect` still runs: it will be closed as soon as it opens.
      connecting.closeOnOpen = true;
      res.writeHead(204).end();
      return true;
    }
    if (!live || live.socket.readyState !== live.socket.OPEN) {
      gone();
      return true;
    }
    if (req.method === 'POST') {
      if (live.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        // A reader this far behind is as good as gone; the buffer is dropped with the socket.
        live.socket.terminate();
        gone();
        return true;
      }
      // Answered once queued, as API Gateway does: a slow reader must not hold up the poster.
      live.socket.send(data.toString('utf8'), () => {});
      live.lastActiveAt = Date.now();
      res.writeHead(200).end();
    } else if (req.method === 'DELETE') {
      live.socket.close(1000, 'closed by the server');
      res.writeHead(204).end();
    } else if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ConnectedAt: new Date(live.connectedAt).toISOString(),
          LastActiveAt: new Date(live.lastActiveAt).toISOString(),
          Identity: { SourceIp: live.sourceIp, UserAgent: live.userAgent },
        }),
      );
    } else {
      res.writeHead(405).end();
    }
    return true;
  }

  /** Drops every open connection, as API Gateway does at its idle or two-hour limits. */
  dropAll(): void {
    for (const { socket } of this.#live.values()) socket.terminate();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.dropAll();
    this.#wss.close();
  }
}
