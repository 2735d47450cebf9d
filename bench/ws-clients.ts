/**
 * The fans' side of the fan-out parts, as its own process (forked by
 * bench/fanout.ts): up to ~19,000 real `ws` clients fit in one process's open-file
 * limit, and the app's process needs as many sockets for the other ends, so the
 * clients never live with the server. Talks to the parent over bench/ipc.ts:
 *
 *   connect {url, fans, inFlight, timeoutMs}  opens one socket per fan (`?token=`)
 *   arm {keepAll?}                            forgets what was received so far; with keepAll,
 *                                             keeps every message from now on, not only the first
 *   collect {expected, timeoutMs}             waits until `expected` sockets have a message
 *                                             since `arm`, then reports every socket's first
 *                                             receipt (monoMs) and checks its content
 *   received                                  every message kept since `arm {keepAll}`, per socket
 *   count                                     messages received since `arm`, all sockets
 *   cpu                                       process CPU µs
 *   stop                                      closes every socket and exits
 *
 * Receipt times are stamped with monoMs() first thing in the 'message' handler,
 * before the JSON is parsed.
 */
import WebSocket from 'ws';
import { serveRpc } from './ipc.ts';
import { cpuMicros, monoMs, nowMs } from './measure.ts';

interface FanSpec {
  readonly position: number;
  readonly token: string;
}

let fans: FanSpec[] = [];
let sockets: (WebSocket | undefined)[] = [];
/** Per socket since the last `arm`: first receipt (NaN: none yet) and messages received. */
let firstAt = new Float64Array(0);
let count = new Uint32Array(0);
/** The first message of each socket since `arm`, parsed when `collect` asks. */
let firstText: (string | undefined)[] = [];
let receivedSinceArm = 0;
/** Messages of every socket since `arm`, duplicates included. */
let messagesSinceArm = 0;
/** With `arm {keepAll}`: every message of each socket since, as received (time, text). */
let kept: { at: number[]; text: string[] }[] | null = null;
let closedUnexpectedly = 0;
let stopping = false;
let waiter: (() => void) | undefined;

function openOne(url: string, index: number, timeoutMs: number): Promise<void> {
  const fan = fans[index];
  if (!fan) return Promise.reject(new Error(`no fan ${index}`));
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(fan.token)}`, {
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
    });
    socket.on('message', (data) => {
      const at = monoMs();
      const n = (count[index] ?? 0) + 1;
      count[index] = n;
      messagesSinceArm++;
      const all = kept?.[index];
      if (all) {
        all.at.push(at);
        all.text.push(String(data));
      }
      if (n === 1) {
        firstAt[index] = at;
        firstText[index] = String(data);
        receivedSinceArm++;
        if (waiter) waiter();
      }
    });
    socket.once('open', () => {
      sockets[index] = socket;
      resolve();
    });
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`handshake refused: ${res.statusCode}`)),
    );
    socket.on('error', (error) => reject(error));
    socket.once('close', () => {
      if (!stopping && sockets[index] === socket) closedUnexpectedly++;
    });
  });
}

function arm(keepAll = false): void {
  firstAt = new Float64Array(fans.length).fill(Number.NaN);
  count = new Uint32Array(fans.length);
  firstText = new Array(fans.length);
  receivedSinceArm = 0;
  messagesSinceArm = 0;
  kept = keepAll ? Array.from({ length: fans.length }, () => ({ at: [], text: [] })) : null;
}

/** What part 5b and the tier test read of a message: type, seq and the `position` fields. */
export interface KeptMessage {
  /** monoMs at receipt. */
  readonly at: number;
  readonly type: string;
  readonly seq: number | null;
  readonly servingPosition: number | null;
  readonly ahead: number | null;
  readonly estimatedWaitSeconds: number | null;
  /** For `position`: the message's position is the fan's own and its token has three parts. */
  readonly ok: boolean;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

const handlers = {
  connect: async (args: { url: string; fans: FanSpec[]; inFlight: number; timeoutMs: number }) => {
    fans = args.fans;
    sockets = new Array(fans.length);
    arm();
    const started = nowMs();
    let next = 0;
    let failed = 0;
    let firstError: string | null = null;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= fans.length) return;
        try {
          await openOne(args.url, i, args.timeoutMs);
        } catch (error) {
          failed++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.inFlight, fans.length) }, worker));
    return { open: fans.length - failed, failed, firstError, seconds: (nowMs() - started) / 1000 };
  },
  arm: async (args: { keepAll?: boolean } | null) => {
    arm(args?.keepAll === true);
    return null;
  },
  count: async () => messagesSinceArm,
  /** Per socket (in the order of `connect`'s fans), every message kept since `arm {keepAll}`. */
  received: async () =>
    (kept ?? []).map((all, i): KeptMessage[] =>
      all.text.map((raw, k) => {
        let message: Record<string, unknown> = {};
        try {
          message = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // Reported as type "unparsable".
        }
        const type = typeof message.type === 'string' ? message.type : 'unparsable';
        return {
          at: all.at[k] ?? Number.NaN,
          type,
          seq: numberOrNull(message.seq),
          servingPosition: numberOrNull(message.servingPosition),
          ahead: numberOrNull(message.ahead),
          estimatedWaitSeconds: numberOrNull(message.estimatedWaitSeconds),
          ok:
            type !== 'position' ||
            (message.position === fans[i]?.position &&
              typeof message.token === 'string' &&
              message.token.split('.').length === 3),
        };
      }),
    ),
  collect: async (args: { expected: number; timeoutMs: number }) => {
    const deadline = nowMs() + args.timeoutMs;
    while (receivedSinceArm < args.expected && nowMs() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - nowMs()));
        waiter = () => {
          if (receivedSinceArm >= args.expected) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      waiter = undefined;
    }
    // Let messages already on the wire land, so duplicates would show.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const types: Record<string, number> = {};
    let moreThanOne = 0;
    let wrongPosition = 0;
    let badToken = 0;
    const servingPositions = new Set<number>();
    for (let i = 0; i < fans.length; i++) {
      if ((count[i] ?? 0) > 1) moreThanOne++;
      const raw = firstText[i];
      if (raw === undefined) continue;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        types.unparsable = (types.unparsable ?? 0) + 1;
        continue;
      }
      const type = String(message.type);
      types[type] = (types[type] ?? 0) + 1;
      if (type === 'position') {
        if (message.position !== fans[i]?.position) wrongPosition++;
        if (typeof message.token !== 'string' || message.token.split('.').length !== 3) badToken++;
        if (typeof message.servingPosition === 'number') servingPositions.add(message.servingPosition);
      }
    }
    return {
      received: receivedSinceArm,
      firstAt: Array.from(firstAt),
      types,
      moreThanOne,
      wrongPosition,
      badToken,
      servingPositions: [...servingPositions],
      closedUnexpectedly,
      open: sockets.filter((s) => s?.readyState === WebSocket.OPEN).length,
    };
  },
  cpu: async () => cpuMicros(),
  stop: async () => {
    stopping = true;
    for (const socket of sockets) socket?.terminate();
    setImmediate(() => process.exit(0));
    return null;
  },
};

if (!process.send) throw new Error('bench/ws-clients.ts is started by bench/fanout.ts over IPC, not by hand');
serveRpc(handlers);
// The parent going away (Ctrl-C, crash) must not leave 10,000 sockets behind.
process.on('disconnect', () => process.exit(0));
