/**
 * Reading the public event document's `waitCurve`: the server's own estimate of how the
 * line drains from `generatedAt` on (shared/domain/estimate.ts `waitCurve`), so a client
 * works out any place's wait the way the server would, without asking it.
 */
import type { WaitCurve } from './wire.ts';

/**
 * The tick (0 = the next one) by which `ahead` more places are admitted, fractional never:
 * exact where the curve has one entry per tick, else placed within its entry's ticks in
 * proportion, and beyond the last entry at `perSecond`. Null when the line does not move.
 */
function admittingTick(curve: WaitCurve, ahead: number): number | null {
  const { admitted, stride, tickSeconds } = curve;
  // The first entry that reaches `ahead` (entries are cumulative, so a binary search).
  let lo = 0;
  let hi = admitted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((admitted[mid] ?? 0) >= ahead) hi = mid;
    else lo = mid + 1;
  }
  if (lo < admitted.length) {
    const reached = admitted[lo] ?? 0;
    const before = lo > 0 ? (admitted[lo - 1] ?? 0) : 0;
    // Entry lo covers ticks lo·stride … (lo + 1)·stride − 1; the one before ends at lo·stride − 1.
    const share = reached > before ? (ahead - before) / (reached - before) : 1;
    return lo * stride - 1 + Math.max(1, Math.ceil(share * stride));
  }
  const last = admitted[admitted.length - 1] ?? 0;
  const perTick = curve.perSecond * tickSeconds;
  if (!(perTick > 0)) return null;
  return admitted.length * stride - 1 + Math.ceil((ahead - last) / perTick);
}

/**
 * Seconds from the curve's start (the document's `generatedAt`) until a place with `ahead`
 * real places still to be admitted (its own included) is admitted: 0 for none ahead, null
 * when the curve says the line does not move. Not rounded: the server's estimate is this,
 * rounded up, at `generatedAt`.
 *
 * @example
 * const wait = curveWaitSeconds(doc.waitCurve, 120); // e.g. 61.5
 * const shown = wait === null ? null : Math.max(1, Math.ceil(wait - secondsSinceGenerated));
 */
export function curveWaitSeconds(curve: WaitCurve, ahead: number): number | null {
  if (ahead <= 0) return 0;
  const tick = admittingTick(curve, ahead);
  return tick === null ? null : curve.nextTickInSeconds + tick * curve.tickSeconds;
}

/**
 * Places the curve has admitted by `seconds` after its start, counting only ticks whose
 * whole entry has passed (a lower bound where an entry stands for several ticks).
 *
 * @example
 * // The line was expected to move by now: if it did not, it has stalled.
 * if (curveAdmittedWithin(curve, 20) >= 1 && nothingMoved) showStall();
 */
export function curveAdmittedWithin(curve: WaitCurve, seconds: number): number {
  const { admitted, stride, tickSeconds } = curve;
  if (seconds < curve.nextTickInSeconds) return 0;
  // A hair of slack: a time computed as `nextTickInSeconds + k · tickSeconds` is tick k's,
  // even where floating point lands it a fraction below.
  const ticks = Math.floor((seconds - curve.nextTickInSeconds) / tickSeconds + 1e-9) + 1;
  const entries = Math.floor(ticks / stride);
  if (entries <= admitted.length) return entries > 0 ? (admitted[entries - 1] ?? 0) : 0;
  const last = admitted[admitted.length - 1] ?? 0;
  return last + Math.floor((ticks - admitted.length * stride) * curve.perSecond * tickSeconds);
}
