import { createHash } from 'node:crypto';
import type { Platform } from '#domain/push';

/** One key per platform and token: registering the same device twice lands on the same record. */
export function deviceKey(platform: Platform, deviceToken: string): string {
  return `${platform}:${createHash('sha256').update(deviceToken).digest('base64url').slice(0, 22)}`;
}
