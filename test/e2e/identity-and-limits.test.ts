import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { call, startTestApp } from '../support/local-app.ts';

const AUDIENCE = 'https://fairqueue.tickets.example';

describe('identity JWT from the ticketing platform', () => {
  let app: LocalApp;
  let jwksServer: Server;
  let sign: (sub: string, opts?: { issuer?: string; audience?: string | null }) => Promise<string>;
  let signWithOtherKey: (sub: string) => Promise<string>;

  beforeAll(async () => {
    const platform = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(platform.publicKey)), kid: 'platform-1', alg: 'RS256' };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    const make = (
      key: CryptoKey,
      sub: string,
      issuer = 'https://tickets.example',
      audience: string | null = AUDIENCE,
    ) => {
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'platform-1' })
        .setIssuer(issuer)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('5m');
      return (audience === null ? jwt : jwt.setAudience(audience)).sign(key);
    };
    sign = (sub, opts) => make(platform.privateKey, sub, opts?.issuer, opts?.audience);
    signWithOtherKey = (sub) => make(other.privateKey, sub);
    app = await startTestApp({
      env: {
        FQ_IDENTITY_ISSUER: 'https://tickets.example',
        FQ_IDENTITY_JWKS_URL: jwksUrl,
        FQ_IDENTITY_AUDIENCE: AUDIENCE,
      },
    });
    await call(app, 'PUT', '/v1/admin/events/id-ev', { admin: true, body: { capacity: 5 } });
  });
  afterAll(async () => {
    await app.close();
    jwksServer.close();
  });

  test('the identity token decides the user; userId in the body is ignored', async () => {
    const token = await sign('user-42');
    const first = await call(app, 'POST', '/v1/events/id-ev/join', {
      token,
      body: { userId: 'someone-else' },
    });
    expect(first.status).toBe(201);
    const again = await call(app, 'POST', '/v1/events/id-ev/join', {
      token: await sign('user-42'),
      body: {},
    });
    expect(again.status).toBe(200);
    expect(again.body.position).toBe(first.body.position);
    const payload = JSON.parse(
      Buffer.from(String(first.body.token).split('.')[1] ?? '', 'base64url').toString(),
    );
    expect(payload.sub).toBe('user-42');
  });

  test.each([
    ['no token', async () => undefined],
    ['another key', async () => signWithOtherKey('user-1')],
    ['another issuer', async () => sign('user-1', { issuer: 'https://evil.example' })],
    // Regression: tokens the platform issued to its other services used to join.
    ['another audience', async () => sign('user-1', { audience: 'https://tickets.example/shop' })],
    ['no audience', async () => sign('user-1', { audience: null })],
    // Regression: a sub skipped the userId rules although it becomes a store key and a claim.
    ['a sub with a NUL', async () => sign('user\u00001')],
    ['a sub with a newline', async () => sign('user\n1')],
    ['a sub with a #', async () => sign('user#1')],
    ['a sub with a space', async () => sign('user 1')],
    ['a sub of 129 characters', async () => sign('u'.repeat(129))],
    ['garbage', async () => 'not.a.jwt'],
  ])('%s is 401 invalid_token and takes no place', async (_name, make) => {
    const before = await call(app, 'GET', '/v1/events/id-ev');
    const token = await make();
    const res = await call(app, 'POST', '/v1/events/id-ev/join', {
      ...(token ? { token } : {}),
      body: { userId: 'x' },
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await call(app, 'GET', '/v1/events/id-ev')).body.issued).toBe(before.body.issued);
  });
});

describe('identity configuration', () => {
  test('an identity issuer without an audience fails at start, naming the variable', async () => {
    await expect(
      startTestApp({
        env: {
          FQ_IDENTITY_ISSUER: 'https://tickets.example',
          FQ_IDENTITY_JWKS_URL: 'https://tickets.example/jwks.json',
        },
      }),
    ).rejects.toThrow(/FQ_IDENTITY_AUDIENCE is required/);
  });
});

describe('identity provider down', () => {
  let app: LocalApp;
  beforeAll(async () => {
    // Nothing listens on this port: the platform's JWKS cannot be fetched.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    app = await startTestApp({
      env: {
        FQ_IDENTITY_ISSUER: 'https://tickets.example',
        FQ_IDENTITY_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
        FQ_IDENTITY_AUDIENCE: AUDIENCE,
      },
    });
    await call(app, 'PUT', '/v1/admin/events/idp', { admin: true, body: { capacity: 5 } });
  });
  afterAll(() => app.close());

  test('is a 503 with Retry-After, not a 401 for the fan, and takes no place', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .setIssuer('https://tickets.example')
      .setSubject('u')
      .setExpirationTime('5m')
      .sign(privateKey);
    const res = await call(app, 'POST', '/v1/events/idp/join', { token, body: {} });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(app, 'GET', '/v1/events/idp')).body.issued).toBe(0);
  });
});

describe('per-address join limit', () => {
  let app: LocalApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { FQ_JOIN_RATE_LIMIT_PER_MINUTE: '3' } });
    await call(app, 'PUT', '/v1/admin/events/rl', { admin: true, body: { capacity: 5 } });
  });
  afterAll(() => app.close());

  test('over the limit is 429 rate_limited with Retry-After, and takes no place', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call(app, 'POST', '/v1/events/rl/join', { body: {} })).status);
    expect(statuses).toEqual([201, 201, 201]);
    const limited = await call(app, 'POST', '/v1/events/rl/join', { body: {} });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // Sliding: the hits of this minute fade out over the next one.
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect((await call(app, 'GET', '/v1/events/rl')).body.issued).toBe(3);
  });
});
