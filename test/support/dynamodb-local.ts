/**
 * The integration tests' DynamoDB: AWS DynamoDB Local (the real Java emulator, which
 * has conditional writes and transactions), started on a free port of 127.0.0.1.
 * See docs/decisions/0002-dynamodb-local-for-tests.md.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '#adapters/dynamo-table';

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`, for `DynamoDBClient({ endpoint })` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  readonly endpoint: string;
  /** Stops the emulator; its in-memory tables are gone. Safe to call twice. */
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INSTALL_DIR = join(ROOT, '.dynamodb');
const JAR = join(INSTALL_DIR, 'DynamoDBLocal.jar');
const INSTALL_SCRIPT = join(ROOT, 'scripts', 'install-dynamodb-local.mjs');
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

/**
 * A client for DynamoDB Local with dummy credentials.
 *
 * Two attempts: one retry covers a dropped keep-alive socket, the only transient failure
 * seen against a local emulator, while a dead endpoint still fails at once instead of
 * backing off through the SDK default retries. Conditional-check and transaction
 * cancellations are never retried by the SDK, so tests see every race outcome.
 */
export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 2 });
}

/**
 * Points the AWS SDK clients a runtime builds from the environment (as on Lambda) at
 * DynamoDB Local, with dummy credentials.
 */
export function useDynamoDbLocalEnv(endpoint: string): void {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
}

/** A table name no other test file (or rerun) uses, e.g. `fq-queue-1a2b3c4d`. */
export function uniqueTableName(label: string): string {
  return `fq-${label}-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a fairqueue table: `pk` (S) / `sk` (S), on demand, TTL on `ttl`, and waits
 * until it is ACTIVE. Mirrors the table the CDK stack creates.
 */
export async function createTable(endpoint: string, tableName: string): Promise<void> {
  const client = dynamoClient(endpoint);
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
    await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName: tableName });
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        }),
      );
    } catch {
      // TTL only matters for cleanup on AWS; tests never wait for the emulator to expire items.
    }
  } finally {
    client.destroy();
  }
}

/**
 * Starts DynamoDB Local in memory on a free port of 127.0.0.1 and resolves once it answers
 * ListTables. Installs it first (`npm run ddb:install`) when the jar is missing. Uses
 * `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from PATH.
 */
export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  if (!existsSync(JAR)) await runInstallScript();
  let lastError: unknown;
  // Another process can take the free port between our probe and Java binding it; retry on a new one.
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(await freePort());
    } catch (error) {
      if (!(error instanceof EmulatorExitedError)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

class EmulatorExitedError extends Error {
  override readonly name = 'EmulatorExitedError';
}

async function startOnce(port: number): Promise<DynamoDbLocal> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const args = [
    `-Djava.library.path=${join(INSTALL_DIR, 'DynamoDBLocal_lib')}`,
    '-jar',
    JAR,
    '-inMemory',
    // One database for every credential and region, so code under test that signs with
    // other dummy credentials still sees the tables the test created.
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  // cwd inside the gitignored install dir: anything the emulator writes stays out of the repo.
  const child = spawn(java, args, { cwd: INSTALL_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = captureOutput(child);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) => {
      const hint =
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? `: ${java} not found; install a Java 17+ runtime (.ci/run does) or set JAVA_HOME`
          : '';
      reject(new Error(`cannot start DynamoDB Local${hint}`, { cause: error }));
    });
    child.once('exit', (code, signal) => {
      reject(
        new EmulatorExitedError(`DynamoDB Local exited (${signal ?? code}) on port ${port}:\n${output()}`),
      );
    });
  });
  exited.catch(() => {}); // observed below; after readiness an exit is stop() or a crash tests will report

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  };

  const probing = new AbortController();
  try {
    await Promise.race([waitUntilReady(endpoint, probing.signal), exited]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    probing.abort(); // ends the probe loop when the emulator exited first
  }
  return { endpoint, stop };
}

async function waitUntilReady(endpoint: string, signal: AbortSignal): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), {
          abortSignal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]),
        });
        return;
      } catch (error) {
        if (signal.aborted) return;
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer at ${endpoint} within ${READY_TIMEOUT_MS} ms`, {
            cause: error,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Keeps the last few KB of the emulator's output for error messages. When its main thread
 * dies (e.g. "Failed to bind" on a port taken since we probed it) the JVM lingers on its
 * other threads, so kill it: the exit then rejects the start and a new port is tried.
 */
function captureOutput(child: ChildProcess): () => string {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4_000);
    if (tail.includes('Exception in thread "main"')) child.kill('SIGKILL');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a free port'));
      });
    });
  });
}

function runInstallScript(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INSTALL_SCRIPT], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && existsSync(JAR)) resolve();
      else reject(new Error(`${INSTALL_SCRIPT} failed (exit ${code}); its output is above`));
    });
  });
}
