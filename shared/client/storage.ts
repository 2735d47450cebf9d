/**
 * Where a waiting room keeps the fan's place (the position token, the place as last shown,
 * an access grant) across reloads and app restarts. The interface is AsyncStorage-shaped, so
 * React Native's AsyncStorage, a browser's `localStorage` or IndexedDB (through the adapters
 * here) and an in-memory map all fit; any method may answer a promise.
 */

/**
 * A key/value store for strings; each method may be synchronous or answer a promise.
 *
 * @example
 * import AsyncStorage from '@react-native-async-storage/async-storage';
 * import { createWaitingRoom, type WaitingRoomStorage } from 'fairqueue/client';
 *
 * const storage: WaitingRoomStorage = AsyncStorage;
 * const room = createWaitingRoom({ baseUrl: 'https://queue.example.com', eventId: 'demo', storage });
 */
export interface WaitingRoomStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/**
 * A store that lives as long as the process: the default, and what tests and servers use.
 *
 * @example
 * const room = createWaitingRoom({ baseUrl, eventId: 'demo', storage: memoryStorage() });
 */
export function memoryStorage(): WaitingRoomStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => {
      items.set(key, value);
    },
    removeItem: (key) => {
      items.delete(key);
    },
  };
}

/**
 * The synchronous Web Storage shape (`localStorage`, `sessionStorage`), without DOM types.
 *
 * @example
 * const perTab: WebStorageLike = window.sessionStorage;
 * const room = createWaitingRoom({ baseUrl, eventId: 'demo', storage: localStorageAdapter(perTab) });
 */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A browser global (`localStorage`, `indexedDB`); null where it is missing or reading it throws. */
function browserGlobal<T>(name: string): T | null {
  try {
    return ((globalThis as Record<string, unknown>)[name] as T | undefined) ?? null;
  } catch {
    return null;
  }
}

/**
 * A browser's `localStorage` (or any object of its shape) as a waiting room's storage; an
 * in-memory store where there is none (React Native, Node, a browser that blocks storage).
 * Writes that fail (a full quota, private mode) are dropped: the place is still held in
 * memory, only a reload would lose it.
 *
 * @example
 * const room = createWaitingRoom({ baseUrl, eventId: 'demo', storage: localStorageAdapter() });
 * // or explicitly: localStorageAdapter(window.sessionStorage)
 */
export function localStorageAdapter(target?: WebStorageLike | null): WaitingRoomStorage {
  // Reading `localStorage` itself throws where storage is blocked.
  const store = target === undefined ? browserGlobal<WebStorageLike>('localStorage') : target;
  if (!store) return memoryStorage();
  return {
    getItem: (key) => {
      try {
        return store.getItem(key);
      } catch {
        return null;
      }
    },
    setItem: (key, value) => {
      try {
        store.setItem(key, value);
      } catch {
        // Quota or privacy mode: keep going with the place in memory.
      }
    },
    removeItem: (key) => {
      try {
        store.removeItem(key);
      } catch {
        // As above.
      }
    },
  };
}

/** An IndexedDB event handler slot, as the adapter sets it (`never`: the DOM's handlers fit). */
type IdbHandler = ((event: never) => void) | null;

/** The little of an `IDBRequest` the adapter reads. */
interface IdbRequestLike<T> {
  readonly result: T;
  onsuccess: IdbHandler;
  onerror: IdbHandler;
}

/** The little of an `IDBDatabase` the adapter uses. */
interface IdbDatabaseLike {
  readonly version: number;
  readonly objectStoreNames: { contains(name: string): boolean };
  onversionchange: IdbHandler;
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: 'readonly' | 'readwrite'): IdbTransactionLike;
  close(): void;
}

/** The little of an `IDBTransaction` the adapter uses. */
interface IdbTransactionLike {
  oncomplete: IdbHandler;
  onerror: IdbHandler;
  onabort: IdbHandler;
  objectStore(name: string): IdbStoreLike;
}

/** The little of an `IDBObjectStore` the adapter uses (string values under out-of-line keys). */
interface IdbStoreLike {
  get(key: string): IdbRequestLike<unknown>;
  put(value: string, key: string): IdbRequestLike<unknown>;
  delete(key: string): IdbRequestLike<unknown>;
}

/**
 * The little of a browser's `indexedDB` (an `IDBFactory`) the adapter uses, declared here so
 * the client compiles without the DOM library; the browser's own `indexedDB` fits it.
 *
 * @example
 * import { indexedDbStorage, type IndexedDbFactoryLike } from 'fairqueue/client';
 *
 * const factory: IndexedDbFactoryLike = window.indexedDB;
 * const storage = indexedDbStorage({ indexedDB: factory });
 */
export interface IndexedDbFactoryLike {
  open(
    name: string,
    version?: number,
  ): IdbRequestLike<IdbDatabaseLike> & {
    onupgradeneeded: IdbHandler;
    onblocked: IdbHandler;
  };
}

/**
 * Options of `indexedDbStorage`.
 *
 * @example
 * import { indexedDbStorage, type IndexedDbStorageOptions } from 'fairqueue/client';
 *
 * const options: IndexedDbStorageOptions = { databaseName: 'my-shop', storeName: 'queue' };
 * const storage = indexedDbStorage(options);
 */
export interface IndexedDbStorageOptions {
  /** The database's name; `fairqueue` unless given. */
  readonly databaseName?: string;
  /** The object store within it (created when missing); `places` unless given. */
  readonly storeName?: string;
  /** The global `indexedDB` unless given; `null`: keep the place in memory only. */
  readonly indexedDB?: IndexedDbFactoryLike | null;
}

/**
 * A browser's IndexedDB as a waiting room's storage: asynchronous, so it also works in a
 * service worker or web worker (no `localStorage` there), and shared by the tabs of an origin.
 * An in-memory store where there is no IndexedDB (React Native, Node) or it cannot be opened
 * (storage blocked); a read or write that fails reads as nothing or is dropped, as with
 * `localStorageAdapter`. Writes resolve once their transaction committed, and operations take
 * effect in the order they were called.
 *
 * @example
 * import { createWaitingRoom, indexedDbStorage } from 'fairqueue/client';
 *
 * const room = createWaitingRoom({
 *   baseUrl: 'https://queue.example.com',
 *   eventId: 'demo',
 *   storage: indexedDbStorage({ databaseName: 'my-shop' }),
 * });
 * await room.ready; // a place kept before a reload is followed again
 * if (room.state.position === null) await room.join();
 */
export function indexedDbStorage(options: IndexedDbStorageOptions = {}): WaitingRoomStorage {
  const databaseName = options.databaseName ?? 'fairqueue';
  const storeName = options.storeName ?? 'places';
  // Reading `indexedDB` itself throws in some sandboxed frames.
  const factory =
    options.indexedDB === undefined ? browserGlobal<IndexedDbFactoryLike>('indexedDB') : options.indexedDB;
  if (!factory) return memoryStorage();
  const fallback = memoryStorage();

  /** Opens the database at `version` (creating the store on upgrade); null when it cannot. */
  const openAt = (version?: number): Promise<IdbDatabaseLike | null> =>
    new Promise((resolve) => {
      let settled = false;
      const settle = (db: IdbDatabaseLike | null) => {
        // Opened after all, once given up on: nobody uses it, so it must not block others.
        if (settled) db?.close();
        else resolve(db);
        settled = true;
      };
      try {
        const request = factory.open(databaseName, version);
        request.onupgradeneeded = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains(storeName)) db.createObjectStore(storeName);
        };
        request.onsuccess = () => settle(request.result);
        request.onerror = () => settle(null);
        // Another connection (a script that ignores `versionchange`) keeps the upgrade
        // waiting for as long as it lives: keep the place in memory rather than wait for ever.
        request.onblocked = () => settle(null);
      } catch {
        settle(null);
      }
    });

  let opening: Promise<IdbDatabaseLike | null> | undefined;
  const database = (): Promise<IdbDatabaseLike | null> => {
    opening ??= (async () => {
      let db = await openAt();
      // The database exists without our store (another store name used it first): upgrade it.
      if (db && !db.objectStoreNames.contains(storeName)) {
        const next = db.version + 1;
        db.close();
        db = await openAt(next);
      }
      if (db) {
        const open = db;
        // Another tab upgrades the database: let it, and open afresh on the next call.
        open.onversionchange = () => {
          open.close();
          opening = undefined;
        };
      }
      return db;
    })();
    return opening;
  };

  // Every call chains on the same opening promise, so transactions are created in call
  // order, and IndexedDB runs transactions on one store in the order they were created.
  return {
    getItem: async (key) => {
      const db = await database();
      if (!db) return fallback.getItem(key);
      return new Promise<string | null>((resolve) => {
        try {
          const request = db.transaction(storeName, 'readonly').objectStore(storeName).get(key);
          request.onsuccess = () => resolve(typeof request.result === 'string' ? request.result : null);
          request.onerror = () => resolve(null);
        } catch {
          resolve(null);
        }
      });
    },
    setItem: async (key, value) => {
      const db = await database();
      if (!db) return fallback.setItem(key, value);
      await write(db, (store) => store.put(value, key));
    },
    removeItem: async (key) => {
      const db = await database();
      if (!db) return fallback.removeItem(key);
      await write(db, (store) => store.delete(key));
    },
  };

  /** One readwrite transaction; settles once it committed, or failed (the write is dropped). */
  function write(db: IdbDatabaseLike, change: (store: IdbStoreLike) => unknown): Promise<void> {
    return new Promise((resolve) => {
      try {
        const transaction = db.transaction(storeName, 'readwrite');
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => resolve();
        transaction.onabort = () => resolve();
        change(transaction.objectStore(storeName));
      } catch {
        resolve();
      }
    });
  }
}
