import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { openSqlite, type SqliteDatabase, sqliteFile } from '#adapters/sqlite-db';
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
