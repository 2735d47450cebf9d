/**
 * Part 2: CPU per join, in process. The real join handler (functions/join.ts,
 * middy stack, zod, waiting room, token service) over a runtime with the
 * embedded store, called with API Gateway v2 events; beside it, in the same
 * run, a bare node:crypto ES256 sign of a real position token's signing input,
 * which is the floor no join can go under. The ratio says how much of a join is
 * the signature and how much everything else.
 */
import { createPrivateKey, type KeyObject, randomUUID, sign, webcrypto } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { decodeProtectedHeader } from 'jose';
import { readConfig } from '#app/config';
import { buildRuntime, type Runtime, setRuntime } from '#app/runtime';
import { activeKey } from '#domain/keyring';
import { POSITION_TYP } from '#domain/tokens';
import { lambdaContext } from '#local/gateway';
import { cpuMicros, type Figure, figure, nowMs, settle, tempDir } from './measure.ts';
import { BENCH_EVENT_ID, type CpuPerJoinParams } from './params.ts';

/** A runtime like the local app's: embedded store, a fresh key ring in a temp folder, no rate limit. */
export async function inProcessRuntime(): Promise<Runtime> {
  const config = readConfig({
    FQ_STORE: 'memory',
    FQ_KEY_DIR: tempDir('fq-bench-keys-'),
    FQ_JOIN_RATE_LIMIT_PER_MINUTE: '0',
  });
  const runtime = buildRuntime(config);
  setRuntime(runtime);
  await runtime.tokens.jwks();
  await runtime.room.putEvent(BENCH_EVENT_ID, { capacity: 1_000, admitPerMinute: null });
  return runtime;
}

/** The event API Gateway (and the local gateway) builds for `POST /v1/events/{eventId}/join`. */
function joinEvent(body: string): APIGatewayProxyEventV2 {
  const path = `/v1/events/${BENCH_EVENT_ID}/join`;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /v1/events/{eventId}/join',
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      host: '127.0.0.1',
      'user-agent': 'fairqueue-bench',
    },
    pathParameters: { eventId: BENCH_EVENT_ID },
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: '127.0.0.1',
      domainPrefix: 'bench',
      http: {
        method: 'POST',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'fairqueue-bench',
      },
      requestId: randomUUID(),
      routeKey: 'POST /v1/events/{eventId}/join',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    body,
    isBase64Encoded: false,
  };
}

function joinEvents(count: number, anonymousShare: number, userPrefix: string): APIGatewayProxyEventV2[] {
  return Array.from({ length: count }, (_, i) => {
    const anonymous = Math.floor((i + 1) * anonymousShare) > Math.floor(i * anonymousShare);
    return joinEvent(anonymous ? '{}' : JSON.stringify({ userId: `${userPrefix}-${i}` }));
  });
}

function tokenOf(body: string | undefined): string {
  const parsed: unknown = JSON.parse(body ?? '{}');
  const token =
    typeof parsed === 'object' && parsed !== null ? (parsed as { token?: unknown }).token : undefined;
  return typeof token === 'string' ? token : '';
}

/** Runs the events one after another (as one Lambda instance would), returns the last token. */
async function runJoins(events: APIGatewayProxyEventV2[], context: Context): Promise<string> {
  // Imported once the bench's runtime is installed: a handler module builds the runtime at load.
  const { handler: joinHandler } = await import('#functions/join');
  let token = '';
  for (const event of events) {
    const result = await joinHandler(event, context);
    if (result.statusCode !== 201) throw new Error(`join answered ${result.statusCode}: ${result.body}`);
    if (token === '') token = tokenOf(result.body);
  }
  if (!token) throw new Error('join answered without a token');
  return token;
}

function rawSigns(key: KeyObject, input: Buffer, count: number): void {
  for (let i = 0; i < count; i++) sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
}

export interface CpuPerJoinResult {
  readonly params: CpuPerJoinParams;
  readonly figures: {
    readonly joinHandlerCpu: Figure;
    readonly joinHandlerWall: Figure;
    readonly tokenServiceSignCpu: Figure;
    readonly webCryptoSignCpu: Figure;
    readonly rawSignCpu: Figure;
    readonly joinToRawSignRatio: Figure;
    readonly tokenServiceSignToRawSignRatio: Figure;
  };
  readonly signingInputBytes: number;
}

export async function measureCpuPerJoin(
  runtime: Runtime,
  params: CpuPerJoinParams,
): Promise<CpuPerJoinResult> {
  // Built before timing: event construction is API Gateway's work, not the handler's.
  const context = lambdaContext('join');
  const runId = Date.now().toString(36);
  const warmup = joinEvents(params.warmupJoins, params.anonymousShare, `warm-${runId}`);
  const measured = joinEvents(params.joins, params.anonymousShare, `user-${runId}`);

  const sampleToken = await runJoins(warmup, context);
  await settle();
  const joinCpuStart = cpuMicros();
  const joinWallStart = nowMs();
  await runJoins(measured, context);
  const joinWallMs = nowMs() - joinWallStart;
  const joinCpu = cpuMicros() - joinCpuStart;
  await settle();

  // The token service alone (jose SignJWT over WebCrypto), the part of a join that signs.
  const nowSec = Math.floor(Date.now() / 1000);
  const signArgs = { eventId: BENCH_EVENT_ID, sub: 'anon_bench', pos: 1, nowSec, ttlSeconds: 1800 };
  for (let i = 0; i < params.warmupSigns; i++) await runtime.tokens.signPosition(signArgs);
  const serviceCpuStart = cpuMicros();
  for (let i = 0; i < params.signs; i++) await runtime.tokens.signPosition(signArgs);
  const serviceCpu = cpuMicros() - serviceCpuStart;
  await settle();

  // The floor: the same key, a real position token's `header.payload`, one ECDSA P-256 signature.
  const [header = '', payload = ''] = sampleToken.split('.');
  const signingInput = Buffer.from(`${header}.${payload}`);
  const { typ } = decodeProtectedHeader(sampleToken);
  if (typ !== POSITION_TYP) throw new Error(`unexpected token typ ${String(typ)}`);
  if (!runtime.keyStore) throw new Error('the bench runtime signs, so it needs a signing key store');
  const privateJwk = { ...activeKey(await runtime.keyStore.load()).privateJwk };
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });

  // What jose does under SignJWT.sign(): one WebCrypto ECDSA sign, awaited.
  const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const cryptoKey = await webcrypto.subtle.importKey('jwk', privateJwk, ecdsa, false, ['sign']);
  const webCryptoSigns = async (count: number) => {
    for (let i = 0; i < count; i++) await webcrypto.subtle.sign(ecdsa, cryptoKey, signingInput);
  };
  await webCryptoSigns(params.warmupSigns);
  const webCpuStart = cpuMicros();
  await webCryptoSigns(params.signs);
  const webCpu = cpuMicros() - webCpuStart;
  await settle();

  rawSigns(key, signingInput, params.warmupSigns);
  const rawCpuStart = cpuMicros();
  rawSigns(key, signingInput, params.signs);
  const rawCpu = cpuMicros() - rawCpuStart;

  const joinCpuPer = joinCpu / params.joins;
  const serviceCpuPer = serviceCpu / params.signs;
  const rawCpuPer = rawCpu / params.signs;
  return {
    params,
    figures: {
      joinHandlerCpu: figure(joinCpuPer, 'µs CPU/join', {
        note: 'functions/join.ts handler on the embedded store, process CPU incl. libuv pool',
      }),
      joinHandlerWall: figure((joinWallMs * 1000) / params.joins, 'µs/join', {
        note: 'wall clock, one join at a time',
      }),
      tokenServiceSignCpu: figure(serviceCpuPer, 'µs CPU/sign', {
        note: 'TokenService.signPosition: jose SignJWT over WebCrypto',
      }),
      webCryptoSignCpu: figure(webCpu / params.signs, 'µs CPU/sign', {
        note: 'crypto.subtle.sign ECDSA P-256 SHA-256, awaited one at a time',
      }),
      rawSignCpu: figure(rawCpuPer, 'µs CPU/sign', {
        note: "crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' })",
      }),
      joinToRawSignRatio: figure(joinCpuPer / rawCpuPer, '×', { note: 'join handler CPU ÷ raw sign CPU' }),
      tokenServiceSignToRawSignRatio: figure(serviceCpuPer / rawCpuPer, '×', {
        note: 'token service sign CPU ÷ raw sign CPU',
      }),
    },
    signingInputBytes: signingInput.length,
  };
}
