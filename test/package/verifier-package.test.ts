/**
 * Issue 9 point 1, `fairqueue/verifier`, as a ticketing team gets it: `npm pack` at the repo
 * root (which builds the package first), the tarball installed into a scratch project beside
 * express, and there, in plain Node with nothing from this repo, an express app protected by
 * `expressAccess` against the running local waiting room: the access token passes, a position
 * token and a forgery get the contract's 401; `checkAccess` answers the session's claims, then
 * `SessionEndedError` once `complete` ended it. A scratch `tsc` run checks the declarations.
 *
 * And `fairqueue/client` from the same tarball, in plain Node (no DOM: Node 20's global
 * `fetch`, the `ws` package as the WebSocket): `createWaitingRoom` joins the running local
 * waiting room, hears it is admitted once the admitter ticks, claims, completes, and the
 * process exits by itself after `close()`. Its declarations type-check without the DOM lib.
 *
 * And `fairqueue/cdk`: a scratch CDK app (plain Node, aws-cdk-lib and constructs installed
 * beside the tarball, no esbuild, no TypeScript, no Docker) puts `new FairQueue(...)` in a
 * stack and synthesizes it: every handler deploys from the bundle the package ships.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { claimsOf, freshEs256Key, headerOf, signWith } from '../support/forge.ts';
import { call, startTestApp } from '../support/local-app.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const EVENT = 'pkg-shop';

/** The environment of a child npm: without what the outer `npm test` set for this repo. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NPM_CONFIG_AUDIT: 'false', NPM_CONFIG_FUND: 'false' };
  for (const name of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_local_prefix$|^INIT_CWD$/i.test(name)) delete env[name];
  }
  return env;
}

/**
 * Type-checks `source` as the file `name` of the project in `dir` against the installed package
 * (strict, NodeNext through the exports map, no `@types` at all, only the `lib` given);
 * what tsc printed, '' when it is clean.
 */
async function typeCheck(
  dir: string,
  name: string,
  source: string,
  lib: readonly string[],
  { skipLibCheck = false }: { skipLibCheck?: boolean } = {},
): Promise<string> {
  writeFileSync(join(dir, name), source);
  const config = `tsconfig.${name}.json`;
  writeFileSync(
    join(dir, config),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib,
        types: [],
        skipLibCheck,
      },
      files: [name],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const checked = await run(process.execPath, [tsc, '-p', config], { cwd: dir }).catch(
    (error: { stdout: string }) => ({ stdout: error.stdout }),
  );
  return checked.stdout;
}

// The scratch project's backend: no import from this repo, only the installed package.
const SERVER = `
import express from 'express';
import { checkAccess, expressAccess, SessionEndedError, AccessTokenRejectedError } from 'fairqueue/verifier';

const { FQ_BASE_URL: baseUrl, FQ_EVENT: eventId } = process.env;
const app = express();
app.get('/protected', expressAccess({ jwksUrl: baseUrl + '/.well-known/jwks.json', eventId }), (req, res) => {
  res.json({ sub: req.fairqueue.sub, sid: req.fairqueue.sid, pos: req.fairqueue.pos });
});
app.get('/online', async (req, res) => {
  const token = (req.headers.authorization ?? '').slice('Bearer '.length);
  try {
    const claims = await checkAccess({ baseUrl, eventId, token, ...(req.query.cache === '0' ? { cache: false } : {}) });
    res.json({ outcome: 'running', claims });
  } catch (error) {
    if (error instanceof SessionEndedError) res.json({ outcome: error.code, name: error.name });
    else if (error instanceof AccessTokenRejectedError) res.json({ outcome: error.code, name: error.name });
    else res.status(500).json({ outcome: 'failed', message: String(error) });
  }
});
const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

// The same backend on fastify: the hook is added inside a plugin (fastify's encapsulation), so
// only that plugin's routes are protected; `/open` outside it must still answer without a token.
const FASTIFY_SERVER = `
import Fastify from 'fastify';
import { fastifyAccess } from 'fairqueue/verifier';

const { FQ_BASE_URL: baseUrl, FQ_EVENT: eventId } = process.env;
const app = Fastify();
app.decorateRequest('fairqueue', null);
app.get('/open', async () => ({ open: true }));
await app.register(async (shop) => {
  shop.addHook('onRequest', fastifyAccess({ jwksUrl: baseUrl + '/.well-known/jwks.json', eventId }));
  shop.get('/protected', async (request) => ({
    sub: request.fairqueue.sub,
    sid: request.fairqueue.sid,
    pos: request.fairqueue.pos,
  }));
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log('listening ' + new URL(address).port);
`;

// A middy-wrapped Lambda handler invoked in plain Node with API Gateway HTTP API (v2) events:
// one per token in FQ_TOKENS (a JSON array, null for no header); the results as one JSON line.
const MIDDY_HANDLER = `
import middy from '@middy/core';
import { middyAccess } from 'fairqueue/verifier';

const { FQ_BASE_URL: baseUrl, FQ_EVENT: eventId, FQ_TOKENS } = process.env;
export const handler = middy()
  .use(middyAccess({ jwksUrl: baseUrl + '/.well-known/jwks.json', eventId }))
  .handler(async (_event, context) => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: context.fairqueue.sub, sid: context.fairqueue.sid, pos: context.fairqueue.pos }),
  }));

const httpApiEvent = (token) => ({
  version: '2.0',
  routeKey: 'POST /checkout',
  rawPath: '/checkout',
  rawQueryString: '',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
  requestContext: {
    http: { method: 'POST', path: '/checkout', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'node' },
    routeKey: 'POST /checkout',
    stage: '$default',
  },
  body: '{}',
  isBase64Encoded: false,
});
const results = [];
for (const token of JSON.parse(FQ_TOKENS)) results.push(await handler(httpApiEvent(token), { functionName: 'checkout' }));
console.log(JSON.stringify(results));
`;

// A fan's app in plain Node: no DOM, Node's own fetch, the \`ws\` package for the WebSocket.
// Each step is a JSON line on stdout; the test ticks the admitter once the place is live.
const FAN = `
import WebSocket from 'ws';
import { createWaitingRoom, memoryStorage } from 'fairqueue/client';

if (typeof window !== 'undefined' || typeof document !== 'undefined') throw new Error('a DOM is present');
const say = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
const room = createWaitingRoom({
  baseUrl: process.env.FQ_BASE_URL,
  eventId: process.env.FQ_EVENT,
  storage: memoryStorage(),
  WebSocket,
});
let saidLive = false;
const admitted = new Promise((resolve) => {
  room.subscribe((event) => {
    if (event.type === 'state' && event.state.connection === 'live' && !saidLive) {
      saidLive = true;
      say('live');
    }
    if (event.type === 'admitted') resolve(event);
    if (event.type === 'error') say('error', { code: event.error.code });
  });
});
const joined = await room.join({ userId: 'carol' });
say('joined', { status: joined.status, position: joined.position });
const { claimBy } = await admitted;
say('admitted', { status: room.state.status, claimBy });
const grant = await room.claim();
say('claimed', { grant, status: room.state.status });
const completed = new Promise((resolve) => {
  if (room.state.status === 'completed') resolve();
  room.subscribe((event) => event.type === 'state' && event.state.status === 'completed' && resolve());
});
await room.complete();
await completed;
say('completed', { status: room.state.status, access: room.state.access, connection: room.state.connection });
room.close();
`;

// The client's declarations need no DOM lib (and no @types/node): checked with ES2023 alone.
const TYPED_CLIENT = `
import { createWaitingRoom, memoryStorage, type AccessGrant, type WaitingRoomState } from 'fairqueue/client';
const room = createWaitingRoom({ baseUrl: 'http://127.0.0.1:1', eventId: 'e', storage: memoryStorage(), WebSocket: null });
export async function g(): Promise<[AccessGrant, WaitingRoomState]> {
  const unsubscribe = room.subscribe((event) => {
    if (event.type === 'state') void event.state.estimatedWaitSeconds;
  });
  await room.join({ userId: 'u' });
  const grant = await room.claim();
  const seconds: number = grant.expiresAt;
  await room.complete();
  unsubscribe();
  room.close();
  return [{ ...grant, expiresAt: seconds }, room.state];
}
`;

// A team's own CDK app: the construct in its stack, synthesized with nothing but Node. It
// prints what the test checks: the template, and which bundle each function deploys.
const CDK_APP = `
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { FairQueue } from 'fairqueue/cdk';

// Asset paths in the template's metadata, as the CDK CLI asks for them.
const app = new App({ outdir: 'cdk.out', context: { 'aws:cdk:enable-asset-metadata': true } });
const stack = new Stack(app, 'Tickets');
const queue = new FairQueue(stack, 'Queue', {
  throttle: { rateLimit: 4000, burstLimit: 8000 },
  alarmTopic: new Topic(stack, 'Alarms'),
  removalPolicy: RemovalPolicy.DESTROY,
  push: { fcmApplicationArn: 'arn:aws:sns:eu-west-1:123456789012:app/GCM/tickets' },
});
new CfnOutput(stack, 'ApiUrl', { value: queue.apiUrl });
const assembly = app.synth();
const artifact = assembly.getStackByName('Tickets');
const template = artifact.template;
const bundles = Object.entries(template.Resources)
  .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
  .map(([id, r]) => {
    const dir = join(assembly.directory, r.Metadata['aws:asset:path']);
    return { id, runtime: r.Properties.Runtime, handler: r.Properties.Handler, bundled: existsSync(join(dir, 'index.mjs')) };
  });
console.log(JSON.stringify({ template, bundles }));
`;

// A bundle the package ships, run as Lambda would run it: the public event route, on the
// in-memory store, answers the contract's 404 for an event nobody created.
const RUN_BUNDLE = `
const { handler } = await import('./node_modules/fairqueue/dist/lambda/event/index.mjs');
const path = '/v1/events/nobody';
const answer = await handler(
  {
    version: '2.0', routeKey: 'GET /v1/events/{eventId}', rawPath: path, rawQueryString: '', headers: {},
    pathParameters: { eventId: 'nobody' }, isBase64Encoded: false,
    requestContext: { http: { method: 'GET', path, sourceIp: '127.0.0.1' }, requestId: 'r1', timeEpoch: Date.now() },
  },
  { awsRequestId: 'r1', functionName: 'event', getRemainingTimeInMillis: () => 10_000 },
);
console.log(JSON.stringify({ statusCode: answer.statusCode, body: JSON.parse(answer.body) }));
`;

// The construct's declarations, compiled against the installed aws-cdk-lib as a team's app would.
const TYPED_CDK = `
import { App, Stack } from 'aws-cdk-lib';
import { FairQueue, FairqueueStack, type FairQueueProps } from 'fairqueue/cdk';
const app = new App();
const props: FairQueueProps = { throttle: { rateLimit: 100, burstLimit: 200 }, cloudFront: false };
const queue = new FairQueue(new Stack(app, 'S'), 'Q', props);
export const urls: string[] = [queue.apiUrl, queue.jwksUrl, queue.webSocketUrl];
export const stack: Stack = new FairqueueStack(app, 'F', { waitingRoom: { issuer: 'tickets' } });
`;

// In a browser project (DOM lib): the browser's own WebSocket, fetch, indexedDB and
// localStorage fit the client's structural types, so a page passes them without casts.
const TYPED_BROWSER_CLIENT = `
import {
  createWaitingRoom,
  indexedDbStorage,
  localStorageAdapter,
  type WaitingRoom,
  type WebSocketLike,
} from 'fairqueue/client';
export const socket: WebSocketLike = new WebSocket('wss://ws.queue.example.com');
export const rooms: WaitingRoom[] = [
  createWaitingRoom({ baseUrl: 'https://q.example.com', eventId: 'e', WebSocket, fetch, storage: localStorageAdapter(localStorage) }),
  createWaitingRoom({ baseUrl: 'https://q.example.com', eventId: 'e', storage: indexedDbStorage({ indexedDB, databaseName: 'shop' }) }),
];
`;

// Compiled by this repo's TypeScript against the installed declarations, as a consumer would.
const TYPED = `
import { checkAccess, createAccessVerifier, type AccessClaims, type SessionClaims } from 'fairqueue/verifier';
const verify = createAccessVerifier({ jwks: { keys: [] }, eventId: 'e' });
export async function f(token: string): Promise<[AccessClaims, SessionClaims]> {
  const claims = await verify(token);
  const sid: string = claims.sid;
  const session = await checkAccess({ baseUrl: 'http://127.0.0.1:1', eventId: 'e', token: sid });
  const exp: number = session.exp;
  return [claims, { ...session, exp }];
}
`;

describe('the fairqueue package, installed from its tarball', () => {
  const work = mkdtempSync(join(tmpdir(), 'fq-pkg-'));
  // The CDK the repo itself builds with: the versions the local npm cache already holds.
  const cdkPeers = ['aws-cdk-lib', 'constructs'].map(
    (name) => `${name}@${createRequire(import.meta.url)(`${name}/package.json`).version}`,
  );
  const scratch = join(work, 'scratch');
  let app: LocalApp;
  const servers: ChildProcess[] = [];
  let backend = '';
  let fastifyBackend = '';
  let tarball = '';

  /**
   * Writes `source` into the scratch project and runs it (stopped in afterAll) until it prints
   * `listening <port>`; its base URL.
   */
  async function startScratchServer(file: string, source: string): Promise<string> {
    writeFileSync(join(scratch, file), source);
    const child = spawn(process.execPath, [file], {
      cwd: scratch,
      env: { ...childEnv(), FQ_BASE_URL: app.url, FQ_EVENT: EVENT },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    servers.push(child);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const [first] = (await Promise.race([
      once(lines, 'line'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`scratch server ${file} exited with ${code}`);
      }),
    ])) as [string];
    return `http://127.0.0.1:${first.replace('listening ', '')}`;
  }

  beforeAll(async () => {
    // `npm pack` runs the package's own `prepack`, which builds dist/ first.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: ROOT,
      env: childEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [
      { filename: string; files: { path: string }[] },
    ];
    tarball = join(work, filename);
    const paths = files.map((f) => f.path);
    // Only the built package, its README and package.json: no sources, tests or app.
    expect(paths.filter((p) => !p.startsWith('dist/')).sort()).toEqual(['README.md', 'package.json']);
    expect(paths).toContain('dist/shared/verifier/index.js');
    expect(paths).toContain('dist/shared/verifier/index.d.ts');
    expect(paths).toContain('dist/shared/client/index.js');
    expect(paths).toContain('dist/shared/client/index.d.ts');
    expect(paths).toContain('dist/infra/index.js');
    expect(paths).toContain('dist/infra/index.d.ts');
    expect(paths).toContain('dist/lambda/join/index.mjs');
    expect(paths.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toBe(false);

    rmSync(scratch, { recursive: true, force: true });
    writeFileSync(join(work, 'package.json'), '{}'); // keeps npm from walking up to this repo
    await run('mkdir', ['-p', scratch]);
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
    );
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        tarball,
        'express@5',
        'ws@8',
        'fastify@5',
        '@middy/core@6',
        ...cdkPeers,
      ],
      {
        cwd: scratch,
        env: childEnv(),
        maxBuffer: 16 * 1024 * 1024,
      },
    );

    app = await startTestApp();
    const put = await call(app, 'PUT', `/v1/admin/events/${EVENT}`, { admin: true, body: { capacity: 5 } });
    expect(put.status).toBe(200);

    backend = await startScratchServer('server.mjs', SERVER);
    fastifyBackend = await startScratchServer('fastify-server.mjs', FASTIFY_SERVER);
  }, 180_000);

  afterAll(async () => {
    for (const server of servers) {
      if (server.exitCode === null) {
        server.kill();
        await once(server, 'exit');
      }
    }
    await app?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('installs with jose as its only dependency and the frameworks as optional peers', () => {
    const installed = JSON.parse(readFileSync(join(scratch, 'node_modules/fairqueue/package.json'), 'utf8'));
    expect(Object.keys(installed.dependencies)).toEqual(['jose']);
    expect(installed.exports['./verifier']).toEqual({
      types: './dist/shared/verifier/index.d.ts',
      default: './dist/shared/verifier/index.js',
    });
    expect(installed.exports['./client']).toEqual({
      types: './dist/shared/client/index.d.ts',
      default: './dist/shared/client/index.js',
    });
    expect(installed.exports['./cdk']).toEqual({
      types: './dist/infra/index.d.ts',
      default: './dist/infra/index.js',
    });
    for (const peer of ['express', 'fastify', '@middy/core', 'aws-cdk-lib', 'constructs']) {
      expect(installed.peerDependenciesMeta[peer]).toEqual({ optional: true });
    }
  });

  test('its declarations type-check in a consumer project (NodeNext resolution, through the exports map)', async () => {
    // No @types/node in the scratch project: `fetch`, `Response` and `URL` come from the DOM lib.
    expect(await typeCheck(scratch, 'typed.ts', TYPED, ['es2023', 'dom'])).toBe('');
  });

  /** A fan joined and admitted: the position token and the session's access token. */
  async function admittedFan(userId: string) {
    const joined = await call(app, 'POST', `/v1/events/${EVENT}/join`, { body: { userId } });
    expect(joined.status).toBe(201);
    const position: string = joined.body.token;
    await app.tick();
    const claimed = await call(app, 'POST', `/v1/events/${EVENT}/admission`, { token: position });
    expect(claimed.status).toBe(200);
    const access: string = claimed.body.accessToken;
    // Same claims and kid, signed by a key fairqueue never published.
    const forged = await signWith(
      await freshEs256Key(),
      { ...headerOf(access), alg: 'ES256' },
      claimsOf(access),
    );
    return { position, access, forged, sessionId: claimed.body.sessionId as string };
  }

  /** What `backend` answers at `/protected` to each token (or to no header): status, body, challenge. */
  async function answersAt(backendUrl: string, tokens: readonly (string | undefined)[]) {
    const answers = [];
    for (const token of tokens) {
      const res = await call({ url: backendUrl }, 'GET', '/protected', token ? { token } : {});
      answers.push({ status: res.status, body: res.body, challenge: res.headers.get('www-authenticate') });
    }
    return answers;
  }

  const CONTRACT_401 = {
    status: 401,
    body: { error: { code: 'invalid_token', message: expect.any(String) } },
    challenge: 'Bearer error="invalid_token"',
  };

  test('expressAccess accepts the access token and answers 401 to a position token and to a forgery', async () => {
    const fan = await admittedFan('alice');
    const [ok, ...denied] = await answersAt(backend, [fan.access, fan.position, fan.forged, undefined]);
    expect({ status: ok?.status, body: ok?.body }).toEqual({
      status: 200,
      body: { sub: 'alice', sid: fan.sessionId, pos: claimsOf(fan.access).pos },
    });
    expect(denied).toEqual([CONTRACT_401, CONTRACT_401, CONTRACT_401]);
  });

  test('fastifyAccess on a real fastify: request.fairqueue holds the claims; the rest get the 401', async () => {
    const fan = await admittedFan('dana');
    const [ok, ...denied] = await answersAt(fastifyBackend, [
      fan.access,
      fan.position,
      fan.forged,
      undefined,
    ]);
    expect({ status: ok?.status, body: ok?.body }).toEqual({
      status: 200,
      body: { sub: 'dana', sid: fan.sessionId, pos: claimsOf(fan.access).pos },
    });
    expect(denied).toEqual([CONTRACT_401, CONTRACT_401, CONTRACT_401]);
    // The hook was added inside a plugin: the routes outside it stay open.
    const open = await call({ url: fastifyBackend }, 'GET', '/open');
    expect({ status: open.status, body: open.body }).toEqual({ status: 200, body: { open: true } });
  });

  test('middyAccess on a real @middy/core, with HTTP API events: context.fairqueue, or an early 401', async () => {
    const fan = await admittedFan('erin');
    writeFileSync(join(scratch, 'middy-handler.mjs'), MIDDY_HANDLER);
    const ran = await run(process.execPath, ['middy-handler.mjs'], {
      cwd: scratch,
      env: {
        ...childEnv(),
        FQ_BASE_URL: app.url,
        FQ_EVENT: EVENT,
        FQ_TOKENS: JSON.stringify([fan.access, fan.position, fan.forged, null]),
      },
    });
    const [ok, ...denied] = JSON.parse(ran.stdout) as {
      statusCode: number;
      headers: Record<string, string>;
      body: string;
    }[];
    expect({ statusCode: ok?.statusCode, body: JSON.parse(ok?.body ?? 'null') }).toEqual({
      statusCode: 200,
      body: { sub: 'erin', sid: fan.sessionId, pos: claimsOf(fan.access).pos },
    });
    expect(
      denied.map((res) => ({
        status: res.statusCode,
        body: JSON.parse(res.body),
        challenge: res.headers['www-authenticate'],
      })),
    ).toEqual([CONTRACT_401, CONTRACT_401, CONTRACT_401]);
  });

  test('checkAccess answers the running session, then session_ended after complete', async () => {
    const joined = await call(app, 'POST', `/v1/events/${EVENT}/join`, { body: { userId: 'bob' } });
    await app.tick();
    const claimed = await call(app, 'POST', `/v1/events/${EVENT}/admission`, { token: joined.body.token });
    expect(claimed.status).toBe(200);
    const access: string = claimed.body.accessToken;

    const running = await call({ url: backend }, 'GET', '/online', { token: access });
    expect(running.body).toEqual({
      outcome: 'running',
      claims: {
        sub: 'bob',
        sid: claimed.body.sessionId,
        pos: claimsOf(access).pos,
        exp: claimed.body.expiresAt,
      },
    });
    const position = await call({ url: backend }, 'GET', '/online', { token: joined.body.token });
    expect(position.body).toEqual({ outcome: 'invalid_token', name: 'AccessTokenRejectedError' });

    const complete = await call(app, 'POST', `/v1/events/${EVENT}/complete`, { token: access });
    expect(complete.status).toBe(204);
    // Past the cached 200's max-age (asked afresh): the waiting room says the session ended.
    const ended = await call({ url: backend }, 'GET', '/online?cache=0', { token: access });
    expect(ended.body).toEqual({ outcome: 'session_ended', name: 'SessionEndedError' });
  });

  test('the client declarations type-check with the ES library alone (no DOM, no Node types)', async () => {
    expect(await typeCheck(scratch, 'typed-client.ts', TYPED_CLIENT, ['es2023'])).toBe('');
  });

  test("in a browser project the DOM's WebSocket, fetch, indexedDB and localStorage fit the client's options", async () => {
    expect(await typeCheck(scratch, 'typed-browser-client.ts', TYPED_BROWSER_CLIENT, ['es2023', 'dom'])).toBe(
      '',
    );
  });

  test('createWaitingRoom in plain Node: join → admitted (the admitter ticks) → claim → complete, over a ws WebSocket', async () => {
    writeFileSync(join(scratch, 'fan.mjs'), FAN);
    const fan = spawn(process.execPath, ['fan.mjs'], {
      cwd: scratch,
      env: { ...childEnv(), FQ_BASE_URL: app.url, FQ_EVENT: EVENT },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const steps: Record<string, unknown>[] = [];
    const lines = createInterface({ input: fan.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => steps.push(JSON.parse(line)));
    const exited = once(fan, 'exit');
    const reached = (step: string) => steps.some((s) => s.step === step);
    let exitCode: number | null = null;
    void exited.then(([code]) => {
      exitCode = code as number;
    });
    // Wait for the place to be live (or the fan to give up), then tick until it hears it is admitted.
    const deadline = Date.now() + 60_000;
    while (!reached('live') && exitCode === null && Date.now() < deadline) await sleep(100);
    while (!reached('admitted') && exitCode === null && Date.now() < deadline) {
      await app.tick();
      await sleep(250);
    }
    const [code] = await exited;
    expect({ code, errors: steps.filter((s) => s.step === 'error') }).toEqual({ code: 0, errors: [] });
    const by = (step: string) => steps.find((s) => s.step === step);
    expect(steps.map((s) => s.step)).toEqual(['joined', 'live', 'admitted', 'claimed', 'completed']);
    expect(by('joined')).toMatchObject({ status: 'waiting', position: expect.any(Number) });
    expect(by('admitted')).toMatchObject({ status: 'admitted', claimBy: expect.any(Number) });
    const grant = (by('claimed') as { grant: { accessToken: string; sessionId: string; expiresAt: number } })
      .grant;
    expect(grant).toEqual({
      accessToken: expect.any(String),
      sessionId: expect.any(String),
      expiresAt: expect.any(Number),
    });
    expect(claimsOf(grant.accessToken)).toMatchObject({ sub: 'carol', sid: grant.sessionId });
    expect(by('completed')).toEqual({
      step: 'completed',
      status: 'completed',
      access: null,
      connection: 'idle',
    });
    // The waiting room agrees: the session ended.
    const ended = await call(app, 'GET', `/v1/events/${EVENT}/access`, { token: grant.accessToken });
    expect(ended.status).toBe(410);
  }, 90_000);

  test('a scratch CDK app with new FairQueue(...) synthesizes, every handler from the bundle the package ships', async () => {
    writeFileSync(join(scratch, 'cdk-app.mjs'), CDK_APP);
    const synth = await run(process.execPath, ['cdk-app.mjs'], {
      cwd: scratch,
      env: childEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
    const { template, bundles } = JSON.parse(synth.stdout) as {
      template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
      bundles: { id: string; runtime: string; handler: string; bundled: boolean }[];
    };
    const resources = Object.values(template.Resources);
    // One function per handler the repository has, each deployed from its ready bundle.
    expect(bundles).toHaveLength(
      readdirSync(join(ROOT, 'functions')).filter((f) => f.endsWith('.ts')).length,
    );
    for (const bundle of bundles) {
      expect(bundle).toEqual({
        id: bundle.id,
        runtime: 'nodejs22.x',
        handler: 'index.handler',
        bundled: true,
      });
    }
    // The props arrived: the stage throttle, the table's removal policy, the alarm topic.
    const stage = resources.find(
      (r) => r.Type === 'AWS::ApiGatewayV2::Stage' && r.Properties.StageName === '$default',
    );
    expect(stage?.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 4000,
      ThrottlingBurstLimit: 8000,
    });
    const table = Object.values(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table') as
      | { DeletionPolicy?: string }
      | undefined;
    expect(table?.DeletionPolicy).toBe('Delete');
    expect(resources.filter((r) => r.Type === 'AWS::CloudWatch::Alarm').length).toBeGreaterThan(0);
    expect(resources.some((r) => r.Type === 'AWS::CloudFront::Distribution')).toBe(true);

    // And a shipped bundle runs as Lambda runs it.
    writeFileSync(join(scratch, 'run-bundle.mjs'), RUN_BUNDLE);
    const ran = await run(process.execPath, ['run-bundle.mjs'], {
      cwd: scratch,
      env: { ...childEnv(), FQ_STORE: 'memory', AWS_REGION: 'eu-west-1' },
    });
    expect(JSON.parse(ran.stdout)).toEqual({
      statusCode: 404,
      body: { error: { code: 'event_not_found', message: expect.any(String) } },
    });
  }, 120_000);

  test('the construct declarations type-check in a CDK app (against the installed aws-cdk-lib)', async () => {
    expect(await typeCheck(scratch, 'typed-cdk.ts', TYPED_CDK, ['es2023'], { skipLibCheck: true })).toBe('');
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
