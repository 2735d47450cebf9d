/** ES256 key generation and the key rings' JSON schemas, shared by the key store adapters. */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { z } from 'zod';
import {
  checkRing,
  type KeyRing,
  KeyRingError,
  type PrivateJwk,
  type PublicKeyRing,
  type StoredKey,
} from '#domain/keyring';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/);
const publicJwkSchema = z
  .object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: b64url, y: b64url })
  // Strict: a public ring that carries anything more (a private `d`) is refused, not trimmed.
  .strict();
const privateJwkSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: b64url,
  y: b64url,
  d: b64url,
});
const keyMeta = {
  kid: z.string().min(1),
  createdAt: z.number(),
  retiredAt: z.number().optional(),
};

/**
 * The private ring as stored in the secret (or the local file). Rings stored before next
 * keys existed (`{active, keys:[{kid, privateJwk, createdAt}]}`) still parse: `next` and
 * `retiredAt` are optional.
 */
export const keyRingSchema = z.object({
  active: z.string().min(1),
  next: z.string().min(1).optional(),
  keys: z.array(z.object({ ...keyMeta, privateJwk: privateJwkSchema })).min(1),
});

/** The public half, as published for verifiers. */
export const publicKeyRingSchema = z.object({
  active: z.string().min(1),
  next: z.string().min(1).optional(),
  keys: z.array(z.object({ ...keyMeta, publicJwk: publicJwkSchema }).strict()).min(1),
});

/** Schema errors become a KeyRingError; a ring that parses must still keep the ring's rules. */
function asKeyRingError(error: unknown): KeyRingError {
  return error instanceof KeyRingError
    ? error
    : new KeyRingError('invalid_ring', 'not a key ring', { cause: error });
}

export function parseKeyRing(json: string): KeyRing {
  try {
    return checkRing(keyRingSchema.parse(JSON.parse(json)));
  } catch (error) {
    throw asKeyRingError(error);
  }
}

export function parsePublicKeyRing(value: unknown): PublicKeyRing {
  try {
    return checkRing(publicKeyRingSchema.parse(value));
  } catch (error) {
    throw asKeyRingError(error);
  }
}

const placeholderSchema = z.object({ keys: z.array(z.unknown()).length(0) }).strict();

/**
 * The value the stack gives the secret at deploy (infra/waiting-room.ts): no keys yet.
 * Only this, never a value that merely fails to parse, lets a rotation start a new ring.
 */
export function isPlaceholderRing(json: string): boolean {
  try {
    return placeholderSchema.safeParse(JSON.parse(json)).success;
  } catch {
    return false;
  }
}

export async function generateSigningKey(nowSec = Math.floor(Date.now() / 1000)): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const privateJwk: PrivateJwk = {
    kty: 'EC',
    crv: 'P-256',
    x: String(jwk.x),
    y: String(jwk.y),
    d: String(jwk.d),
  };
  // Date prefix makes kids sort and read naturally; the random part makes them unique.
  const kid = `${new Date(nowSec * 1000).toISOString().slice(0, 10)}-${randomBytes(6).toString('hex')}`;
  return { kid, privateJwk, createdAt: nowSec };
}

/** Throws unless the key's private part signs what its public part verifies. */
export function checkKeyPair(key: StoredKey): void {
  const message = Buffer.from(`fairqueue key check ${key.kid}`);
  try {
    const signature = sign(
      'sha256',
      message,
      createPrivateKey({ key: { ...key.privateJwk }, format: 'jwk' }),
    );
    const { d: _d, ...pub } = key.privateJwk;
    if (verify('sha256', message, createPublicKey({ key: { ...pub }, format: 'jwk' }), signature)) return;
  } catch (error) {
    throw new KeyRingError('invalid_ring', `key ${key.kid} is not a usable ES256 key pair`, { cause: error });
  }
  throw new KeyRingError('invalid_ring', `key ${key.kid}: the private part does not match the public one`);
}
