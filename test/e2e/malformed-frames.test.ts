/**
 * `npm start` as a black box against malformed WebSocket traffic: each bad frame
 * kind goes to a real, accepted connection (valid position token, raw socket), and
 * must close only that connection with the right status code while the process
 * keeps serving everyone else. A client that resets its socket while `$connect` is
 * still running must not bring the process down either.
 *
 * Close codes are what `ws` sends (RFC 6455 section 7.4.1): 1002 for protocol
 * errors (unmasked client frame, RSV1 without a negotiated extension, unknown
 * opcode), 1009 for a frame above the 128 KB message cap (whether the length is
 * announced and never sent, or sent), and 1007 for a text frame that is not UTF-8.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { type LocalProcess, PROCESS_ADMIN_TOKEN, startLocalProcess } from '../support/local-process.ts';
import { clientFrame, closeCode, rawUpgrade } from '../support/raw-websocket.ts';

const EVENT = 'frames';
const AFTER = 'after-frames';
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;

let proc: LocalProcess;

beforeAll(async () => {
  proc = await startLocalProcess({ env: { TICK_MS: '100' } });
  const created = await api('PUT', `/v1/admin/events/${EVENT}`, { admin: true, body: { capacity: 1000 } });
  expect(created.status).toBe(200);
});

afterAll(async () => {
  await proc?.stop();
});

async function api(
  method: string,
  path: string,
  options: { token?: string; admin?: boolean; body?: unknown } = {},
  // biome-ignore lint/suspicious/noExplicitAny: the answers' shapes are checked by the OpenAPI suite.
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.admin) headers.authorization = `Bearer ${PROCESS_ADMIN_TOKEN}`;
  const res = await fetch(`${proc.url}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function until(check: () => boolean | Promise<boolean>, what: string, tries = 600) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}\n${proc.output().slice(-2000)}`);
}

async function joinToken(): Promise<string> {
  const join = await api('POST', `/v1/events/${EVENT}/join`, { body: {} });
  expect(join.status).toBe(201);
  return join.body.token as string;
}

/** An accepted WebSocket connection at the byte level, with a fresh place's token. */
async function acceptedRaw() {
  const token = await joinToken();
  const { status, raw } = await rawUpgrade(proc.port, `/ws?token=${encodeURIComponent(token)}`);
  expect(status).toBe(101);
  return raw;
}

const BAD_FRAMES: { name: string; bytes: () => Buffer; code: number }[] = [
  {
    name: 'a text frame that is not UTF-8',
    bytes: () => clientFrame({ opcode: OP_TEXT, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }),
    code: 1007,
  },
  {
    name: 'an unmasked client frame',
    bytes: () => clientFrame({ opcode: OP_TEXT, payload: Buffer.from('{"type":"ping"}'), masked: false }),
    code: 1002,
  },
  {
    name: 'RSV1 set without a negotiated extension',
    bytes: () => clientFrame({ opcode: OP_TEXT, payload: Buffer.from('{"type":"ping"}'), rsv1: true }),
    code: 1002,
  },
  {
    name: 'an unknown opcode',
    bytes: () => clientFrame({ opcode: 0x3, payload: Buffer.from('x') }),
    code: 1002,
  },
  {
    name: 'a length header of 2^30 bytes',
    bytes: () => clientFrame({ opcode: OP_BINARY, lengthOverride: 2 ** 30 }),
    code: 1009,
  },
  {
    name: 'a 200 KB frame',
    bytes: () => clientFrame({ opcode: OP_TEXT, payload: Buffer.alloc(200 * 1024, 0x61) }),
    code: 1009,
  },
];

describe('malformed WebSocket frames', () => {
  for (const bad of BAD_FRAMES) {
    test(`${bad.name} closes that connection with ${bad.code}; the process lives on`, async () => {
      const raw = await acceptedRaw();
      raw.socket.write(bad.bytes());
      await until(() => closeCode(raw.received()) !== null || !proc.alive(), 'a close frame');
      expect(proc.alive()).toBe(true);
      expect(closeCode(raw.received())).toBe(bad.code);
      raw.socket.destroy();
    });
  }

  test('a client that resets its socket while $connect runs does not end the process', async () => {
    // Refused handshakes (the answer is written to a socket that is gone) and accepted ones.
    const tokens = ['not-a-token', await joinToken()];
    for (let i = 0; i < 20; i++) {
      const token = tokens[i % 2] ?? '';
      const socket = connect(proc.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        `GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
          'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      // An RST instead of a FIN: the server's next write to this socket fails with ECONNRESET or EPIPE.
      if (i % 4 >= 2) await new Promise((resolve) => setImmediate(resolve));
      socket.resetAndDestroy();
    }
    // Whatever the process does with those sockets, it does it within a few requests' time.
    const health = await api('GET', `/v1/events/${EVENT}`);
    expect(health.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(proc.alive()).toBe(true);
  });

  test('after all that, another fan joins, polls and hears its admission over the WebSocket', async () => {
    expect(proc.alive()).toBe(true);
    // Capacity 1: the first place holds the only slot until it completes, so the fan's turn
    // comes only once the test says so, after its socket is open.
    const created = await api('PUT', `/v1/admin/events/${AFTER}`, { admin: true, body: { capacity: 1 } });
    expect(created.status).toBe(200);
    const first = await api('POST', `/v1/events/${AFTER}/join`, { body: {} });
    const fan = await api('POST', `/v1/events/${AFTER}/join`, { body: {} });
    expect(fan.body.position).toBe(2);
    const status = await api('GET', `/v1/events/${AFTER}/status`, { token: fan.body.token });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ status: 'waiting', position: 2 });

    const messages: Record<string, unknown>[] = [];
    const socket = new WebSocket(`${proc.wsUrl}?token=${encodeURIComponent(status.body.token)}`);
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });

    // The first place is let in by a tick, claims and completes: the next tick lets the fan in.
    await until(async () => {
      const claim = await api('POST', `/v1/events/${AFTER}/admission`, { token: first.body.token });
      if (claim.status !== 200) return false;
      const done = await api('POST', `/v1/events/${AFTER}/complete`, { token: claim.body.accessToken });
      return done.status === 204;
    }, 'the first place to claim');
    await until(() => messages.some((m) => m.type === 'admitted'), 'the admitted message');
    expect(messages.find((m) => m.type === 'admitted')).toMatchObject({ claimBy: expect.any(Number) });
    expect(proc.alive()).toBe(true);
    socket.close();
  });
});
