/**
 * Found by attacking the local runtime from outside: the gateway's own edges around the
 * pages, `/client.js` and a handler that cannot load.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { type Gateway, startGateway } from '#local/gateway';
import { startTestApp, TEST_ADMIN_TOKEN } from '../support/local-app.ts';
import { exchange } from '../support/raw-http.ts';

describe('a handler that fails to load', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({
      port: 0,
      adminToken: TEST_ADMIN_TOKEN,
      loadHandler: () => Promise.reject(new Error('FQ_EDGE_SECRET must be at least 32 characters')),
    });
  });
  afterAll(() => gateway.close());

  // Regression: the gateway took any error after the body was read for a client that went
  // away (a request read to its end is `destroyed` in Node 20) and dropped the connection:
  // an empty reply, and nothing logged.
  test.each([
    ['GET', '/v1/events/demo', undefined],
    ['POST', '/v1/events/demo/join', '{}'],
  ])('%s %s answers 500 internal_error, not an empty reply', async (method, path, body) => {
    const res = await fetch(`${gateway.url}${path}`, {
      method,
      ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { code: 'internal_error', message: 'Something went wrong on our side.' },
    });
  });
});

describe('start-up checks the edge secret', () => {
  // Regression: a short FQ_EDGE_SECRET started fine, and then every join failed (the join
  // handler checks it when it loads).
  test('a FQ_EDGE_SECRET under 32 characters fails the start, naming it', async () => {
    await expect(startTestApp({ env: { FQ_EDGE_SECRET: 'short' } })).rejects.toThrow(/FQ_EDGE_SECRET/);
  });
});

describe('the pages and /client.js', () => {
  let app: LocalApp;
  const port = () => Number(new URL(app.url).port);
  beforeAll(async () => {
    app = await startTestApp({ demo: true });
  });
  afterAll(() => app.close());

  // RFC 9110 §9.1: a server that answers GET answers HEAD; it was 405 (`/client.js`) and 404 (`/`).
  test.each(['/', '/admin', '/client.js'])('HEAD %s answers like GET, without a body', async (path) => {
    const get = await fetch(`${app.url}${path}`);
    await get.arrayBuffer();
    const raw = await exchange(
      port(),
      `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    const [head = '', body] = raw.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head.toLowerCase()).toContain(`content-type: ${get.headers.get('content-type')}`);
    expect(head.toLowerCase()).toContain(`cache-control: ${get.headers.get('cache-control')}`);
    expect(body).toBe('');
  });

  test('/client.js has a validator: a revalidation with it answers 304, without the bundle', async () => {
    const first = await fetch(`${app.url}/client.js`);
    await first.text();
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    const again = await fetch(`${app.url}/client.js`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const other = await fetch(`${app.url}/client.js`, { headers: { 'if-none-match': '"other"' } });
    expect(other.status).toBe(200);
  });

  // Regression: the request target was parsed as a URL reference, so `//x/…` took `x` for a
  // host: `//client.js` served the waiting-room page and `//x/v1/events/demo` the document.
  test.each(['//client.js', '//x/v1/events/demo', '//x/client.js', '//x/'])(
    'the path %s is a path: 404, not another route',
    async (path) => {
      const raw = await exchange(
        port(),
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(raw).toMatch(/^HTTP\/1\.1 404 /);
      expect(raw).toContain('"code":"not_found"');
    },
  );

  test('an absolute-form target still reaches its route (RFC 9112 §3.2.2)', async () => {
    const raw = await exchange(
      port(),
      `GET http://127.0.0.1/v1/events/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
  });
});
