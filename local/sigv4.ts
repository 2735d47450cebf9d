/**
 * The local `@connections` endpoint accepts only the local runtime's own calls,
 * as API Gateway accepts only callers with `execute-api:ManageConnections`: the
 * runtime's management client signs with SigV4 using credentials made up for this
 * process, and every request is checked here against the same credentials
 * (signature over method, path, query, headers and body; key id; scope; a
 * five-minute clock window, as AWS allows).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

type Data = string | ArrayBuffer | ArrayBufferView;

function bytes(data: Data): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Credentials nobody outside this process knows. */
export function newLocalCredentials(): LocalCredentials {
  return {
    accessKeyId: `LOCAL${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
}

/** SHA-256 and HMAC-SHA-256 in the shape the SigV4 signer wants, on node:crypto. */
export class NodeSha256 {
  readonly #hash;
  constructor(secret?: Data) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Data): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

/** How far a request's signing time may be from ours (AWS allows five minutes too). */
const CLOCK_WINDOW_MS = 5 * 60_000;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `20261129T203418Z` → a Date, or null. */
function amzDate(value: string | undefined): Date | null {
  const match = value?.match(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/);
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 0, h ?? 0, mi ?? 0, s ?? 0));
}

/**
 * True when the request carries a valid SigV4 signature made with `credentials`, over its
 * method, path, query, signed headers and body, signed within the clock window. As on
 * AWS, a signed request is not single-use: the same post twice within the window (two
 * pongs to one connection in one second) is two valid requests. Replaying one needs it
 * read off the loopback interface, which takes root on this machine.
 */
export async function verifySigV4(
  req: Pick<IncomingMessage, 'headers' | 'method'>,
  url: { readonly pathname: string; readonly searchParams: URLSearchParams } | string,
  body: Buffer,
  credentials: LocalCredentials,
  now = Date.now(),
): Promise<boolean> {
  const path = typeof url === 'string' ? url : url.pathname;
  const query: Record<string, string | string[]> = {};
  if (typeof url !== 'string') {
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      query[key] = values.length === 1 ? (values[0] ?? '') : values;
    }
  }
  const auth = req.headers.authorization?.match(AUTHORIZATION);
  if (!auth) return false;
  const [, keyId = '', day = '', region = '', service = '', signedHeaders = '', signature = ''] = auth;
  if (!same(keyId, credentials.accessKeyId)) return false;
  const signedAt = amzDate(req.headers['x-amz-date'] as string | undefined);
  if (!signedAt || Math.abs(now - signedAt.getTime()) > CLOCK_WINDOW_MS) return false;
  if (!signedAt.toISOString().replace(/-/g, '').startsWith(day)) return false;
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return false;
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value === undefined) return false;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // The signer trusts a payload hash header over the body: check that it is the body's.
  const payloadHash = headers['x-amz-content-sha256'];
  if (payloadHash !== undefined && !same(payloadHash, createHash('sha256').update(body).digest('hex')))
    return false;
  const host = headers.host ?? '';
  const [hostname = '', port] = host.split(':');
  const signer = new SignatureV4({ credentials, region, service, sha256: NodeSha256 });
  const expected = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname,
      ...(port ? { port: Number(port) } : {}),
      path,
      query,
      headers,
      body,
    },
    { signingDate: signedAt, signingRegion: region, signingService: service },
  );
  const computed = String(expected.headers.authorization ?? '').match(/Signature=([0-9a-f]{64})$/)?.[1];
  return computed !== undefined && same(computed, signature);
}
