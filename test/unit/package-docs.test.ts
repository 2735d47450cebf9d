/**
 * Every name `fairqueue/verifier`, `fairqueue/client` and `fairqueue/cdk` export (functions, classes, types,
 * interfaces, constants) carries TSDoc with an `@example` (STYLE.md, "Docs"), read with the
 * TypeScript compiler from the entry points the package builds, so a new export without one
 * fails here rather than in a consumer's editor.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const ENTRY_POINTS = {
  'fairqueue/verifier': fileURLToPath(new URL('../../shared/verifier/index.ts', import.meta.url)),
  'fairqueue/client': fileURLToPath(new URL('../../shared/client/index.ts', import.meta.url)),
  'fairqueue/cdk': fileURLToPath(new URL('../../infra/index.ts', import.meta.url)),
};

const program = ts.createProgram(Object.values(ENTRY_POINTS), {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  noEmit: true,
  types: ['node'],
  skipLibCheck: true,
});
const checker = program.getTypeChecker();

/** Each export of the module: its name, and whether its declaration's TSDoc has an `@example`. */
function exportsOf(file: string): { name: string; example: boolean }[] {
  const source = program.getSourceFile(file);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`no module at ${file}`);
  return checker.getExportsOfModule(module).map((exported) => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const example = (symbol.declarations ?? []).some((declaration) =>
      ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'example'),
    );
    return { name: exported.name, example };
  });
}

describe.each(Object.entries(ENTRY_POINTS))('%s', (_entry, file) => {
  const exported = exportsOf(file);

  test('exports names (the list is read, not empty)', () => {
    expect(exported.length).toBeGreaterThan(5);
  });

  test('every export has TSDoc with an @example', () => {
    expect(exported.filter((e) => !e.example).map((e) => e.name)).toEqual([]);
  });
});
