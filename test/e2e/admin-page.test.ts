/**
 * The operator page (`/admin`) in a real browser (headless Chromium) against the in-process
 * app: the events list, creating an event, editing its settings, pause / resume / close
 * behind a confirmation, and live charts drawn from the stats route.
 *
 * The server runs on a TestClock and the line moves only when the test calls `app.tick()`;
 * the page polls every 2 s with real timers, so every check waits for the page to show the
 * expected state (expect.poll) rather than sleeping. Screenshots go to FQ_SCREENSHOT_DIR
 * when set, else to a temp dir removed afterwards.
 */
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { PAGE_WAIT, seriousAxeViolations, shownText, textOf, usePageRig } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { call, TEST_ADMIN_TOKEN } from '../support/local-app.ts';

const clock = new TestClock();
const rig = usePageRig('admin', clock);
const pageErrors: string[] = [];

async function open(width: number): Promise<Page> {
  const context = await rig.browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // The first load uses the page's default token, which the test app refuses (a 401 logged
    // by Chromium as a failed resource load): the test's doing, not a page error.
    if (message.type() === 'error' && !message.text().includes('Failed to load resource'))
      pageErrors.push(message.text());
  });
  await page.goto(`${rig.app.url}/admin`);
  await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Reload events' }).click();
  return page;
}

async function putEvent(eventId: string, config: Record<string, unknown> = {}) {
  const res = await call(rig.app, 'PUT', `/v1/admin/events/${eventId}`, { admin: true, body: config });
  expect(res.status).toBe(200);
}

async function stats(eventId: string): Promise<Record<string, unknown>> {
  const res = await call(rig.app, 'GET', `/v1/admin/events/${eventId}/stats`, { admin: true });
  expect(res.status).toBe(200);
  return res.body;
}

/** A chart's drawn series (uPlot's `data`: x values first, then one array per series). */
async function chartData(page: Page, key: string): Promise<(number | null)[][]> {
  return (await page.evaluate(`window.fairqueueAdmin.plots[${JSON.stringify(key)}]?.data ?? []`)) as (
    | number
    | null
  )[][];
}
const lastOf = async (page: Page, key: string, series = 1) => (await chartData(page, key))[series]?.at(-1);
const canvasOf = async (page: Page, key: string) =>
  String(await page.evaluate(`document.querySelector('#chart-${key} canvas').toDataURL()`));

function row(page: Page, eventId: string): Locator {
  return page.locator(`#events tr[data-event-id="${eventId}"]`);
}

/** Clicks a state button, checks a confirmation is asked, and answers it. */
async function act(page: Page, action: 'Pause' | 'Resume' | RegExp, answer: 'confirm' | 'cancel') {
  await page.getByRole('button', { name: action }).click();
  const dialog = page.getByRole('dialog');
  await expect.poll(() => dialog.isVisible(), PAGE_WAIT).toBe(true);
  if (answer === 'cancel') await dialog.getByRole('button', { name: 'Cancel' }).click();
  else await dialog.getByRole('button', { name: /^(Pause|Resume|Close event)$/ }).click();
  await expect.poll(() => dialog.isVisible(), PAGE_WAIT).toBe(false);
}

test('lists and creates events, edits settings, pauses/resumes/closes with confirmation, charts live data', async () => {
  await putEvent('ops-a', { capacity: 2 });
  await putEvent('ops-b', { capacity: 5, admitPerMinute: 30 });
  const page = await open(1280);

  // Every event is listed with its state and settings.
  await expect.poll(() => row(page, 'ops-b').isVisible(), PAGE_WAIT).toBe(true);
  await shownText(row(page, 'ops-a')).toContain('open');
  expect(await textOf(row(page, 'ops-b'))).toContain('30');

  await page.getByRole('button', { name: 'Show event ops-a' }).click();
  await shownText(page.locator('#event-name')).toBe('ops-a');
  await shownText(page.locator('#s-waiting')).toBe('0');
  expect(await page.locator('#config-form').getByLabel('Capacity').inputValue()).toBe('2');
  const queueBefore = await canvasOf(page, 'queue');

  // Fans join and the admitter ticks: the charts draw what the stats route says.
  for (const userId of ['f1', 'f2', 'f3', 'f4', 'f5']) {
    expect((await call(rig.app, 'POST', '/v1/events/ops-a/join', { body: { userId } })).status).toBe(201);
  }
  await expect.poll(() => lastOf(page, 'queue'), PAGE_WAIT).toBe(5);
  clock.advance(2);
  await rig.app.tick();
  clock.advance(2);
  await rig.app.tick();
  await shownText(page.locator('#s-waiting')).toBe('3');
  await expect.poll(() => lastOf(page, 'queue'), PAGE_WAIT).toBe(3);
  await expect.poll(() => lastOf(page, 'sessions'), PAGE_WAIT).toBe(2);
  expect(await lastOf(page, 'sessions', 2)).toBe(0);
  await expect
    .poll(async () => Math.max(...((await chartData(page, 'rate'))[1] ?? []).map(Number)), PAGE_WAIT)
    .toBe(2);
  const queueSeries = (await chartData(page, 'queue'))[1] ?? [];
  expect(queueSeries).toContain(5);
  expect(await canvasOf(page, 'queue')).not.toBe(queueBefore);
  await shownText(page.locator('#c-queue-now')).toBe('Now: Waiting: 3');
  await page.screenshot({ path: join(rig.shots, 'admin-desktop.png'), fullPage: true });
  expect(await seriousAxeViolations(page)).toEqual([]);

  // Settings: capacity (and a window, and the expected purchase time) saved through the page.
  await page.locator('#config-form').getByLabel('Capacity').fill('4');
  await page.getByLabel('Claim window (s)').fill('120');
  await page.getByLabel('Expected purchase (s)').fill('90');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await shownText(page.locator('#config-saved')).toContain('Saved');
  const saved = await stats('ops-a');
  expect(saved.capacity).toBe(4);
  await shownText(row(page, 'ops-a')).toContain('4');
  const listed = await call(rig.app, 'GET', '/v1/admin/events', { admin: true });
  const config = (listed.body.events as { eventId: string }[]).find((e) => e.eventId === 'ops-a');
  expect(config).toMatchObject({ capacity: 4, claimWindowSeconds: 120, expectedPurchaseSeconds: 90 });
  clock.advance(2);
  await rig.app.tick();
  await expect.poll(() => lastOf(page, 'queue'), PAGE_WAIT).toBe(1);

  // Pause, resume, close: each asks first, and a cancel changes nothing.
  await act(page, 'Pause', 'cancel');
  expect((await stats('ops-a')).state).toBe('open');
  await act(page, 'Pause', 'confirm');
  await shownText(page.locator('#s-state')).toBe('paused');
  expect((await stats('ops-a')).state).toBe('paused');
  await act(page, 'Resume', 'confirm');
  await shownText(page.locator('#s-state')).toBe('open');
  expect((await stats('ops-a')).state).toBe('open');
  // Close by keyboard: Enter opens the confirmation on Cancel; Tab, Enter confirms.
  await page.getByRole('button', { name: /^Close/ }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('dialog').isVisible(), PAGE_WAIT).toBe(true);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await shownText(page.locator('#s-state')).toBe('closed');
  expect((await stats('ops-a')).state).toBe('closed');
  await shownText(row(page, 'ops-a')).toContain('closed');
  expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);

  // A new event from the page: listed and shown at once.
  await page.getByLabel('New event id').fill('ops-new');
  await page.locator('#new-capacity').fill('7');
  await page.locator('#new-intake').selectOption('sharded');
  await page.getByRole('button', { name: 'Create event' }).click();
  await shownText(page.locator('#event-name')).toBe('ops-new');
  await shownText(page.locator('#s-intake')).toBe('sharded');
  await shownText(row(page, 'ops-new')).toContain('7');
  expect((await stats('ops-new')).capacity).toBe(7);

  // A wrong token: refused, and said so.
  await page.getByLabel('Admin token').fill('wrong');
  await page.getByRole('button', { name: 'Reload events' }).click();
  await shownText(page.locator('#error')).toContain('(unauthorized)');
  await page.context().close();
  expect(pageErrors.splice(0)).toEqual([]);
});

test('works at 360 px: no sideways scrolling, charts drawn, no serious accessibility problems', async () => {
  await putEvent('demo', { capacity: 3 });
  for (const userId of ['p1', 'p2', 'p3', 'p4']) {
    await call(rig.app, 'POST', '/v1/events/demo/join', { body: { userId } });
  }
  clock.advance(2);
  await rig.app.tick();
  const page = await open(360);
  await page.getByRole('button', { name: 'Show event demo' }).click();
  await shownText(page.locator('#s-waiting')).toBe('1');
  await expect.poll(() => lastOf(page, 'queue'), PAGE_WAIT).toBe(1);
  clock.advance(2);
  await rig.app.tick();
  await expect
    .poll(async () => ((await chartData(page, 'queue'))[0] ?? []).length, PAGE_WAIT)
    .toBeGreaterThan(1);
  const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
  expect(width).toBeLessThanOrEqual(360);
  const chartWidth = (await page.locator('#chart-queue canvas').boundingBox())?.width ?? Infinity;
  expect(chartWidth).toBeLessThanOrEqual(360);
  await page.screenshot({ path: join(rig.shots, 'admin-360.png'), fullPage: true });
  expect(await seriousAxeViolations(page)).toEqual([]);
  await page.context().close();
  expect(pageErrors.splice(0)).toEqual([]);
});
