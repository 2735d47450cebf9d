/**
 * The local waiting room: the gateway, the admitter scheduler and the pages,
 * over the embedded store (or DynamoDB when AWS_ENDPOINT_URL is set).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '#adapters/dynamo-table';
import type { AppConfig } from '#app/config';
import { buildRuntime, type Runtime, type RuntimeOverrides, setRuntime } from '#app/runtime';
import { handler as admitterHandler } from '#functions/admitter';
import { type Gateway, lambdaContext, servePage, startGateway } from './gateway.ts';

export interface LocalOptions {
  readonly port: number;
  readonly host?: string;
  readonly tickMs: number;
  readonly adminToken: string;
  readonly config: AppConfig;
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
  readonly runtime: Runtime;
  readonly gateway: Gateway;
  /** Runs one admission tick now (tests use this instead of waiting for the timer). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

const PAGES: Record<string, URL> = {
  '/': new URL('./pages/index.html', import.meta.url),
  '/admin': new URL('./pages/admin.html', import.meta.url),
};

/** Creates the table on a local DynamoDB endpoint when it is missing. */
export async function ensureTable(tableName: string): Promise<void> {
  const client = new DynamoDBClient({});
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  } finally {
    client.destroy();
  }
}

export async function startLocal(options: LocalOptions): Promise<LocalApp> {
  const runtime = buildRuntime(options.config, options.overrides);
  setRuntime(runtime);
  if (options.config.store === 'dynamodb') await ensureTable(options.config.tableName);
  // Load the key ring now, so the first request does not pay for key generation.
  await runtime.tokens.jwks();

  if (options.demo && !(await runtime.store.getEvent(options.demo.eventId, { consistent: true }))) {
    await runtime.room.putEvent(options.demo.eventId, {
      capacity: options.demo.capacity,
      admitPerMinute: options.demo.admitPerMinute,
    });
  }

  const extraRoutes = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const page = PAGES[url.pathname];
    if (page && req.method === 'GET') {
      await servePage(res, page);
      return true;
    }
    return false;
  };

  const gateway = await startGateway({
    port: options.port,
    ...(options.host ? { host: options.host } : {}),
    adminToken: options.adminToken,
    extraRoutes,
  });

  const tick = async () => {
    await admitterHandler({ once: true }, lambdaContext('admitter'));
  };
  let ticking = false;
  const timer = setInterval(() => {
    // A slow tick is not stacked on: the next one starts after it ends.
    if (ticking) return;
    ticking = true;
    tick()
      .catch((error) => console.error('admitter tick failed', error))
      .finally(() => {
        ticking = false;
      });
  }, options.tickMs);
  timer.unref();

  return {
    url: gateway.url,
    runtime,
    gateway,
    tick,
    close: async () => {
      clearInterval(timer);
      await gateway.close();
      setRuntime(undefined);
    },
  };
}
