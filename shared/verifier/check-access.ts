/**
 * The online check (`GET /v1/events/{eventId}/access`, decision 0014) for backends that must
 * honour `complete` before the token's `exp`. A 200 is kept for the `max-age` its
 * `Cache-Control` allows (at most until `exp`); a 401, 410 or failure is never kept.
 */
import { AccessCheckUnavailableError, AccessTokenRejectedError, SessionEndedError } from './errors.ts';

/**
 * The running session, as the online check answers it.
 *
 * @example
 * ```ts
 * const { sub, sid, pos, exp }: SessionClaims = await checkAccess({ baseUrl, eventId, token });
 * ```
 */
export interface SessionClaims {
  /** The fan (opaque user id). */
  readonly sub: string;
  /** The purchase session id. */
  readonly sid: string;
  /** The fan's place in line. */
  readonly pos: number;
  /** Epoch seconds: the end of the purchase window. */
  readonly exp: number;
}

/**
 * What `checkAccess` takes.
 *
 * @example
 * ```ts
 * const options: CheckAccessOptions = { baseUrl: 'https://queue.example.com', eventId: 'demo', token, cache: false };
 * ```
 */
export interface CheckAccessOptions {
  /** The waiting room's API base, e.g. `https://queue.example.com` (a stage path is kept). */
  readonly baseUrl: string | URL;
  readonly eventId: string;
  /** The fan's access token. */
  readonly token: string;
  /** The cache to keep 200s in (default: one shared by every call); `false` asks every time. */
  readonly cache?: AccessCheckCache | false;
  /** A `fetch` to use instead of the global one (it may honour `signal`; the timeout holds either way). */
  readonly fetch?: (
    url: string,
    init: { headers: Record<string, string>; signal?: AbortSignal },
  ) => Promise<Response>;
  /** Milliseconds to wait for the whole answer before `AccessCheckUnavailableError` (default 5000). */
  readonly timeoutMs?: number;
}

/** As long as jose waits for a JWKS: a waiting room that does not answer is no answer, not a hang. */
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * A small in-memory cache of running sessions, bounded, each entry kept until its `max-age` ends.
 *
 * @example
 * ```ts
 * const cache: AccessCheckCache = createAccessCheckCache({ maxEntries: 1000 });
 * cache.clear(); // e.g. between tests
 * ```
 */
export interface AccessCheckCache {
  get(key: string, nowMs: number): SessionClaims | undefined;
  set(key: string, claims: SessionClaims, untilMs: number): void;
  clear(): void;
}

/**
 * A cache for `checkAccess` (the default one is shared by every call in the process).
 *
 * @example
 * ```ts
 * const cache = createAccessCheckCache({ maxEntries: 1000 });
 * await checkAccess({ baseUrl, eventId, token, cache });
 * ```
 */
export function createAccessCheckCache(options: { maxEntries?: number } = {}): AccessCheckCache {
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, { claims: SessionClaims; untilMs: number }>();
  return {
    get(key, nowMs) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (nowMs >= entry.untilMs) {
        entries.delete(key);
        return undefined;
      }
      return entry.claims;
    },
    set(key, claims, untilMs) {
      entries.delete(key);
      // Oldest first: a Map iterates in insertion order.
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
      entries.set(key, { claims, untilMs });
    },
    clear() {
      entries.clear();
    },
  };
}

const sharedCache = createAccessCheckCache();

/**
 * Seconds a `Cache-Control` lets the answer be kept: 0 for `no-store`/`no-cache` or no `max-age`.
 *
 * @example
 * ```ts
 * import { cacheSeconds } from 'fairqueue/verifier';
 *
 * cacheSeconds('private, max-age=5'); // 5
 * cacheSeconds('no-store'); // 0
 * ```
 */
export function cacheSeconds(cacheControl: string | null): number {
  if (!cacheControl) return 0;
  const directives = cacheControl
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  for (const directive of directives) {
    const match = /^max-age=(\d+)$/.exec(directive);
    if (match?.[1]) return Number(match[1]);
  }
  return 0;
}

function isSessionClaims(value: unknown): value is SessionClaims {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.sub === 'string' &&
    typeof v.sid === 'string' &&
    Number.isInteger(v.pos) &&
    Number.isInteger(v.exp)
  );
}

/**
 * Asks the waiting room whether the access token's session still runs. Resolves to its claims
 * (200); rejects with `SessionEndedError` (410: completed, given up, or window over),
 * `AccessTokenRejectedError` (401: not a genuine access token of this event) or
 * `AccessCheckUnavailableError` (no usable answer). A 200 is reused for the seconds its
 * `Cache-Control: private, max-age` allows, never past `exp`.
 *
 * @example
 * ```ts
 * import { checkAccess, SessionEndedError } from 'fairqueue/verifier';
 *
 * try {
 *   const session = await checkAccess({ baseUrl: 'https://queue.example.com', eventId: 'tour-2027-berlin', token });
 *   console.log(session.sid, 'runs until', new Date(session.exp * 1000));
 * } catch (error) {
 *   if (error instanceof SessionEndedError) console.log('the fan already completed or ran out of time');
 *   else throw error;
 * }
 * ```
 */
export async function checkAccess(options: CheckAccessOptions): Promise<SessionClaims> {
  const cache = options.cache === false ? undefined : (options.cache ?? sharedCache);
  const base = String(options.baseUrl).replace(/\/+$/, '');
  const url = `${base}/v1/events/${encodeURIComponent(options.eventId)}/access`;
  const key = `${url}\n${options.token}`;
  const cached = cache?.get(key, Date.now());
  if (cached) return cached;

  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Headers and body both: a server that answers its headers and then trickles (or never
  // ends) the body would otherwise hold the backend's request for minutes.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new AccessCheckUnavailableError(`access check got no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const ask = async () => {
    const res = await doFetch(url, {
      headers: { authorization: `Bearer ${options.token}` },
      signal: abort.signal,
    });
    const body: unknown = await res.json().catch(() => undefined);
    return { res, body };
  };
  let res: Response;
  let body: unknown;
  try {
    ({ res, body } = await Promise.race([ask(), timedOut]));
  } catch (error) {
    if (error instanceof AccessCheckUnavailableError) throw error;
    throw new AccessCheckUnavailableError('access check failed', { cause: error });
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 401) throw new AccessTokenRejectedError('access token rejected by the waiting room');
  if (res.status === 410) throw new SessionEndedError('the session has ended');
  if (res.status !== 200 || !isSessionClaims(body)) {
    throw new AccessCheckUnavailableError(`access check answered ${res.status}`, { status: res.status });
  }
  const claims: SessionClaims = { sub: body.sub, sid: body.sid, pos: body.pos, exp: body.exp };
  const seconds = cacheSeconds(res.headers.get('cache-control'));
  if (cache && seconds > 0) {
    const nowMs = Date.now();
    cache.set(key, claims, Math.min(nowMs + seconds * 1000, claims.exp * 1000));
  }
  return claims;
}
