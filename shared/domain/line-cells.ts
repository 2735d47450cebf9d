/**
 * The cells the public document counts leaves in (issue 8, decision 0013). Pure.
 *
 * A client counts the places given up ahead of it from the document: the leaves of every
 * cell before its own since its last personal update. So the cells must be few (the
 * document is read by every waiting fan every few seconds) and a cell's start, once told
 * to a fan, must stay a cell boundary while it waits.
 *
 * Cells are aligned runs of leave blocks, a power of two long, finer near the front and
 * coarser behind: `CELLS_PER_LEVEL` one-block cells after the serving position's block,
 * then as many of two blocks, of four, and so on. A line sparse in positions (a sharded
 * one: a second of joins spans 128,000 numbers, ~8 blocks) of 10,000 blocks is ~300 cells.
 * The cell of a block is the largest aligned run holding it that is no longer than its
 * distance from the front allows (measured at the run's start): aligned runs are nested or
 * apart, so these form a partition; and as the front comes closer a run may only allow
 * less, so a cell only ever splits, never merges, and its start stays a boundary.
 */

/** Cells of each size before the next size (one-block cells first). */
export const CELLS_PER_LEVEL = 32;
/** Longest cell: 2^MAX_LEVEL blocks. */
const MAX_LEVEL = 30;

/**
 * The public document's `line`: the leaves around and beyond the front by cell, as the last
 * tick's snapshot counted them. The places gone before a cell are `goneThroughServing`
 * plus the leaves listed for the cells before it.
 */
export interface PublicLine {
  /** Positions per leave block: block b holds positions b · blockSize + 1 … (b + 1) · blockSize. */
  readonly blockSize: number;
  /** Numbers through the serving position that held a place (admitted, or given up). */
  readonly goneThroughServing: number;
  /**
   * [first block, blocks, leaves] per cell, ascending, cells without leaves left out: first
   * the serving position's block (its leaves after the serving position), then later cells
   * (all their leaves).
   */
  readonly leaves: readonly (readonly [number, number, number])[];
}

/**
 * A personal update's `line` (join, status, `position`): the place's cell (`blocks` blocks
 * from `block` on), the places gone (admitted, or given up) before it, and its leaves, as
 * the update's `ahead` counted them.
 *
 * @example
 * const line: PlaceLine | null = readPlaceUpdate(body)?.line ?? null;
 * if (line) console.log(line.goneBefore, 'places gone before the cell from block', line.block);
 */
export interface PlaceLine {
  readonly blockSize: number;
  readonly block: number;
  readonly blocks: number;
  readonly goneBefore: number;
  readonly blockLeaves: number;
}

/** A run of leave blocks: `blocks` of them from `block` on. */
export interface Cell {
  readonly block: number;
  readonly blocks: number;
}

/** The longest run (log2 of its blocks) a cell starting `distance` blocks after the front's block may be. */
export function cellLevel(distance: number): number {
  if (distance < 1) return 0;
  return Math.min(MAX_LEVEL, Math.floor(Math.log2(distance / CELLS_PER_LEVEL + 1)));
}

/** The cell holding `block` (after `servingBlock`, the serving position's own block, which is its own cell). */
export function cellOf(servingBlock: number, block: number): Cell {
  if (block <= servingBlock) return { block, blocks: 1 };
  for (let level = MAX_LEVEL; level > 0; level--) {
    const blocks = 2 ** level;
    const start = Math.floor(block / blocks) * blocks;
    if (start > servingBlock && level <= cellLevel(start - servingBlock)) return { block: start, blocks };
  }
  return { block, blocks: 1 };
}

/**
 * Sums counts by block (`[block, count]`, blocks after `servingBlock`) into their cells:
 * `[block, blocks, count]` per cell with a count, ascending.
 */
export function countByCell(
  servingBlock: number,
  counts: Iterable<readonly [number, number]>,
): [number, number, number][] {
  const cells = new Map<number, [number, number, number]>();
  for (const [block, count] of counts) {
    if (block <= servingBlock || count <= 0) continue;
    const cell = cellOf(servingBlock, block);
    const entry = cells.get(cell.block);
    if (entry) entry[2] += count;
    else cells.set(cell.block, [cell.block, cell.blocks, count]);
  }
  return [...cells.values()].sort((a, b) => a[0] - b[0]);
}
