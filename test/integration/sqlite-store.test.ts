import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  MIGRATIONS,
  openSqlite,
  SCHEMA_VERSION,
  type SqliteDatabase,
  SqliteSchemaError,
  sqliteFile,
} from '#adapters/sqlite-db';
import { SqliteQueueStore } from '#adapters/sqlite-store';
import { CONFIG_DEFAULTS } from '#domain/event';
import { describeQueueStore } from './queue-store.contract.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const WRITER = join(ROOT, 'test', 'support', 'sqlite-writer.ts');

const opened: SqliteDatabase[] = [];
afterAll(() => {
  for (const database of opened) database.close();
});

// One file, one connection per store: the races of the contract suite run on the real file.
const file = sqliteFile(mkdtempSync(join(tmpdir(), 'fq-sqlite-contract-')));
describeQueueStore('embedded (SQLite)', () => {
  const database = openSqlite(file);
  opened.push(database);
  return new SqliteQueueStore(database);
});

describe('embedded (SQLite): several processes on one file', () => {
  test('never hand out a position or a reservation twice', async () => {
    const shared = sqliteFile(mkdtempSync(join(tmpdir(), 'fq-sqlite-procs-')));
    const database = openSqlite(shared);
    opened.push(database);
    const store = new SqliteQueueStore(database);
    await store.putEvent('race', { ...CONFIG_DEFAULTS, capacity: 5 }, 1_800_000_000);
    const count = 2_000;
    // All three start at once, after the children's start-up.
    const startAt = Date.now() + 5_000;
    const children = Promise.all([
      writer(shared, 'race', count, startAt),
      writer(shared, 'race', count, startAt),
    ]);
    await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
    const here: number[] = [];
    for (let i = 0; i < count; i++) {
      here.push(await store.allocatePosition('race'));
      if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const outputs = await children;
    const all = [...outputs.flatMap((o) => o.positions), ...here].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 3 * count }, (_, i) => i + 1));
    expect((await store.getCounters('race')).issued).toBe(3 * count);
    // Each user was reserved by exactly one of the two processes.
    const reserved = outputs.flatMap((o) => o.reserved).sort();
    expect(reserved).toHaveLength(count);
    expect(new Set(reserved).size).toBe(count);
  });
});

describe('embedded (SQLite): files of other versions', () => {
  const NOW = 1_800_000_000;

  test('a version 1 file (before sharded intake and leaves) is upgraded in place and keeps its queue', async () => {
    const old = sqliteFile(mkdtempSync(join(tmpdir(), 'fq-sqlite-v1-')));
    // What a build of version 1 wrote: an exact event 4 positions in, one batch of 4.
    const raw = new Database(old);
    raw.exec(MIGRATIONS[0] ?? '');
    raw.pragma('user_version = 1');
    const oldConfig = {
      capacity: 5,
      admitPerMinute: null,
      purchaseWindowSeconds: 60,
      claimWindowSeconds: 30,
      positionTtlSeconds: 600,
      nearThreshold: 10,
    };
    raw
      .prepare(
        `INSERT INTO events VALUES ('old', ?, 1, 'open', ${NOW}, ${NOW}, 1, 4, 4, ${NOW}, 0, ${NOW * 1000}, 0, 0, 0, '[]')`,
      )
      .run(JSON.stringify(oldConfig));
    raw.exec(`INSERT INTO counters VALUES ('old', 6, 0, 0);
      INSERT INTO seals VALUES ('old', ${NOW});
      INSERT INTO active_events VALUES ('old');
      INSERT INTO batches VALUES ('old', 4, 0, ${NOW}, ${NOW + 30});
      INSERT INTO release_buckets VALUES ('old', ${NOW + 30}, 4, 0);`);
    raw.close();

    const database = openSqlite(old);
    opened.push(database);
    expect(database.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const store = new SqliteQueueStore(database);
    // Every event of version 1 was exact: each number up to the serving position held and admitted.
    expect(await store.getEvent('old')).toMatchObject({
      config: { ...oldConfig, intake: 'exact' },
      servingPosition: 4,
      heldThroughServing: 4,
      admittedTotal: 4,
      leftSeen: 0,
      settledSlice: -1,
      settledHeld: 0,
    });
    expect(await store.getCounters('old')).toEqual({ issued: 6, claimed: 0, completed: 0, leftAdmitted: 0 });
    expect(await store.findBatch('old', 2)).toEqual({
      from: 0,
      to: 4,
      admitted: 4,
      at: NOW,
      claimBy: NOW + 30,
    });
    // Admitted places can no longer be voided; waiting ones can.
    expect(await store.leaveWaiting('old', 4, NOW)).toBe('fenced');
    expect(await store.leaveWaiting('old', 5, NOW)).toBe('left');
    expect(await store.leaveAdmitted('old', 1, NOW + 30, NOW)).toBe('left');
    expect(await store.sealReleases('old', NOW, NOW + 30)).toMatchObject({ missed: 3 });
    expect(await store.allocatePosition('old')).toBe(7);
    // Opening it again changes nothing.
    database.close();
    opened.splice(opened.indexOf(database), 1);
    const reopened = openSqlite(old);
    opened.push(reopened);
    expect((await new SqliteQueueStore(reopened).getEvent('old'))?.heldThroughServing).toBe(4);
  });

  test('a file written by a later build is refused, untouched', () => {
    const later = sqliteFile(mkdtempSync(join(tmpdir(), 'fq-sqlite-later-')));
    const raw = new Database(later);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openSqlite(later)).toThrow(SqliteSchemaError);
    const check = new Database(later);
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    check.close();
  });
});

const writerOutput = z.object({ positions: z.array(z.number()), reserved: z.array(z.string()) });

function writer(file: string, eventId: string, count: number, startAt: number) {
  return new Promise<z.infer<typeof writerOutput>>((resolve, reject) => {
    const child = spawn(TSX, [WRITER, file, eventId, String(count), String(startAt)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`writer exited ${code}: ${err}`));
      else resolve(writerOutput.parse(JSON.parse(out)));
    });
  });
}
