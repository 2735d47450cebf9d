/**
 * Request/answer over a forked child's IPC channel, for the bench's child
 * processes (the app in bench/server.ts, the WebSocket clients in
 * bench/ws-clients.ts). Messages carry `rpc: 'call' | 'reply'`, so they never
 * collide with the `{ type }` messages bench/http-join.ts already exchanges.
 */
import { type ChildProcess, fork } from 'node:child_process';

interface CallMessage {
  readonly rpc: 'call';
  readonly id: number;
  readonly name: string;
  readonly args: unknown;
}

type ReplyMessage =
  | { readonly rpc: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly rpc: 'reply'; readonly id: number; readonly error: string };

function isReply(value: unknown): value is ReplyMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return m.rpc === 'reply' && typeof m.id === 'number';
}

function isCall(value: unknown): value is CallMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return m.rpc === 'call' && typeof m.id === 'number' && typeof m.name === 'string';
}

export interface Rpc {
  /** Calls `name` in the child; rejects after `timeoutMs`, or when the child answers with an error or exits. */
  call<T>(name: string, args?: unknown, timeoutMs?: number): Promise<T>;
}

/** Parent side. */
export function rpcClient(child: ChildProcess, label: string): Rpc {
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: unknown) => {
    if (!isReply(message)) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if ('error' in message) waiter.reject(new Error(`${label}: ${message.error}`));
    else waiter.resolve(message.value);
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${label} exited (${signal ?? code})`));
    pending.clear();
  });
  return {
    call<T>(name: string, args: unknown = null, timeoutMs = 60_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${label}: ${name} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        const message: CallMessage = { rpc: 'call', id, name, args };
        const failed = (error: Error) => {
          if (!pending.delete(id)) return;
          clearTimeout(timer);
          reject(new Error(`${label}: could not send ${name}: ${error.message}`));
        };
        if (!child.connected) failed(new Error('IPC channel is closed'));
        // send() returns false for a large message it has merely queued; only the callback tells failure.
        else child.send(message, (error) => error && failed(error));
      });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: each handler validates its own arguments.
export type Handlers = Record<string, (args: any) => Promise<unknown>>;

/** Child side: answers the parent's calls with `handlers`. */
export function serveRpc(handlers: Handlers): void {
  process.on('message', (message: unknown) => {
    if (!isCall(message)) return;
    const handler = handlers[message.name];
    const answer = (reply: ReplyMessage) => {
      if (process.connected) process.send?.(reply);
    };
    if (!handler) {
      answer({ rpc: 'reply', id: message.id, error: `no handler ${message.name}` });
      return;
    }
    handler(message.args).then(
      (value) => answer({ rpc: 'reply', id: message.id, value }),
      (error: unknown) =>
        answer({
          rpc: 'reply',
          id: message.id,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
}

export interface BenchChild {
  readonly child: ChildProcess;
  readonly rpc: Rpc;
  /** The last few KB the child wrote to stdout/stderr. */
  output(): string;
  /** Asks the child to stop (`stop` call), then kills it if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ForkOptions {
  /** Extra Node flags for the child (e.g. `--cpu-prof` when looking into a figure). */
  readonly nodeFlags?: readonly string[];
  /** How `stop` asks the child to exit; default: the `stop` RPC call. */
  readonly requestStop?: (child: ChildProcess, rpc: Rpc, graceMs: number) => void;
}

/** Forks a bench child under tsx; it is killed when this process exits, whatever happens. */
export function forkBenchChild(
  entry: string,
  env: Record<string, string>,
  label: string,
  options: ForkOptions = {},
): BenchChild {
  const child = fork(entry, [], {
    // Explicit, so the child does not inherit whatever flags tsx gave this process.
    execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const rpc = rpcClient(child, label);
  return {
    child,
    rpc,
    output: () => output,
    stop: async (graceMs = 10_000) => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      if (options.requestStop) options.requestStop(child, rpc, graceMs);
      else rpc.call('stop', null, graceMs).catch(() => {});
      await exited;
      clearTimeout(timer);
    },
  };
}
