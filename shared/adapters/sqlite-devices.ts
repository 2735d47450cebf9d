/**
 * Push registrations in the embedded database (layout: sqlite-db.ts), beside the
 * queue they belong to, so a restart keeps them and the milestones already sent.
 * Keyed by event and position: "who is near / admitted / still waiting" is a
 * range query on the primary key, never a scan. Each write is one immediate
 * transaction, so the once-only conditions hold as they do in the other adapters.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import type { Milestone } from '#domain/push';
import type { DeviceRecord, DeviceStore } from '#ports/push';
import { parseRow, type SqliteDatabase, writeTransaction } from './sqlite-db.ts';

const deviceRow = z.object({
  event_id: z.string(),
  position: z.number().int(),
  platform: z.enum(['fcm', 'apns']),
  device_token: z.string(),
  endpoint: z.string(),
  device_key: z.string(),
});

const cursorRow = z.object({ expiring_through: z.number().int() });

function toDevice(row: unknown): DeviceRecord {
  const r = parseRow(deviceRow, row, 'devices');
  return {
    eventId: r.event_id,
    position: r.position,
    platform: r.platform,
    deviceToken: r.device_token,
    endpoint: r.endpoint,
    deviceKey: r.device_key,
  };
}

function statements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO devices (event_id, position, device_key, platform, device_token, endpoint, registered_at, gone_at)
       VALUES (@eventId, @position, @deviceKey, @platform, @deviceToken, @endpoint, @nowSec, NULL)
       ON CONFLICT (event_id, position, device_key) DO NOTHING`,
    ),
    revive: db.prepare(
      `UPDATE devices SET endpoint = @endpoint, gone_at = NULL
       WHERE event_id = @eventId AND position = @position AND device_key = @deviceKey AND gone_at IS NOT NULL`,
    ),
    inRange: db.prepare(
      `SELECT event_id, position, platform, device_token, endpoint, device_key FROM devices
       WHERE event_id = ? AND position BETWEEN ? AND ? AND gone_at IS NULL
       ORDER BY position, device_key`,
    ),
    markGone: db.prepare(
      `UPDATE devices SET gone_at = @nowSec
       WHERE event_id = @eventId AND position = @position AND device_key = @deviceKey`,
    ),
    exists: db.prepare(
      'SELECT 1 FROM devices WHERE event_id = @eventId AND position = @position AND device_key = @deviceKey',
    ),
    markSent: db.prepare(
      `INSERT INTO device_milestones (event_id, position, device_key, milestone)
       VALUES (@eventId, @position, @deviceKey, @milestone)
       ON CONFLICT DO NOTHING`,
    ),
    unmarkSent: db.prepare(
      `DELETE FROM device_milestones
       WHERE event_id = @eventId AND position = @position AND device_key = @deviceKey AND milestone = @milestone`,
    ),
    getCursor: db.prepare('SELECT expiring_through FROM push_cursors WHERE event_id = ?'),
    setCursor: db.prepare(
      `INSERT INTO push_cursors (event_id, expiring_through) VALUES (@eventId, @to)
       ON CONFLICT (event_id) DO UPDATE SET expiring_through = excluded.expiring_through`,
    ),
    any: db.prepare('SELECT EXISTS (SELECT 1 FROM devices WHERE event_id = ?)').pluck(),
  };
}

type Statements = ReturnType<typeof statements>;

function readCursor(sql: Statements, eventId: string): number {
  const row = sql.getCursor.get(eventId);
  return row === undefined ? 0 : parseRow(cursorRow, row, 'push_cursors').expiring_through;
}

const deviceKeyOf = (device: DeviceRecord) => ({
  eventId: device.eventId,
  position: device.position,
  deviceKey: device.deviceKey,
});

function transactions(db: Database.Database, sql: Statements) {
  return {
    put: writeTransaction(db, (device: DeviceRecord, nowSec: number) => {
      const created = sql.insert.run({ ...device, nowSec }).changes === 1;
      // A device marked gone that registers again (reinstalled app, re-enabled endpoint) is
      // live again; one that is live stays untouched, milestones sent included.
      if (!created) sql.revive.run({ ...deviceKeyOf(device), endpoint: device.endpoint });
      return { created };
    }),
    // Each milestone goes at most once per place and device, however often ticks repeat or overlap.
    markSent: writeTransaction(db, (device: DeviceRecord, milestone: Milestone) => {
      if (sql.exists.get(deviceKeyOf(device)) === undefined) return false;
      return sql.markSent.run({ ...deviceKeyOf(device), milestone }).changes === 1;
    }),
    advance: writeTransaction(db, (eventId: string, from: number, to: number) => {
      if (readCursor(sql, eventId) !== from) return false;
      sql.setCursor.run({ eventId, to });
      return true;
    }),
  };
}

export class SqliteDeviceStore implements DeviceStore {
  readonly #sql: Statements;
  readonly #tx: ReturnType<typeof transactions>;

  constructor(database: SqliteDatabase) {
    this.#sql = statements(database.db);
    this.#tx = transactions(database.db, this.#sql);
  }

  async putDevice(device: DeviceRecord, nowSec: number) {
    return this.#tx.put(device, nowSec);
  }

  async devicesInRange(eventId: string, lo: number, hi: number) {
    if (hi < lo) return [];
    return this.#sql.inRange.all(eventId, lo, hi).map(toDevice);
  }

  async markGone(device: DeviceRecord, nowSec: number) {
    this.#sql.markGone.run({ ...deviceKeyOf(device), nowSec });
  }

  async markSent(device: DeviceRecord, milestone: Milestone) {
    return this.#tx.markSent(device, milestone);
  }

  async unmarkSent(device: DeviceRecord, milestone: Milestone) {
    this.#sql.unmarkSent.run({ ...deviceKeyOf(device), milestone });
  }

  async getExpiringCursor(eventId: string) {
    return readCursor(this.#sql, eventId);
  }

  async advanceExpiringCursor(eventId: string, from: number, to: number) {
    return this.#tx.advance(eventId, from, to);
  }

  async hasDevices(eventId: string) {
    // Gone devices count, as in the other adapters: the event has had registrations.
    return this.#sql.any.get(eventId) === 1;
  }
}
