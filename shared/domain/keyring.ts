/**
 * The signing key ring and its rotation rule. The newest key signs; older keys
 * stay in the ring (and in the JWKS) so tokens they signed still verify until
 * they are retired. Pure: key generation and storage live in adapters.
 */
export interface PublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
}

export interface PrivateJwk extends PublicJwk {
  readonly d: string;
}

export interface StoredKey {
  readonly kid: string;
  readonly privateJwk: PrivateJwk;
  /** Epoch seconds. */
  readonly createdAt: number;
}

export interface KeyRing {
  /** `kid` of the key that signs. */
  readonly active: string;
  /** Newest first; the active key is always among them. */
  readonly keys: readonly StoredKey[];
}

/** Keys kept after a rotation: the new one and the one before it. */
export const KEYS_KEPT = 2;

/** Puts `key` in front as the signing key; the previous one stays to verify, older ones are retired. */
export function rotateRing(ring: KeyRing | undefined, key: StoredKey, kept = KEYS_KEPT): KeyRing {
  const previous = (ring?.keys ?? []).filter((k) => k.kid !== key.kid);
  return { active: key.kid, keys: [key, ...previous].slice(0, Math.max(1, kept)) };
}

/** Drops a verify-only key; the signing key cannot be retired. */
export function retireKey(ring: KeyRing, kid: string): KeyRing {
  if (kid === ring.active) return ring;
  return { active: ring.active, keys: ring.keys.filter((k) => k.kid !== kid) };
}

export function activeKey(ring: KeyRing): StoredKey {
  const key = ring.keys.find((k) => k.kid === ring.active);
  if (!key) throw new Error(`key ring has no key for its active kid "${ring.active}"`);
  return key;
}

export function publicJwk(key: StoredKey): PublicJwk & { kid: string; alg: 'ES256'; use: 'sig' } {
  const { kty, crv, x, y } = key.privateJwk;
  return { kty, crv, x, y, kid: key.kid, alg: 'ES256', use: 'sig' };
}
