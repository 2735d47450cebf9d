/**
 * How every fairqueue handler becomes a Lambda bundle, in one place. Two callers use it:
 * the construct, which bundles from source at synth time inside this repository, and
 * `scripts/build-package.ts`, which bundles every handler once into `dist/lambda/` so the
 * published construct (`fairqueue/cdk`) ships ready bundles and needs no esbuild, no
 * TypeScript and none of the handlers' dependencies in the consumer's project.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

/** The file of a bundle; Lambda finds `handler` in it (`index.handler`). */
export const HANDLER_FILE = 'index.mjs';

/** Where the handlers' sources sit in this repository (absent from the package). */
export function functionsDir(projectRoot: string): string {
  return join(projectRoot, 'functions');
}

/** Every handler: each `functions/*.ts` exports `handler`. */
export function handlerNames(projectRoot: string): string[] {
  return readdirSync(functionsDir(projectRoot))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -'.ts'.length))
    .sort();
}

/**
 * esbuild options that bundle handler `name` into `outdir/index.mjs`: Node 22, ESM, minified
 * with names kept, source maps without the sources, the AWS SDK bundled at the version of
 * package-lock.json rather than whatever the runtime carries.
 */
export function handlerBuildOptions(projectRoot: string, name: string, outdir: string): BuildOptions {
  return {
    entryPoints: [join(functionsDir(projectRoot), `${name}.ts`)],
    outfile: join(outdir, HANDLER_FILE),
    absWorkingDir: projectRoot,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Prefer the ESM build of dual packages so tree shaking works.
    mainFields: ['module', 'main'],
    minify: true,
    // Error and class names survive minification, so logs stay readable.
    keepNames: true,
    sourcemap: true,
    // Traces still map to file:line; leaving the sources out keeps the zip small.
    sourcesContent: false,
    // CJS dependencies bundled into ESM still call require(); give them one. The import is
    // aliased so it cannot clash with a bundled `createRequire`.
    banner: {
      js: "import { createRequire as __fqCreateRequire } from 'node:module'; const require = __fqCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  };
}

/** This repository's root when running from source (`infra/` sits right under it). */
export const SOURCE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
