/**
 * Hostile-input helpers for tests: forged and tampered JWTs built with jose, and an
 * API Gateway v2 event factory for calling the handlers in `functions/` directly.
 *
 * Forgeries come in two kinds. Tokens signed by a key fairqueue does not trust (or not
 * signed at all) prove the signature check. Tokens signed with the real signing key of
 * the key store, but with a wrong `typ`, `iss`, `aud` or claim, prove that every other
 * check holds on its own and is not just riding on the signature.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  base64url,
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { activeKey, type PublicJwk, publicJwk } from '#domain/keyring';
import type { WebSocketEvent } from '#http/websocket';
import type { KeyStore } from '#ports/key-store';

export type Header = Record<string, unknown>;
export type Claims = Record<string, unknown>;

const segment = (value: unknown) => base64url.encode(JSON.stringify(value));

function parts(token: string): [string, string, string] {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return [header, payload, signature];
}

export function headerOf(token: string): Header {
  return decodeProtectedHeader(token) as Header;
}

export function claimsOf(token: string): Claims {
  return decodeJwt(token) as Claims;
}

/** An `alg: none` token: header and claims as given, empty signature. */
export function unsecuredToken(header: Header, claims: Claims): string {
  return `${segment({ ...header, alg: 'none' })}.${segment(claims)}.`;
}

/** Re-encodes the claims and keeps the original header and signature. */
export function withClaims(token: string, change: (claims: Claims) => Claims): string {
  const [header, , signature] = parts(token);
  return `${header}.${segment(change(claimsOf(token)))}.${signature}`;
}

/** Re-encodes the header and keeps the original claims and signature. */
export function withHeader(token: string, change: (header: Header) => Header): string {
  const [, payload, signature] = parts(token);
  return `${segment(change(headerOf(token)))}.${payload}.${signature}`;
}

/** Replaces the signature part (e.g. with another token's, or nothing). */
export function withSignature(token: string, signature: string): string {
  const [header, payload] = parts(token);
  return `${header}.${payload}.${signature}`;
}

/** Signs claims with any key under any protected header (`alg` must be in it). */
export function signWith(
  key: CryptoKey | Uint8Array,
  header: Header & { alg: string },
  claims: Claims,
): Promise<string> {
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as JWTHeaderParameters).sign(key);
}

/** A freshly generated ES256 key pair fairqueue has never seen. */
export async function freshEs256Key(): Promise<CryptoKey> {
  const { privateKey } = await generateKeyPair('ES256');
  return privateKey;
}

/** A freshly generated key of another curve (ES384 / P-384). */
export async function freshEs384Key(): Promise<CryptoKey> {
  const { privateKey } = await generateKeyPair('ES384');
  return privateKey;
}

export interface RealSigningKey {
  readonly kid: string;
  readonly key: CryptoKey;
  readonly publicJwk: PublicJwk & { kid: string; alg: 'ES256'; use: 'sig' };
}

/** The key store's active signing key: what fairqueue itself signs with. */
export async function realSigningKey(store: KeyStore | null): Promise<RealSigningKey> {
  if (!store) throw new Error('this runtime only verifies: it has no signing key store');
  const stored = activeKey(await store.load());
  const key = (await importJWK({ ...stored.privateJwk, alg: 'ES256' }, 'ES256')) as CryptoKey;
  return { kid: stored.kid, key, publicJwk: publicJwk(stored) };
}

/**
 * Byte strings an HS256 "key confusion" attacker would try as the HMAC secret: the
 * public key as published (JWK JSON), as PEM, and its raw coordinates.
 */
export async function publicKeyAsSecrets(
  jwk: PublicJwk & { kid: string },
): Promise<Record<string, Uint8Array>> {
  const { kty, crv, x, y } = jwk;
  const publicKey = (await importJWK({ kty, crv, x, y }, 'ES256', { extractable: true })) as CryptoKey;
  const encoder = new TextEncoder();
  const xBytes = base64url.decode(x);
  const yBytes = base64url.decode(y);
  const uncompressed = new Uint8Array(1 + xBytes.length + yBytes.length);
  uncompressed.set([4]);
  uncompressed.set(xBytes, 1);
  uncompressed.set(yBytes, 1 + xBytes.length);
  return {
    'the JWKS entry as JSON': encoder.encode(JSON.stringify(jwk)),
    'the public JWK as JSON': encoder.encode(JSON.stringify({ kty, crv, x, y })),
    'the SPKI PEM': encoder.encode(await exportSPKI(publicKey)),
    'the x coordinate (base64url text)': encoder.encode(x),
    'the uncompressed point bytes': uncompressed,
  };
}

/** Position-token claims as fairqueue issues them, for forging look-alikes. */
export function positionClaims(args: {
  eventId: string;
  pos: number;
  nowSec: number;
  ttlSeconds?: number;
  sub?: string;
  iss?: string;
}): Claims {
  return {
    pos: args.pos,
    iss: args.iss ?? 'fairqueue',
    aud: args.eventId,
    sub: args.sub ?? `forged_${randomUUID()}`,
    iat: args.nowSec,
    exp: args.nowSec + (args.ttlSeconds ?? 1800),
    jti: randomUUID(),
  };
}

export interface ApiEventOptions {
  readonly eventId?: string;
  readonly pathParameters?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** A string is sent as is; anything else is JSON-encoded with `content-type: application/json`. */
  readonly body?: unknown;
  readonly token?: string;
  readonly sourceIp?: string;
}

/**
 * An API Gateway HTTP API (payload v2) event for `routeKey`, e.g.
 * `apiEvent('POST /v1/events/{eventId}/join', { eventId: 'e1', body: { userId: 'u' } })`.
 */
export function apiEvent(routeKey: string, options: ApiEventOptions = {}): APIGatewayProxyEventV2 {
  const [method = 'GET', template = '/'] = routeKey.split(' ');
  const pathParameters: Record<string, string> = {
    ...(options.eventId === undefined ? {} : { eventId: options.eventId }),
    ...options.pathParameters,
  };
  const rawPath = template.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(pathParameters[name] ?? ''),
  );
  const headers: Record<string, string> = { host: 'api.example.test', ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (typeof options.body === 'string') body = options.body;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: '',
    headers,
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: options.sourceIp ?? '198.51.100.7',
        userAgent: 'vitest',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

/** The event API Gateway's WebSocket API (and the local stand-in) gives a `$connect`/`$default`/`$disconnect` handler. */
export function wsEvent(
  routeKey: '$connect' | '$default' | '$disconnect',
  connectionId: string,
  options: { token?: string; body?: string } = {},
): WebSocketEvent {
  const now = Date.now();
  return {
    requestContext: {
      routeKey,
      eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
      connectionId,
      messageId: randomUUID(),
      extendedRequestId: randomUUID(),
      requestTime: new Date(now).toUTCString(),
      messageDirection: 'IN',
      stage: 'live',
      connectedAt: now,
      requestTimeEpoch: now,
      requestId: randomUUID(),
      domainName: 'ws.example.test',
      apiId: 'ws',
    },
    ...(options.token === undefined ? {} : { queryStringParameters: { token: options.token } }),
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  };
}
