/**
 * The embedded database of the local runtime: one SQLite file,
 * `$FQ_DATA_DIR/fairqueue.db`, shared by the queue store (sqlite-store.ts) and the
 * device store (sqlite-devices.ts). The layout, in one place:
 *
 * | table              | key                                   | what                                             |
 * |--------------------|---------------------------------------|--------------------------------------------------|
 * | events             | event_id                              | config (JSON), state, the admitter's versioned state |
 * | counters           | event_id                              | `issued` (the join counter), `claimed`, `completed`, `left_admitted` |
 * | seals              | event_id                              | `sealed_through`: buckets at or below it are counted, frozen; `leave_fence`: places at or below it can no longer be voided |
 * | active_events      | event_id                              | events the admitter ticks                        |
 * | users              | event_id, user_id                     | the user's position, or a join's reservation     |
 * | batches            | event_id, to_position                 | one admission batch: from, to, admitted, at, claim_by |
 * | sessions           | event_id, position                    | the purchase session of a place                  |
 * | release_buckets    | event_id, second                      | slots to release at that second: missed, expired |
 * | intake             | event_id                              | sharded intake: the highest slice rung, the slice every stripe is sealed through |
 * | intake_tickets     | event_id, slice, stripe               | tickets a stripe gave out in a slice (dropped once settled) |
 * | slices             | event_id, slice                       | a settled slice: counts per stripe (JSON), held numbers before it |
 * | leaves             | event_id, position                    | a place given up; `voided` when it was waiting (the admitter skips it) |
 * | leave_blocks       | event_id, block                       | voided places per block of `LEAVE_BLOCK` positions |
 * | rate_limits        | rate_key, window_start                | join rate-limit window count                     |
 * | devices            | event_id, position, device_key        | a push registration; range queries by position   |
 * | device_milestones  | event_id, position, device_key, milestone | a milestone sent to a device, once            |
 * | push_cursors       | event_id                              | how far `claim_expiring` has been handled        |
 *
 * Durability: WAL journal with `synchronous = NORMAL`. A commit is in the WAL file
 * (in the OS page cache) before the call returns, so a crash of the process,
 * kill -9 included, loses no committed operation: that is the requirement, since
 * every acknowledged join, claim and config change is a committed operation. A power
 * loss or OS crash may lose the last commits before the WAL was synced (the database
 * stays consistent). `FULL` would close that too at the cost of an fsync per commit,
 * up to three per join, which cut joins/s about 40-fold here (the figures are in
 * docs/decisions/0004-local-runtime.md); a local sale need not outlive a power cut.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { ServiceUnavailableError } from '#domain/errors';

/**
 * The layout's version (`PRAGMA user_version`): the number of `MIGRATIONS` applied. A file
 * written by an earlier build is upgraded in place when it is opened; one written by a
 * later build is refused, never half-read.
 */
export const SCHEMA_VERSION = 2;

/** A write waits this long for another process's transaction on the same file before failing (503). */
const BUSY_TIMEOUT_MS = 5_000;

/** Version 1: the layout before sharded intake and leaves. */
const V1 = `
CREATE TABLE events (
  event_id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  config_version INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'paused', 'closed')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  version INTEGER NOT NULL,
  serving_position INTEGER NOT NULL,
  in_use INTEGER NOT NULL,
  released_through INTEGER NOT NULL,
  rate_credit REAL NOT NULL,
  last_tick_at_ms INTEGER NOT NULL,
  completed_seen INTEGER NOT NULL,
  missed INTEGER NOT NULL,
  expired INTEGER NOT NULL,
  recent_ticks TEXT NOT NULL
) STRICT;
CREATE TABLE counters (
  event_id TEXT PRIMARY KEY,
  issued INTEGER NOT NULL,
  claimed INTEGER NOT NULL,
  completed INTEGER NOT NULL
) STRICT;
CREATE TABLE seals (
  event_id TEXT PRIMARY KEY,
  sealed_through INTEGER NOT NULL
) STRICT;
CREATE TABLE active_events (
  event_id TEXT PRIMARY KEY
) STRICT;
CREATE TABLE users (
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  position INTEGER,
  reserved_at INTEGER,
  PRIMARY KEY (event_id, user_id),
  CHECK ((position IS NULL) <> (reserved_at IS NULL))
) STRICT, WITHOUT ROWID;
CREATE TABLE batches (
  event_id TEXT NOT NULL,
  to_position INTEGER NOT NULL,
  from_position INTEGER NOT NULL,
  at INTEGER NOT NULL,
  claim_by INTEGER NOT NULL,
  PRIMARY KEY (event_id, to_position)
) STRICT, WITHOUT ROWID;
CREATE TABLE sessions (
  event_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  session_id TEXT NOT NULL,
  sub TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  claim_by INTEGER NOT NULL,
  completed_at INTEGER,
  PRIMARY KEY (event_id, position)
) STRICT, WITHOUT ROWID;
CREATE TABLE release_buckets (
  event_id TEXT NOT NULL,
  second INTEGER NOT NULL,
  missed INTEGER NOT NULL,
  expired INTEGER NOT NULL,
  PRIMARY KEY (event_id, second)
) STRICT, WITHOUT ROWID;
CREATE TABLE rate_limits (
  rate_key TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  hits INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (rate_key, window_start)
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at);
CREATE TABLE devices (
  event_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  device_key TEXT NOT NULL,
  platform TEXT NOT NULL,
  device_token TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  gone_at INTEGER,
  PRIMARY KEY (event_id, position, device_key)
) STRICT, WITHOUT ROWID;
CREATE TABLE device_milestones (
  event_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  device_key TEXT NOT NULL,
  milestone TEXT NOT NULL,
  PRIMARY KEY (event_id, position, device_key, milestone)
) STRICT, WITHOUT ROWID;
CREATE TABLE push_cursors (
  event_id TEXT PRIMARY KEY,
  expiring_through INTEGER NOT NULL
) STRICT;
`;

/**
 * Version 2 (sharded intake and leaves, decision 0008): new columns, with the values an
 * event of version 1 had (every event was exact then: each number up to the serving
 * position was held and admitted, and so can no longer be voided), and new tables.
 */
const V2 = `
ALTER TABLE events ADD COLUMN left_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN admitted_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN held_through_serving INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN settled_slice INTEGER NOT NULL DEFAULT -1;
ALTER TABLE events ADD COLUMN settled_held INTEGER NOT NULL DEFAULT 0;
UPDATE events SET admitted_total = serving_position, held_through_serving = serving_position;
ALTER TABLE counters ADD COLUMN left_admitted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0;
UPDATE batches SET admitted = to_position - from_position;
ALTER TABLE seals ADD COLUMN leave_fence INTEGER NOT NULL DEFAULT 0;
UPDATE seals SET leave_fence =
  coalesce((SELECT serving_position FROM events WHERE events.event_id = seals.event_id), 0);
CREATE TABLE intake (
  event_id TEXT PRIMARY KEY,
  rung_slice INTEGER NOT NULL,
  sealed_through INTEGER NOT NULL
) STRICT;
CREATE TABLE intake_tickets (
  event_id TEXT NOT NULL,
  slice INTEGER NOT NULL,
  stripe INTEGER NOT NULL,
  taken INTEGER NOT NULL,
  PRIMARY KEY (event_id, slice, stripe)
) STRICT, WITHOUT ROWID;
CREATE TABLE slices (
  event_id TEXT NOT NULL,
  slice INTEGER NOT NULL,
  counts TEXT NOT NULL,
  held_before INTEGER NOT NULL,
  PRIMARY KEY (event_id, slice)
) STRICT, WITHOUT ROWID;
CREATE TABLE leaves (
  event_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  left_at INTEGER NOT NULL,
  voided INTEGER NOT NULL CHECK (voided IN (0, 1)),
  PRIMARY KEY (event_id, position)
) STRICT, WITHOUT ROWID;
CREATE TABLE leave_blocks (
  event_id TEXT NOT NULL,
  block INTEGER NOT NULL,
  leaves INTEGER NOT NULL,
  PRIMARY KEY (event_id, block)
) STRICT, WITHOUT ROWID;
`;

/**
 * `MIGRATIONS[i]` takes a file from version i to i + 1; a new file runs them all, so a
 * new and an upgraded file have one layout. Append only: never edit a shipped step.
 */
export const MIGRATIONS: readonly string[] = [V1, V2];

export class SqliteSchemaError extends Error {
  override readonly name = 'SqliteSchemaError';
  readonly code = 'schema_mismatch';
}

/** The database could not be opened at all (no native binding, a folder that cannot be written). */
export class SqliteUnavailableError extends Error {
  override readonly name = 'SqliteUnavailableError';
}

export interface SqliteDatabase {
  readonly db: Database.Database;
  readonly file: string;
  /**
   * True when the database held no event when it was opened: a new file, or one whose
   * first start died before it created anything. Events are never deleted, so such a
   * store has never handed out a token: the local runtime starts a new key ring for it.
   */
  readonly empty: boolean;
  close(): void;
}

/** The database file under a data directory (FQ_DATA_DIR). */
export function sqliteFile(dataDir: string): string {
  return join(dataDir, 'fairqueue.db');
}

/** Deletes the database and its WAL files (a clean start); true when there was one. */
export function removeSqliteFiles(file: string): boolean {
  let removed = false;
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      rmSync(path);
      removed = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return removed;
}

/** Opens (creating if needed) the database at `file`, laying out the schema in a new file and upgrading an old one. */
export function openSqlite(file: string): SqliteDatabase {
  let db: Database.Database;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    // better-sqlite3 is a native module: an install that skipped its build has no binding.
    const binding = /bindings|better_sqlite3\.node|NODE_MODULE_VERSION/.test(String(error));
    throw new SqliteUnavailableError(
      binding
        ? "the embedded store needs better-sqlite3's native binding, which this install lacks: run `npm rebuild better-sqlite3` (needs python3, make and a C++ compiler), or start with FQ_STORE=memory (nothing kept across restarts)"
        : `cannot open the embedded store at ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    // WAL: readers never block the writer, and a commit is one append to the log.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Immediate: of two processes opening one file, exactly one lays out or upgrades the schema.
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true });
      if (typeof version !== 'number' || version > SCHEMA_VERSION) {
        throw new SqliteSchemaError(
          `${file} has schema version ${String(version)}; this build reads versions up to ${SCHEMA_VERSION}. ` +
            'Start clean (npm run start:clean) or use the build that wrote it.',
        );
      }
      if (version === 0) {
        const tables = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get();
        if (tables !== 0) {
          throw new SqliteSchemaError(`${file} is not a fairqueue database (it has tables but no version)`);
        }
      }
      // DDL is transactional in SQLite: an upgrade that fails leaves the file as it was.
      for (const step of MIGRATIONS.slice(version)) db.exec(step);
      if (version !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    const empty = db.prepare('SELECT NOT EXISTS (SELECT 1 FROM events)').pluck().get() === 1;
    return { db, file, empty, close: () => db.close() };
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Wraps `work` as one immediate transaction: it takes the write lock at BEGIN, so a
 * read inside it sees what the write acts on even with another process on the same
 * file. A lock still held by another process after the busy timeout is a 503.
 */
export function writeTransaction<A extends unknown[], R>(
  db: Database.Database,
  work: (...args: A) => R,
): (...args: A) => R {
  const tx = db.transaction(work);
  return (...args: A): R => {
    try {
      return tx.immediate(...args);
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) {
        throw new ServiceUnavailableError('unavailable', 'The store is busy; retry shortly.', 1, {
          cause: error,
        });
      }
      throw error;
    }
  };
}

/** A row as the schema says it is, or a clear error naming the table: never a cast. */
export function parseRow<T>(schema: z.ZodType<T>, row: unknown, what: string): T {
  const parsed = schema.safeParse(row);
  if (!parsed.success) throw new SqliteSchemaError(`unexpected ${what} row: ${parsed.error.message}`);
  return parsed.data;
}
