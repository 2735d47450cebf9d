/**
 * Local key store: the ring is generated on first use and kept on disk
 * (`$FQ_KEY_DIR/keyring.json`, mode 0600), so tokens survive a restart. It serves
 * both halves of the ring: the private one to sign, the public one to verify.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type KeyRing,
  newRing,
  type PublicKeyRing,
  publicRing,
  RETIRED_KEY_RETENTION_SECONDS,
  retireKey,
  rotateRing,
} from '#domain/keyring';
import { generateSigningKey, parseKeyRing } from '#lib/keys';
import type { KeyStore } from '#ports/key-store';
import type { PublicKeyStore } from '#ports/public-key-store';

export interface FileKeyStoreOptions {
  /** How long a retired key keeps verifying after a rotation. @default RETIRED_KEY_RETENTION_SECONDS */
  readonly retiredKeyRetentionSeconds?: number;
  readonly now?: () => number;
}

export class FileKeyStore implements KeyStore, PublicKeyStore {
  readonly #file: string;
  readonly #retentionSeconds: number;
  readonly #now: () => number;
  #creating: Promise<KeyRing> | undefined;

  constructor(
    readonly dir: string,
    options: FileKeyStoreOptions = {},
  ) {
    this.#file = join(dir, 'keyring.json');
    this.#retentionSeconds = options.retiredKeyRetentionSeconds ?? RETIRED_KEY_RETENTION_SECONDS;
    this.#now = options.now ?? Date.now;
  }

  #nowSec(): number {
    return Math.floor(this.#now() / 1000);
  }

  async load(): Promise<KeyRing> {
    const ring = await this.#read();
    if (ring) return ring;
    this.#creating ??= this.reset();
    return this.#creating;
  }

  async loadPublic(): Promise<PublicKeyRing> {
    return publicRing(await this.load());
  }

  /** Promotes the next key to signing and publishes a new next; the previous key keeps verifying. */
  async rotate(): Promise<KeyRing> {
    const current = await this.#read();
    const nowSec = this.#nowSec();
    const ring = current
      ? rotateRing(current, await generateSigningKey(nowSec), nowSec, this.#retentionSeconds)
      : await this.#fresh();
    await this.#write(ring);
    return ring;
  }

  /**
   * Starts a brand-new ring, dropping every earlier key: after it, no token signed
   * before verifies. The local runtime calls this whenever its store starts empty,
   * so tokens of a queue that no longer exists can never claim a place in a new one.
   */
  async reset(): Promise<KeyRing> {
    const ring = await this.#fresh();
    await this.#write(ring);
    this.#creating = undefined;
    return ring;
  }

  async retire(kid: string): Promise<KeyRing> {
    const current = await this.load();
    const ring = retireKey(current, kid);
    await this.#write(ring);
    return ring;
  }

  async #fresh(): Promise<KeyRing> {
    const nowSec = this.#nowSec();
    const [active, next] = await Promise.all([generateSigningKey(nowSec), generateSigningKey(nowSec)]);
    return newRing(active, next);
  }

  async #read(): Promise<KeyRing | undefined> {
    try {
      return parseKeyRing(await readFile(this.#file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async #write(ring: KeyRing) {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Write then rename: a reader never sees half a file.
    const tmp = `${this.#file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(ring, null, 2), { mode: 0o600 });
    await rename(tmp, this.#file);
  }
}
