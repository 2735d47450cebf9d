/**
 * `npm start` as a black box: the local runtime (local/main.ts) in a child
 * process of its own, on a port the OS picks, so a test can do what an outside
 * attacker or an operator would — send raw bytes, kill -9 it, start it again on
 * the same data — and see whether the process survives.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
export const PROCESS_ADMIN_TOKEN = 'process-admin-token';

export interface LocalProcess {
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True while the process runs. */
  alive(): boolean;
  /** kill -9: no shutdown hook runs. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL if it does not end within a few seconds. */
  stop(): Promise<void>;
}

export interface LocalProcessOptions {
  /** Extra environment (FQ_*, DEMO_*, TICK_MS…); PORT defaults to 0 (any free port). */
  readonly env?: Record<string, string>;
  /** Arguments after `local/main.ts` (e.g. `--clean`). */
  readonly args?: readonly string[];
  /** Folder for keys and data; a fresh temp folder when absent. Reuse it to restart on the same state. */
  readonly stateDir?: string;
}

/** A fresh folder for one runtime's keys and data (pass it again to restart on the same state). */
export function newStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'fq-process-'));
}

export async function startLocalProcess(options: LocalProcessOptions = {}): Promise<LocalProcess> {
  const stateDir = options.stateDir ?? newStateDir();
  // Node itself with tsx's loader, not the tsx CLI: the CLI runs the app in a grandchild,
  // which a SIGKILL of the CLI leaves running, so kill9() would kill nothing that serves.
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', ...(options.args ?? [])], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: '0',
      ADMIN_TOKEN: PROCESS_ADMIN_TOKEN,
      FQ_KEY_DIR: join(stateDir, 'keys'),
      FQ_DATA_DIR: join(stateDir, 'data'),
      FQ_LOG_LEVEL: 'ERROR',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`local runtime did not start within ${READY_TIMEOUT_MS} ms:\n${out}`));
    }, READY_TIMEOUT_MS);
    const check = () => {
      const match = out.match(/fairqueue local on (http:\/\/[\d.]+:\d+)/);
      if (match?.[1]) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`local runtime exited before it was ready:\n${out}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.once('exit', onExit);
    check();
  });

  const kill = async (signal: NodeJS.Signals) => {
    if (!running) return;
    child.kill(signal);
    await exited;
  };
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    port: Number(new URL(url).port),
    child,
    output: () => out,
    exited,
    alive: () => running,
    kill9: () => kill('SIGKILL'),
    stop: async () => {
      if (!running) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await kill('SIGTERM');
      clearTimeout(timer);
    },
  };
}
