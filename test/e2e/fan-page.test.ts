/**
 * The fan's page at `/` (issue 9): every screen a fan can reach (waiting, paused, your turn,
 * in, done, missed, closed, left) checked with axe-core (no serious or critical violation)
 * and photographed at 360 px and on a desktop; the progress bar as the line moves, the claim
 * deadline counting down, focus on "your turn", and leaving through its confirmation.
 *
 * The server's clock starts at the real time (the page reads the claim deadline against
 * it) and moves only when the test ticks; the page's timers are real, so every check waits
 * for the page to show the expected state rather than sleeping.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import {
  PAGE_WAIT,
  seriousAxeViolations,
  shownText,
  shownVisible,
  textOf,
  usePageRig,
} from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { call } from '../support/local-app.ts';

const clock = new TestClock(Date.now());
const rig = usePageRig('fan-page', clock);
const pageErrors: string[] = [];

async function putEvent(eventId: string, config: Record<string, unknown> = {}) {
  const res = await call(rig.app, 'PUT', `/v1/admin/events/${eventId}`, {
    admin: true,
    body: { capacity: 1, ...config },
  });
  expect(res.status).toBe(200);
}

async function admin(eventId: string, action: 'pause' | 'resume' | 'close') {
  expect((await call(rig.app, 'POST', `/v1/admin/events/${eventId}/${action}`, { admin: true })).status).toBe(
    200,
  );
  await rig.app.settle();
}

async function tick() {
  clock.advance(2);
  await rig.app.tick();
  await rig.app.settle();
}

/** A fan joined over the API: claims and completes, so the next in line gets the slot. */
async function apiFan(eventId: string) {
  const joined = await call(rig.app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
  return {
    async finish() {
      const claimed = await call(rig.app, 'POST', `/v1/events/${eventId}/admission`, {
        token: joined.body.token,
      });
      expect(claimed.status).toBe(200);
      await call(rig.app, 'POST', `/v1/events/${eventId}/complete`, { token: claimed.body.accessToken });
    },
  };
}

async function openFan(eventId: string): Promise<Page> {
  const context = await rig.browser.newContext({ viewport: { width: 360, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().includes('Failed to load resource'))
      pageErrors.push(message.text());
  });
  await page.goto(`${rig.app.url}/?event=${eventId}`);
  return page;
}

async function joinLine(page: Page, position: number) {
  await page.locator('#join').click();
  await shownText(page.locator('#position')).toBe(`#${position}`);
  await shownText(page.locator('#live')).toBe('live');
}

/** axe on the page at 360 px and on a desktop, and a screenshot of each. */
async function check(page: Page, state: string) {
  for (const [width, name] of [
    [360, 'phone'],
    [1280, 'desktop'],
  ] as const) {
    await page.setViewportSize({ width, height: 800 });
    expect(await seriousAxeViolations(page), `${state} on a ${name}`).toEqual([]);
    await page.screenshot({ path: join(rig.shots, `fan-${state}-${name}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 360, height: 800 });
}

async function done(page: Page) {
  await page.context().close();
  expect(pageErrors.splice(0)).toEqual([]);
}

const progress = (page: Page) => page.locator('#progress').getAttribute('aria-valuenow');
const focused = (page: Page) => page.evaluate('document.activeElement?.id ?? null') as Promise<string | null>;

describe('the fan page', () => {
  test('the join screen', async () => {
    const page = await openFan('fan-join');
    await shownVisible(page.locator('#join-card'));
    await check(page, 'join');
    await done(page);
  });

  test('waiting: the progress bar advances as the line moves; paused and resumed; your turn takes focus, its deadline counts down; in; done', async () => {
    const eventId = 'fan-journey';
    await putEvent(eventId);
    const ahead = [await apiFan(eventId), await apiFan(eventId), await apiFan(eventId)];
    const page = await openFan(eventId);
    await joinLine(page, 4);
    await shownText(page.locator('#headline')).toBe('You are in line');
    // `ahead` counts from the serving position (CONTRACT.md): #4 with nobody admitted has 4.
    await shownText(page.locator('#ahead')).toBe('4');
    await expect.poll(() => progress(page), PAGE_WAIT).toBe('0');
    await shownText(page.locator('#eta')).toMatch(/^about /);
    // Focus went from the join button (now gone) to the place's heading.
    expect(await focused(page)).toBe('headline');
    await check(page, 'waiting');

    // The line moves one place a tick (capacity 1: each fan ahead finishes before the next).
    await tick();
    await shownText(page.locator('#ahead')).toBe('3');
    await expect.poll(() => progress(page), PAGE_WAIT).toBe('25');
    await ahead[0]?.finish();
    await tick();
    await shownText(page.locator('#ahead')).toBe('2');
    await expect.poll(() => progress(page), PAGE_WAIT).toBe('50');
    await ahead[1]?.finish();
    await tick();
    await shownText(page.locator('#ahead')).toBe('1');
    await expect.poll(() => progress(page), PAGE_WAIT).toBe('75');
    expect(await page.locator('#progress').getAttribute('aria-valuetext')).toBe(
      '75% of the way to the front',
    );
    // A milestone is announced (politely), not every change.
    await shownText(page.locator('#announcer')).toBe('You are next: one person ahead of you.');

    await admin(eventId, 'pause');
    await shownText(page.locator('#headline')).toBe('The sale is paused');
    await shownText(page.locator('#eta-note')).toContain('paused');
    await shownText(page.locator('#announcer')).toBe('The sale is paused. Your place is kept.');
    await check(page, 'paused');
    await admin(eventId, 'resume');
    await shownText(page.locator('#headline')).toBe('You are in line');
    await shownText(page.locator('#announcer')).toBe('The sale has resumed.');

    await ahead[2]?.finish();
    await tick();
    await shownText(page.locator('#headline')).toBe('It’s your turn!');
    await shownVisible(page.locator('#claim'));
    await expect.poll(() => focused(page), PAGE_WAIT).toBe('claim');
    await shownText(page.locator('#announcer')).toMatch(
      /^It’s your turn! Claim your place within \d+ minutes?/,
    );
    expect(await progress(page)).toBe('100');
    // The claim deadline counts down with the page's clock (the server's stands still here).
    await shownText(page.locator('#claim-left')).toMatch(/^\d+:\d\d$/);
    const seconds = async () => {
      const [m, s] = ((await textOf(page.locator('#claim-left'))) ?? '').split(':').map(Number);
      return (m ?? 0) * 60 + (s ?? 0);
    };
    const first = await seconds();
    expect(first).toBeGreaterThan(0);
    await expect.poll(seconds, PAGE_WAIT).toBeLessThan(first);
    await check(page, 'your-turn');

    // Keyboard: the focused claim button is pressed with Enter.
    await page.keyboard.press('Enter');
    await shownVisible(page.locator('#shop-link'));
    await shownText(page.locator('#headline')).toBe('You are in');
    await expect.poll(() => focused(page), PAGE_WAIT).toBe('shop-link');
    await check(page, 'in');

    await page.getByRole('button', { name: 'I am done' }).click();
    await shownText(page.locator('#headline')).toBe('All done');
    expect(await page.locator('#claim-row').isHidden()).toBe(true);
    expect(await page.locator('#give-up').isHidden()).toBe(true);
    await check(page, 'done');
    await done(page);
  });

  test('missed: the claim window ran out', async () => {
    const eventId = 'fan-missed';
    await putEvent(eventId, { claimWindowSeconds: 3 });
    const page = await openFan(eventId);
    await joinLine(page, 1);
    await tick();
    await shownText(page.locator('#headline')).toBe('It’s your turn!');
    clock.advance(10);
    // Back online (or in front again): the page asks at once instead of at its next poll.
    await page.evaluate(`window.dispatchEvent(new Event('online'))`);
    await shownText(page.locator('#headline')).toBe('You missed your turn');
    expect(await page.locator('#claim-row').isHidden()).toBe(true);
    await shownText(page.locator('#leave')).toBe('Start again');
    await check(page, 'missed');
    await page.locator('#leave').click();
    await shownVisible(page.locator('#join-card'));
    await done(page);
  });

  test('closed: the sale ended while the fan waited', async () => {
    const eventId = 'fan-closed';
    await putEvent(eventId);
    await apiFan(eventId);
    const page = await openFan(eventId);
    await joinLine(page, 2);
    await admin(eventId, 'close');
    await shownText(page.locator('#headline')).toBe('The sale is closed');
    await shownText(page.locator('#eta')).toBe('–');
    expect(await page.locator('#give-up').isHidden()).toBe(true);
    await check(page, 'closed');
    await done(page);
  });

  test('while the client loads, a stored place is shown only with a place number a line has', async () => {
    const context = await rig.browser.newContext({ viewport: { width: 360, height: 800 } });
    // The client cannot be fetched: the page shows what it stored, and keeps trying.
    await context.route('**/client.js*', (route) => route.abort());
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${rig.app.url}/?event=early`);
    for (const [position, shown] of [
      [7, '#7'],
      [-5, null],
      [0, null],
      [1.5, null],
      ['7', null],
    ] as const) {
      const stored = JSON.stringify(JSON.stringify({ token: 'x', position }));
      await page.evaluate(`localStorage.setItem('fairqueue:early', ${stored})`);
      await page.reload();
      await shownVisible(page.locator('#offline-note'));
      if (shown) await shownText(page.locator('#position')).toBe(shown);
      else expect(await page.locator('#place-card').isVisible()).toBe(false);
    }
    await done(page);
  });

  test('leave: the confirmation keeps the place unless the fan confirms', async () => {
    const eventId = 'fan-leave';
    await putEvent(eventId);
    await apiFan(eventId);
    const page = await openFan(eventId);
    await joinLine(page, 2);
    await page.getByRole('button', { name: 'Leave the line' }).click();
    await shownVisible(page.locator('#leave-dialog'));
    // The safe choice has the focus.
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Stay in line');
    await check(page, 'leave-dialog');
    await page.keyboard.press('Enter');
    await shownVisible(page.locator('#leave-dialog')).toBe(false);
    expect(await focused(page)).toBe('give-up');
    expect(
      (await call(rig.app, 'GET', `/v1/admin/events/${eventId}/stats`, { admin: true })).body.waiting,
    ).toBe(2);

    await page.getByRole('button', { name: 'Leave the line' }).click();
    await page.getByRole('button', { name: 'Give up my place' }).click();
    await shownVisible(page.locator('#left-card'));
    await shownVisible(page.locator('#join-card'));
    await shownText(page.locator('#announcer')).toMatch(/^Your place is gone\./);
    expect(
      (await call(rig.app, 'GET', `/v1/admin/events/${eventId}/stats`, { admin: true })).body.waiting,
    ).toBe(1);
    await check(page, 'left');
    await done(page);
  });
});
