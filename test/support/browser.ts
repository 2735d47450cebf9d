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
import { afterAll, beforeAll, expect } from 'vitest';
import type { LocalApp } from '#local/app';
import type { TestClock } from './clock.ts';
import { startTestApp } from './local-app.ts';

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

/** How long a page test waits for the page to show something: a page poll plus a slow machine; never a timing assertion. */
export const PAGE_WAIT = { timeout: 15_000, interval: 100 } as const;

/** Waits (PAGE_WAIT) for the element's text: `await shownText(locator).toBe('…')`. */
export const shownText = (locator: Locator) => expect.poll(() => textOf(locator), PAGE_WAIT);
/** Waits (PAGE_WAIT) for the element's visibility: `await shownVisible(locator).toBe(true)`. */
export const shownVisible = (locator: Locator) => expect.poll(() => locator.isVisible(), PAGE_WAIT);

/** What a page test file runs against; see `usePageRig`. */
export interface PageRig {
  /** The local runtime, in process, on the file's clock. */
  readonly app: LocalApp;
  readonly browser: Browser;
  /** The directory the file saves its screenshots in (`screenshotDir`). */
  readonly shots: string;
}

/**
 * A page test file's rig: the local runtime on `clock` and a browser, started before the
 * file's tests and stopped after them, with its screenshot directory. Read `app` and
 * `browser` inside tests (they exist once the file's `beforeAll` ran).
 */
export function usePageRig(label: string, clock: TestClock): PageRig {
  let app: LocalApp | undefined;
  let browser: Browser | undefined;
  const shots = screenshotDir(label);
  beforeAll(async () => {
    app = await startTestApp({ overrides: { now: clock.now } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    shots.remove();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the page rig starts in beforeAll: read it inside a test');
    return value;
  };
  return {
    get app() {
      return started(app);
    },
    get browser() {
      return started(browser);
    },
    shots: shots.path,
  };
}
