/**
 * Requests that reach the API through the stack's CloudFront distribution
 * (docs/decisions/0011): which address a request came from. Behind CloudFront the
 * connection API Gateway sees is the edge's, so the viewer's own address arrives in
 * `CloudFront-Viewer-Address`, and is believed only on a request that also carries
 * the secret the distribution adds. The header names live here, once, for the
 * handlers and for infra.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Added by the distribution to every request it sends to the API (an origin custom header:
 * it replaces any header of that name a viewer sent). Its value is `FQ_EDGE_SECRET`.
 */
export const EDGE_SECRET_HEADER = 'x-fairqueue-edge';
/**
 * Set by CloudFront from the viewer's connection when the origin request policy names it:
 * `ip:port`, IPv6 unbracketed (`2001:db8::7:443`). Spelled as CloudFront spells it.
 */
export const VIEWER_ADDRESS_HEADER = 'CloudFront-Viewer-Address';
/** The environment variable that holds the secret (set by the stack on `join` only). */
export const EDGE_SECRET_ENV = 'FQ_EDGE_SECRET';
/** Shorter is guessable; the stack generates 48 letters and digits. */
export const MIN_EDGE_SECRET_LENGTH = 32;

/**
 * The edge secret from the environment, read once at load: unset or empty means no
 * distribution in front (local, or `cloudFront: false`), and every request is counted by
 * its connection's address.
 */
export function edgeSecretFrom(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const value = env[EDGE_SECRET_ENV];
  if (value === undefined || value === '') return undefined;
  if (value.length < MIN_EDGE_SECRET_LENGTH) {
    throw new Error(
      `${EDGE_SECRET_ENV} must be at least ${MIN_EDGE_SECRET_LENGTH} characters, got ${value.length}`,
    );
  }
  return value;
}

/** `ip:port` as CloudFront writes it → the IP; anything else → undefined. */
export function parseViewerAddress(value: string): string | undefined {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = value.slice(colon + 1);
  if (!/^\d{1,5}$/.test(port)) return undefined;
  // CloudFront writes IPv6 unbracketed; accept the bracketed socket form too.
  const ip = value.slice(0, colon).replace(/^\[(.+)\]$/, '$1');
  return isIP(ip) === 0 ? undefined : ip;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Digests of equal length, so the comparison takes as long whatever a client sends. */
function isEdgeSecret(sent: string | undefined, secret: string): boolean {
  return sent !== undefined && timingSafeEqual(digest(sent), digest(secret));
}

export interface RequestAddresses {
  /** The connection's address as API Gateway saw it (`requestContext.http.sourceIp`). */
  readonly sourceIp: string | undefined;
  /** The request's `x-fairqueue-edge` header, if any. */
  readonly edgeSecret: string | undefined;
  /** The request's `CloudFront-Viewer-Address` header, if any. */
  readonly viewerAddress: string | undefined;
}

export type ClientAddress =
  /** Straight to API Gateway (or no distribution configured): the connection's own address. */
  | { readonly via: 'direct'; readonly address: string | undefined }
  /**
   * Through our distribution: the viewer's address, or undefined when CloudFront sent none
   * (the origin request policy lost the header). Never the edge's own address: counting every
   * fan behind one edge location as one client would refuse them all.
   */
  | { readonly via: 'edge'; readonly address: string | undefined };

/**
 * Where a request came from. A client calling the API Gateway URL directly can send a
 * `CloudFront-Viewer-Address` of its choosing, but not the secret only the distribution
 * adds, so its header is ignored and it is counted by its own connection.
 *
 * @example
 * clientAddress({ sourceIp: '130.176.1.1', edgeSecret: secret, viewerAddress: '198.51.100.7:443' }, secret)
 * // → { via: 'edge', address: '198.51.100.7' }
 */
export function clientAddress(request: RequestAddresses, secret: string | undefined): ClientAddress {
  if (secret === undefined || !isEdgeSecret(request.edgeSecret, secret)) {
    return { via: 'direct', address: request.sourceIp };
  }
  const address = request.viewerAddress === undefined ? undefined : parseViewerAddress(request.viewerAddress);
  return { via: 'edge', address };
}
