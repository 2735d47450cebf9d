/**
 * A second process on the same SQLite file, for the race tests of the embedded store:
 * `tsx test/support/sqlite-writer.ts <file> <eventId> <count> <startAtMs>` waits until the
 * wall clock reaches `startAtMs` (so that all writers run at once), takes `count` positions
 * and tries to reserve users u-0..u-<count-1>, then prints what it got as one JSON line.
 */
import { openSqlite } from '#adapters/sqlite-db';
import { SqliteQueueStore } from '#adapters/sqlite-store';

const [file, eventId, countText, startText] = process.argv.slice(2);
if (!file || !eventId || !countText || !startText) {
  throw new Error('usage: sqlite-writer.ts <file> <eventId> <count> <startAtMs>');
}
const count = Number(countText);
const database = openSqlite(file);
const store = new SqliteQueueStore(database);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startText) - Date.now())));
const positions: number[] = [];
const reserved: string[] = [];
for (let i = 0; i < count; i++) {
  positions.push(await store.allocatePosition(eventId));
  if (await store.reserveUser(eventId, `u-${i}`, 1_800_000_000, 0)) reserved.push(`u-${i}`);
  // Let the other process in between operations, as concurrent requests would.
  if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
}
database.close();
process.stdout.write(`${JSON.stringify({ positions, reserved })}\n`);
