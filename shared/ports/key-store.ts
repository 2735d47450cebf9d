/**
 * Where the private signing key ring lives: Secrets Manager on AWS, a file on disk locally.
 * Only functions that sign tokens have one; verifiers read public-key-store.ts instead.
 */
import type { KeyRing } from '#domain/keyring';

export interface KeyStore {
  /** The current ring. Callers cache it; this is never called per request. */
  load(): Promise<KeyRing>;
}
