/**
 * Builds the object graph once per process (per Lambda container): config,
 * SDK clients, store, key cache, services. Handlers call `runtime()`; tests and
 * the local gateway may build their own with `buildRuntime`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { FileKeyStore } from '#adapters/file-key-store';
import { JwksIdentityVerifier } from '#adapters/jwks-identity';
import { MemoryQueueStore } from '#adapters/memory-store';
import { SecretsManagerKeyStore } from '#adapters/secrets-key-store';
import { TokenService } from '#lib/token-service';
import type { IdentityVerifier } from '#ports/identity';
import type { KeyStore } from '#ports/key-store';
import type { QueueStore } from '#ports/queue-store';
import { Admitter } from './admitter.ts';
import { type AppConfig, readConfig } from './config.ts';
import { WaitingRoom } from './waiting-room.ts';

export interface Runtime {
  readonly config: AppConfig;
  readonly store: QueueStore;
  readonly keyStore: KeyStore;
  readonly tokens: TokenService;
  readonly room: WaitingRoom;
  readonly admitter: Admitter;
}

export interface RuntimeOverrides {
  readonly store?: QueueStore;
  readonly keyStore?: KeyStore;
  readonly identity?: IdentityVerifier | null;
  readonly now?: () => number;
}

export function buildRuntime(config: AppConfig, overrides: RuntimeOverrides = {}): Runtime {
  const store =
    overrides.store ??
    (config.store === 'memory'
      ? new MemoryQueueStore()
      : new DynamoQueueStore(new DynamoDBClient({ maxAttempts: 3 }), config.tableName));
  const keyStore =
    overrides.keyStore ??
    (config.keys.kind === 'secrets-manager'
      ? new SecretsManagerKeyStore(new SecretsManagerClient({}), config.keys.secretId)
      : new FileKeyStore(config.keys.dir));
  const now = overrides.now ?? Date.now;
  const tokens = new TokenService(keyStore, {
    issuer: config.issuer,
    cacheSeconds: config.keyCacheSeconds,
    now,
  });
  const identity =
    overrides.identity !== undefined
      ? overrides.identity
      : config.identity && new JwksIdentityVerifier(config.identity);
  const room = new WaitingRoom({
    store,
    tokens,
    identity,
    wsUrl: config.wsUrl,
    joinRateLimitPerMinute: config.joinRateLimitPerMinute,
    now,
  });
  const admitter = new Admitter(store, { tickSeconds: config.tickSeconds, now });
  return { config, store, keyStore, tokens, room, admitter };
}

let current: Runtime | undefined;

/** The process-wide runtime, built from the environment on first use. */
export function runtime(): Runtime {
  current ??= buildRuntime(readConfig());
  return current;
}

/** Installs a runtime for this process (the local gateway, tests). */
export function setRuntime(next: Runtime | undefined): void {
  current = next;
}
