/** Push registrations in process memory (the embedded store's counterpart). */
import type { Milestone } from '#domain/push';
import type { DeviceRecord, DeviceStore } from '#ports/push';

export class MemoryDeviceStore implements DeviceStore {
  /** eventId → position → deviceKey → record and the milestones sent to it. */
  readonly #devices = new Map<
    string,
    Map<number, Map<string, { record: DeviceRecord; sent: Set<Milestone>; gone: boolean }>>
  >();
  readonly #cursors = new Map<string, number>();

  async putDevice(device: DeviceRecord) {
    let byPosition = this.#devices.get(device.eventId);
    if (!byPosition) {
      byPosition = new Map();
      this.#devices.set(device.eventId, byPosition);
    }
    let byKey = byPosition.get(device.position);
    if (!byKey) {
      byKey = new Map();
      byPosition.set(device.position, byKey);
    }
    const existing = byKey.get(device.deviceKey);
    if (existing) {
      if (existing.gone) {
        existing.gone = false;
        existing.record = device;
      }
      return { created: false };
    }
    byKey.set(device.deviceKey, { record: device, sent: new Set(), gone: false });
    return { created: true };
  }

  async devicesInRange(eventId: string, lo: number, hi: number) {
    const byPosition = this.#devices.get(eventId);
    if (!byPosition) return [];
    return [...byPosition.entries()]
      .filter(([position]) => position >= lo && position <= hi)
      .sort(([a], [b]) => a - b)
      .flatMap(([, byKey]) => [...byKey.values()].filter((d) => !d.gone).map((d) => d.record));
  }

  async markGone(device: DeviceRecord, _nowSec?: number) {
    const entry = this.#devices.get(device.eventId)?.get(device.position)?.get(device.deviceKey);
    if (entry) entry.gone = true;
  }

  async markSent(device: DeviceRecord, milestone: Milestone) {
    const entry = this.#devices.get(device.eventId)?.get(device.position)?.get(device.deviceKey);
    if (!entry || entry.sent.has(milestone)) return false;
    entry.sent.add(milestone);
    return true;
  }

  async unmarkSent(device: DeviceRecord, milestone: Milestone) {
    this.#devices.get(device.eventId)?.get(device.position)?.get(device.deviceKey)?.sent.delete(milestone);
  }

  async getExpiringCursor(eventId: string) {
    return this.#cursors.get(eventId) ?? 0;
  }

  async advanceExpiringCursor(eventId: string, from: number, to: number) {
    if ((this.#cursors.get(eventId) ?? 0) !== from) return false;
    this.#cursors.set(eventId, to);
    return true;
  }

  async hasDevices(eventId: string) {
    return (this.#devices.get(eventId)?.size ?? 0) > 0;
  }
}
