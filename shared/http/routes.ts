/**
 * Every HTTP route of fairqueue, in one table. The CDK stack adds each one to the
 * HTTP API and the local gateway matches requests against the same rows, so the
 * two can never disagree about paths, handlers or auth.
 */
export type RouteAuth = 'none' | 'iam';

export interface RouteDef {
  /** API Gateway v2 route key, e.g. `POST /v1/events/{eventId}/join`. */
  readonly routeKey: string;
  /** File under `functions/` (without `.ts`) whose `handler` serves the route. */
  readonly fn: FunctionName;
  /** `iam`: SigV4 on AWS; the local gateway checks `Authorization: Bearer $ADMIN_TOKEN` instead. */
  readonly auth: RouteAuth;
}

export const FUNCTION_NAMES = [
  'join',
  'status',
  'admission',
  'complete',
  'access',
  'leave',
  'devices',
  'event',
  'jwks',
  'admin',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export const ROUTES: readonly RouteDef[] = [
  { routeKey: 'POST /v1/events/{eventId}/join', fn: 'join', auth: 'none' },
  { routeKey: 'GET /v1/events/{eventId}/status', fn: 'status', auth: 'none' },
  { routeKey: 'POST /v1/events/{eventId}/admission', fn: 'admission', auth: 'none' },
  { routeKey: 'POST /v1/events/{eventId}/complete', fn: 'complete', auth: 'none' },
  { routeKey: 'GET /v1/events/{eventId}/access', fn: 'access', auth: 'none' },
  { routeKey: 'DELETE /v1/events/{eventId}/place', fn: 'leave', auth: 'none' },
  { routeKey: 'POST /v1/events/{eventId}/devices', fn: 'devices', auth: 'none' },
  { routeKey: 'GET /v1/events/{eventId}', fn: 'event', auth: 'none' },
  { routeKey: 'GET /.well-known/jwks.json', fn: 'jwks', auth: 'none' },
  { routeKey: 'GET /v1/admin/events', fn: 'admin', auth: 'iam' },
  { routeKey: 'PUT /v1/admin/events/{eventId}', fn: 'admin', auth: 'iam' },
  { routeKey: 'POST /v1/admin/events/{eventId}/pause', fn: 'admin', auth: 'iam' },
  { routeKey: 'POST /v1/admin/events/{eventId}/resume', fn: 'admin', auth: 'iam' },
  { routeKey: 'POST /v1/admin/events/{eventId}/close', fn: 'admin', auth: 'iam' },
  { routeKey: 'GET /v1/admin/events/{eventId}/stats', fn: 'admin', auth: 'iam' },
];
