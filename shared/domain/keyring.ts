/**
 * The signing key ring and its rotation rule. Pure: key generation and storage
 * live in adapters; see docs/decisions/0006-signing-keys.md.
 *
 * Every key goes through three roles, one rotation each:
 * - **next**: published (in the JWKS) but signs nothing yet;
 * - **active**: signs;
 * - **retired**: verify only, from the rotation that replaced it until it has been
 *   retired longer than the retention, then dropped.
 * A rotation promotes next to active, so a key signs only after it has been in the
 * JWKS for a whole rotation interval: a verifier that cached the JWKS since the last
 * rotation never meets an unknown `kid`.
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

interface KeyMeta {
  readonly kid: string;
  /** Epoch seconds. */
  readonly createdAt: number;
  /** Epoch seconds of the rotation that took it out of signing; absent while it is active or next. */
  readonly retiredAt?: number;
}

export interface StoredKey extends KeyMeta {
  readonly privateJwk: PrivateJwk;
}

export interface PublicKey extends KeyMeta {
  readonly publicJwk: PublicJwk;
}

interface Ring<K extends KeyMeta> {
  /** `kid` of the key that signs. */
  readonly active: string;
  /**
   * `kid` of the key that signs after the next rotation. Absent only in rings stored
   * before next keys existed: their first rotation adds one and keeps the signing key.
   */
  readonly next?: string;
  /** Newest first; the active and next keys are always among them. */
  readonly keys: readonly K[];
}

/** The private ring: only the rotation function and the functions that sign may read it. */
export type KeyRing = Ring<StoredKey>;
/** The public half: what verifiers and the JWKS use. Never holds a private key part. */
export type PublicKeyRing = Ring<PublicKey>;

/**
 * How long a retired key keeps verifying, unless configured: a token signed just before a
 * rotation stays verifiable this long. It has to cover the longest token lifetime
 * (position TTL, purchase window) plus the signers' key cache; a day leaves ample room.
 */
export const RETIRED_KEY_RETENTION_SECONDS = 24 * 3600;

export class KeyRingError extends Error {
  override readonly name = 'KeyRingError';
  constructor(
    /** `invalid_ring`: breaks the ring's rules; `unsafe_rotation`: would sign with a kid verifiers may not know. */
    readonly code: 'invalid_ring' | 'unsafe_rotation',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws unless the ring keeps its rules: unique kids, active and next present, distinct, not retired. */
export function checkRing<K extends KeyMeta>(ring: Ring<K>): Ring<K> {
  const kids = new Set(ring.keys.map((k) => k.kid));
  if (kids.size !== ring.keys.length) throw new KeyRingError('invalid_ring', 'key ring repeats a kid');
  const live = (kid: string, role: string) => {
    const key = ring.keys.find((k) => k.kid === kid);
    if (!key) throw new KeyRingError('invalid_ring', `key ring has no key for its ${role} kid`);
    if (key.retiredAt !== undefined) throw new KeyRingError('invalid_ring', `the ${role} key is retired`);
  };
  live(ring.active, 'active');
  if (ring.next !== undefined) {
    if (ring.next === ring.active) throw new KeyRingError('invalid_ring', 'next and active are one key');
    live(ring.next, 'next');
  }
  return ring;
}

/** A brand-new ring (first deploy, local first start, reset): one key signs, the next is published. */
export function newRing(active: StoredKey, next: StoredKey): KeyRing {
  return checkRing({ active: active.kid, next: next.kid, keys: [next, active] });
}

/**
 * One rotation: next becomes active, `fresh` becomes next, the previous active key is
 * retired now (verify only), and keys retired longer than `retentionSeconds` are dropped.
 * A ring without a next key (stored before they existed) keeps its signing key this once
 * and only gains a next, so even this migration never signs with an unpublished kid.
 */
export function rotateRing(
  ring: KeyRing,
  fresh: StoredKey,
  nowSec: number,
  retentionSeconds = RETIRED_KEY_RETENTION_SECONDS,
): KeyRing {
  if (ring.keys.some((k) => k.kid === fresh.kid))
    throw new KeyRingError('invalid_ring', 'the new key repeats a kid of the ring');
  const signer = ring.next ?? ring.active;
  const kept = ring.keys
    .map((k) => (k.kid === signer || k.retiredAt !== undefined ? k : { ...k, retiredAt: nowSec }))
    .filter((k) => k.retiredAt === undefined || nowSec - k.retiredAt <= retentionSeconds);
  return checkRing({ active: signer, next: fresh.kid, keys: [fresh, ...kept] });
}

/**
 * Throws unless `pending` may replace `current`: it has a next key, its signing key is
 * the one `current` published as next (or, migrating a ring without one, the same
 * signing key), and the key that signs now stays to verify.
 */
export function checkSuccessor(current: KeyRing | undefined, pending: KeyRing): void {
  checkRing(pending);
  if (pending.next === undefined) throw new KeyRingError('unsafe_rotation', 'the new ring has no next key');
  if (current === undefined) return;
  const expected = current.next ?? current.active;
  if (pending.active !== expected)
    throw new KeyRingError('unsafe_rotation', 'the new ring signs with a key that was not published as next');
  if (!pending.keys.some((k) => k.kid === current.active))
    throw new KeyRingError('unsafe_rotation', 'the new ring drops the key that signs now');
}

/** Drops a verify-only key at once; the active and next keys cannot be dropped. */
export function retireKey(ring: KeyRing, kid: string): KeyRing {
  if (kid === ring.active || kid === ring.next) return ring;
  return { ...ring, keys: ring.keys.filter((k) => k.kid !== kid) };
}

export function activeKey(ring: KeyRing): StoredKey {
  const key = ring.keys.find((k) => k.kid === ring.active);
  if (!key) throw new KeyRingError('invalid_ring', `key ring has no key for its active kid "${ring.active}"`);
  return key;
}

/** The public half of the ring: roles and ages kept, every private part (`d`) left out. */
export function publicRing(ring: KeyRing): PublicKeyRing {
  return {
    active: ring.active,
    ...(ring.next !== undefined && { next: ring.next }),
    keys: ring.keys.map(({ kid, createdAt, retiredAt, privateJwk: { kty, crv, x, y } }) => ({
      kid,
      createdAt,
      ...(retiredAt !== undefined && { retiredAt }),
      publicJwk: { kty, crv, x, y },
    })),
  };
}

/** A key as the JWKS lists it. */
export function publicJwk(key: StoredKey | PublicKey): PublicJwk & { kid: string; alg: 'ES256'; use: 'sig' } {
  const { kty, crv, x, y } = 'privateJwk' in key ? key.privateJwk : key.publicJwk;
  return { kty, crv, x, y, kid: key.kid, alg: 'ES256', use: 'sig' };
}
