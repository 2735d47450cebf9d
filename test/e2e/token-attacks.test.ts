/**
 * Forged, tampered, crossed and expired tokens against the routes that take one. Every
 * row must answer 401 `invalid_token` with the one generic message (the detail goes to
 * logs only) and change nothing: a forged admission creates no session, a forged
 * complete ends none. A valid access token also verifies offline against the JWKS the
 * way a ticketing backend checks it, and a position token never does.
 */
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { TestClock } from '../support/clock.ts';
import {
  type Claims,
  claimsOf,
  freshEs256Key,
  freshEs384Key,
  headerOf,
  positionClaims,
  publicKeyAsSecrets,
  type RealSigningKey,
  realSigningKey,
  signWith,
  unsecuredToken,
  withClaims,
  withHeader,
  withSignature,
} from '../support/forge.ts';
import { call, startTestApp } from '../support/local-app.ts';

const A = 'alpha';
const B = 'bravo';
const POSITION_TYP = 'fq-position+jwt';
const ACCESS_TYP = 'fq-access+jwt';
const UNKNOWN_KID = '2026-11-22-0123456789ab';

let app: LocalApp;
const clock = new TestClock();

/** What the rows forge from. */
interface Ctx {
  /** Bob: admitted at A, has not claimed yet; the place a forged admission would steal. */
  readonly bobPosition: string;
  /** Alice: claimed at A, session active. */
  readonly alicePosition: string;
  readonly aliceAccess: string;
  readonly aliceSessionId: string;
  /** Valid tokens of event B. */
  readonly bPosition: string;
  readonly bAccess: string;
  readonly real: RealSigningKey;
  readonly hmacSecrets: Record<string, Uint8Array>;
}
let ctx: Ctx;
let genericMessage = '';

async function join(eventId: string, userId: string): Promise<string> {
  const res = await call(app, 'POST', `/v1/events/${eventId}/join`, { body: { userId } });
  expect(res.status).toBe(201);
  return res.body.token;
}

async function claim(eventId: string, token: string) {
  const res = await call(app, 'POST', `/v1/events/${eventId}/admission`, { token });
  expect(res.status).toBe(200);
  return res.body as { accessToken: string; sessionId: string; expiresAt: number };
}

async function snapshot() {
  const stats = await Promise.all(
    [A, B].map(async (id) => (await call(app, 'GET', `/v1/admin/events/${id}/stats`, { admin: true })).body),
  );
  const views = await Promise.all(
    [A, B].map(async (id) => (await call(app, 'GET', `/v1/events/${id}`)).body),
  );
  return { stats, views };
}

async function expectInvalidToken(method: string, path: string, headers: Record<string, string>) {
  const before = await snapshot();
  const res = await call(app, method, path, { headers });
  expect(res.status).toBe(401);
  expect(res.body).toStrictEqual({ error: { code: 'invalid_token', message: genericMessage } });
  expect(await snapshot()).toEqual(before);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const nowSec = () => clock.sec;

beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
  for (const id of [A, B]) {
    const put = await call(app, 'PUT', `/v1/admin/events/${id}`, { admin: true, body: { capacity: 5 } });
    expect(put.status).toBe(200);
  }
  const alicePosition = await join(A, 'alice');
  const bobPosition = await join(A, 'bob');
  await join(A, 'carol');
  const bPosition = await join(B, 'dave');
  await app.tick();
  clock.advance(1);
  const alice = await claim(A, alicePosition);
  const dave = await claim(B, bPosition);
  const real = await realSigningKey(app.runtime.keyStore);
  ctx = {
    bobPosition,
    alicePosition,
    aliceAccess: alice.accessToken,
    aliceSessionId: alice.sessionId,
    bPosition,
    bAccess: dave.accessToken,
    real,
    hmacSecrets: await publicKeyAsSecrets(real.publicJwk),
  };
  const missing = await call(app, 'GET', `/v1/events/${A}/status`);
  expect(missing.status).toBe(401);
  genericMessage = missing.body.error.message;
  expect(genericMessage).toEqual(expect.any(String));
  const stats = await call(app, 'GET', `/v1/admin/events/${A}/stats`, { admin: true });
  expect(stats.body).toMatchObject({ issued: 3, servingPosition: 3, active: 1, admittedUnclaimed: 2 });
});
afterAll(() => app.close());

type Forge = (c: Ctx) => Promise<string> | string;

/** Claims signed with fairqueue's own key under a header of our choosing. */
const realSigned = (c: Ctx, header: Record<string, unknown>, claims: Claims) =>
  signWith(c.real.key, { alg: 'ES256', kid: c.real.kid, ...header }, claims);

const hmacRows = (template: (c: Ctx) => string): [string, Forge][] =>
  [
    'the JWKS entry as JSON',
    'the public JWK as JSON',
    'the SPKI PEM',
    'the x coordinate (base64url text)',
    'the uncompressed point bytes',
  ].map((name) => [
    `HS256 signed with ${name} as the secret`,
    (c) => {
      const token = template(c);
      const secret = c.hmacSecrets[name];
      if (!secret) throw new Error(`no secret ${name}`);
      return signWith(secret, { ...headerOf(token), alg: 'HS256' }, claimsOf(token));
    },
  ]);

/** Forgeries that apply to either kind of token, built from a valid one of that kind. */
function signatureAttacks(template: (c: Ctx) => string): [string, Forge][] {
  return [
    [
      'alg none with the real kid and typ',
      (c) => unsecuredToken(headerOf(template(c)), claimsOf(template(c))),
    ],
    ['alg none, bare header', (c) => unsecuredToken({}, claimsOf(template(c)))],
    ['alg none, keeping the ES256 signature', (c) => withHeader(template(c), (h) => ({ ...h, alg: 'none' }))],
    [
      'alg "NONE", empty signature',
      (c) =>
        withSignature(
          withHeader(template(c), (h) => ({ ...h, alg: 'NONE' })),
          '',
        ),
    ],
    ...hmacRows(template),
    [
      'unknown kid, validly signed by a fresh ES256 key',
      async (c) =>
        signWith(
          await freshEs256Key(),
          { ...headerOf(template(c)), alg: 'ES256', kid: UNKNOWN_KID },
          claimsOf(template(c)),
        ),
    ],
    [
      'the real kid, signed by a fresh ES256 key',
      async (c) =>
        signWith(await freshEs256Key(), { ...headerOf(template(c)), alg: 'ES256' }, claimsOf(template(c))),
    ],
    [
      'no kid, signed by a fresh ES256 key',
      async (c) => {
        const { kid: _kid, ...header } = headerOf(template(c));
        return signWith(await freshEs256Key(), { ...header, alg: 'ES256' }, claimsOf(template(c)));
      },
    ],
    [
      'no kid, signed by the real key (every header carries kid)',
      async (c) => {
        const { kid: _kid, ...header } = headerOf(template(c));
        return signWith(c.real.key, { ...header, alg: 'ES256' }, claimsOf(template(c)));
      },
    ],
    [
      'ES384 by a fresh P-384 key under the real kid',
      async (c) =>
        signWith(await freshEs384Key(), { ...headerOf(template(c)), alg: 'ES384' }, claimsOf(template(c))),
    ],
    [
      'an embedded jwk header with the attacker key',
      async (c) => {
        const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
        const { kid: _kid, ...header } = headerOf(template(c));
        return signWith(
          privateKey,
          { ...header, alg: 'ES256', jwk: await exportJWK(publicKey) },
          claimsOf(template(c)),
        );
      },
    ],
    [
      'a jku header to an attacker JWKS with an unknown kid',
      async (c) =>
        signWith(
          await freshEs256Key(),
          {
            ...headerOf(template(c)),
            alg: 'ES256',
            kid: UNKNOWN_KID,
            jku: 'https://attacker.example/jwks.json',
          },
          claimsOf(template(c)),
        ),
    ],
    [
      'the signature of another valid token',
      (c) => withSignature(template(c), c.alicePosition.split('.')[2] ?? ''),
    ],
    ['no signature', (c) => withSignature(template(c), '')],
    [
      'a truncated signature',
      (c) => withSignature(template(c), (template(c).split('.')[2] ?? '').slice(0, 40)),
    ],
    [
      'one flipped signature character',
      (c) => {
        const sig = template(c).split('.')[2] ?? '';
        return withSignature(
          template(c),
          `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`,
        );
      },
    ],
    [
      'tampered exp (a day later), signature kept',
      (c) => withClaims(template(c), (p) => ({ ...p, exp: Number(p.exp) + 86_400 })),
    ],
    ['tampered sub, signature kept', (c) => withClaims(template(c), (p) => ({ ...p, sub: 'mallory' }))],
    ['tampered aud, signature kept', (c) => withClaims(template(c), (p) => ({ ...p, aud: B }))],
    ['tampered header typ, signature kept', (c) => withHeader(template(c), (h) => ({ ...h, typ: 'JWT' }))],
    ['a 5-part (JWE-shaped) token', (c) => `${template(c)}.AAAA.BBBB`],
    ['two tokens glued together', (c) => `${template(c)}${template(c)}`],
  ];
}

/** Well-signed position claims with one thing wrong. */
function positionClaimAttacks(): [string, Forge][] {
  const bob = (c: Ctx) => claimsOf(c.bobPosition);
  const typ = { typ: POSITION_TYP };
  return [
    [
      'tampered pos (takes the place ahead), signature kept',
      (c) => withClaims(c.bobPosition, (p) => ({ ...p, pos: 1 })),
    ],
    [
      'tampered pos (a later place), signature kept',
      (c) => withClaims(c.bobPosition, (p) => ({ ...p, pos: 3 })),
    ],
    ['a valid position token of another event', (c) => c.bPosition],
    ['a valid access token used as a position token', (c) => c.aliceAccess],
    ['a valid access token of another event', (c) => c.bAccess],
    ['real key, typ JWT', (c) => realSigned(c, { typ: 'JWT' }, bob(c))],
    ['real key, typ fq-access+jwt', (c) => realSigned(c, { typ: ACCESS_TYP }, bob(c))],
    ['real key, typ at+jwt', (c) => realSigned(c, { typ: 'at+jwt' }, bob(c))],
    ['real key, no typ', (c) => realSigned(c, {}, bob(c))],
    ['real key, iss evil', (c) => realSigned(c, typ, { ...bob(c), iss: 'evil' })],
    ['real key, iss FAIRQUEUE', (c) => realSigned(c, typ, { ...bob(c), iss: 'FAIRQUEUE' })],
    ['real key, iss with a trailing space', (c) => realSigned(c, typ, { ...bob(c), iss: 'fairqueue ' })],
    ['real key, no iss', (c) => realSigned(c, typ, { ...bob(c), iss: undefined })],
    ['real key, aud of another event', (c) => realSigned(c, typ, { ...bob(c), aud: B })],
    ['real key, no aud', (c) => realSigned(c, typ, { ...bob(c), aud: undefined })],
    ['real key, exp a second ago', (c) => realSigned(c, typ, { ...bob(c), exp: nowSec() - 1 })],
    ['real key, exp now', (c) => realSigned(c, typ, { ...bob(c), exp: nowSec() })],
    ['real key, nbf in an hour', (c) => realSigned(c, typ, { ...bob(c), nbf: nowSec() + 3600 })],
    ['real key, no exp', (c) => realSigned(c, typ, { ...bob(c), exp: undefined })],
    ['real key, exp as a string', (c) => realSigned(c, typ, { ...bob(c), exp: String(nowSec() + 600) })],
    ['real key, no sub', (c) => realSigned(c, typ, { ...bob(c), sub: undefined })],
    ['real key, no jti', (c) => realSigned(c, typ, { ...bob(c), jti: undefined })],
    ['real key, no iat', (c) => realSigned(c, typ, { ...bob(c), iat: undefined })],
    ['real key, pos 0', (c) => realSigned(c, typ, { ...bob(c), pos: 0 })],
    ['real key, pos -1', (c) => realSigned(c, typ, { ...bob(c), pos: -1 })],
    ['real key, pos 1.5', (c) => realSigned(c, typ, { ...bob(c), pos: 1.5 })],
    ['real key, pos "2"', (c) => realSigned(c, typ, { ...bob(c), pos: '2' })],
    ['real key, pos null', (c) => realSigned(c, typ, { ...bob(c), pos: null })],
    ['real key, pos 2^53', (c) => realSigned(c, typ, { ...bob(c), pos: 2 ** 53 })],
    ['real key, no pos', (c) => realSigned(c, typ, { ...bob(c), pos: undefined })],
    [
      'unknown kid, freshly signed claims of a new place',
      async (c) =>
        signWith(
          await freshEs256Key(),
          { alg: 'ES256', typ: POSITION_TYP, kid: UNKNOWN_KID },
          positionClaims({
            eventId: A,
            pos: 2,
            nowSec: nowSec(),
            sub: claimsOf(c.bobPosition).sub as string,
          }),
        ),
    ],
  ];
}

/** Well-signed access claims with one thing wrong. */
function accessClaimAttacks(): [string, Forge][] {
  const alice = (c: Ctx) => claimsOf(c.aliceAccess);
  const typ = { typ: ACCESS_TYP };
  return [
    ['tampered sid, signature kept', (c) => withClaims(c.aliceAccess, (p) => ({ ...p, sid: 's_forged' }))],
    ['tampered pos, signature kept', (c) => withClaims(c.aliceAccess, (p) => ({ ...p, pos: 2 }))],
    ['a valid access token of another event', (c) => c.bAccess],
    ['a valid position token used as an access token', (c) => c.alicePosition],
    ['a valid position token of another event', (c) => c.bPosition],
    ['real key, typ fq-position+jwt (with sid)', (c) => realSigned(c, { typ: POSITION_TYP }, alice(c))],
    ['real key, typ JWT', (c) => realSigned(c, { typ: 'JWT' }, alice(c))],
    ['real key, no typ', (c) => realSigned(c, {}, alice(c))],
    ['real key, iss evil', (c) => realSigned(c, typ, { ...alice(c), iss: 'evil' })],
    ['real key, aud of another event', (c) => realSigned(c, typ, { ...alice(c), aud: B })],
    ['real key, exp a second ago', (c) => realSigned(c, typ, { ...alice(c), exp: nowSec() - 1 })],
    ['real key, no exp', (c) => realSigned(c, typ, { ...alice(c), exp: undefined })],
    ['real key, no sid', (c) => realSigned(c, typ, { ...alice(c), sid: undefined })],
    ['real key, empty sid', (c) => realSigned(c, typ, { ...alice(c), sid: '' })],
    ['real key, sid a number', (c) => realSigned(c, typ, { ...alice(c), sid: 1 })],
    ['real key, pos 0', (c) => realSigned(c, typ, { ...alice(c), pos: 0 })],
    ['real key, no jti', (c) => realSigned(c, typ, { ...alice(c), jti: undefined })],
  ];
}

/** Authorization headers that carry no usable token, whatever the route. */
const HEADER_ATTACKS: [string, (c: Ctx, good: string) => Record<string, string>][] = [
  ['no Authorization', () => ({})],
  ['Basic credentials', () => ({ authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` })],
  ['Basic with the valid token', (_, good) => ({ authorization: `Basic ${good}` })],
  ['the valid token without a scheme', (_, good) => ({ authorization: good })],
  ['Token scheme with the valid token', (_, good) => ({ authorization: `Token ${good}` })],
  ['Bearer with nothing', () => ({ authorization: 'Bearer' })],
  ['Bearer with a quoted token', (_, good) => ({ authorization: `Bearer "${good}"` })],
  ['Bearer with the valid token and more', (_, good) => ({ authorization: `Bearer ${good} extra` })],
  ['Bearer garbage', () => ({ authorization: 'Bearer garbage' })],
  ['Bearer a.b.c', () => ({ authorization: 'Bearer a.b.c' })],
  ['Bearer ...', () => ({ authorization: 'Bearer ...' })],
  ['Bearer with base64 that is not JSON', () => ({ authorization: 'Bearer eyJub3Q.anNvbg.AAAA' })],
  ['Bearer with 8 KiB of junk', () => ({ authorization: `Bearer ${'A'.repeat(8192)}` })],
  ['Bearer with non-ASCII', () => ({ authorization: 'Bearer %E2%82%AC.%E2%82%AC.%E2%82%AC' })],
  ['the valid token in a cookie', (_, good) => ({ cookie: `token=${good}` })],
  ['the valid token in another header', (_, good) => ({ 'x-token': good })],
];

// Controls: the forging paths themselves produce tokens the service accepts when nothing is
// wrong, so each 401 below is owed to the one thing the row changes.
describe('controls', () => {
  test.each<[string, Forge]>([
    ['the valid token', (c) => c.bobPosition],
    ['claims re-encoded unchanged, signature kept', (c) => withClaims(c.bobPosition, (p) => p)],
    ['header re-encoded unchanged, signature kept', (c) => withHeader(c.bobPosition, (h) => h)],
    [
      'the same claims freshly signed with the real key',
      (c) => realSigned(c, { typ: POSITION_TYP }, claimsOf(c.bobPosition)),
    ],
    [
      'new claims for the same place signed with the real key',
      (c) =>
        realSigned(
          c,
          { typ: POSITION_TYP },
          positionClaims({ eventId: A, pos: 2, nowSec: nowSec(), sub: 'bob', ttlSeconds: 60 }),
        ),
    ],
  ])('status accepts %s', async (_, forge) => {
    const res = await call(app, 'GET', `/v1/events/${A}/status`, { token: await forge(ctx) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'admitted', position: 2 });
  });

  test('HMAC forgeries really are HS256 and alg-none forgeries really are unsigned', async () => {
    const [hmac] = hmacRows((c) => c.bobPosition);
    expect(hmac).toBeDefined();
    const token = await hmac?.[1](ctx);
    expect(headerOf(token ?? '')).toMatchObject({ alg: 'HS256', kid: ctx.real.kid, typ: POSITION_TYP });
    const none = unsecuredToken(headerOf(ctx.bobPosition), claimsOf(ctx.bobPosition));
    expect(headerOf(none)).toMatchObject({ alg: 'none', kid: ctx.real.kid });
    expect(none.endsWith('.')).toBe(true);
  });
});

const POSITION_ROUTES = [
  { route: 'status', method: 'GET', path: `/v1/events/${A}/status` },
  { route: 'admission', method: 'POST', path: `/v1/events/${A}/admission` },
  // A forged leave would give bob's admitted slot back (admittedUnclaimed drops in the snapshot).
  { route: 'leave', method: 'DELETE', path: `/v1/events/${A}/place` },
] as const;

describe.each(POSITION_ROUTES)('$route with a forged position token', ({ method, path }) => {
  test.each([...signatureAttacks((c) => c.bobPosition), ...positionClaimAttacks()])(
    '%s -> 401 invalid_token',
    async (_, forge) => {
      await expectInvalidToken(method, path, bearer(await forge(ctx)));
    },
  );

  test.each(HEADER_ATTACKS)('%s -> 401 invalid_token', async (_, headers) => {
    await expectInvalidToken(method, path, headers(ctx, ctx.bobPosition));
  });
});

describe('complete with a forged access token', () => {
  const path = `/v1/events/${A}/complete`;
  test.each([...signatureAttacks((c) => c.aliceAccess), ...accessClaimAttacks()])(
    '%s -> 401 invalid_token',
    async (_, forge) => {
      await expectInvalidToken('POST', path, bearer(await forge(ctx)));
    },
  );

  test.each(HEADER_ATTACKS)('%s -> 401 invalid_token', async (_, headers) => {
    await expectInvalidToken('POST', path, headers(ctx, ctx.aliceAccess));
  });
});

// The online access check: a forgery gets 401 there too, never 200 (let in) nor 410 (told the
// real holder's session ended). It changes nothing, and alice's session still checks as running.
describe('the access check with a forged access token', () => {
  const path = `/v1/events/${A}/access`;
  const stillRunning = async () => {
    const res = await call(app, 'GET', path, { token: ctx.aliceAccess });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sub: 'alice', sid: ctx.aliceSessionId });
  };

  test.each([...signatureAttacks((c) => c.aliceAccess), ...accessClaimAttacks()])(
    '%s -> 401 invalid_token',
    async (_, forge) => {
      await expectInvalidToken('GET', path, bearer(await forge(ctx)));
      await stillRunning();
    },
  );

  test.each(HEADER_ATTACKS)('%s -> 401 invalid_token', async (_, headers) => {
    await expectInvalidToken('GET', path, headers(ctx, ctx.aliceAccess));
  });

  test('real key, a later exp than the session ends (a longer window) -> 401 invalid_token', async () => {
    const alice = claimsOf(ctx.aliceAccess);
    await expectInvalidToken(
      'GET',
      path,
      bearer(await realSigned(ctx, { typ: ACCESS_TYP }, { ...alice, exp: Number(alice.exp) + 600 })),
    );
  });
});

describe('offline verification by a ticketing backend', () => {
  let jwks: JSONWebKeySet;
  const options = () => ({
    algorithms: ['ES256'],
    typ: ACCESS_TYP,
    issuer: 'fairqueue',
    audience: A,
    currentDate: new Date(clock.ms),
  });

  beforeAll(async () => {
    const res = await call(app, 'GET', '/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    jwks = res.body;
  });

  test('the JWKS holds only public ES256 keys, each with a kid', () => {
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(key).toStrictEqual({
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: expect.any(String),
        alg: 'ES256',
        use: 'sig',
      });
    }
    expect(jwks.keys.map((k) => k.kid)).toContain(ctx.real.kid);
  });

  test('a valid access token verifies with typ, issuer and audience pinned', async () => {
    const { payload, protectedHeader } = await jwtVerify(ctx.aliceAccess, createLocalJWKSet(jwks), options());
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: ACCESS_TYP, kid: ctx.real.kid });
    expect(payload).toMatchObject({
      iss: 'fairqueue',
      aud: A,
      sub: 'alice',
      pos: 1,
      sid: ctx.aliceSessionId,
    });
  });

  test.each<[string, (c: Ctx) => string, Record<string, unknown>, new (...args: never[]) => Error]>([
    ['a position token', (c) => c.bobPosition, {}, joseErrors.JWTClaimValidationFailed],
    ['a position token of another event', (c) => c.bPosition, {}, joseErrors.JWTClaimValidationFailed],
    [
      'the access token checked for another event',
      (c) => c.aliceAccess,
      { audience: B },
      joseErrors.JWTClaimValidationFailed,
    ],
    ['another event’s access token', (c) => c.bAccess, {}, joseErrors.JWTClaimValidationFailed],
    [
      'a tampered access token',
      (c) => withClaims(c.aliceAccess, (p) => ({ ...p, sid: 's_x' })),
      {},
      joseErrors.JWSSignatureVerificationFailed,
    ],
  ])('%s fails the same check', async (_, token, extra, error) => {
    await expect(
      jwtVerify(token(ctx), createLocalJWKSet(jwks), { ...options(), ...extra }),
    ).rejects.toBeInstanceOf(error);
  });

  test('control: the access forging path with nothing wrong verifies too', async () => {
    const resigned = await realSigned(ctx, { typ: ACCESS_TYP }, claimsOf(ctx.aliceAccess));
    await expect(jwtVerify(resigned, createLocalJWKSet(jwks), options())).resolves.toBeDefined();
    const reencoded = withClaims(ctx.aliceAccess, (p) => p);
    await expect(jwtVerify(reencoded, createLocalJWKSet(jwks), options())).resolves.toBeDefined();
  });

  test('an access token signed by an unknown key fails the same check', async () => {
    const forged = await signWith(
      await freshEs256Key(),
      { ...headerOf(ctx.aliceAccess), alg: 'ES256', kid: UNKNOWN_KID },
      claimsOf(ctx.aliceAccess),
    );
    await expect(jwtVerify(forged, createLocalJWKSet(jwks), options())).rejects.toBeInstanceOf(
      joseErrors.JWKSNoMatchingKey,
    );
  });

  test('an access token past its exp fails the same check', async () => {
    const exp = Number(claimsOf(ctx.aliceAccess).exp);
    await expect(
      jwtVerify(ctx.aliceAccess, createLocalJWKSet(jwks), {
        ...options(),
        currentDate: new Date(exp * 1000),
      }),
    ).rejects.toBeInstanceOf(joseErrors.JWTExpired);
  });
});

describe('after every forgery above, the real holders are unaffected', () => {
  test('bob (admitted) still claims his own place: no forged admission took it', async () => {
    const before = (await call(app, 'GET', `/v1/admin/events/${A}/stats`, { admin: true })).body;
    expect(before).toMatchObject({ active: 1, admittedUnclaimed: 2, completed: 0 });
    const bob = await claim(A, ctx.bobPosition);
    expect(claimsOf(bob.accessToken)).toMatchObject({ sub: 'bob', pos: 2, aud: A });
    const after = (await call(app, 'GET', `/v1/admin/events/${A}/stats`, { admin: true })).body;
    expect(after).toMatchObject({ active: 2, admittedUnclaimed: 1 });
  });

  test('alice (active) still completes her own session: no forged complete ended it', async () => {
    const res = await call(app, 'POST', `/v1/events/${A}/complete`, { token: ctx.aliceAccess });
    expect(res.status).toBe(204);
    const stats = (await call(app, 'GET', `/v1/admin/events/${A}/stats`, { admin: true })).body;
    expect(stats).toMatchObject({ completed: 1, active: 1 });
  });
});

describe('expired tokens (the test clock moves past exp)', () => {
  const C = 'charlie';
  const TTL = 5;
  let position = '';
  let access = '';
  let refreshed = '';

  beforeAll(async () => {
    const put = await call(app, 'PUT', `/v1/admin/events/${C}`, {
      admin: true,
      body: { capacity: 5, positionTtlSeconds: TTL, purchaseWindowSeconds: TTL, claimWindowSeconds: 60 },
    });
    expect(put.status).toBe(200);
    position = await join(C, 'xavier');
    const yvonne = await join(C, 'yvonne');
    await app.tick();
    clock.advance(1);
    access = (await claim(C, yvonne)).accessToken;
    expect(Number(claimsOf(position).exp)).toBe(clock.sec - 1 + TTL);
    expect(Number(claimsOf(access).exp)).toBe(clock.sec + TTL);
    clock.advance(TTL - 2);
    // One second before exp the token still works and a status answer refreshes it.
    const status = await call(app, 'GET', `/v1/events/${C}/status`, { token: position });
    expect(status.status).toBe(200);
    refreshed = status.body.token;
    clock.advance(1);
  });

  async function expectExpired(method: string, path: string, token: string) {
    const statsBefore = (await call(app, 'GET', `/v1/admin/events/${C}/stats`, { admin: true })).body;
    const res = await call(app, method, path, { token });
    expect(res.status).toBe(401);
    expect(res.body).toStrictEqual({ error: { code: 'invalid_token', message: genericMessage } });
    expect((await call(app, 'GET', `/v1/admin/events/${C}/stats`, { admin: true })).body).toEqual(
      statsBefore,
    );
  }

  test.each([
    ['status', 'GET', `/v1/events/${C}/status`],
    ['admission', 'POST', `/v1/events/${C}/admission`],
    ['leave', 'DELETE', `/v1/events/${C}/place`],
  ])('a position token at its exp -> %s 401 invalid_token', async (_, method, path) => {
    expect(clock.sec).toBe(Number(claimsOf(position).exp));
    await expectExpired(method, path, position);
  });

  test('the refreshed token (same pos, later exp) still works', async () => {
    expect(claimsOf(refreshed).pos).toBe(claimsOf(position).pos);
    const res = await call(app, 'GET', `/v1/events/${C}/status`, { token: refreshed });
    expect(res.status).toBe(200);
  });

  test('an access token past its exp -> complete 401 invalid_token', async () => {
    clock.advance(2);
    expect(clock.sec).toBeGreaterThan(Number(claimsOf(access).exp));
    await expectExpired('POST', `/v1/events/${C}/complete`, access);
  });

  // The one route where a genuine token past its exp is not a token problem: the check is asked
  // exactly whether the session still runs, and past the window it does not.
  test('the same access token past its exp -> the access check 410 session_ended', async () => {
    expect(clock.sec).toBeGreaterThan(Number(claimsOf(access).exp));
    const res = await call(app, 'GET', `/v1/events/${C}/access`, { token: access });
    expect(res.status).toBe(410);
    expect(res.body).toStrictEqual({ error: { code: 'session_ended', message: expect.any(String) } });
  });

  test('a position token long past its exp (an hour) -> status 401 invalid_token', async () => {
    clock.advance(3600);
    await expectExpired('GET', `/v1/events/${C}/status`, refreshed);
  });
});
