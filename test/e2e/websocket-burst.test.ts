/**
 * `npm start` as a black box against many handshakes of one place at once. A
 * connect that closes the place's oldest connections may find one still in its
 * handshake (the management API answers Gone): that one must still be closed once
 * it is there, never left open unregistered, where it would hear nothing and hold a
 * socket until its idle timeout.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { type LocalProcess, PROCESS_ADMIN_TOKEN, startLocalProcess } from '../support/local-process.ts';

const CAP = 3;
let proc: LocalProcess;

beforeAll(async () => {
  proc = await startLocalProcess({ env: { FQ_WS_MAX_CONNECTIONS_PER_PLACE: String(CAP) } });
  const res = await fetch(`${proc.url}/v1/admin/events/burst`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ capacity: 10 }),
  });
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await proc?.stop();
});

/** Opens a socket; resolves with it once open, or null when the handshake is refused. */
function open(token: string): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${proc.wsUrl}?token=${encodeURIComponent(token)}`);
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', () => resolve(null));
    socket.once('error', () => resolve(null));
  });
}

test('regression: bursts of concurrent connects on one token leave at most the cap open', async () => {
  const join = await fetch(`${proc.url}/v1/events/burst/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const { token } = (await join.json()) as { token: string };
  const sockets: WebSocket[] = [];
  for (let burst = 0; burst < 4; burst++) {
    const opened = await Promise.all(Array.from({ length: 50 }, () => open(token)));
    for (const socket of opened) if (socket) sockets.push(socket);
  }
  const stillOpen = () => sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  // Closes of handshaking connections are retried for a second or two.
  for (let i = 0; i < 200 && stillOpen() > CAP; i++) await new Promise((r) => setTimeout(r, 50));
  expect(stillOpen()).toBeLessThanOrEqual(CAP);
  expect(proc.alive()).toBe(true);
  for (const socket of sockets) socket.terminate();
});
