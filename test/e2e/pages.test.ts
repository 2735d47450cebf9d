/**
 * The local pages in a real browser (headless Chromium) against the in-process app:
 * the waiting room at `/` with two fans (the operator page at `/admin`: admin-page.test.ts).
 *
 * The server runs on a TestClock and the line moves only when the test calls
 * `app.tick()`; the pages' own timers are real (they poll every ≥ 2 s), so every
 * check waits for the page to show the expected state rather than sleeping.
 * Screenshots go to FQ_SCREENSHOT_DIR when set, else to a temp dir removed afterwards.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalApp } from '#local/app';
import { launchBrowser, textOf } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { call, startTestApp } from '../support/local-app.ts';

/** Long enough for a page poll (every 2 s) plus a slow machine; never a timing assertion. */
const WAIT = { timeout: 15_000, interval: 100 };

let app: LocalApp;
let browser: Browser;
let shotDir: string;
const keepShots = Boolean(process.env.FQ_SCREENSHOT_DIR);
const clock = new TestClock();
/** Uncaught errors and console errors of every page opened, checked after each test. */
const pageErrors: string[] = [];

beforeAll(async () => {
  app = await startTestApp({ overrides: { now: clock.now } });
  browser = await launchBrowser();
  if (process.env.FQ_SCREENSHOT_DIR) {
    shotDir = process.env.FQ_SCREENSHOT_DIR;
    mkdirSync(shotDir, { recursive: true });
  } else {
    shotDir = mkdtempSync(join(tmpdir(), 'fq-pages-'));
  }
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (shotDir && !keepShots) rmSync(shotDir, { recursive: true, force: true });
});

/**
 * A fresh browser profile (own localStorage), as a separate fan or operator would have.
 * `clock`: the page's time is playwright's (installed before the page loads, running until
 * the test pauses it). `expectedErrors`: console errors the test provokes itself (Chromium
 * logs every refused WebSocket handshake).
 */
async function open(path: string, options: { clock?: boolean; expectedErrors?: RegExp } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  if (options.clock) await context.clock.install();
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${path}: ${error.message}`));
  page.on('console', (message) => {
    // A 4xx the page asked for (wrong admin token, join of a missing event) is logged by
    // Chromium as a failed resource load; that is the test's doing, not a page error.
    const text = message.text();
    if (
      message.type() === 'error' &&
      !text.includes('Failed to load resource') &&
      !options.expectedErrors?.test(text)
    ) {
      pageErrors.push(`${path}: ${text}`);
    }
  });
  await page.goto(`${app.url}${path}`);
  return page;
}

async function closeAll(...pages: Page[]) {
  for (const page of pages) await page.context().close();
  expect(pageErrors.splice(0)).toEqual([]);
}

/** One admission tick, a couple of server seconds after the last. */
async function tick() {
  clock.advance(2);
  await app.tick();
}

const text = (locator: Locator) => expect.poll(() => textOf(locator), WAIT);

/** The wait the page shows, in seconds ("about 2 min 05 s" → 125); NaN when it shows none. */
async function shownWait(page: Page): Promise<number> {
  const shown = (await textOf(page.locator('#eta'))) ?? '';
  const match = shown.match(/^about (?:(\d+) h )?(?:(\d+) min)? ?(?:(\d+) s)?$/);
  if (!match) return Number.NaN;
  const [, h, m, sec] = match;
  return Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(sec ?? 0);
}
const visible = (locator: Locator) => expect.poll(() => locator.isVisible(), WAIT);

function jwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8'));
}

async function putEvent(eventId: string, config: Record<string, unknown> = {}) {
  const res = await call(app, 'PUT', `/v1/admin/events/${eventId}`, {
    admin: true,
    body: { capacity: 1, ...config },
  });
  expect(res.status).toBe(200);
}

describe('waiting room page', () => {
  test('two fans join, are admitted in order, claim and complete; a reload keeps the place', async () => {
    const eventId = 'page-room';
    await putEvent(eventId);
    const fan1 = await open(`/?event=${eventId}`);
    const fan2 = await open(`/?event=${eventId}`);
    await text(fan1.locator('#event-label')).toBe(`· ${eventId}`);

    // Joins one after the other, so the places are known: fan 1 with a user id, fan 2 anonymous.
    await fan1.locator('#user-id').fill('fan-one');
    await fan1.locator('#join').click();
    await text(fan1.locator('#position')).toBe('#1');
    await fan2.locator('#join').click();
    await text(fan2.locator('#position')).toBe('#2');

    for (const [fan, ahead] of [
      [fan1, '1'],
      [fan2, '2'],
    ] as const) {
      await visible(fan.locator('#place-card')).toBe(true);
      expect(await fan.locator('#join-card').isHidden()).toBe(true);
      await text(fan.locator('#status')).toBe('waiting');
      await text(fan.locator('#ahead')).toBe(ahead);
      await text(fan.locator('#serving')).toBe('0');
      await text(fan.locator('#event-state')).toBe('open');
      expect(await fan.locator('#claim').isHidden()).toBe(true);
    }
    await fan1.screenshot({ path: join(shotDir, 'room-waiting.png'), fullPage: true });

    // Capacity 1: the tick admits fan 1 only; the pages learn it from their next poll.
    await tick();
    await text(fan1.locator('#status')).toBe('admitted');
    await visible(fan1.locator('#claim')).toBe(true);
    await text(fan1.locator('#ahead')).toBe('0');
    await text(fan1.locator('#eta')).toBe('none');
    await text(fan1.locator('#claim-by')).toMatch(/^\(before .+\)$/);
    await text(fan2.locator('#ahead')).toBe('1');
    await text(fan2.locator('#serving')).toBe('1');
    expect(await textOf(fan2.locator('#status'))).toBe('waiting');
    expect(await fan2.locator('#claim').isHidden()).toBe(true);
    await fan1.screenshot({ path: join(shotDir, 'room-admitted.png'), fullPage: true });

    await fan1.locator('#claim').click();
    await visible(fan1.locator('#session')).toBe(true);
    await text(fan1.locator('#status')).toBe('active');
    expect(await fan1.locator('#claim-row').isHidden()).toBe(true);
    await text(fan1.locator('#ends-at')).not.toBe('');
    // The token sits in a closed <details>; opening it shows the access token itself.
    await fan1.locator('#session summary').click();
    await visible(fan1.locator('#access-token')).toBe(true);
    const accessToken = (await textOf(fan1.locator('#access-token'))) ?? '';
    expect(accessToken.split('.')).toHaveLength(3);
    expect(jwtPart(accessToken, 0)).toMatchObject({ typ: 'fq-access+jwt', alg: 'ES256' });
    expect(jwtPart(accessToken, 1)).toMatchObject({ aud: eventId, pos: 1, sub: 'fan-one' });
    expect(jwtPart(accessToken, 1).sid).toEqual(expect.any(String));
    await fan1.screenshot({ path: join(shotDir, 'room-session.png'), fullPage: true });

    await fan1.getByRole('button', { name: 'I am done' }).click();
    await visible(fan1.locator('#session')).toBe(false);
    await text(fan1.locator('#status')).toBe('completed');
    expect(await fan1.locator('#claim-row').isHidden()).toBe(true);
    await text(fan1.locator('#error')).toBe('');
    // The session is really over: the access token no longer claims anything.
    const stats = await call(app, 'GET', `/v1/admin/events/${eventId}/stats`, { admin: true });
    expect(stats.body).toMatchObject({ issued: 2, completed: 1, active: 0 });

    // The freed slot goes to fan 2 at the next tick.
    await tick();
    await text(fan2.locator('#status')).toBe('admitted');
    await visible(fan2.locator('#claim')).toBe(true);
    await text(fan2.locator('#ahead')).toBe('0');

    // Fan 2 joined without a user id: only the browser's storage holds the place.
    const stored = await fan2.evaluate(`localStorage.getItem(${JSON.stringify(`fairqueue:${eventId}`)})`);
    expect(JSON.parse(String(stored))).toMatchObject({ position: 2, token: expect.any(String) });
    await fan2.reload();
    await text(fan2.locator('#position')).toBe('#2');
    await text(fan2.locator('#status')).toBe('admitted');
    await visible(fan2.locator('#claim')).toBe(true);
    expect(await fan2.locator('#join-card').isHidden()).toBe(true);
    // Still one place each: the reload did not join again.
    expect((await call(app, 'GET', `/v1/events/${eventId}`)).body.issued).toBe(2);

    await closeAll(fan1, fan2);
  });

  test('the same user id on a second device finds its running session; "forget" clears the place', async () => {
    const eventId = 'page-devices';
    await putEvent(eventId);
    const phone = await open(`/?event=${eventId}`);
    await phone.locator('#user-id').fill('sam');
    await phone.locator('#join').click();
    await text(phone.locator('#position')).toBe('#1');
    await tick();
    // A reload asks for the status at once instead of waiting for the next poll.
    await phone.reload();
    await text(phone.locator('#status')).toBe('admitted');
    await phone.locator('#claim').click();
    await visible(phone.locator('#session')).toBe(true);
    const phoneToken = (await textOf(phone.locator('#access-token'))) ?? '';

    // Same user id elsewhere: same place, already active, and one click brings the same session.
    const laptop = await open(`/?event=${eventId}`);
    await laptop.locator('#user-id').fill('sam');
    await laptop.locator('#join').click();
    await text(laptop.locator('#position')).toBe('#1');
    await text(laptop.locator('#status')).toBe('active');
    expect(await laptop.locator('#session').isHidden()).toBe(true);
    await visible(laptop.locator('#claim')).toBe(true);
    await laptop.locator('#claim').click();
    await visible(laptop.locator('#session')).toBe(true);
    const laptopToken = (await textOf(laptop.locator('#access-token'))) ?? '';
    expect(jwtPart(laptopToken, 1).sid).toBe(jwtPart(phoneToken, 1).sid);
    await text(laptop.locator('#error')).toBe('');

    await laptop.getByRole('button', { name: 'Forget this place' }).click();
    await visible(laptop.locator('#join-card')).toBe(true);
    expect(await laptop.locator('#place-card').isHidden()).toBe(true);
    expect(await laptop.evaluate(`localStorage.getItem("fairqueue:${eventId}")`)).toBeNull();

    await closeAll(phone, laptop);
  });

  test('a fan leaves the line: the places behind move up, and the page says the place is gone', async () => {
    const eventId = 'page-leave';
    await putEvent(eventId);
    const first = await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    const fan = await open(`/?event=${eventId}`);
    await fan.locator('#join').click();
    await text(fan.locator('#ahead')).toBe('2');
    // The fan ahead gives up its place: this one is next now.
    expect(
      (await call(app, 'DELETE', `/v1/events/${eventId}/place`, { token: first.body.token })).status,
    ).toBe(204);
    // A leave tells no other socket (the line did not move): the page sees it when it asks next.
    await fan.reload();
    await text(fan.locator('#ahead')).toBe('1');
    await fan.screenshot({ path: join(shotDir, 'room-before-leave.png'), fullPage: true });

    // Leaving asks first: staying is the default, giving up the place takes a second click.
    await fan.getByRole('button', { name: 'Leave the line' }).click();
    await fan.getByRole('button', { name: 'Give up my place' }).click();
    await visible(fan.locator('#left-card')).toBe(true);
    await visible(fan.locator('#join-card')).toBe(true);
    expect(await fan.locator('#place-card').isHidden()).toBe(true);
    expect(await fan.evaluate(`localStorage.getItem("fairqueue:${eventId}")`)).toBeNull();
    await fan.screenshot({ path: join(shotDir, 'room-left.png'), fullPage: true });
    // Gone for good: the admitter never hands it a slot.
    await tick();
    expect((await call(app, 'GET', `/v1/admin/events/${eventId}/stats`, { admin: true })).body).toMatchObject(
      {
        waiting: 0,
        admittedUnclaimed: 0,
      },
    );
    await closeAll(fan);
  });

  test('updates arrive over the WebSocket; when it drops, the page falls back to polling and reconnects', async () => {
    const eventId = 'page-live';
    await putEvent(eventId);
    const first = await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    const fan = await open(`/?event=${eventId}`);
    await fan.locator('#join').click();
    await text(fan.locator('#position')).toBe('#2');
    await text(fan.locator('#live')).toBe('live');
    await text(fan.locator('#ahead')).toBe('2');
    // The line moves: with a live socket the page polls only every 30 s, so this is the socket.
    await tick();
    await app.settle();
    await text(fan.locator('#ahead')).toBe('1');
    await text(fan.locator('#serving')).toBe('1');
    // The server drops every connection: the page says so, keeps polling, and reconnects.
    app.websocket.dropAll();
    await text(fan.locator('#live')).toBe('polling');
    await text(fan.locator('#live')).toBe('live');
    // First in line completes; the fan is admitted and told so over the new socket.
    const claim = await call(app, 'POST', `/v1/events/${eventId}/admission`, { token: first.body.token });
    await call(app, 'POST', `/v1/events/${eventId}/complete`, { token: claim.body.accessToken });
    await tick();
    await app.settle();
    await text(fan.locator('#status')).toBe('admitted');
    await visible(fan.locator('#claim'));
    await closeAll(fan);
  });

  test('a message or status answer older than what the page shows is ignored (seq)', async () => {
    const eventId = 'page-seq';
    await putEvent(eventId);
    await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    const fan = await open(`/?event=${eventId}`);
    await fan.locator('#join').click();
    await text(fan.locator('#position')).toBe('#2');
    await text(fan.locator('#live')).toBe('live');
    const stored = JSON.parse(
      String(await fan.evaluate(`localStorage.getItem(${JSON.stringify(`fairqueue:${eventId}`)})`)),
    ) as { token: string };
    const [connection] = await app.runtime.registry.listPlace(eventId, 2);
    if (!connection) throw new Error('the page is not connected');
    // What the fan-out would send, posted to the connection through the runtime's own management
    // client (the only caller the local @connections endpoint accepts): a newer state, then an
    // older one arriving late, then the newer state again with another estimate (a marker that
    // the older one, sent before it on the same socket, has been handled). Every value the page
    // ever shows as "ahead" is recorded, so a stale value shown for a moment is caught too.
    const send = async (seq: number, ahead: number, estimatedWaitSeconds: number) => {
      const posted = await app.runtime.poster?.post(
        connection.connectionId,
        JSON.stringify({
          type: 'position',
          seq,
          position: 2,
          servingPosition: 2 - ahead,
          ahead,
          estimatedWaitSeconds,
          token: stored.token,
        }),
      );
      expect(posted).toBe('sent');
    };
    await send(1000, 1, 30);
    await text(fan.locator('#eta')).toBe('about 30 s');
    await fan.evaluate(`
      window.aheadShown = [];
      const ahead = document.getElementById('ahead');
      new MutationObserver(() => window.aheadShown.push(ahead.textContent))
        .observe(ahead, { childList: true, characterData: true, subtree: true });
    `);
    const aheadShown = () => fan.evaluate('window.aheadShown') as Promise<string[]>;
    await send(999, 2, 50);
    await send(1000, 1, 40);
    await text(fan.locator('#eta')).toBe('about 40 s');
    expect(await aheadShown()).not.toContain('2');
    expect(await textOf(fan.locator('#ahead'))).toBe('1');

    // A status answer read before that (seq 1) is not shown either; the page asks again.
    let served = 0;
    await fan.route('**/status', async (route) => {
      served++;
      const real = await route.fetch();
      const body = (await real.json()) as Record<string, unknown>;
      await route.fulfill({ response: real, json: { ...body, seq: 1, ahead: 2, servingPosition: 0 } });
    });
    // A pause makes the page poll at once.
    expect(
      await app.runtime.poster?.post(connection.connectionId, JSON.stringify({ type: 'paused', seq: 1001 })),
    ).toBe('sent');
    await expect.poll(() => served, WAIT).toBeGreaterThanOrEqual(2);
    expect(await aheadShown()).not.toContain('2');
    expect(await textOf(fan.locator('#ahead'))).toBe('1');
    expect(await textOf(fan.locator('#serving'))).toBe('1');
    await fan.unroute('**/status');
    await closeAll(fan);
  });

  test('the page counts down between updates (browser clock controlled); a pause stops the countdown and says why', async () => {
    const eventId = 'page-countdown';
    // A wait over 10 minutes: a live page reads the event document at its own pace (8 s), not
    // the faster pace near the front, so no read lands among the readings below.
    await putEvent(eventId, { expectedPurchaseSeconds: 900 });
    await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    const fan = await open(`/?event=${eventId}`, { clock: true });
    await fan.locator('#join').click();
    await text(fan.locator('#position')).toBe('#2');
    await text(fan.locator('#live')).toBe('live');
    await text(fan.locator('#eta')).toMatch(/^about /);
    // From here on the page's time moves only when the test moves it (and the server's with it).
    await fan.clock.pauseAt((await fan.evaluate(() => Date.now())) + 100);
    const run = async (seconds: number) => {
      clock.advance(seconds);
      await fan.clock.runFor(seconds * 1000);
    };
    // A live page reads the event document every 8 s: let one read land first, so the readings
    // below (4 s) fall between two reads, whenever the join's own read came.
    let documents = 0;
    fan.on('response', (response) => {
      if (new URL(response.url()).pathname === `/v1/events/${eventId}`) documents++;
    });
    // A read the page made before the clock stood still (the join's, its answer late on a busy
    // machine) does not count: only one made while the test runs the clock says when the next is.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = documents;
    for (let i = 0; i < 9 && documents === before; i++) {
      await run(1);
      // The read's answer arrives in real time, the page's clock standing still meanwhile.
      if (documents === before) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(documents).toBeGreaterThan(before);
    // Each reading after the same run of time: the page renders on its own timer, every 250 ms.
    await fan.clock.runFor(1000);
    const waits: number[] = [await shownWait(fan)];
    for (let i = 0; i < 3; i++) {
      await run(1);
      waits.push(await shownWait(fan));
    }
    // Second by second, with no news from the server in between.
    expect(waits.slice(1)).toEqual(waits.slice(0, -1).map((w) => w - 1));
    expect(await textOf(fan.locator('#ahead'))).toBe('2');
    expect(await textOf(fan.locator('#eta-note'))).toBe('');
    expect(await fan.locator('#eta-note').isHidden()).toBe(true);
    for (const [width, name] of [
      [360, 'room-countdown-360.png'],
      [900, 'room-countdown.png'],
    ] as const) {
      await fan.setViewportSize({ width, height: 800 });
      await fan.screenshot({ path: join(shotDir, name), fullPage: true });
    }

    // The line moves: the socket brings the new place, and the countdown goes on from there.
    await tick();
    await app.settle();
    await text(fan.locator('#ahead')).toBe('1');
    await run(1);
    const afterMove = await shownWait(fan);
    await run(2);
    // Two seconds down (a document read landing in between may take a few more off: the
    // document's curve and the message's estimate are worked out apart).
    const moved = await shownWait(fan);
    expect(moved).toBeLessThanOrEqual(afterMove - 2);
    expect(moved).toBeGreaterThanOrEqual(afterMove - 8);

    // Paused: the page says so, and the countdown stands still however long the pause lasts.
    // Status answers the page has read: counted when their body is handed to the page (the
    // client then applies it before anything else runs), not when their headers arrive (a
    // 'response' event), which on a busy machine can be well before the page applied them.
    await fan.evaluate(`(() => {
      window.statusRead = 0;
      window.statusAsked = 0;
      const fetch = window.fetch.bind(window);
      window.fetch = async (input, init) => {
        if (String(input).endsWith('/status')) window.statusAsked++;
        const res = await fetch(input, init);
        if (!String(input).endsWith('/status')) return res;
        const text = res.text.bind(res);
        res.text = async () => {
          const body = await text();
          window.statusRead++;
          return body;
        };
        return res;
      };
    })()`);
    const statusAsked = () => fan.evaluate('window.statusAsked') as Promise<number>;
    /** The page asked for its status more than `before` times, and has read every answer. */
    const statusSettled = (before: number) => () =>
      fan.evaluate(
        `window.statusAsked > ${before} && window.statusAsked === window.statusRead`,
      ) as Promise<boolean>;
    expect((await call(app, 'POST', `/v1/admin/events/${eventId}/pause`, { admin: true })).status).toBe(200);
    await app.settle();
    await text(fan.locator('#event-state')).toBe('paused');
    // The pause makes the page ask its status: at once, or (a read less than a second before,
    // in the page's stopped time) on a timer the page's clock must run for. Run it, then wait
    // until every status asked for has been read, so none lands among the readings below.
    await fan.clock.runFor(1_100);
    await expect.poll(statusSettled(0), WAIT).toBe(true);
    await fan.clock.runFor(300);
    await text(fan.locator('#eta-note')).toContain('paused');
    // It stands still however long the pause lasts, though the live page reads the document
    // meanwhile. Status answers are held back for the stretch: each is news the page shows
    // (the server's estimate moves during a pause too, as running sessions end), and how
    // often the page asks depends on whether its socket counts as live on a busy machine.
    await expect.poll(statusSettled(-1), WAIT).toBe(true);
    const statusPath = `**/v1/events/${eventId}/status`;
    const held: Route[] = [];
    await fan.route(statusPath, (route) => {
      held.push(route);
    });
    const paused = await shownWait(fan);
    await run(20);
    const stillPaused = await shownWait(fan);
    await fan.unroute(statusPath);
    // A request the page gave up on meanwhile cannot be continued: nothing to deliver.
    await Promise.all(held.map((route) => route.continue().catch(() => undefined)));
    expect(stillPaused).toBe(paused);
    await fan.setViewportSize({ width: 360, height: 800 });
    await fan.screenshot({ path: join(shotDir, 'room-paused-360.png'), fullPage: true });

    // Resumed: it counts down again.
    const askedWhilePaused = await statusAsked();
    expect((await call(app, 'POST', `/v1/admin/events/${eventId}/resume`, { admin: true })).status).toBe(200);
    await app.settle();
    await text(fan.locator('#event-state')).toBe('open');
    // The resume asks the status too (the last read is 20 s old: at once); wait for its answer.
    await expect.poll(statusSettled(askedWhilePaused), WAIT).toBe(true);
    await fan.clock.runFor(300);
    const resumed = await shownWait(fan);
    await run(3);
    // It counts down again. (Not necessarily by three: with capacity 1 taken, the line does
    // not move, and a document read may find it stalled and stop the countdown, or bring a
    // lower estimate.)
    const counted = await shownWait(fan);
    expect(counted).toBeLessThan(resumed);
    expect(counted).toBeGreaterThanOrEqual(resumed - 9);
    await text(fan.locator('#eta-note')).toBe('');
    await closeAll(fan);
  });

  test('a refused WebSocket: the page polls the status and reads the event document, and still moves; it connects once it may', async () => {
    const eventId = 'page-refused';
    await putEvent(eventId);
    await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    app.websocket.refuseHandshakes(true);
    try {
      const refusedBefore = app.websocket.refusedHandshakes;
      const fan = await open(`/?event=${eventId}`, { expectedErrors: /WebSocket connection to .* failed/ });
      const reads = { status: 0, document: 0 };
      fan.on('request', (request) => {
        const { pathname } = new URL(request.url());
        if (pathname === `/v1/events/${eventId}/status`) reads.status++;
        if (pathname === `/v1/events/${eventId}`) reads.document++;
      });
      await fan.locator('#join').click();
      await text(fan.locator('#position')).toBe('#2');
      await text(fan.locator('#ahead')).toBe('2');
      // Refused, and refused again after a backoff: the page says it is polling, and polls.
      await expect
        .poll(() => app.websocket.refusedHandshakes - refusedBefore, WAIT)
        .toBeGreaterThanOrEqual(2);
      expect(await textOf(fan.locator('#live'))).toBe('polling');
      await expect.poll(() => reads.status, WAIT).toBeGreaterThanOrEqual(1);
      await expect.poll(() => reads.document, WAIT).toBeGreaterThanOrEqual(1);
      await text(fan.locator('#eta')).toMatch(/^about /);
      expect(await textOf(fan.locator('#error'))).toBe('');

      // The line moves without any socket: the page learns it by reading.
      await tick();
      await text(fan.locator('#ahead')).toBe('1');
      await text(fan.locator('#serving')).toBe('1');
      expect(await app.runtime.registry.listPlace(eventId, 2)).toEqual([]);

      // Connections are taken again: the page goes live by itself.
      app.websocket.refuseHandshakes(false);
      await expect.poll(() => textOf(fan.locator('#live')), { ...WAIT, timeout: 45_000 }).toBe('live');
      await closeAll(fan);
    } finally {
      app.websocket.refuseHandshakes(false);
    }
  });

  test('the waiting room unreachable: the page shows the place from its token as last known, says it is reconnecting, and recovers', async () => {
    const eventId = 'page-offline';
    await putEvent(eventId);
    await call(app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
    const fan = await open(`/?event=${eventId}`, { expectedErrors: /WebSocket connection to .* failed/ });
    await fan.locator('#join').click();
    await text(fan.locator('#position')).toBe('#2');
    await text(fan.locator('#live')).toBe('live');
    await text(fan.locator('#ahead')).toBe('2');
    await text(fan.locator('#eta')).toMatch(/^about /);

    // Nothing answers: every API request fails, the socket is dropped and refused. (The page
    // itself still loads, as it would from a CDN or the browser's cache.)
    await fan.route('**/v1/events/**', (route) => route.abort('connectionrefused'));
    app.websocket.refuseHandshakes(true);
    try {
      app.websocket.dropAll();
      await fan.reload();
      await visible(fan.locator('#place-card')).toBe(true);
      expect(await fan.locator('#join-card').isHidden()).toBe(true);
      await text(fan.locator('#position')).toBe('#2');
      await text(fan.locator('#live')).toBe('reconnecting');
      await text(fan.locator('#offline-note')).toMatch(/cannot be reached.*#2 is kept; trying again/);
      // As last known, and still counting down.
      await text(fan.locator('#status')).toBe('waiting');
      await text(fan.locator('#ahead')).toBe('2');
      const before = await shownWait(fan);
      await expect.poll(() => shownWait(fan), WAIT).toBeLessThan(before);
      await fan.setViewportSize({ width: 360, height: 800 });
      await fan.screenshot({ path: join(shotDir, 'room-offline-360.png'), fullPage: true });

      // Only the token left (a place stored by an older page): its `pos` is still shown.
      const key = JSON.stringify(`fairqueue:${eventId}`);
      await fan.evaluate(`(() => {
        const { token, wsUrl } = JSON.parse(localStorage.getItem(${key}));
        localStorage.setItem(${key}, JSON.stringify({ token, wsUrl }));
      })()`);
      await fan.reload();
      await text(fan.locator('#position')).toBe('#2');
      await text(fan.locator('#live')).toBe('reconnecting');
      expect(await textOf(fan.locator('#ahead'))).toBe('–');

      // Back: the page finds its place again by itself.
      await fan.unroute('**/v1/events/**');
      app.websocket.refuseHandshakes(false);
      await expect.poll(() => textOf(fan.locator('#status')), { ...WAIT, timeout: 45_000 }).toBe('waiting');
      await text(fan.locator('#ahead')).toBe('2');
      await expect.poll(() => textOf(fan.locator('#live')), { ...WAIT, timeout: 45_000 }).toBe('live');
      expect(await fan.locator('#offline-note').isHidden()).toBe(true);
      await closeAll(fan);
    } finally {
      app.websocket.refuseHandshakes(false);
    }
  });

  test('a join the server refuses shows its error and keeps the form', async () => {
    const fan = await open('/?event=no-such-event');
    await fan.locator('#join').click();
    await text(fan.locator('#error')).toContain('(event_not_found)');
    expect(await fan.locator('#place-card').isHidden()).toBe(true);
    expect(await fan.locator('#join').isEnabled()).toBe(true);
    await closeAll(fan);
  });
});
