/** ES256 key generation and the key ring's JSON schema, shared by the key store adapters. */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { z } from 'zod';
import type { KeyRing, PrivateJwk, StoredKey } from '#domain/keyring';

const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

export const keyRingSchema = z.object({
  active: z.string().min(1),
  keys: z
    .array(
      z.object({
        kid: z.string().min(1),
        createdAt: z.number(),
        privateJwk: z.object({
          kty: z.literal('EC'),
          crv: z.literal('P-256'),
          x: b64url,
          y: b64url,
          d: b64url,
        }),
      }),
    )
    .min(1),
});

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

export function parseKeyRing(json: string): KeyRing {
  const ring: KeyRing = keyRingSchema.parse(JSON.parse(json));
  if (!ring.keys.some((k) => k.kid === ring.active))
    throw new Error('key ring has no key for its active kid');
  return ring;
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
