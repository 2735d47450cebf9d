/** Request schemas: every input is validated here, at the edge, and its type derived from the schema. */
import { z } from 'zod';
import { EVENT_ID_PATTERN } from '#domain/event';
import { INTAKE_MODES } from '#domain/intake';
import { USER_ID_PATTERN } from '#domain/user';

export const MAX_BODY_BYTES = 8 * 1024;

export const eventIdSchema = z.string().regex(EVENT_ID_PATTERN, 'event ids match ^[a-zA-Z0-9_-]{1,64}$');

/** The same rule as an identity token's `sub` (shared/domain/user.ts): user ids end up in keys and logs. */
export const userIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(USER_ID_PATTERN, "userId must be 1-128 printable ASCII characters without spaces or '#'");

export const joinBodySchema = z.strictObject({ userId: userIdSchema.optional() });
export type JoinBody = z.infer<typeof joinBodySchema>;

/**
 * Upper bounds only keep timestamps within the stores' fixed-width keys and numbers
 * sane; they are far above any sale (a year, a billion).
 */
const seconds = z
  .number()
  .int()
  .min(1)
  .max(365 * 24 * 3600);

export const eventConfigBodySchema = z.strictObject({
  capacity: z.number().int().min(1).max(1_000_000_000),
  admitPerMinute: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
  purchaseWindowSeconds: seconds.optional(),
  claimWindowSeconds: seconds.optional(),
  positionTtlSeconds: seconds.optional(),
  nearThreshold: z.number().int().min(0).max(1_000_000_000).optional(),
  expectedPurchaseSeconds: seconds.nullable().optional(),
  intake: z.enum(INTAKE_MODES).optional(),
});
export type EventConfigBody = z.infer<typeof eventConfigBodySchema>;

export const emptyBodySchema = z.strictObject({});

export const devicesBodySchema = z.strictObject({
  platform: z.enum(['fcm', 'apns']),
  /** FCM registration tokens run to a few hundred characters, APNs tokens are 64 hex digits. */
  deviceToken: z
    .string()
    .min(8)
    .max(4096)
    .regex(/^[\x21-\x7e]+$/, 'deviceToken must be printable ASCII without spaces'),
});
