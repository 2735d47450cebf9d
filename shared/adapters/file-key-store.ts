/**
 * Local key store: the ring is generated on first use and kept on disk
 * (`$FQ_KEY_DIR/keyring.json`, mode 0600), so tokens survive a restart.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type KeyRing, retireKey, rotateRing } from '#domain/keyring';
import { generateSigningKey, parseKeyRing } from '#lib/keys';
import type { KeyStore } from '#ports/key-store';

export class FileKeyStore implements KeyStore {
  readonly #file: string;
  #creating: Promise<KeyRing> | undefined;

  constructor(readonly dir: string) {
    this.#file = join(dir, 'keyring.json');
  }

  async load(): Promise<KeyRing> {
    try {
      return parseKeyRing(await readFile(this.#file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.#creating ??= this.rotate();
    return this.#creating;
  }

  /** Generates a new signing key; the previous one keeps verifying. */
  async rotate(): Promise<KeyRing> {
    const current = await this.#read();
    const ring = rotateRing(current, await generateSigningKey());
    await this.#write(ring);
    return ring;
  }

  /**
   * Starts a brand-new ring, dropping every earlier key: after it, no token signed
   * before verifies. The local runtime calls this whenever its store starts empty,
   * so tokens of a queue that no longer exists can never claim a place in a new one.
   */
  async reset(): Promise<KeyRing> {
    const ring = rotateRing(undefined, await generateSigningKey());
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
