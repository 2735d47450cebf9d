/** Ports of mobile push: the push service (SNS, or the local sink) and the device registrations. */
import type { Milestone, Platform, PushContent } from '#domain/push';

export interface PushGateway {
  /** Creates or reuses the platform endpoint of a device; returns its address (an SNS endpoint ARN). */
  registerDevice(platform: Platform, deviceToken: string): Promise<string>;
  /** `gone`: the endpoint is disabled or deleted (the app was uninstalled). */
  send(
    endpoint: string,
    platform: Platform,
    deviceToken: string,
    content: PushContent,
  ): Promise<'sent' | 'gone'>;
  /** False for a platform this deployment has no application for. */
  supports(platform: Platform): boolean;
}

export interface DeviceRecord {
  readonly eventId: string;
  readonly position: number;
  readonly platform: Platform;
  readonly deviceToken: string;
  readonly endpoint: string;
  /** Stable per platform and token: the same device registered twice is one record. */
  readonly deviceKey: string;
}

export interface DeviceStore {
  /**
   * Registers a device for a place; `created` is false when it was registered already.
   * Registering a device that was marked gone (the app was reinstalled) revives it.
   */
  putDevice(device: DeviceRecord, nowSec: number): Promise<{ created: boolean }>;
  /**
   * Live registrations of places lo..hi (inclusive): a range query over positions, never
   * a scan. Devices marked gone are left out.
   */
  devicesInRange(eventId: string, lo: number, hi: number): Promise<DeviceRecord[]>;
  /** The push service said the endpoint is disabled or deleted: never publish to it again. */
  markGone(device: DeviceRecord, nowSec: number): Promise<void>;
  /** Records that a milestone went to a device, once: false when it had been recorded before. */
  markSent(device: DeviceRecord, milestone: Milestone): Promise<boolean>;
  /** Undoes `markSent` after a publish that failed (not `gone`), so a retried run sends it. */
  unmarkSent(device: DeviceRecord, milestone: Milestone): Promise<void>;
  /** How far `claim_expiring` has been handled (the `to` of the last batch); 0 at first. */
  getExpiringCursor(eventId: string): Promise<number>;
  /** Moves the cursor from `from` to `to`; false when another worker moved it first. */
  advanceExpiringCursor(eventId: string, from: number, to: number): Promise<boolean>;
  hasDevices(eventId: string): Promise<boolean>;
}
