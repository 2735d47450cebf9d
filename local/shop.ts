/**
 * The demo shop `npm start` serves beside the waiting room (issue 9): a small ticketing
 * backend protected the way a team adopting fairqueue protects theirs, with the package's
 * own middleware (`fairqueue/verifier`'s `expressAccess`, from shared/verifier), and the
 * page at `/shop` an admitted fan lands on after claiming.
 *
 * `POST /shop/api/orders?event=ID` with the fan's access token places an order and then
 * ends the fan's session (`POST /v1/events/{id}/complete` with the same token), as a
 * ticketing backend does once it has sold: the slot goes to the next fan. Orders live in
 * this process only: it is a demo of the flow, not a shop.
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EVENT_ID_PATTERN } from '#domain/event';
import type { AccessClaims } from '#domain/tokens';
import { errorBody } from '#http/http';
import { bearerToken } from '#verifier/bearer';
import { checkAccess } from '#verifier/check-access';
import { SessionEndedError } from '#verifier/errors';
import { expressAccess } from '#verifier/express';
import { createAccessVerifier } from '#verifier/verify';

/** What the shop sells, in whole dollars. */
export const CATALOGUE = [
  { sku: 'standard', name: 'Standard ticket', priceUsd: 65 },
  { sku: 'vip', name: 'VIP ticket', priceUsd: 180 },
] as const;
/** Tickets an order may hold, all kinds together. */
export const MAX_TICKETS = 4;
const MAX_BODY_BYTES = 8 * 1024;

export interface Order {
  readonly orderId: string;
  readonly eventId: string;
  readonly sessionId: string;
  readonly items: readonly { readonly sku: string; readonly quantity: number }[];
  readonly totalUsd: number;
}

type Middleware = ReturnType<typeof expressAccess>;

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The order's lines, or a message saying what is wrong with them. */
export function readOrderItems(body: unknown): { items: Order['items'] } | { problem: string } {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items) || items.length === 0) return { problem: '`items` must be a non-empty list.' };
  const out: { sku: string; quantity: number }[] = [];
  for (const item of items) {
    const { sku, quantity } = (item ?? {}) as { sku?: unknown; quantity?: unknown };
    if (!CATALOGUE.some((c) => c.sku === sku)) return { problem: `Unknown sku: ${JSON.stringify(sku)}.` };
    if (!Number.isSafeInteger(quantity) || (quantity as number) < 1)
      return { problem: '`quantity` must be a whole number of at least 1.' };
    if (out.some((line) => line.sku === sku)) return { problem: `${sku} is listed twice.` };
    out.push({ sku: sku as string, quantity: quantity as number });
  }
  if (out.reduce((n, line) => n + line.quantity, 0) > MAX_TICKETS)
    return { problem: `At most ${MAX_TICKETS} tickets an order.` };
  return { items: out };
}

/**
 * The shop's API. `apiUrl` is the waiting room's base URL (known once it listens): the JWKS
 * the middleware verifies against, and the `complete` route.
 */
export function demoShop(apiUrl: () => string) {
  const guards = new Map<string, Middleware>();
  const orders = new Map<string, Order>();
  // The sale of each session, one at a time: `complete` is idempotent (204 every time), so two
  // orders racing past the online check would both see 204 and both sell. The later one waits
  // here, then finds the session ended. (A backend on many machines needs a conditional write
  // keyed by `sid` instead: these orders live in this process only.)
  const selling = new Map<string, Promise<unknown>>();
  const oneSaleAtATime = async <T>(sessionId: string, sell: () => Promise<T>): Promise<T> => {
    const before = selling.get(sessionId);
    const mine = (before ?? Promise.resolve()).catch(() => undefined).then(sell);
    selling.set(sessionId, mine);
    try {
      return await mine;
    } finally {
      if (selling.get(sessionId) === mine) selling.delete(sessionId);
    }
  };
  const guard = (eventId: string) => {
    let middleware = guards.get(eventId);
    if (!middleware) {
      // The package's own verifier and middleware, as a team's backend would use them.
      const verify = createAccessVerifier({ jwksUrl: `${apiUrl()}/.well-known/jwks.json`, eventId });
      middleware = expressAccess({ verify });
      guards.set(eventId, middleware);
    }
    return middleware;
  };

  /** The order, once the session is seen running and then ended; `null` when it had ended. */
  const sell = async (
    req: IncomingMessage,
    eventId: string,
    claims: AccessClaims,
    items: Order['items'],
  ): Promise<Order | null> => {
    // The token verified offline; whether its session still runs is asked online (it may
    // have been completed, here or elsewhere, before its `exp`): never sell twice.
    const token = bearerToken(req.headers) ?? '';
    try {
      await checkAccess({ baseUrl: apiUrl(), eventId, token, cache: false });
    } catch (error) {
      if (!(error instanceof SessionEndedError)) throw error;
      return null;
    }
    // Sold: end the fan's session, so its slot goes to the next fan in line.
    const done = await fetch(`${apiUrl()}/v1/events/${eventId}/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    // Otherwise the session ended meanwhile (completed elsewhere, or its window ran out): no sale.
    if (done.status !== 204) return null;
    const total = items.reduce(
      (sum, line) => sum + line.quantity * (CATALOGUE.find((c) => c.sku === line.sku)?.priceUsd ?? 0),
      0,
    );
    const order: Order = { orderId: randomUUID(), eventId, sessionId: claims.sid, items, totalUsd: total };
    orders.set(order.orderId, order);
    return order;
  };

  return {
    orders,
    /** Answers `/shop/api/…`; false for any other path. */
    async serve(req: IncomingMessage & { fairqueue?: AccessClaims }, res: ServerResponse, url: URL) {
      if (!url.pathname.startsWith('/shop/api/')) return false;
      if (url.pathname !== '/shop/api/orders') {
        send(res, 404, errorBody('not_found', 'No such shop route.'));
        return true;
      }
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        send(res, 405, errorBody('method_not_allowed', `${req.method} is not allowed here.`));
        return true;
      }
      const eventId = url.searchParams.get('event') ?? '';
      if (!EVENT_ID_PATTERN.test(eventId)) {
        send(res, 400, errorBody('invalid_event_id', 'Say which event with ?event=<event id>.'));
        return true;
      }
      const passed = await new Promise<boolean>((resolve) => {
        res.once('finish', () => resolve(false));
        guard(eventId)(req, res, () => resolve(true));
      });
      const claims = req.fairqueue;
      if (!passed || !claims) return true;
      const raw = await readBody(req);
      if (raw === null) {
        send(res, 413, errorBody('payload_too_large', `The body is over ${MAX_BODY_BYTES} bytes.`));
        return true;
      }
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        send(res, 400, errorBody('invalid_body', 'The body must be JSON.'));
        return true;
      }
      const read = readOrderItems(body);
      if ('problem' in read) {
        send(res, 400, errorBody('invalid_body', read.problem));
        return true;
      }
      const sold = await oneSaleAtATime(claims.sid, () => sell(req, eventId, claims, read.items));
      if (sold) send(res, 201, sold);
      else send(res, 409, errorBody('session_ended', 'Your purchase window is over; nothing was sold.'));
      return true;
    },
  };
}
