/**
 * A sale in steady state, played through the real planTick: a line longer than anyone will
 * reach, a tick every `tickSeconds` for `seconds` from `startSec`. Each slot is held
 * between ½ and 1½ × `holdSeconds` (spread evenly by the golden ratio, so releases do not
 * come in waves), then freed at the next tick. For tests of the wait estimate and of the
 * client reading its curve.
 */
import { planTick } from '#domain/admission';
import type { EventRecord } from '#domain/event';

export function playSteadySale(
  start: EventRecord,
  startSec: number,
  holdSeconds: number,
  tickSeconds: number,
  seconds: number,
): { record: EventRecord; lastTick: number } {
  let record = start;
  const releases = new Map<number, number>();
  let admittedSoFar = 0;
  let now = startSec;
  for (; now < startSec + seconds; now += tickSeconds) {
    let expired = 0;
    for (const [at, count] of releases)
      if (at <= now) {
        expired += count;
        releases.delete(at);
      }
    // An endless line, as both versions of TickInput take it (`issued`; `waiting` since leaves).
    const line = { issued: Number.MAX_SAFE_INTEGER, waiting: Number.MAX_SAFE_INTEGER };
    const plan = planTick({
      event: record,
      releases: { missed: 0, expired },
      ...line,
      completed: 0,
      nowMs: now * 1000,
      tickSeconds,
    });
    record = { ...record, ...plan.next };
    for (let i = plan.from; i < plan.to; i++) {
      const at = now + Math.round(holdSeconds * (0.5 + ((admittedSoFar++ * 0.618034) % 1)));
      releases.set(at, (releases.get(at) ?? 0) + 1);
    }
  }
  return { record, lastTick: now - tickSeconds };
}
