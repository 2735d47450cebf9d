/**
 * Builds the `fairqueue` package into dist/. Run by `npm run build:package` and by `prepack`,
 * so `npm pack` always ships a fresh build:
 * - tsc: ESM JavaScript and `.d.ts`, one module per source file (tree-shakeable), for every
 *   entry point in tsconfig.package.json `include` and what they import;
 * - the `#domain/*`-style imports (package.json "imports", which point at this repository's
 *   `.ts` sources) rewritten to relative paths inside dist/, and relative `.ts` imports in
 *   the declarations to `.js` (tsc rewrites them in the JavaScript only);
 * - every Lambda handler bundled by esbuild into `dist/lambda/{name}/`, which the packaged
 *   `fairqueue/cdk` construct deploys as is (infra/fairqueue-function.ts).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { buildSync } from 'esbuild';
import { handlerBuildOptions, handlerNames, SOURCE_ROOT } from '../infra/lambda-bundle.ts';

const root = SOURCE_ROOT;
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.package.json')], {
  stdio: 'inherit',
  cwd: root,
});

/** `#domain/` → `shared/domain/`, from package.json "imports" (`"#domain/*": "./shared/domain/*.ts"`). */
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  imports: Record<string, string>;
};
const aliases = Object.entries(manifest.imports).map(([alias, target]) => {
  if (!alias.endsWith('/*') || !target.startsWith('./') || !target.endsWith('/*.ts')) {
    throw new Error(`package.json imports: cannot map ${alias} → ${target} into dist/`);
  }
  return { prefix: alias.slice(0, -1), dir: target.slice(2, -'*.ts'.length) };
});

for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(d\.ts|js)$/.test(entry.name)) continue;
  const file = join(entry.parentPath, entry.name);
  const from = dirname(file);
  let text = readFileSync(file, 'utf8').replace(
    /(from\s+|import\()(['"])(#[a-z]+\/)([^'"]+)\2/g,
    (whole, keyword: string, _quote: string, prefix: string, rest: string) => {
      const alias = aliases.find((a) => a.prefix === prefix);
      if (alias === undefined) throw new Error(`${file}: unknown import alias in ${whole}`);
      const target = relative(from, join(dist, alias.dir, `${rest}.js`));
      return `${keyword}'${target.startsWith('.') ? target : `./${target}`}'`;
    },
  );
  if (entry.name.endsWith('.d.ts')) text = text.replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'");
  writeFileSync(file, text);
}

for (const name of handlerNames(root)) {
  buildSync(handlerBuildOptions(root, name, join(dist, 'lambda', name)));
}
