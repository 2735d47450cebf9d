/** Push milestones (contract: "Push milestones"): when each is due and what it says. */

export type Milestone = 'near' | 'admitted' | 'claim_expiring' | 'closed';

/** Devices one place may register for push: a phone, a tablet, a watch and a reinstall or two. */
export const DEFAULT_MAX_DEVICES_PER_PLACE = 5;
export type Platform = 'fcm' | 'apns';

/** Seconds before `claimBy` at which `claim_expiring` goes out: min(60 s, half the claim window). */
export function claimExpiringLead(claimWindowSeconds: number): number {
  return Math.min(60, Math.floor(claimWindowSeconds / 2));
}

/**
 * Positions that came within `nearThreshold` of the front when serving moved
 * from `from` to `to`, and are not admitted by that move: (max(from+T, to), to+T].
 */
export function newlyNear(
  from: number,
  to: number,
  nearThreshold: number,
): { lo: number; hi: number } | null {
  const lo = Math.max(from + nearThreshold, to) + 1;
  const hi = to + nearThreshold;
  return lo <= hi ? { lo, hi } : null;
}

export interface PushContent {
  readonly eventId: string;
  readonly position: number;
  readonly milestone: Milestone;
  readonly title: string;
  readonly body: string;
}

export function pushContent(args: {
  eventId: string;
  position: number;
  milestone: Milestone;
  ahead?: number;
  secondsLeft?: number;
}): PushContent {
  const { eventId, position, milestone } = args;
  const text: Record<Milestone, [string, string]> = {
    near: [
      'Almost your turn',
      `You are #${position}, with ${args.ahead ?? 0} ahead of you. Keep the app close.`,
    ],
    admitted: ["It's your turn", 'Open the app now to claim your place and choose your tickets.'],
    claim_expiring: [
      'Your turn is about to lapse',
      `Claim within ${args.secondsLeft ?? 0} seconds or your place goes to the next fan.`,
    ],
    closed: ['The sale has closed', 'This sale is sold out. Thank you for waiting.'],
  };
  const [title, body] = text[milestone];
  return { eventId, position, milestone, title, body };
}

/**
 * The SNS message (`MessageStructure: json`) in the shapes FCM (HTTP v1, under
 * `GCM`) and APNs (`APNS`, `APNS_SANDBOX`) expect; `default` for anything else.
 */
export function snsMessage(content: PushContent): string {
  const data = { eventId: content.eventId, position: String(content.position), milestone: content.milestone };
  const fcm = {
    fcmV1Message: {
      message: {
        notification: { title: content.title, body: content.body },
        data,
        android: { priority: content.milestone === 'near' ? 'normal' : 'high' },
      },
    },
  };
  const apns = {
    aps: {
      alert: { title: content.title, body: content.body },
      sound: 'default',
      'interruption-level': content.milestone === 'near' ? 'active' : 'time-sensitive',
    },
    ...data,
  };
  return JSON.stringify({
    default: `${content.title}: ${content.body}`,
    GCM: JSON.stringify(fcm),
    APNS: JSON.stringify(apns),
    APNS_SANDBOX: JSON.stringify(apns),
  });
}
