/**
 * One collection's work is linear in frames + roots + table entries, checked by counting host
 * operations (guest-memory accesses, region lookups, steps in the activations table's sets)
 * rather than by timing: a change that reads a frame word by word, looks regions up per word,
 * or lets the table's sets degrade into long probe runs makes these counts grow faster than the
 * collection and fails here on any machine. (Speed itself is measured in bench/gc.)
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { buildScaleCase } from './testing/scale-stack.ts';

interface Shape {
  frames: number;
  roots: number;
  tableRefs: number;
}

interface Counted extends Shape {
  memoryReads: number;
  regionLookups: number;
  setSteps: number;
}

/** The work of one steady-state collection of this shape (after a first one filled the table). */
async function countOne(arch: (typeof ARCHES)[number], shape: Shape): Promise<Counted> {
  const c = await buildScaleCase(arch, shape);
  try {
    c.refillTable();
    c.collector.collect();
    c.refillTable();
    const before = c.collector.work;
    const report = c.collector.collect();
    const after = c.collector.work;
    if (report.roots !== shape.roots || report.frames !== shape.frames || report.freedCount !== 0) {
      throw new Error(`scale case ${JSON.stringify(shape)}: ${report.roots} roots, ${report.frames} frames, ${report.freedCount} freed`);
    }
    return {
      ...shape,
      memoryReads: after.memoryReads - before.memoryReads,
      regionLookups: after.regionLookups - before.regionLookups,
      setSteps: after.setSteps - before.setSteps,
    };
  } finally {
    c.close();
  }
}

const SHAPES: Shape[] = [
  { frames: 10, roots: 1_000, tableRefs: 0 },
  { frames: 10, roots: 100_000, tableRefs: 0 },
  { frames: 10_000, roots: 10, tableRefs: 0 },
  { frames: 10_000, roots: 100_000, tableRefs: 0 },
  { frames: 10, roots: 1_000, tableRefs: 100_000 },
];

for (const arch of ARCHES) {
  test(`${arch}: one collection's host operations grow linearly with frames, roots and table entries`, async (t) => {
    const counted: Counted[] = [];
    for (const shape of SHAPES) counted.push(await countOne(arch, shape));
    for (const c of counted) {
      const label = `${c.frames} frames, ${c.roots} roots, ${c.tableRefs} table refs: ${c.memoryReads} reads, ${c.regionLookups} lookups, ${c.setSteps} set steps`;
      // Each frame: its record and its mapped words, one block each, whatever the roots.
      t.true(c.memoryReads <= 2 * c.frames + 2, label);
      t.true(c.regionLookups <= 2, label);
      // Every root is checked against the table and added to the precise set: the sets are
      // the counted ones, with a few steps per root.
      t.true(c.setSteps >= c.roots, label);
      t.true(c.setSteps <= 8 * c.roots + 4 * 512 + 64, label);
    }
    const at = (frames: number, roots: number, tableRefs = 0) => counted.find((c) => c.frames === frames && c.roots === roots && c.tableRefs === tableRefs)!;
    // A hundred times the roots: the same accesses, at most a hundred times the set steps.
    t.is(at(10, 100_000).memoryReads, at(10, 1_000).memoryReads);
    t.true(at(10, 100_000).setSteps / 100_000 <= 1.5 * (at(10, 1_000).setSteps / 1_000));
    // Table entries the stack does not name are dropped by the sweep without set steps of their own.
    t.true(at(10, 1_000, 100_000).setSteps <= at(10, 1_000).setSteps + 4 * 512);
  });
}
