/**
 * The local waiting room: the gateway (HTTP routes, `/ws`, `@connections`), the
 * admitter scheduler, the in-process stand-in for asynchronous Lambda
 * invocations, and the pages, over the embedded store (SQLite on disk, or in
 * memory) or DynamoDB when AWS_ENDPOINT_URL is set.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '#adapters/dynamo-table';
import { FileKeyStore } from '#adapters/file-key-store';
import { InProcessNotifier } from '#adapters/in-process-notifier';
import { PrometheusMetrics } from '#adapters/prometheus-metrics';
import { openSqlite, type SqliteDatabase, sqliteFile } from '#adapters/sqlite-db';
import { SqliteDeviceStore } from '#adapters/sqlite-devices';
import { SqliteQueueStore } from '#adapters/sqlite-store';
import { type AppConfig, readConfig } from '#app/config';
import type { FanoutJob, PushJob } from '#app/jobs';
import { logger } from '#app/logger';
import { buildRuntime, type Runtime, type RuntimeOverrides, setRuntime } from '#app/runtime';
import { edgeSecretFrom } from '#http/edge';
import { errorBody } from '#http/http';
import { adminPageBundle, type ClientBundle, clientBundle } from './client-bundle.ts';
import { type Gateway, lambdaContext, servePage, startGateway } from './gateway.ts';
import { demoShop } from './shop.ts';
import { type LocalCredentials, newLocalCredentials } from './sigv4.ts';
import { LocalWebSocketApi, type WebSocketHandlers } from './websocket.ts';

export interface LocalOptions {
  readonly port: number;
  readonly host?: string;
  readonly tickMs: number;
  readonly adminToken: string;
  /** Environment for the handlers' config (FQ_*); the local URLs and workers are filled in here. */
  readonly env: Record<string, string | undefined>;
  /** Creates this event at start when it does not exist yet. */
  readonly demo?: {
    readonly eventId: string;
    readonly capacity: number;
    readonly admitPerMinute: number | null;
  } | null;
  readonly overrides?: RuntimeOverrides;
}

export interface LocalApp {
  readonly url: string;
  readonly wsUrl: string;
  readonly runtime: Runtime;
  readonly gateway: Gateway;
  readonly websocket: LocalWebSocketApi;
  /** The figures a deployment sends to CloudWatch, kept here and served at `GET /_local/metrics`. */
  readonly metrics: PrometheusMetrics;
  /**
   * What the local `@connections` endpoint accepts signatures of, made up at this start: for
   * a local tool (the bench) that posts to connections from another process, as a fan-out
   * Lambda would with its role.
   */
  readonly managementCredentials: LocalCredentials;
  /**
   * The store as found at start. `fresh`: it held nothing (a new SQLite file, the in-memory
   * store, a DynamoDB table created just now), so the key ring was started anew and tokens
   * of any earlier queue are refused; otherwise the queue and its keys were resumed.
   */
  readonly store: { readonly kind: AppConfig['store']; readonly location: string; readonly fresh: boolean };
  /** Runs one admission tick now (tests use this instead of waiting for the timer). */
  tick(): Promise<void>;
  /** Resolves when every fan-out and push job handed off so far has finished. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Local-only routes beside the pages: GET only. */
const LOCAL_ROUTES = new Set(['/_local/pushes', '/_local/metrics', '/client.js', '/admin.js']);

/** Scripts the pages import, built at start (see client-bundle.ts). */
const SCRIPTS: Record<string, () => Promise<ClientBundle>> = {
  '/client.js': clientBundle,
  '/admin.js': adminPageBundle,
};

const PAGES: Record<string, URL> = {
  '/': new URL('./pages/index.html', import.meta.url),
  '/admin': new URL('./pages/admin.html', import.meta.url),
  '/shop': new URL('./pages/shop.html', import.meta.url),
};

/**
 * Creates the table on a DynamoDB endpoint when it is missing, and returns only once it
 * is ACTIVE: a real endpoint takes seconds to create one, and a request that reached the
 * store before then would fail with ResourceNotFoundException. True when it created it.
 */
export async function ensureTable(tableName: string): Promise<boolean> {
  const client = new DynamoDBClient({});
  try {
    let created = true;
    try {
      await client.send(new CreateTableCommand(tableDefinition(tableName)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      created = false;
    }
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: tableName });
    return created;
  } finally {
    client.destroy();
  }
}

/** What the workers and the scheduler run: loaded after the runtime is installed, like a Lambda's init. */
interface LocalWorkers {
  readonly admitter: (
    event: { once: boolean },
    context: ReturnType<typeof lambdaContext>,
  ) => Promise<unknown>;
  readonly fanout: (job: FanoutJob) => Promise<unknown>;
  readonly push: (job: PushJob) => Promise<unknown>;
}

async function loadWorkers(): Promise<LocalWorkers> {
  const [admitter, fanout, push] = await Promise.all([
    import('#functions/admitter'),
    import('#functions/fanout'),
    import('#functions/push'),
  ]);
  return { admitter: admitter.handler, fanout: fanout.handler, push: push.handler };
}

/** The handlers' environment: the local URLs and the in-process workers filled in. */
function localConfig(env: LocalOptions['env'], gatewayUrl: string): AppConfig {
  return readConfig({
    ...env,
    FQ_WS_URL: env.FQ_WS_URL || `${gatewayUrl.replace(/^http/, 'ws')}/ws`,
    FQ_WS_MANAGEMENT_ENDPOINT: gatewayUrl,
    FQ_NOTIFIER: 'in-process',
    FQ_PUSH: env.FQ_PUSH ?? 'local',
  });
}

let wsHandlers: Promise<WebSocketHandlers> | undefined;

/** Loaded once, like a warm Lambda container, not on every handshake. */
function loadWebSocketHandlers(): Promise<WebSocketHandlers> {
  wsHandlers ??= importWebSocketHandlers();
  return wsHandlers;
}

async function importWebSocketHandlers(): Promise<WebSocketHandlers> {
  const [connect, disconnect, message] = await Promise.all([
    import('#functions/ws-connect'),
    import('#functions/ws-disconnect'),
    import('#functions/ws-default'),
  ]);
  return { connect: connect.handler, disconnect: disconnect.handler, message: message.handler };
}

/** `If-None-Match` (a list of entity tags, or `*`) against the current tag, weakly (RFC 9110 §13.1.2). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || bare(tag) === bare(etag));
}

export async function startLocal(options: LocalOptions): Promise<LocalApp> {
  // Every setting is checked before anything listens: a bad one fails the start, naming the variable.
  localConfig(options.env, 'http://127.0.0.1:0');
  // The join handler reads this one itself when it loads; a bad value would fail every join.
  edgeSecretFrom(options.env);
  // The management client's credentials, made up for this process: nobody else can post.
  const managementCredentials = newLocalCredentials();
  const websocket = new LocalWebSocketApi(loadWebSocketHandlers, managementCredentials);
  const metrics = new PrometheusMetrics();
  let runtime: Runtime | undefined;

  // The demo shop beside the waiting room (local/shop.ts): its API verifies access tokens
  // with the package's middleware against this runtime's JWKS.
  const shop = demoShop(() => gateway.url);

  const extraRoutes = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (await shop.serve(req, res, url)) return true;
    // What answers GET answers HEAD (RFC 9110 §9.1): Node sends the headers without the body.
    const read = req.method === 'GET' || req.method === 'HEAD';
    const page = PAGES[url.pathname];
    if (page && read) {
      await servePage(res, page);
      return true;
    }
    if (LOCAL_ROUTES.has(url.pathname) && !read) {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(errorBody('method_not_allowed', `${req.method} is not allowed here.`)));
      return true;
    }
    const script = SCRIPTS[url.pathname];
    if (script) {
      // The browser client and the operator page's script (built at start; see client-bundle.ts).
      // `no-cache` with its ETag: a page load revalidates, and gets 304 instead of the whole bundle.
      const { text, etag } = await script();
      const headers = { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', etag };
      if (matchesEtag(req.headers['if-none-match'], etag)) {
        res.writeHead(304, headers);
        res.end();
        return true;
      }
      res.writeHead(200, headers);
      res.end(text);
      return true;
    }
    if (url.pathname === '/_local/metrics') {
      const { contentType, body } = await metrics.exposition();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
      return true;
    }
    if (url.pathname === '/_local/pushes') {
      // Local mode only: what the SNS stand-in "sent".
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ pushes: runtime?.pushSink?.list() ?? [] }));
      return true;
    }
    return websocket.serveManagement(req, res, url);
  };

  // The browser client is built while the rest starts; one that does not build fails the start.
  const bundled = Promise.all([clientBundle(), adminPageBundle()]);
  bundled.catch(() => {});
  // Listen first, since the handlers' config needs the real port (tests ask for port 0), but
  // answer 503 `starting` until the store exists and the runtime is installed.
  const gateway = await startGateway({
    port: options.port,
    ...(options.host ? { host: options.host } : {}),
    adminToken: options.adminToken,
    extraRoutes,
    startClosed: true,
  });
  const wsUrl = `${gateway.url.replace(/^http/, 'ws')}/ws`;
  const notifier = new InProcessNotifier();
  const config = localConfig(options.env, gateway.url);
  let workers: LocalWorkers;
  let sqlite: SqliteDatabase | null = null;
  let fresh: boolean;
  try {
    const tableCreated = config.store === 'dynamodb' && (await ensureTable(config.tableName));
    // SQLite is opened here, not in the runtime: the local runtime is the only place it runs.
    if (config.store === 'sqlite' && !(options.overrides?.store && options.overrides.devices))
      sqlite = openSqlite(sqliteFile(config.dataDir));
    runtime = buildRuntime(config, {
      notifier,
      metrics,
      managementCredentials,
      ...(sqlite ? { store: new SqliteQueueStore(sqlite), devices: new SqliteDeviceStore(sqlite) } : {}),
      ...options.overrides,
    });
    setRuntime(runtime);
    workers = await loadWorkers();
    const { fanout, push } = workers;
    notifier.attach({
      fanout,
      push: runtime.push.enabled ? push : null,
      shards: config.realtime.shards,
      onError: (error) => logger.error('local worker failed', { error: error as Error }),
    });
    // Keys follow the store. A store that holds nothing has never handed out a token, so a
    // new key ring costs nothing, and it makes every token of an earlier queue (a store
    // deleted, a process whose memory is gone) a 401 instead of a claim on a place that
    // the new queue hands out again. A store the caller passed in is the caller's business.
    fresh =
      !options.overrides?.store && (config.store === 'memory' || tableCreated || (sqlite?.empty ?? false));
    if (fresh && config.keys.kind === 'file') await new FileKeyStore(config.keys.dir).reset();
    // Load the key ring now, so the first request does not pay for key generation.
    await runtime.tokens.jwks();
    await bundled;
    if (options.demo && !(await runtime.store.getEvent(options.demo.eventId, { consistent: true }))) {
      await runtime.room.putEvent(options.demo.eventId, {
        capacity: options.demo.capacity,
        admitPerMinute: options.demo.admitPerMinute,
      });
    }
  } catch (error) {
    await gateway.close();
    setRuntime(undefined);
    sqlite?.close();
    throw error;
  }
  websocket.attach(gateway.server);
  gateway.open();

  const tick = async () => {
    await workers.admitter({ once: true }, lambdaContext('admitter'));
  };
  let ticking: Promise<void> | null = null;
  const timer = setInterval(() => {
    // A slow tick is not stacked on: the next one starts after it ends.
    if (ticking) return;
    ticking = tick()
      .catch((error) => console.error('admitter tick failed', error))
      .finally(() => {
        ticking = null;
      });
  }, options.tickMs);
  timer.unref();

  const settle = () => notifier.idle();
  return {
    url: gateway.url,
    wsUrl,
    runtime,
    gateway,
    websocket,
    metrics,
    managementCredentials,
    store: {
      kind: config.store,
      location:
        config.store === 'sqlite'
          ? sqliteFile(config.dataDir)
          : config.store === 'dynamodb'
            ? `${options.env.AWS_ENDPOINT_URL ?? 'AWS'} table ${config.tableName}`
            : 'in memory',
      fresh,
    },
    tick,
    settle,
    close: async () => {
      clearInterval(timer);
      await ticking;
      await settle();
      websocket.close();
      await gateway.close();
      setRuntime(undefined);
      sqlite?.close();
    },
  };
}
