import fc from 'fast-check';
import { expect, test } from 'vitest';
import { CELLS_PER_LEVEL, cellOf, countByCell } from '#domain/line-cells';

test('cells partition the blocks after the front: one-block cells near it, longer ones behind', () => {
  const serving = 1_000;
  let cursor = serving + 1;
  const seen: { block: number; blocks: number }[] = [];
  while (cursor < serving + 20_000) {
    const cell = cellOf(serving, cursor);
    // Every block of a cell names that cell: they tile the line.
    expect(cell.block).toBe(cursor);
    expect(cellOf(serving, cursor + cell.blocks - 1)).toEqual(cell);
    expect(cell.block % cell.blocks).toBe(0);
    seen.push(cell);
    cursor += cell.blocks;
  }
  expect(seen.slice(0, CELLS_PER_LEVEL - 8).every((c) => c.blocks === 1)).toBe(true);
  expect(seen.length).toBeLessThan(400);
});

test("as the front comes closer a cell only splits: a cell's start stays a cell's start", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e6 }),
      fc.integer({ min: 0, max: 1e5 }),
      fc.integer({ min: 1, max: 1e6 }),
      (serving, advance, ahead) => {
        const block = serving + ahead;
        const then = cellOf(serving, block);
        const later = serving + Math.min(advance, ahead - 1);
        const now = cellOf(later, block);
        expect(now.block).toBeGreaterThanOrEqual(then.block);
        expect(now.block + now.blocks).toBeLessThanOrEqual(then.block + then.blocks);
        // The old start is still a boundary: the cell holding it begins there.
        if (then.block > later) expect(cellOf(later, then.block).block).toBe(then.block);
      },
    ),
  );
});

test('counts by block add up by cell', () => {
  const counts: [number, number][] = [
    [5, 2],
    [40, 1],
    [41, 3],
    [900, 4],
    [3, 9],
  ];
  const cells = countByCell(3, counts);
  expect(cells.reduce((n, [, , c]) => n + c, 0)).toBe(10);
  expect(cells[0]).toEqual([5, 1, 2]);
});
