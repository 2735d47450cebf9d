/**
 * Start-up and the edge of the local gateway: a bad setting fails the start (of
 * `npm start`, and of every Lambda handler module at load) with the variable's
 * name instead of turning requests into 500s; nothing is served before the store
 * exists; requests Node's parser refuses still get the contract's JSON error body.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { FUNCTION_NAMES } from '#http/routes';
import { type LocalApp, startLocal } from '#local/app';
import { uniqueTableName } from '../support/dynamodb-local.ts';
import { startTestApp, TEST_ADMIN_TOKEN } from '../support/local-app.ts';
import { newStateDir, startLocalProcess } from '../support/local-process.ts';
import { expectGatewayAnswer } from '../support/openapi.ts';
import { exchange } from '../support/raw-http.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** Every handler module that builds the runtime: the HTTP routes and the workers. */
const HANDLER_MODULES = [
  ...FUNCTION_NAMES,
  'admitter',
  'fanout',
  'push',
  'ws-connect',
  'ws-default',
  'ws-disconnect',
] as const;

/** Imports each handler module in a fresh Node process with `env`; says which ones failed, and how. */
function importHandlers(env: Record<string, string>): Promise<Record<string, string>> {
  const modules = HANDLER_MODULES.map((name) => [
    name,
    pathToFileURL(join(ROOT, 'functions', `${name}.ts`)).href,
  ]);
  const script = join(mkdtempSync(join(tmpdir(), 'fq-import-')), 'import-handlers.mjs');
  writeFileSync(
    script,
    `const results = {};
    for (const [name, url] of ${JSON.stringify(modules)}) {
      try { await import(url); results[name] = 'loaded'; }
      catch (error) { results[name] = String(error && error.message); }
    }
    process.stdout.write(JSON.stringify(results));
    process.exit(0);`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as Record<string, string>);
      } catch {
        reject(new Error(`no result from the import script: ${out}\n${err}`));
      }
    });
  });
}

const GOOD_ENV = { FQ_STORE: 'dynamodb', FQ_TABLE: 'fairqueue', FQ_KEY_SECRET_ID: 'arn:secret' };

describe('configuration is read and checked when a handler loads', () => {
  test('a good environment loads every handler module', async () => {
    const results = await importHandlers(GOOD_ENV);
    expect(Object.values(results).every((r) => r === 'loaded')).toBe(true);
  });

  test.each([
    ['FQ_WS_SHARDS', { FQ_WS_SHARDS: 'sixteen' }],
    // Regression: fifty million shards passed and took the process down at the first connect.
    ['FQ_WS_SHARDS', { FQ_WS_SHARDS: '50000000' }],
    ['FQ_WS_SHARDS', { FQ_WS_SHARDS: '16.5' }],
    ['FQ_PUSH', { FQ_PUSH: 'bogus' }],
    ['FQ_TABLE', { FQ_TABLE: '' }],
    ['FQ_STORE', { FQ_STORE: 'postgres' }],
    ['FQ_JOIN_RATE_LIMIT_PER_MINUTE', { FQ_JOIN_RATE_LIMIT_PER_MINUTE: '-1' }],
    ['FQ_LOG_LEVEL', { FQ_LOG_LEVEL: 'LOUD' }],
    [
      'FQ_IDENTITY_AUDIENCE',
      { FQ_IDENTITY_ISSUER: 'https://id.example', FQ_IDENTITY_JWKS_URL: 'https://id.example/j' },
    ],
  ])(
    'regression: a bad %s fails every handler at load, naming it (not a 500 per request)',
    async (name, bad) => {
      const results = await importHandlers({ ...GOOD_ENV, ...bad });
      for (const module of HANDLER_MODULES) expect(results[module], module).toContain(name);
    },
  );

  test('npm start refuses a bad setting before it listens, naming the variable', async () => {
    await expect(startLocalProcess({ env: { FQ_WS_SHARDS: 'many' } })).rejects.toThrow(
      /FQ_WS_SHARDS must be a number from 1 to 1024/,
    );
    await expect(startLocalProcess({ env: { FQ_LOG_LEVEL: 'chatty' } })).rejects.toThrow(
      /FQ_LOG_LEVEL must be one of/,
    );
  });
});

/** A port nobody listens on yet. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * DynamoDB as it behaves on AWS, where CreateTable answers at once with CREATING and the
 * table is only usable (ACTIVE) seconds later: a proxy in front of DynamoDB Local that
 * creates the table for real only after `delayMs`, describing it as CREATING meanwhile.
 */
async function slowCreateProxy(target: string, delayMs: number) {
  const creating = new Set<string>();
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const action = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    const input = JSON.parse(body.toString() || '{}') as { TableName?: string };
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
    ) as Record<string, string>;
    const forward = () => fetch(target, { method: 'POST', headers, body });
    const reply = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(json));
    };
    const table = input.TableName ?? '';
    if (action === 'CreateTable') {
      creating.add(table);
      setTimeout(() => {
        forward().finally(() => creating.delete(table));
      }, delayMs);
      return reply(200, { TableDescription: { TableName: table, TableStatus: 'CREATING' } });
    }
    if (action === 'DescribeTable' && creating.has(table))
      return reply(200, { Table: { TableName: table, TableStatus: 'CREATING' } });
    const answer = await forward();
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('first start against DynamoDB', () => {
  test('regression: nothing answers 500 while the table is being created', async () => {
    // The table takes 1.5 s to become ACTIVE, as on AWS.
    const proxy = await slowCreateProxy(inject('ddbEndpoint'), 1_500);
    const endpoint = proxy.endpoint;
    const port = await freePort();
    const statuses: number[] = [];
    let starting = true;
    // Knock on the port as fast as possible from before the app starts until it is up.
    const knock = (async () => {
      while (starting) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v1/events/demo`);
          statuses.push(res.status);
          const body: unknown = await res.json();
          if (res.status === 503) expectGatewayAnswer(503, body, res.headers);
        } catch {
          // Not listening yet.
        }
      }
    })();
    const keyDir = newStateDir();
    let app: LocalApp | undefined;
    const previous = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = endpoint;
    process.env.AWS_REGION ??= 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    try {
      app = await startLocal({
        port,
        tickMs: 3_600_000,
        adminToken: TEST_ADMIN_TOKEN,
        env: {
          FQ_STORE: 'dynamodb',
          FQ_TABLE: uniqueTableName('startup'),
          FQ_KEY_DIR: keyDir,
        },
        demo: { eventId: 'demo', capacity: 5, admitPerMinute: null },
      });
      starting = false;
      await knock;
      const after = await fetch(`http://127.0.0.1:${port}/v1/events/demo`);
      expect(after.status).toBe(200);
    } finally {
      starting = false;
      await app?.close();
      await proxy.close();
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = previous;
    }
    // While starting, the only answer is 503 `starting` with Retry-After (checked against the spec
    // above); never a 500. The table took 1.5 s, so the knocking did reach the starting gateway.
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses).toContain(503);
  });
});

describe('requests the HTTP parser refuses', () => {
  let app: LocalApp;
  beforeAll(async () => {
    app = await startTestApp({ demo: true });
  });
  afterAll(() => app.close());

  /** Sends raw bytes and returns the raw answer. */
  const raw = (bytes: string) => exchange(Number(new URL(app.url).port), bytes);

  function parse(answer: string) {
    const cut = answer.indexOf('\r\n\r\n');
    const head = answer.slice(0, cut).toLowerCase();
    let body = answer.slice(cut + 4);
    if (head.includes('transfer-encoding: chunked')) {
      // size CRLF data CRLF … 0 CRLF CRLF
      let decoded = '';
      for (let rest = body; ; ) {
        const line = rest.indexOf('\r\n');
        const size = Number.parseInt(rest.slice(0, line), 16);
        if (!size) break;
        decoded += rest.slice(line + 2, line + 2 + size);
        rest = rest.slice(line + 2 + size + 2);
      }
      body = decoded;
    }
    const status = Number(head.split(' ')[1]);
    return { status, head, body: JSON.parse(body) as { error: { code: string } } };
  }

  test('regression: headers over 16 KiB get 431 with the JSON error body', async () => {
    const answer = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request(
        `${app.url}/v1/events/demo`,
        { headers: { 'x-big': 'a'.repeat(20_000) } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(answer.type).toContain('application/json');
    const body: unknown = JSON.parse(answer.body);
    expect(body).toEqual({ error: { code: 'headers_too_large', message: expect.any(String) } });
    expectGatewayAnswer(431, body);
  });

  test('a malformed request line gets 400 with the JSON error body', async () => {
    const { status, head, body } = parse(await raw('GARBAGE\r\n\r\n'));
    expect(status).toBe(400);
    expect(head).toContain('content-type: application/json');
    expect(body.error.code).toBe('invalid_request');
    expectGatewayAnswer(400, body);
  });

  test.each([
    // Regression: a target URL cannot parse answered 500.
    [
      'a target that is no URL',
      'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
      400,
      'invalid_request',
    ],
    [
      'another such target',
      'GET http://[::1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
      400,
      'invalid_request',
    ],
    // Regression: Node answered these itself, with no JSON (or not at all).
    [
      'HTTP/1.1 without Host',
      'GET /v1/events/demo HTTP/1.1\r\nConnection: close\r\n\r\n',
      400,
      'invalid_request',
    ],
    [
      'CONNECT',
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
      405,
      'method_not_allowed',
    ],
    // A page elsewhere reaching a loopback server through DNS rebinding, with the default admin token.
    [
      'an operator route under a foreign host name',
      'GET /v1/admin/events/demo/stats HTTP/1.1\r\nHost: rebind.example:3000\r\nAuthorization: Bearer test-admin-token\r\nConnection: close\r\n\r\n',
      421,
      'misdirected_request',
    ],
  ])('%s gets the JSON error body', async (_, request, status, code) => {
    const answer = parse(await raw(request));
    expect(answer.status).toBe(status);
    expect(answer.head).toContain('content-type: application/json');
    expect(answer.body.error.code).toBe(code);
    expectGatewayAnswer(status, answer.body);
  });

  test('regression: a body announced as 1 GiB is refused at once, not read until a timeout', async () => {
    const answer = parse(
      await raw(
        `POST /v1/events/demo/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${1024 ** 3}\r\n\r\n${'x'.repeat(2048)}`,
      ),
    );
    expect(answer.status).toBe(413);
    expect(answer.body.error.code).toBe('payload_too_large');
  });

  test('an operator route under localhost is served', async () => {
    const answer = await raw(
      'GET /v1/admin/events/demo/stats HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer test-admin-token\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  test('the server still serves after both', async () => {
    expect((await fetch(`${app.url}/v1/events/demo`)).status).toBe(200);
  });
});
