/**
 * Part 3: offline access-token verification, as a ticketing backend does it
 * from the published JWKS: the public verifier (shared/verifier/verify.ts,
 * `createAccessVerifier` with the JWKS in hand: jose `jwtVerify` over
 * `createLocalJWKSet`, ES256, `typ` fq-access+jwt, issuer and audience pinned)
 * against a bare node:crypto verify of the same token's signature, in the same
 * run. The raw figure checks the signature only; the verifier also parses,
 * selects the key and checks every claim, which is what a backend must do.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import type { Runtime } from '#app/runtime';
import { createAccessVerifier } from '#verifier/verify';
import { cpuMicros, type Figure, figure, nowMs, settle } from './measure.ts';
import { BENCH_EVENT_ID, type VerifyParams } from './params.ts';

export interface VerifyResult {
  readonly params: VerifyParams;
  readonly verifierPath: string;
  readonly figures: {
    readonly verifierPerSecond: Figure;
    readonly verifierCpu: Figure;
    readonly verifierPipelinedPerSecond: Figure;
    readonly rawPerSecond: Figure;
    readonly rawCpu: Figure;
    readonly rawToVerifierRatio: Figure;
    readonly rawToVerifierCpuRatio: Figure;
  };
}

interface Timed {
  readonly wallMs: number;
  readonly cpu: number;
}

async function timed(run: () => Promise<void> | void): Promise<Timed> {
  const cpuStart = cpuMicros();
  const wallStart = nowMs();
  await run();
  return { wallMs: nowMs() - wallStart, cpu: cpuMicros() - cpuStart };
}

export async function measureVerify(runtime: Runtime, params: VerifyParams): Promise<VerifyResult> {
  const nowSec = Math.floor(Date.now() / 1000);
  const token = await runtime.tokens.signAccess({
    eventId: BENCH_EVENT_ID,
    sub: 'anon_bench',
    pos: 1,
    sid: 's_bench',
    nowSec,
    exp: nowSec + 1200,
  });
  // What a backend fetched from GET /.well-known/jwks.json, as plain JSON.
  const jwks = JSON.parse(JSON.stringify(await runtime.tokens.jwks())) as JSONWebKeySet;
  const verifyAccess = createAccessVerifier({ jwks, eventId: BENCH_EVENT_ID, issuer: runtime.config.issuer });
  const verifyWithVerifier = async () => {
    const claims = await verifyAccess(token);
    if (claims.sid !== 's_bench') throw new Error('verifier returned the wrong claims');
  };

  const [header = '', payload = '', signature = ''] = token.split('.');
  const { kid } = decodeProtectedHeader(token);
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error(`no JWKS key for kid ${String(kid)}`);
  const publicKey: KeyObject = createPublicKey({
    key: { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y },
    format: 'jwk',
  });
  const signingInput = Buffer.from(`${header}.${payload}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  const verifyRaw = () =>
    verify('sha256', signingInput, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signatureBytes);
  if (!verifyRaw()) throw new Error('raw verify rejected a valid token');

  for (let i = 0; i < params.warmup; i++) await verifyWithVerifier();
  await settle();
  const sequential = await timed(async () => {
    for (let i = 0; i < params.verifications; i++) await verifyWithVerifier();
  });
  await settle();
  const pipelined = await timed(async () => {
    let next = 0;
    const lane = async () => {
      while (next++ < params.verifications) await verifyWithVerifier();
    };
    await Promise.all(Array.from({ length: params.inFlight }, lane));
  });
  await settle();
  for (let i = 0; i < params.warmup; i++) verifyRaw();
  const raw = await timed(() => {
    for (let i = 0; i < params.verifications; i++) {
      if (!verifyRaw()) throw new Error('raw verify rejected a valid token');
    }
  });

  const perSecond = (t: Timed) => params.verifications / (t.wallMs / 1000);
  const cpuPer = (t: Timed) => t.cpu / params.verifications;
  return {
    params,
    verifierPath: 'shared/verifier/verify.ts createAccessVerifier({ jwks, eventId, issuer })',
    figures: {
      verifierPerSecond: figure(perSecond(sequential), 'verifications/s', {
        digits: 0,
        note: 'public verifier, one at a time (each awaited)',
      }),
      verifierCpu: figure(cpuPer(sequential), 'µs CPU/verification', {
        note: 'public verifier, process CPU incl. libuv pool',
      }),
      verifierPipelinedPerSecond: figure(perSecond(pipelined), 'verifications/s', {
        digits: 0,
        note: `public verifier, ${params.inFlight} in flight (WebCrypto work spreads over the libuv pool)`,
      }),
      rawPerSecond: figure(perSecond(raw), 'verifications/s', {
        digits: 0,
        note: 'node:crypto.verify of the signature only, synchronous, one core',
      }),
      rawCpu: figure(cpuPer(raw), 'µs CPU/verification', { note: 'node:crypto.verify' }),
      rawToVerifierRatio: figure(perSecond(raw) / perSecond(sequential), '×', {
        note: 'raw verifications/s ÷ public verifier verifications/s (one at a time)',
      }),
      rawToVerifierCpuRatio: figure(cpuPer(sequential) / cpuPer(raw), '×', {
        note: 'public verifier CPU ÷ raw verify CPU',
      }),
    },
  };
}
