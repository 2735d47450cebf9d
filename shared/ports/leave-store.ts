/**
 * Leaves (`DELETE …/place`): a place given up is void. Waiting places become void
 * numbers the admitter skips; admitted ones give their slot back at once. A fence the
 * admitter raises before it reads the leaves of a range makes the two exact: a leave
 * either lands before the fence (and is skipped) or finds the place being admitted.
 */
export type LeaveWaitingResult = 'left' | 'already_left' | 'fenced';
export type LeaveAdmittedResult = 'left' | 'already_left';

export interface LeaveStore {
  /**
   * Voids a waiting place: marks it left, indexes it for the admitter and counts it in
   * its block — only while the fence is below it ('fenced' otherwise, nothing written).
   */
  leaveWaiting(eventId: string, position: number, nowSec: number): Promise<LeaveWaitingResult>;
  /**
   * Marks an admitted (or being admitted) place left and, when its claim bucket
   * `claimBy` is still above the seal watermark, frees its slot now; without a
   * session only (a claimed place ends its session instead).
   */
  leaveAdmitted(
    eventId: string,
    position: number,
    claimBy: number | null,
    nowSec: number,
  ): Promise<LeaveAdmittedResult>;
  /** Marks a place left and nothing else (a claimed place, whose session ends as `complete` ends it). */
  markLeft(eventId: string, position: number, nowSec: number): Promise<LeaveAdmittedResult>;
  hasLeft(eventId: string, position: number): Promise<boolean>;
  /** Raises the leave fence to at least `throughPosition`: places at or below it can no longer be voided. */
  fenceLeaves(eventId: string, throughPosition: number): Promise<void>;
  /**
   * Void (left) positions in (after, through], ascending. `forDisplay`: the answer only
   * counts leaves for a fan's `ahead`, so it may miss one that landed a moment ago, and
   * a store may read it from a copy that the crowd's reads share out (decision 0010).
   */
  leavesIn(
    eventId: string,
    after: number,
    through: number,
    options?: { forDisplay?: boolean },
  ): Promise<number[]>;
  /** Leaves per block (shared/domain/intake.ts `LEAVE_BLOCK`) of blocks at or after `fromBlock`. */
  leaveBlocks(eventId: string, fromBlock: number): Promise<Map<number, number>>;
  /**
   * Drops the per-block counts of blocks below `belowBlock` (all admitted past: nothing
   * reads them again), so the counts stay as small as the waiting line. Safe to repeat.
   */
  forgetLeaveBlocks(eventId: string, belowBlock: number): Promise<void>;
}
