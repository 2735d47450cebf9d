/**
 * One contract suite for every adapter of the device store port (push
 * registrations): in memory, SQLite and DynamoDB (Local) must behave the same,
 * races included. Each test uses event ids of its own, so one store may serve them all.
 */
import { describe, expect, test } from 'vitest';
import { deviceKey } from '#adapters/device-key';
import type { Milestone, Platform } from '#domain/push';
import type { DeviceRecord, DeviceStore } from '#ports/push';

let seq = 0;
const newId = () => `dev-${Date.now().toString(36)}-${seq++}`;
const MILESTONES: readonly Milestone[] = ['near', 'admitted', 'claim_expiring', 'closed'];

function device(eventId: string, position: number, token: string, platform: Platform = 'fcm'): DeviceRecord {
  return {
    eventId,
    position,
    platform,
    deviceToken: token,
    endpoint: `arn:fake:${platform}:${token}`,
    deviceKey: deviceKey(platform, token),
  };
}

export function describeDeviceStore(name: string, makeStore: () => DeviceStore) {
  describe(`device store contract: ${name}`, () => {
    test('registering creates a record once; the same device again is not a second one', async () => {
      const devices = makeStore();
      const id = newId();
      expect(await devices.hasDevices(id)).toBe(false);
      expect(await devices.putDevice(device(id, 3, 'tok-a'), 1)).toEqual({ created: true });
      expect(await devices.putDevice(device(id, 3, 'tok-a'), 2)).toEqual({ created: false });
      // Another platform with the same token, or another place, is another device.
      expect(await devices.putDevice(device(id, 3, 'tok-a', 'apns'), 2)).toEqual({ created: true });
      expect(await devices.putDevice(device(id, 4, 'tok-a'), 2)).toEqual({ created: true });
      expect(await devices.hasDevices(id)).toBe(true);
      const found = await devices.devicesInRange(id, 3, 3);
      expect(found).toHaveLength(2);
      // Records come back whole.
      expect(found).toContainEqual(device(id, 3, 'tok-a'));
      expect(found).toContainEqual(device(id, 3, 'tok-a', 'apns'));
    });

    test('concurrent registrations of one device make one record', async () => {
      const devices = makeStore();
      const id = newId();
      const puts = await Promise.all(
        Array.from({ length: 10 }, () => devices.putDevice(device(id, 5, 'tok'), 0)),
      );
      expect(puts.filter((p) => p.created)).toHaveLength(1);
      expect(await devices.devicesInRange(id, 1, 10)).toEqual([device(id, 5, 'tok')]);
    });

    test('range queries return exactly the registrations of positions lo..hi, in position order', async () => {
      const devices = makeStore();
      const id = `${newId()}-r`;
      const positions = [1, 9, 10, 11, 99, 100, 101, 1000, 999_999_999_999];
      for (const p of positions) await devices.putDevice(device(id, p, `tok-${p}`), 0);
      await devices.putDevice(device(id, 10, 'tok-10-second'), 0);
      // Neighbouring events (one whose id extends this one's, one it extends) must not leak in.
      await devices.putDevice(device(`${id}2`, 10, 'tok-other'), 0);
      await devices.putDevice(device(id.slice(0, -1), 10, 'tok-other'), 0);

      const range = async (lo: number, hi: number) => {
        const found = await devices.devicesInRange(id, lo, hi);
        const inOrder = found.map((d) => d.position);
        expect(inOrder).toEqual([...inOrder].sort((x, y) => x - y));
        return found
          .map((d) => `${d.position}:${d.deviceToken}`)
          .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
      };
      expect(await range(10, 100)).toEqual([
        '10:tok-10',
        '10:tok-10-second',
        '11:tok-11',
        '99:tok-99',
        '100:tok-100',
      ]);
      expect(await range(10, 10)).toEqual(['10:tok-10', '10:tok-10-second']);
      expect(await range(11, 99)).toEqual(['11:tok-11', '99:tok-99']);
      expect(await range(12, 98)).toEqual([]);
      expect(await range(100, 100)).toEqual(['100:tok-100']);
      expect(await range(101, 999)).toEqual(['101:tok-101']);
      expect(await range(2, 8)).toEqual([]);
      expect(await range(11, 10)).toEqual([]);
      expect(await range(0, 1)).toEqual(['1:tok-1']);
      expect(await range(1, 999_999_999_999)).toHaveLength(positions.length + 1);
      expect(await range(1001, 999_999_999_999)).toEqual(['999999999999:tok-999999999999']);
      expect(await devices.devicesInRange(newId(), 1, 999_999_999_999)).toEqual([]);
    });

    test('each milestone is marked once per device, even by racing workers; unmark lets it go again', async () => {
      const devices = makeStore();
      const id = newId();
      const d = device(id, 3, 'racing-token', 'apns');
      await devices.putDevice(d, 0);
      for (const milestone of MILESTONES) {
        const marks = await Promise.all(Array.from({ length: 10 }, () => devices.markSent(d, milestone)));
        expect(marks.filter(Boolean)).toHaveLength(1);
      }
      // Another device of the same place has milestones of its own.
      const other = device(id, 3, 'other-token');
      await devices.putDevice(other, 0);
      expect(await devices.markSent(other, 'near')).toBe(true);
      // A publish that failed is unmarked, so the next run sends it, once.
      await devices.unmarkSent(d, 'near');
      const again = await Promise.all(Array.from({ length: 10 }, () => devices.markSent(d, 'near')));
      expect(again.filter(Boolean)).toHaveLength(1);
      // Registering again keeps the milestones already sent.
      expect(await devices.putDevice(d, 9)).toEqual({ created: false });
      expect(await devices.markSent(d, 'admitted')).toBe(false);
      // A milestone is only recorded for a registered device.
      expect(await devices.markSent(device(id, 8, 'never-registered'), 'near')).toBe(false);
    });

    test('the claim_expiring cursor moves only from the value read: one winner among racers', async () => {
      const devices = makeStore();
      const id = newId();
      expect(await devices.getExpiringCursor(id)).toBe(0);
      const first = await Promise.all(
        Array.from({ length: 10 }, () => devices.advanceExpiringCursor(id, 0, 5)),
      );
      expect(first.filter(Boolean)).toHaveLength(1);
      expect(await devices.getExpiringCursor(id)).toBe(5);
      expect(await devices.advanceExpiringCursor(id, 0, 7)).toBe(false);
      const next = await Promise.all([
        devices.advanceExpiringCursor(id, 5, 9),
        devices.advanceExpiringCursor(id, 5, 8),
        devices.advanceExpiringCursor(id, 5, 9),
      ]);
      expect(next.filter(Boolean)).toHaveLength(1);
      expect([8, 9]).toContain(await devices.getExpiringCursor(id));
      // Cursors are per event.
      expect(await devices.getExpiringCursor(newId())).toBe(0);
    });

    test('a device marked gone leaves the range queries until it registers again', async () => {
      const devices = makeStore();
      const id = newId();
      const d = { ...device(id, 4, 'tok-4'), endpoint: 'arn:old' };
      expect(await devices.putDevice(d, 1)).toEqual({ created: true });
      await devices.markSent(d, 'near');
      await devices.markGone(d, 2);
      expect(await devices.devicesInRange(id, 1, 10)).toEqual([]);
      // The event still has had registrations.
      expect(await devices.hasDevices(id)).toBe(true);
      // Registering again revives it at its new endpoint; it is not "created".
      expect(await devices.putDevice({ ...d, endpoint: 'arn:new' }, 3)).toEqual({ created: false });
      expect(await devices.devicesInRange(id, 1, 10)).toEqual([{ ...d, endpoint: 'arn:new' }]);
      // A live device registering again changes nothing, milestones sent included.
      expect(await devices.putDevice({ ...d, endpoint: 'arn:other' }, 4)).toEqual({ created: false });
      expect(await devices.devicesInRange(id, 1, 10)).toMatchObject([{ endpoint: 'arn:new' }]);
      expect(await devices.markSent(d, 'near')).toBe(false);
      // Marking a device that was never registered changes nothing.
      await devices.markGone(device(id, 5, 'never'), 5);
      expect(await devices.devicesInRange(id, 5, 5)).toEqual([]);
    });
  });
}
