/** The local stand-in for SNS: every push is recorded and listed at `GET /_local/pushes`. */
import type { Milestone, Platform, PushContent } from '#domain/push';
import type { PushGateway } from '#ports/push';

export interface SunkPush {
  readonly eventId: string;
  readonly position: number;
  readonly milestone: Milestone;
  readonly platform: Platform;
  readonly deviceToken: string;
  /** Epoch seconds. */
  readonly at: number;
  readonly title: string;
  readonly body: string;
}

const KEPT = 10_000;

export class LocalPushSink implements PushGateway {
  readonly #pushes: SunkPush[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  supports(): boolean {
    return true;
  }

  async registerDevice(platform: Platform, deviceToken: string) {
    return `local:${platform}:${deviceToken}`;
  }

  async send(_endpoint: string, platform: Platform, deviceToken: string, content: PushContent) {
    this.#pushes.push({
      eventId: content.eventId,
      position: content.position,
      milestone: content.milestone,
      platform,
      deviceToken,
      at: Math.floor(this.now() / 1000),
      title: content.title,
      body: content.body,
    });
    if (this.#pushes.length > KEPT) this.#pushes.splice(0, this.#pushes.length - KEPT);
    return 'sent' as const;
  }

  list(): readonly SunkPush[] {
    return this.#pushes;
  }
}
