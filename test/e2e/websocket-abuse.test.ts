/**
 * What one WebSocket client may cost, end to end over the local runtime with real
 * `ws` clients: many connections on one token keep only the newest few; a ping
 * flood is cut and does not keep another fan from its update; the per-minute
 * message limit closes a connection; a reader that stops reading is dropped
 * instead of buffered; the management endpoint does not read an oversized body.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';
import { exchange } from '../support/raw-http.ts';
import { rawUpgrade } from '../support/raw-websocket.ts';

const MAX_PER_PLACE = 3;
const MAX_MESSAGES = 20;

let app: LocalApp;
const clock = new TestClock(Date.now());
beforeAll(async () => {
  app = await startTestApp({
    overrides: { now: clock.now },
    env: {
      FQ_WS_MAX_CONNECTIONS_PER_PLACE: String(MAX_PER_PLACE),
      FQ_WS_MAX_MESSAGES_PER_MINUTE: String(MAX_MESSAGES),
    },
  });
});
afterAll(() => app.close());

interface Client {
  readonly socket: WebSocket;
  readonly messages: Record<string, unknown>[];
  /** Set once closed: the close code. */
  closedWith: number | null;
}

function open(token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${app.wsUrl}?token=${encodeURIComponent(token)}`);
    const client: Client = { socket, messages: [], closedWith: null };
    socket.on('message', (data) => client.messages.push(JSON.parse(String(data))));
    socket.on('close', (code) => {
      client.closedWith = code;
    });
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

async function event(eventId: string, capacity: number) {
  const res = await call(app, 'PUT', `/v1/admin/events/${eventId}`, { admin: true, body: { capacity } });
  expect(res.status).toBe(200);
}

async function join(eventId: string) {
  const res = await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
  expect(res.status).toBe(201);
  return res.body as { position: number; token: string };
}

async function connectionIds(eventId: string, position: number): Promise<string[]> {
  return (await app.runtime.registry.listPlace(eventId, position)).map((c) => c.connectionId);
}

describe('connections per place', () => {
  test('500 connections on one token: only the newest few stay open, the oldest are closed', async () => {
    await event('many', 1);
    const fan = await join('many');
    const clients: Client[] = [];
    for (let i = 0; i < 500; i++) {
      // A millisecond apart on the server's clock, so "oldest" is unambiguous.
      clock.ms += 1;
      clients.push(await open(fan.token));
    }
    await until(() => clients.filter((c) => c.closedWith === null).length <= MAX_PER_PLACE, 'the evictions');
    const openOnes = clients.filter((c) => c.closedWith === null);
    expect(openOnes).toHaveLength(MAX_PER_PLACE);
    expect(openOnes).toEqual(clients.slice(-MAX_PER_PLACE));
    expect(clients.slice(0, -MAX_PER_PLACE).every((c) => c.closedWith !== null)).toBe(true);
    expect(await connectionIds('many', fan.position)).toHaveLength(MAX_PER_PLACE);
    await until(() => app.websocket.connectionCount <= MAX_PER_PLACE + 1, 'the server to let go');
    for (const c of openOnes) c.socket.close();
  });
});

describe('handshakes', () => {
  test('a request that is not a valid handshake is refused before $connect, and registers nothing', async () => {
    await event('badshake', 1);
    const fan = await join('badshake');
    const path = `/ws?token=${encodeURIComponent(fan.token)}`;
    const answers: string[] = [];
    for (const request of [
      `POST ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n`,
      `GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      `GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ]) {
      answers.push(await exchange(portOf(app.url), request));
    }
    const statuses = answers.map((a) => Number(a.match(/^HTTP\/1\.1 (\d{3})/)?.[1]));
    expect(statuses).toEqual([400, 400, 400, 426, 404, 400]);
    for (const answer of answers) {
      expect(answer.toLowerCase()).toContain('content-type: application/json');
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: {} });
    }
    expect(await connectionIds('badshake', fan.position)).toEqual([]);
  });
});

describe('client messages', () => {
  test('a 5,000-ping flood is cut, and another fan still hears the line move', async () => {
    await event('flood', 1);
    const flooder = await join('flood');
    const other = await join('flood');
    const bystander = await open(other.token);
    const abuser = await open(flooder.token);
    for (let i = 0; i < 5000 && abuser.socket.readyState === WebSocket.OPEN; i++) {
      abuser.socket.send('{"type":"ping"}');
    }
    await until(() => abuser.closedWith !== null, 'the flooder to be closed');
    // Cut by the stand-in's bounded queue (1008) or by the per-minute limit (closed by the API).
    expect([1008, 1000]).toContain(abuser.closedWith);
    const pongs = abuser.messages.filter((m) => m.type === 'pong').length;
    expect(pongs).toBeLessThanOrEqual(MAX_MESSAGES);
    expect(await connectionIds('flood', flooder.position)).toEqual([]);

    // The line moves: the bystander hears it.
    clock.advance(2);
    await app.tick();
    await app.settle();
    await until(() => bystander.messages.length > 0, 'the bystander update');
    expect(bystander.messages[0]).toMatchObject({ type: 'position', position: other.position, ahead: 1 });
    bystander.socket.close();
  });

  test('one ping at a time: answered up to the per-minute limit, then the connection is closed', async () => {
    await event('chatty', 1);
    const fan = await join('chatty');
    const client = await open(fan.token);
    for (let i = 1; i <= MAX_MESSAGES; i++) {
      client.socket.send('{"type":"ping"}');
      await until(() => client.messages.length === i, `pong ${i}`);
    }
    client.socket.send('{"type":"ping"}');
    await until(() => client.closedWith !== null, 'the close');
    expect(client.messages).toHaveLength(MAX_MESSAGES);
    expect(await connectionIds('chatty', fan.position)).toEqual([]);
  });
});

describe('the management endpoint', () => {
  test('a reader that stops reading is dropped once its buffer is full, not buffered without end', async () => {
    await event('stalled', 1);
    const fan = await join('stalled');
    const { status, raw } = await rawUpgrade(portOf(app.url), `/ws?token=${encodeURIComponent(fan.token)}`);
    expect(status).toBe(101);
    raw.socket.pause(); // never reads again
    await until(() => app.websocket.connectionCount > 0, 'the connection');
    const [id] = await connectionIds('stalled', fan.position);
    if (!id) throw new Error('not registered');
    const payload = JSON.stringify({ type: 'filler', data: 'x'.repeat(100_000) });
    const poster = app.runtime.poster;
    if (!poster) throw new Error('no poster');
    // Posted through the runtime's own (signed) management client, as the fan-out posts.
    const answers: string[] = [];
    for (let i = 0; i < 400 && !answers.includes('gone'); i++) answers.push(await poster.post(id, payload));
    expect(answers.at(-1)).toBe('gone');
    expect(answers.filter((a) => a === 'sent').length).toBeGreaterThan(0);
    expect(await poster.post(id, '{"type":"late"}')).toBe('gone');
    raw.socket.destroy();
  });

  test('regression: only the runtime itself may post to or close a connection (SigV4 with its own keys)', async () => {
    await event('forged', 1);
    const fan = await join('forged');
    const client = await open(fan.token);
    const [id] = await connectionIds('forged', fan.position);
    if (!id) throw new Error('not registered');
    const url = `${app.url}/@connections/${encodeURIComponent(id)}`;
    // Unsigned: a local process or a page could otherwise push anything to any fan.
    for (const method of ['POST', 'DELETE', 'GET']) {
      const res = await fetch(url, {
        method,
        ...(method === 'POST' ? { body: '{"type":"admitted","claimBy":1}' } : {}),
      });
      expect(res.status, method).toBe(403);
    }
    // Signed, but with other keys (the well-known local ones, or a guess).
    for (const credentials of [
      { accessKeyId: 'local', secretAccessKey: 'local' },
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    ]) {
      const forger = new ApiGatewayManagementApiClient({
        endpoint: app.url,
        region: 'us-east-1',
        credentials,
      });
      await expect(
        forger.send(
          new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{"type":"closed"}') }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      await expect(forger.send(new DeleteConnectionCommand({ ConnectionId: id }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      forger.destroy();
    }
    expect(client.messages).toEqual([]);
    expect(client.closedWith).toBeNull();
    // The runtime's own client still gets through.
    expect(await app.runtime.poster?.post(id, '{"type":"hello"}')).toBe('sent');
    await until(() => client.messages.length === 1, 'the real post');
    client.socket.close();
  });

  test('an oversized post is refused without reading it to the end', async () => {
    await event('big', 1);
    const fan = await join('big');
    const client = await open(fan.token);
    await until(() => app.websocket.connectionCount > 0, 'the connection');
    const [id] = await connectionIds('big', fan.position);
    if (!id) throw new Error('not registered');
    // Announced as 64 MB and never sent: answered at once, from the header alone.
    const answer = await exchange(
      portOf(app.url),
      `POST /@connections/${encodeURIComponent(id)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`,
      'x'.repeat(200 * 1024),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.messages).toEqual([]);
    client.socket.close();
  });
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}
