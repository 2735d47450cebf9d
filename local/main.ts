/**
 * `npm start`: the whole waiting room on http://127.0.0.1:$PORT with nothing but
 * Node. The queue is kept in the embedded store under FQ_DATA_DIR and survives a
 * restart; `npm start -- --clean` (`npm run start:clean`) deletes it first. Set
 * AWS_ENDPOINT_URL (e.g. DynamoDB Local) to use DynamoDB instead.
 */
import { removeSqliteFiles, sqliteFile } from '#adapters/sqlite-db';
import { type AppConfig, ConfigError, readConfig } from '#app/config';

const DEFAULT_ADMIN_TOKEN = 'local-admin-token';

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`fairqueue: ${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    process.exit(1);
  }
  return value;
}

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--clean');
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown.join(' ')}; the only one is --clean (start with an empty queue)`);
  process.exit(1);
}
const clean = args.includes('--clean');

const port = intFromEnv('PORT', 3000, 0, 65_535);
const tickMs = intFromEnv('TICK_MS', 1000, 50, 60_000);
// As the operator route would: a capacity of 0 would admit nobody, ever.
const demoCapacity = intFromEnv('DEMO_CAPACITY', 20, 1, 1_000_000_000);
const demoAdmitPerMinute = intFromEnv('DEMO_ADMIT_PER_MINUTE', 120, 0, 1_000_000_000);
const adminToken = process.env.ADMIN_TOKEN || DEFAULT_ADMIN_TOKEN;
const useDynamo = Boolean(process.env.AWS_ENDPOINT_URL);

if (useDynamo) {
  // DynamoDB Local accepts any credentials; a real endpoint brings its own.
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
}

const env = {
  ...process.env,
  FQ_STORE: process.env.FQ_STORE ?? (useDynamo ? 'dynamodb' : 'sqlite'),
  FQ_TABLE: process.env.FQ_TABLE ?? 'fairqueue',
  FQ_TICK_SECONDS: String(tickMs / 1000),
};
// Fail at start, with the variable's name, on a bad setting: before anything is loaded or listens.
let config: AppConfig;
try {
  config = readConfig(env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`fairqueue: ${error.message}`);
  process.exit(1);
}
// Imported after the check: the handlers' modules build their runtime when they load.
const { startLocal } = await import('./app.ts');

if (clean) {
  if (config.store === 'dynamodb') {
    console.error(
      '--clean deletes the embedded store; for a clean DynamoDB start, set FQ_TABLE to a new table',
    );
    process.exit(1);
  }
  // The store then starts empty, and with it a new key ring: every earlier token is refused.
  if (config.store === 'sqlite') removeSqliteFiles(sqliteFile(config.dataDir));
}

const app = await startLocal({
  port,
  tickMs,
  adminToken,
  env,
  demo: {
    eventId: 'demo',
    capacity: demoCapacity,
    admitPerMinute: demoAdmitPerMinute || null,
  },
}).catch((error: unknown) => {
  // What a user can fix gets one clear line; anything else is a bug and keeps its stack.
  const name = (error as { name?: string }).name;
  const code = (error as { code?: string }).code;
  if (name === 'SqliteUnavailableError' || name === 'SqliteSchemaError' || code === 'EADDRINUSE') {
    console.error(`fairqueue: ${(error as Error).message}`);
    process.exit(1);
  }
  throw error;
});

console.log(`fairqueue local on ${app.url}
  waiting room  ${app.url}/
  operators     ${app.url}/admin
  JWKS          ${app.url}/.well-known/jwks.json
  metrics       ${app.url}/_local/metrics (Prometheus text)
  WebSocket     ${app.wsUrl}?token=<position token>
  store         ${storeLine()}
  tick          every ${tickMs} ms
  ADMIN_TOKEN   ${process.env.ADMIN_TOKEN ? '(from the environment)' : `${adminToken} (default; set ADMIN_TOKEN to change)`}`);

function storeLine(): string {
  const { kind, location, fresh } = app.store;
  const where =
    kind === 'sqlite'
      ? `embedded SQLite at ${location}`
      : kind === 'memory'
        ? 'embedded, in memory (nothing survives a restart)'
        : `DynamoDB at ${location}`;
  return fresh
    ? `${where}: started fresh (new signing keys: tokens of earlier runs get 401)`
    : `${where}: resumed (the queue, sessions and signing keys of the last run)`;
}

const stop = async () => {
  await app.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
