/**
 * Where a waiting room keeps the fan's place (the position token, the place as last shown,
 * an access grant) across reloads and app restarts. The interface is AsyncStorage-shaped, so
 * React Native's AsyncStorage, a browser's `localStorage` and an in-memory map all fit; any
 * method may answer a promise.
 */

/** A key/value store for strings; each method may be synchronous or answer a promise. */
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

/** The synchronous Web Storage shape (`localStorage`, `sessionStorage`), without DOM types. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
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
  let store = target;
  if (store === undefined) {
    try {
      // Reading `localStorage` itself throws where storage is blocked.
      store = (globalThis as { localStorage?: WebStorageLike }).localStorage ?? null;
    } catch {
      store = null;
    }
  }
  if (!store) return memoryStorage();
  const web = store;
  return {
    getItem: (key) => {
      try {
        return web.getItem(key);
      } catch {
        return null;
      }
    },
    setItem: (key, value) => {
      try {
        web.setItem(key, value);
      } catch {
        // Quota or privacy mode: keep going with the place in memory.
      }
    },
    removeItem: (key) => {
      try {
        web.removeItem(key);
      } catch {
        // As above.
      }
    },
  };
}
