/**
 * A real headless Chromium for page tests, driven by playwright-core.
 *
 * The browser is the system's (Debian's `chromium` package, installed by .ci/run):
 * `npx playwright install` is not used. FQ_CHROMIUM_PATH points at another binary.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.FQ_CHROMIUM_PATH || '/usr/bin/chromium';

/** No network of its own, no first-run or sync chatter: the browser talks only to the test server. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}: install Debian's "chromium" package or set FQ_CHROMIUM_PATH.`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** The element's text as the page shows it (trimmed), or null when the element is missing. */
export async function textOf(locator: Locator): Promise<string | null> {
  const text = await locator.textContent({ timeout: 1_000 }).catch(() => null);
  return text === null ? null : text.trim();
}

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core on the page as it stands: its serious and critical violations, by rule. */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE_PATH });
  const results = (await page.evaluate('axe.run(document)')) as {
    violations: { id: string; impact: string; nodes: unknown[] }[];
  };
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}, ${v.nodes.length} nodes)`);
}

/**
 * Where a page test saves its screenshots: FQ_SCREENSHOT_DIR (kept), or a temporary
 * directory that `remove()` deletes once the test file is done.
 */
export function screenshotDir(label: string): { readonly path: string; remove(): void } {
  const kept = process.env.FQ_SCREENSHOT_DIR;
  const path = kept ?? mkdtempSync(join(tmpdir(), `fq-${label}-`));
  mkdirSync(path, { recursive: true });
  return { path, remove: () => (kept ? undefined : rmSync(path, { recursive: true, force: true })) };
}
