/**
 * The demo shop beside the waiting room (issue 9, local/shop.ts): a fan's whole journey in
 * Chromium on a phone and a desktop viewport (join → admitted → claim → shop → buy, which
 * ends the session), and the shop's API refusing what it must.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PAGE_WAIT, seriousAxeViolations, shownText, shownVisible, usePageRig } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { call } from '../support/local-app.ts';

// The shop page compares the session's end with the browser's clock: the server's runs from now.
const clock = new TestClock(Date.now());
const rig = usePageRig('shop', clock);
const pageErrors: string[] = [];

async function putEvent(eventId: string) {
  const res = await call(rig.app, 'PUT', `/v1/admin/events/${eventId}`, {
    admin: true,
    body: { capacity: 1 },
  });
  expect(res.status).toBe(200);
}

async function tick() {
  clock.advance(2);
  await rig.app.tick();
}

/** A joined, admitted, claimed fan over the API: its position and access tokens. */
async function claimedFan(eventId: string) {
  await putEvent(eventId);
  const joined = await call(rig.app, 'POST', `/v1/events/${eventId}/join`, { body: {} });
  await tick();
  const claimed = await call(rig.app, 'POST', `/v1/events/${eventId}/admission`, {
    token: joined.body.token,
  });
  expect(claimed.status).toBe(200);
  return { position: joined.body.token as string, access: claimed.body.accessToken as string };
}

describe('demo shop', () => {
  for (const [width, name] of [
    [360, 'phone'],
    [1280, 'desktop'],
  ] as const) {
    test(`the whole journey on a ${name}: the waiting room, the shop, a purchase that ends the session`, async () => {
      const eventId = `shop-${name}`;
      await putEvent(eventId);
      const context = await rig.browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${rig.app.url}/?event=${eventId}`);
      await page.locator('#join').click();
      await shownText(page.locator('#position')).toMatch(/^#\d+$/);
      await tick();
      await shownVisible(page.locator('#claim'));
      await page.locator('#claim').click();
      await shownVisible(page.locator('#shop-link'));
      // The page keeps the claimed session beside the place; the shop reads it there.
      const read = async () =>
        (await page.evaluate(`JSON.parse(localStorage.getItem('fairqueue:${eventId}') ?? 'null')`)) as {
          token: string;
          access?: { accessToken: string };
        } | null;
      await expect.poll(async () => (await read())?.access?.accessToken, PAGE_WAIT).toBeTruthy();
      const stored = await read();
      const accessToken = stored?.access?.accessToken ?? '';
      await page.locator('#shop-link').click();

      await page.waitForURL(`**/shop?event=${eventId}`);
      await shownText(page.locator('#countdown')).toMatch(/^\d+:\d\d$/);
      expect(await page.locator('#buy').isEnabled()).toBe(true);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await page.screenshot({ path: join(rig.shots, `shop-${name}.png`), fullPage: true });

      await page.getByLabel('How many').first().selectOption('2');
      await page.locator('#buy').click();
      await shownText(page.locator('#receipt-text')).toMatch(/^Order [0-9a-f]{8}: 2 tickets, \$130\.$/);
      expect(await seriousAxeViolations(page)).toEqual([]);
      await page.screenshot({ path: join(rig.shots, `shop-${name}-done.png`), fullPage: true });

      // The backend ended the session: the place is completed, and its access token is over.
      const status = await call(rig.app, 'GET', `/v1/events/${eventId}/status`, { token: stored?.token });
      expect(status.body.status).toBe('completed');
      expect(
        (await call(rig.app, 'GET', `/v1/events/${eventId}/access`, { token: accessToken })).status,
      ).toBe(410);
      // Back on the shop, nothing more to sell.
      await page.reload();
      await shownVisible(page.locator('#no-session'));
      await context.close();
      expect(pageErrors.splice(0)).toEqual([]);
    });
  }

  test('the shop API refuses what it must, and sells nothing then', async () => {
    const { position, access } = await claimedFan('shop-api');
    const orders = '/shop/api/orders?event=shop-api';
    const body = { items: [{ sku: 'standard', quantity: 1 }] };
    const expectError = (
      res: { status: number; body: { error?: { code?: string } } },
      status: number,
      code: string,
    ) => expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
    expectError(await call(rig.app, 'POST', orders, { body }), 401, 'invalid_token');
    expectError(await call(rig.app, 'POST', orders, { body, token: position }), 401, 'invalid_token');
    expectError(await call(rig.app, 'POST', orders, { body, token: `${access}x` }), 401, 'invalid_token');
    // Another event's shop does not take this event's token.
    expectError(
      await call(rig.app, 'POST', '/shop/api/orders?event=other', { body, token: access }),
      401,
      'invalid_token',
    );
    expectError(
      await call(rig.app, 'POST', '/shop/api/orders?event=..', { body, token: access }),
      400,
      'invalid_event_id',
    );
    for (const bad of [
      {},
      { items: [] },
      { items: [{ sku: 'gold', quantity: 1 }] },
      { items: [{ sku: 'vip', quantity: 0 }] },
      { items: [{ sku: 'vip', quantity: 1.5 }] },
      { items: [{ sku: 'vip', quantity: 5 }] },
      {
        items: [
          { sku: 'vip', quantity: 1 },
          { sku: 'vip', quantity: 1 },
        ],
      },
    ])
      expectError(await call(rig.app, 'POST', orders, { body: bad, token: access }), 400, 'invalid_body');
    expect((await call(rig.app, 'GET', orders, { token: access })).status).toBe(405);
    // None of that sold anything or ended the session.
    expect((await call(rig.app, 'GET', '/v1/events/shop-api/access', { token: access })).status).toBe(200);
    const sold = await call(rig.app, 'POST', orders, { body, token: access });
    expect(sold.status).toBe(201);
    expect(sold.body).toMatchObject({ eventId: 'shop-api', items: body.items, totalUsd: 65 });
    // Sold once: the session is over, and a second order is refused.
    expectError(await call(rig.app, 'POST', orders, { body, token: access }), 409, 'session_ended');
  });

  test('a tampered stored session shows no session, never NaN or Invalid Date', async () => {
    const context = await rig.browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    for (const access of [
      { accessToken: 'a.b.c', expiresAt: {} },
      { accessToken: 'a.b.c', expiresAt: '9999999999' },
      { accessToken: 'a.b.c', expiresAt: 1e300 },
      { accessToken: { forged: true }, expiresAt: 2_000_000_000 },
      'garbage',
    ]) {
      await page.goto(`${rig.app.url}/shop?event=shop-tampered`);
      const stored = JSON.stringify(JSON.stringify({ access }));
      await page.evaluate(`localStorage.setItem('fairqueue:shop-tampered', ${stored})`);
      await page.reload();
      await shownVisible(page.locator('#no-session'));
      expect(await page.locator('#session').isVisible()).toBe(false);
      expect(await page.evaluate('document.body.innerText')).not.toMatch(/NaN|Invalid Date|undefined/);
    }
    await context.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });

  test('ten orders racing with one access token sell exactly once', async () => {
    const { access } = await claimedFan('shop-race');
    const body = { items: [{ sku: 'vip', quantity: 1 }] };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        call(rig.app, 'POST', '/shop/api/orders?event=shop-race', { body, token: access }),
      ),
    );
    // `complete` answers 204 every time (idempotent): the shop must not take that as its own sale.
    expect(answers.map((a) => a.status).sort()).toEqual([201, ...Array<number>(9).fill(409)]);
  });
});
