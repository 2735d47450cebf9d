/**
 * The public half of the signing key ring, apart from the private ring (key-store.ts):
 * functions that only verify tokens, and the JWKS, read this and nothing private. On AWS
 * it is one DynamoDB item written by the key rotation; locally the key file serves both.
 */
import type { PublicKeyRing } from '#domain/keyring';

export interface PublicKeyStore {
  /** The published ring. Callers cache it; this is never called per request. */
  loadPublic(): Promise<PublicKeyRing>;
}

/** Where the key rotation publishes each new ring's public half. */
export interface PublicKeyPublisher {
  /** Safe to repeat; refuses to replace a newer ring with an older one. */
  publish(ring: PublicKeyRing): Promise<void>;
}
