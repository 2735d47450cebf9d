/**
 * The browser client (shared/client) as one ES module, built in memory by esbuild when the
 * local runtime starts and served at `/client.js`: the pages import it, and nobody has to
 * run a build by hand. `platform: 'neutral'` resolves no Node built-in, so a Node API
 * creeping into the client fails the start (and its test) rather than a browser.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../shared/client/index.ts', import.meta.url));
const ADMIN_ENTRY = fileURLToPath(new URL('./admin-page/main.ts', import.meta.url));

export interface ClientBundle {
  readonly text: string;
  /** A strong entity tag of the text, for revalidation (`If-None-Match`). */
  readonly etag: string;
}

let bundle: Promise<ClientBundle> | undefined;
let adminBundle: Promise<ClientBundle> | undefined;

/** The bundle, built once per process (the sources do not change while it runs). */
export function clientBundle(): Promise<ClientBundle> {
  bundle ??= buildBundle(ENTRY, 'neutral').catch((error: unknown) => {
    bundle = undefined;
    throw error;
  });
  return bundle;
}

/**
 * The operator page's script (local/admin-page) with its chart library, served at
 * `/admin.js`: bundled from the installed package, so the page needs no network beyond
 * this server. The library's stylesheet comes in as text the script adds to the page.
 */
export function adminPageBundle(): Promise<ClientBundle> {
  adminBundle ??= buildBundle(ADMIN_ENTRY, 'browser').catch((error: unknown) => {
    adminBundle = undefined;
    throw error;
  });
  return adminBundle;
}

async function buildBundle(entry: string, platform: 'neutral' | 'browser'): Promise<ClientBundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform,
    loader: { '.css': 'text' },
    // Browsers of the last few years, and React Native's engine.
    target: 'es2020',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const [file] = result.outputFiles;
  if (!file) throw new Error('esbuild produced no client bundle');
  const text = file.text;
  return { text, etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"` };
}
