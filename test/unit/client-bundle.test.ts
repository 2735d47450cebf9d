import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import type * as Client from '#client/index';
import { clientBundle } from '#local/client-bundle';

test('the browser client builds into one ES module that imports nothing, and works as served', async () => {
  const { text: code } = await clientBundle();
  // Bundled for a neutral platform: a Node built-in would have failed the build; nothing is left to load.
  expect(code).not.toMatch(/^\s*import\s/m);
  expect(code).not.toMatch(/\brequire\(/);
  // Small: the language only, no library bundled in (the inline source map aside). Unminified,
  // with `createWaitingRoom` (the `fairqueue/client` SDK) in it: about 50 kB; a library would
  // take it far past this.
  expect(code.replace(/\/\/# sourceMappingURL=.*$/s, '').length).toBeLessThan(60_000);
  const file = join(mkdtempSync(join(tmpdir(), 'fq-client-')), 'client.mjs');
  writeFileSync(file, code);
  const client = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as typeof Client;
  const update = client.readPlaceUpdate({
    position: 7,
    servingPosition: 2,
    ahead: 5,
    estimatedWaitSeconds: 30,
  });
  if (!update) throw new Error('not read');
  const clock = new client.PlaceClock({ position: 7 });
  clock.applyUpdate(update, 0);
  expect(clock.view(10_000)).toMatchObject({ ahead: 5, estimatedWaitSeconds: 20, status: 'waiting' });
  expect(new client.Backoff({ random: () => 0.5 }).next()).toBe(1000);
  expect(typeof client.createWaitingRoom).toBe('function');
  expect((await clientBundle()).text).toBe(code);
});
