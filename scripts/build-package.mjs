/**
 * Builds the `fairqueue` package into dist/: ESM JavaScript and `.d.ts`, one module per
 * source file (tree-shakeable), relative `.ts` imports rewritten to `.js` by tsc. Run by
 * `npm run build:package` and by `prepack`, so `npm pack` always ships a fresh build.
 * Each subpath's sources are listed in tsconfig.package.json `include`.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.package.json')], {
  stdio: 'inherit',
  cwd: root,
});

// tsc rewrites relative `.ts` imports to `.js` in the JavaScript it emits, not in the
// declarations: do the same there, so a consumer's TypeScript resolves them.
for (const entry of readdirSync(join(root, 'dist'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
}
