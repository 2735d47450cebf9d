/**
 * Builds the object graph once per process (per Lambda container): config,
 * SDK clients, store, key cache, services. Handlers call `runtime()`; tests and
 * the local gateway may build their own with `buildRuntime`.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { DynamoDeviceStore } from '#adapters/dynamo-devices';
import { DynamoPublicKeyStore } from '#adapters/dynamo-public-keys';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { EmfMetrics } from '#adapters/emf-metrics';
import { FileKeyStore } from '#adapters/file-key-store';
import { InProcessNotifier } from '#adapters/in-process-notifier';
import { JwksIdentityVerifier } from '#adapters/jwks-identity';
import { LambdaChangeNotifier } from '#adapters/lambda-notifier';
import { LocalPushSink } from '#adapters/local-push-sink';
import { ManagementApiPoster } from '#adapters/management-api-poster';
import { MemoryConnectionRegistry } from '#adapters/memory-connections';
import { MemoryDeviceStore } from '#adapters/memory-devices';
import { MemoryQueueStore } from '#adapters/memory-store';
import { SecretsManagerKeyStore } from '#adapters/secrets-key-store';
import { SnsPushGateway } from '#adapters/sns-push';
import { publicRing } from '#domain/keyring';
import { TokenService } from '#lib/token-service';
import type { IdentityVerifier } from '#ports/identity';
import type { KeyStore } from '#ports/key-store';
import { type Metrics, NO_METRICS } from '#ports/metrics';
import type { PublicKeyStore } from '#ports/public-key-store';
import type { DeviceStore, PushGateway } from '#ports/push';
import type { QueueStore } from '#ports/queue-store';
import type { ChangeNotifier, ConnectionPoster, ConnectionRegistry } from '#ports/realtime';
import { AccessCheck } from './access.ts';
import { Admitter } from './admitter.ts';
import { type AppConfig, ConfigError, readConfig } from './config.ts';
import { Connections } from './connections.ts';
import { Fanout } from './fanout.ts';
import { logger } from './logger.ts';
import { Push } from './push.ts';
import { WaitingRoom } from './waiting-room.ts';

export interface Runtime {
  readonly config: AppConfig;
  /** Flushed by each handler at the end of its invocation (and by the admitter after each tick). */
  readonly metrics: Metrics;
  readonly store: QueueStore;
  /** The private ring; null in a function that only verifies tokens (it cannot sign). */
  readonly keyStore: KeyStore | null;
  /** The public half of the ring: every verification and the JWKS. */
  readonly publicKeyStore: PublicKeyStore;
  readonly tokens: TokenService;
  readonly room: WaitingRoom;
  /** The online access check (`GET …/access`): verifies, then reads one session item. */
  readonly access: AccessCheck;
  readonly admitter: Admitter;
  readonly registry: ConnectionRegistry;
  readonly notifier: ChangeNotifier;
  /** Null while no management endpoint is configured (no WebSocket API to post to). */
  readonly fanout: Fanout | null;
  readonly poster: ConnectionPoster | null;
  readonly connections: Connections;
  readonly push: Push;
  /** Present in local mode: what was "sent", for `GET /_local/pushes`. */
  readonly pushSink: LocalPushSink | null;
}

export interface RuntimeOverrides {
  readonly store?: QueueStore;
  /** Locally, the public half is taken from it too, so signing and verification always agree. */
  readonly keyStore?: KeyStore | null;
  readonly publicKeyStore?: PublicKeyStore;
  readonly identity?: IdentityVerifier | null;
  readonly now?: () => number;
  readonly registry?: ConnectionRegistry;
  readonly poster?: ConnectionPoster | null;
  readonly notifier?: ChangeNotifier;
  readonly devices?: DeviceStore;
  readonly pushGateway?: PushGateway | null;
  readonly metrics?: Metrics;
  /** The local runtime's made-up credentials for its own `@connections` endpoint. */
  readonly managementCredentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export function buildRuntime(config: AppConfig, overrides: RuntimeOverrides = {}): Runtime {
  const { realtime } = config;
  const local = realtime.notifier === 'in-process';
  const now = overrides.now ?? Date.now;
  let table: DynamoTable | undefined;
  // One DynamoDB client per process, shared by every adapter that needs it.
  const dynamo = () => {
    table ??= new DynamoTable(new DynamoDBClient({ maxAttempts: 3 }), config.tableName);
    return table;
  };
  const metrics =
    overrides.metrics ??
    (config.metrics.kind === 'emf'
      ? new EmfMetrics({ namespace: config.metrics.namespace, serviceName: config.metrics.serviceName })
      : NO_METRICS);
  const memory = config.store === 'memory';
  // Connections die with a local process, whatever keeps the queue: the registry stays in memory.
  const embedded = config.store !== 'dynamodb';
  if (config.store === 'sqlite' && !(overrides.store && overrides.devices)) {
    // Kept out of this module so that no Lambda bundle carries the native SQLite binding.
    throw new ConfigError(
      'FQ_STORE=sqlite is opened by the local runtime (local/app.ts), which passes it in',
    );
  }
  const store = overrides.store ?? (memory ? new MemoryQueueStore() : new DynamoQueueStore(dynamo()));
  const registry =
    overrides.registry ??
    (embedded
      ? new MemoryConnectionRegistry(realtime.shards)
      : new DynamoConnectionRegistry(dynamo(), config.tableName, realtime.shards, now));
  const { keyStore, publicKeyStore } = keyStores(config, dynamo, overrides);
  const tokens = new TokenService(
    { publicKeys: publicKeyStore, signingKeys: keyStore },
    {
      issuer: config.issuer,
      cacheSeconds: config.keyCacheSeconds,
      now,
    },
  );
  const identity =
    overrides.identity !== undefined
      ? overrides.identity
      : config.identity && new JwksIdentityVerifier(config.identity);
  const notifier =
    overrides.notifier ??
    (local
      ? new InProcessNotifier()
      : new LambdaChangeNotifier(
          // Queuing an invocation takes milliseconds; a stalled socket must not stall the admitter's loop.
          new LambdaClient({ requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 } }),
          {
            fanoutFunction: realtime.fanoutFunction,
            pushFunction: realtime.pushFunction,
            shards: realtime.shards,
          },
        ));
  const endpoint = realtime.managementEndpoint;
  const poster =
    overrides.poster !== undefined
      ? overrides.poster
      : endpoint
        ? new ManagementApiPoster(
            new ApiGatewayManagementApiClient({
              endpoint,
              // As many sockets as posts in flight: the SDK's default of 50 would cap the worker silently.
              requestHandler: {
                httpAgent: { keepAlive: true, maxSockets: realtime.fanoutConcurrency },
                httpsAgent: { keepAlive: true, maxSockets: realtime.fanoutConcurrency },
              },
              // The local @connections endpoint accepts only requests signed with the credentials
              // it was given; on AWS the function's role signs.
              ...(overrides.managementCredentials
                ? { region: 'us-east-1', credentials: overrides.managementCredentials }
                : {}),
            }),
          )
        : null;
  const fanout = poster
    ? new Fanout({
        store,
        registry,
        poster,
        tokens,
        concurrency: realtime.fanoutConcurrency,
        tickSeconds: config.tickSeconds,
        shards: realtime.shards,
        messagesPerSecond: realtime.messagesPerSecond,
        nearHorizonSeconds: realtime.nearHorizonSeconds,
        now,
        onError: (error, connectionId) =>
          logger.warn('post to connection failed', { error: error as Error, connectionId }),
      })
    : null;
  const room = new WaitingRoom({
    store,
    tokens,
    identity,
    wsUrl: config.wsUrl,
    joinRateLimitPerMinute: config.joinRateLimitPerMinute,
    eventCacheMs: config.eventCacheMs,
    tickSeconds: config.tickSeconds,
    statusRequestsPerSecond: realtime.statusRequestsPerSecond,
    now,
    notifier,
    metrics,
  });
  const access = new AccessCheck({ store, tokens, now });
  const admitter = new Admitter(store, { tickSeconds: config.tickSeconds, now, notifier, metrics });
  const connections = new Connections({
    store,
    registry,
    tokens,
    poster,
    limits: {
      maxConnectionsPerPlace: realtime.maxConnectionsPerPlace,
      maxMessagesPerMinute: realtime.maxMessagesPerMinute,
    },
    now,
    onCloseError: (error, connectionId) =>
      logger.warn('could not close connection', { error: error as Error, connectionId }),
  });
  const devices =
    overrides.devices ??
    (memory ? new MemoryDeviceStore() : new DynamoDeviceStore(dynamo(), config.tableName, now));
  const pushConfig = realtime.push;
  const pushSink = pushConfig.kind === 'local' ? new LocalPushSink(now) : null;
  const pushGateway =
    overrides.pushGateway !== undefined
      ? overrides.pushGateway
      : pushConfig.kind === 'sns'
        ? new SnsPushGateway(new SNSClient({}), {
            fcm: pushConfig.fcmApplicationArn,
            apns: pushConfig.apnsApplicationArn,
          })
        : pushSink;
  const push = new Push({
    store,
    devices,
    gateway: pushGateway,
    tokens,
    now,
    metrics,
    maxDevicesPerPlace: realtime.maxDevicesPerPlace,
    onError: (error, device) =>
      logger.warn('push failed', {
        error: error as Error,
        eventId: device.eventId,
        position: device.position,
      }),
  });
  return {
    config,
    metrics,
    store,
    keyStore,
    publicKeyStore,
    tokens,
    room,
    access,
    admitter,
    registry,
    notifier,
    fanout,
    poster,
    connections,
    push,
    pushSink,
  };
}

/**
 * Locally one file holds the ring and serves both halves. On AWS the private ring is read
 * from Secrets Manager only where a signing secret is configured; everything verifies
 * with the public half published in the table.
 */
function keyStores(
  config: AppConfig,
  dynamo: () => DynamoTable,
  overrides: RuntimeOverrides,
): { keyStore: KeyStore | null; publicKeyStore: PublicKeyStore } {
  const { keys } = config;
  if (keys.kind === 'file') {
    if (overrides.keyStore === undefined) {
      const file = new FileKeyStore(keys.dir);
      return { keyStore: file, publicKeyStore: overrides.publicKeyStore ?? file };
    }
    const keyStore = overrides.keyStore;
    const publicKeyStore =
      overrides.publicKeyStore ?? (keyStore && { loadPublic: async () => publicRing(await keyStore.load()) });
    if (!publicKeyStore) throw new ConfigError('a runtime without a key store needs a public key store');
    return { keyStore, publicKeyStore };
  }
  const keyStore =
    overrides.keyStore !== undefined
      ? overrides.keyStore
      : keys.signingSecretId
        ? new SecretsManagerKeyStore(new SecretsManagerClient({}), keys.signingSecretId)
        : null;
  return { keyStore, publicKeyStore: overrides.publicKeyStore ?? new DynamoPublicKeyStore(dynamo()) };
}

let current: Runtime | undefined;

/**
 * For the top level of a handler module: builds the process runtime at load, so a
 * missing or malformed setting fails the cold start with the variable's name
 * instead of turning every request into a 500. Handlers still call `runtime()` per
 * request, because the local runtime and tests may install another one.
 */
export function initRuntime(): void {
  runtime();
}

/** The process-wide runtime, built from the environment on first use. */
export function runtime(): Runtime {
  current ??= buildRuntime(readConfig());
  return current;
}

/** Installs a runtime for this process (the local gateway, tests). */
export function setRuntime(next: Runtime | undefined): void {
  current = next;
}
