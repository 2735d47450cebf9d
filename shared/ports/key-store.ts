/** Where the signing key ring lives: Secrets Manager on AWS, a file on disk locally. */
import type { KeyRing } from '#domain/keyring';

export interface KeyStore {
  /** The current ring. Callers cache it; this is never called per request. */
  load(): Promise<KeyRing>;
}
