/**
 * Real time over the local runtime with real `ws` clients: 200 fans connected,
 * capacity 10. Every tick that moves the line reaches every waiting fan; the
 * ones let in hear `admitted`; bad tokens are refused at the handshake; closed
 * connections are cleaned up; `close` reaches everyone.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';

interface Fan {
  position: number;
  token: string;
  socket: WebSocket;
  messages: Record<string, unknown>[];
}

let app: LocalApp;
const clock = new TestClock(Date.now());
beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
});
afterAll(() => app.close());

function connect(token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${app.wsUrl}?token=${encodeURIComponent(token)}`);
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

function refusal(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${app.wsUrl}?token=${encodeURIComponent(token)}`);
    socket.once('open', () => reject(new Error('handshake accepted')));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', () => {});
  });
}

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('WebSocket updates', () => {
  const fans: Fan[] = [];

  test('200 connected fans hear every move of the line; the admitted ones hear admitted', async () => {
    await call(app, 'PUT', '/v1/admin/events/live', {
      admin: true,
      body: { capacity: 10, claimWindowSeconds: 2 },
    });
    for (let i = 0; i < 200; i++) {
      const join = await call(app, 'POST', '/v1/events/live/join', { body: {} });
      expect(join.body.wsUrl).toBe(app.wsUrl);
      const socket = await connect(join.body.token);
      const fan: Fan = { position: join.body.position, token: join.body.token, socket, messages: [] };
      socket.on('message', (data) => fan.messages.push(JSON.parse(String(data))));
      fans.push(fan);
    }
    await until(() => app.websocket.connectionCount === 200, '200 connections');

    let serving = 0;
    for (let round = 0; round < 4; round++) {
      for (const fan of fans) fan.messages.length = 0;
      clock.advance(3); // past the 2 s claim window: last round's admitted places lapse, the line moves
      await app.tick();
      await app.settle();
      const now = (await call(app, 'GET', '/v1/events/live')).body.servingPosition as number;
      expect(now).toBe(serving + 10);
      for (const fan of fans) {
        if (fan.position <= serving) {
          expect(fan.messages).toEqual([]);
        } else if (fan.position <= now) {
          await until(() => fan.messages.length > 0, `admitted for #${fan.position}`);
          expect(fan.messages).toEqual([
            { type: 'admitted', seq: expect.any(Number), claimBy: expect.any(Number) },
          ]);
        } else {
          await until(() => fan.messages.length > 0, `position for #${fan.position}`);
          const [message] = fan.messages;
          expect(message).toMatchObject({
            type: 'position',
            position: fan.position,
            servingPosition: now,
            ahead: fan.position - now,
          });
          expect(typeof message?.token).toBe('string');
          // The refreshed token works for the status route.
          if (fan.position === now + 1) {
            const status = await call(app, 'GET', '/v1/events/live/status', {
              token: String(message?.token),
            });
            expect(status.body.position).toBe(fan.position);
          }
        }
      }
      serving = now;
    }
  });

  test('a tick that moves nothing sends nothing', async () => {
    for (const fan of fans) fan.messages.length = 0;
    await app.tick(); // same second: the claim windows have not lapsed
    await app.settle();
    expect(fans.every((f) => f.messages.length === 0)).toBe(true);
  });

  test('bad, expired and foreign tokens are refused at the handshake', async () => {
    expect(await refusal('not-a-token')).toBe(401);
    expect(await refusal('')).toBe(401);
    const [header, payload] = (fans[0]?.token ?? '').split('.');
    expect(await refusal(`${header}.${payload}.AAAA`)).toBe(401);
    await call(app, 'PUT', '/v1/admin/events/short', {
      admin: true,
      body: { capacity: 1, positionTtlSeconds: 5 },
    });
    const short = await call(app, 'POST', '/v1/events/short/join', { body: {} });
    clock.advance(6);
    expect(await refusal(short.body.token)).toBe(401);
    clock.advance(-6);
  });

  test('a closed connection is cleaned up, and a gone one is forgotten at the next fan-out', async () => {
    const leaving = fans.pop();
    if (!leaving) throw new Error('no fan');
    const before = app.websocket.connectionCount;
    leaving.socket.close();
    await until(() => app.websocket.connectionCount === before - 1, 'the close');
    await until(() => leaving.socket.readyState === WebSocket.CLOSED, 'closed socket');
    // Its registry entry is gone: the $disconnect handler ran.
    let listed = 0;
    for (let shard = 0; shard < app.runtime.registry.shards; shard++) {
      const page = await app.runtime.registry.listShard('live', shard);
      listed += page.items.filter((c) => c.position === leaving.position).length;
    }
    expect(listed).toBe(0);
  });

  test('a fan who gives the place up hears left on every socket of it, which the server closes; it cannot connect again', async () => {
    const fan = fans[fans.length - 1];
    if (!fan) throw new Error('no fan');
    const second = await connect(fan.token);
    const heard: Record<string, unknown>[] = [];
    second.on('message', (data) => heard.push(JSON.parse(String(data))));
    const closed = [fan.socket, second].map((s) => new Promise((resolve) => s.once('close', resolve)));
    for (const f of fans) f.messages.length = 0;
    expect((await call(app, 'DELETE', '/v1/events/live/place', { token: fan.token })).status).toBe(204);
    await app.settle();
    await Promise.all(closed);
    expect(fan.messages.map((m) => m.type)).toEqual(['left']);
    expect(heard.map((m) => m.type)).toEqual(['left']);
    // Nobody else heard anything: a leave concerns one place.
    expect(fans.slice(0, -1).every((f) => f.messages.length === 0)).toBe(true);
    expect(await refusal(fan.token)).toBe(410);
    fans.pop();
  });

  test('pause reaches every open connection', async () => {
    for (const fan of fans) fan.messages.length = 0;
    await call(app, 'POST', '/v1/admin/events/live/pause', { admin: true });
    await app.settle();
    for (const fan of fans) await until(() => fan.messages.length > 0, `paused for #${fan.position}`);
    expect(fans.every((f) => f.messages.length === 1 && f.messages[0]?.type === 'paused')).toBe(true);
  });

  test('close reaches every open connection; connections API Gateway calls gone are forgotten', async () => {
    // Registry entries whose socket no longer exists (the client vanished without a $disconnect):
    // an old one is forgotten; a brand-new one is kept, since API Gateway also answers Gone
    // while a $connect is still finishing.
    await app.runtime.registry.add({
      connectionId: 'ghost0000000=',
      eventId: 'live',
      position: 999,
      sub: 'x',
      connectedAt: clock.sec - 60,
    });
    await app.runtime.registry.add({
      connectionId: 'young0000000=',
      eventId: 'live',
      position: 998,
      sub: 'y',
      connectedAt: clock.sec,
    });
    for (const fan of fans) fan.messages.length = 0;
    await call(app, 'POST', '/v1/admin/events/live/close', { admin: true });
    await app.settle();
    for (const fan of fans) await until(() => fan.messages.length > 0, `closed for #${fan.position}`);
    expect(fans.every((f) => f.messages.some((m) => m.type === 'closed'))).toBe(true);
    expect(await app.runtime.registry.remove('ghost0000000=')).toBeUndefined();
    expect(await app.runtime.registry.remove('young0000000=')).toMatchObject({ position: 998 });
    for (const fan of fans) fan.socket.close();
  });
});
