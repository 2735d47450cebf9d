/**
 * `indexedDbStorage` (fairqueue/client) in a real browser (headless Chromium) against the
 * in-process app: the client bundle the runtime serves at `/client.js`, imported by a blank
 * page of the app's origin (served by the test, so no page script of ours runs beside it).
 * Round trip, a reload, a second store in the same database, and a waiting room that
 * resumes its place from IndexedDB after a reload and is admitted on it.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type * as Client from '#client/index';
import type { LocalApp } from '#local/app';
import { launchBrowser } from '../support/browser.ts';
import { claimsOf } from '../support/forge.ts';
import { call, startTestApp } from '../support/local-app.ts';

const EVENT = 'idb-shop';
/** Long enough for a page poll plus a slow machine; never a timing assertion. */
const WAIT = { timeout: 20_000, interval: 100 };

/**
 * The blank page's globals as the functions given to `page.evaluate` use them (they run in
 * the page; this file compiles without the DOM library, so the little used is declared here).
 */
type PageGlobals = {
  fq: typeof Client;
  room: Client.WaitingRoom;
  location: { origin: string };
  indexedDB: Client.IndexedDbFactoryLike;
};

let app: LocalApp;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  app = await startTestApp();
  const put = await call(app, 'PUT', `/v1/admin/events/${EVENT}`, { admin: true, body: { capacity: 5 } });
  expect(put.status).toBe(200);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

/** A fresh profile (its own IndexedDB) on a blank page of the app's origin, the client on `window.fq`. */
async function openBlank(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  await context.route(`${app.url}/blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>fan</title>' }),
  );
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await loadClient(page, 'goto');
  return { context, page };
}

/** (Re)loads the blank page and imports the served client bundle into it as `window.fq`. */
async function loadClient(page: Page, how: 'goto' | 'reload'): Promise<void> {
  if (how === 'goto') await page.goto(`${app.url}/blank`);
  else await page.reload();
  // A string, so the test's own module transform leaves the browser's `import()` alone.
  await page.evaluate("import('/client.js').then((client) => { window.fq = client; })");
}

/** The value under `key` read with IndexedDB's own API (not the adapter): undefined when absent. */
function rawRead(page: Page, databaseName: string, storeName: string, key: string): Promise<unknown> {
  return page.evaluate(
    ({ databaseName, storeName, key }) =>
      new Promise((resolve, reject) => {
        const open = (globalThis as unknown as PageGlobals).indexedDB.open(databaseName);
        open.onerror = () => reject(new Error(`cannot open ${databaseName}`));
        open.onsuccess = () => {
          const db = open.result;
          const get = db.transaction(storeName, 'readonly').objectStore(storeName).get(key);
          get.onsuccess = () => {
            db.close();
            resolve(get.result);
          };
          get.onerror = () => reject(new Error(`cannot read ${key}`));
        };
      }),
    { databaseName, storeName, key },
  );
}

describe('indexedDbStorage in Chromium', () => {
  test('set, get and remove round trip, kept in IndexedDB itself, and a reload keeps them', async () => {
    const { context, page } = await openBlank();
    const first = await page.evaluate(async () => {
      const { indexedDbStorage } = (globalThis as unknown as PageGlobals).fq;
      const storage = indexedDbStorage({ databaseName: 'fq-test' });
      await storage.setItem('kept', 'one');
      await storage.setItem('gone', 'two');
      await storage.setItem('kept', 'three'); // the later write wins
      const read = [
        await storage.getItem('kept'),
        await storage.getItem('gone'),
        await storage.getItem('never'),
      ];
      await storage.removeItem('gone');
      // Not awaited, as the waiting room writes: they still take effect in call order.
      void storage.setItem('raced', 'first');
      void storage.removeItem('raced');
      void storage.setItem('raced', 'last');
      return { read, afterRemove: await storage.getItem('gone'), raced: await storage.getItem('raced') };
    });
    expect(first).toEqual({ read: ['three', 'two', null], afterRemove: null, raced: 'last' });
    // In the browser's IndexedDB, not the in-memory fallback.
    expect(await rawRead(page, 'fq-test', 'places', 'kept')).toBe('three');

    await loadClient(page, 'reload');
    const afterReload = await page.evaluate(async () => {
      const { indexedDbStorage } = (globalThis as unknown as PageGlobals).fq;
      const storage = indexedDbStorage({ databaseName: 'fq-test' });
      return [await storage.getItem('kept'), await storage.getItem('gone')];
    });
    expect(afterReload).toEqual(['three', null]);
    await context.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });

  test('a second store name in an existing database is added to it (a version upgrade), and kept', async () => {
    const { context, page } = await openBlank();
    await page.evaluate(async () => {
      const { indexedDbStorage } = (globalThis as unknown as PageGlobals).fq;
      await indexedDbStorage({ databaseName: 'fq-shared' }).setItem('a', 'in places');
      // The first adapter's connection is still open: the upgrade asks it to close, and it does.
      await indexedDbStorage({ databaseName: 'fq-shared', storeName: 'queue' }).setItem('a', 'in queue');
    });
    await loadClient(page, 'reload');
    const read = await page.evaluate(async () => {
      const { indexedDbStorage } = (globalThis as unknown as PageGlobals).fq;
      return [
        await indexedDbStorage({ databaseName: 'fq-shared' }).getItem('a'),
        await indexedDbStorage({ databaseName: 'fq-shared', storeName: 'queue' }).getItem('a'),
      ];
    });
    expect(read).toEqual(['in places', 'in queue']);
    await context.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });

  test('an upgrade another connection blocks (it never closes) keeps the place in memory instead of waiting for ever', async () => {
    const { context, page } = await openBlank();
    const read = await page.evaluate(async () => {
      const globals = globalThis as unknown as PageGlobals & { held?: unknown };
      // Another script of the origin holds the database open, without our store, and does
      // not close on `versionchange`: the adapter's upgrade is blocked for as long as it lives.
      await new Promise<void>((resolve, reject) => {
        const open = globals.indexedDB.open('fq-held', 1);
        open.onupgradeneeded = () => open.result.createObjectStore('theirs');
        open.onsuccess = () => {
          globals.held = open.result;
          resolve();
        };
        open.onerror = () => reject(new Error('cannot open fq-held'));
      });
      const storage = globals.fq.indexedDbStorage({ databaseName: 'fq-held' });
      await storage.setItem('a', 'kept in memory');
      return storage.getItem('a');
    });
    expect(read).toBe('kept in memory');
    await context.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });

  test('createWaitingRoom with it resumes the same place after a reload, and is admitted on it', async () => {
    const { context, page } = await openBlank();
    const joined = await page.evaluate(async (eventId) => {
      const page = globalThis as unknown as PageGlobals;
      const { createWaitingRoom, indexedDbStorage } = page.fq;
      const room = createWaitingRoom({
        baseUrl: page.location.origin,
        eventId,
        storage: indexedDbStorage(),
      });
      const state = await room.join({ userId: 'ivy' });
      return { position: state.position, status: state.status };
    }, EVENT);
    expect(joined).toEqual({ position: expect.any(Number), status: 'waiting' });
    // The room writes its place without waiting for it: reload once IndexedDB holds it.
    await expect
      .poll(async () => typeof (await rawRead(page, 'fairqueue', 'places', `fairqueue:${EVENT}`)), WAIT)
      .toBe('string');

    await loadClient(page, 'reload');
    const resumed = await page.evaluate(async (eventId) => {
      const page = globalThis as unknown as PageGlobals;
      const { createWaitingRoom, indexedDbStorage } = page.fq;
      const room = createWaitingRoom({
        baseUrl: page.location.origin,
        eventId,
        storage: indexedDbStorage(),
      });
      (globalThis as unknown as PageGlobals).room = room;
      await room.ready;
      return { position: room.state.position, status: room.state.status };
    }, EVENT);
    expect(resumed).toEqual({ position: joined.position, status: 'waiting' });

    // The resumed place is the real one: the admitter admits it and the room claims on it.
    await app.tick();
    const roomStatus = () => page.evaluate(() => (globalThis as unknown as PageGlobals).room.state.status);
    await expect.poll(roomStatus, WAIT).toBe('admitted');
    const grant = await page.evaluate(() => (globalThis as unknown as PageGlobals).room.claim());
    expect(claimsOf(grant.accessToken)).toMatchObject({ sub: 'ivy', pos: joined.position });
    await context.close();
    expect(pageErrors.splice(0)).toEqual([]);
  });
});
