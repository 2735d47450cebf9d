/**
 * A real headless Chromium for page tests, driven by playwright-core.
 *
 * The browser is the system's (Debian's `chromium` package, installed by .ci/run):
 * `npx playwright install` is not used. FQ_CHROMIUM_PATH points at another binary.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Locator } from 'playwright-core';

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
