/**
 * bench/gc: time of one externref collection against the number of Wasm frames (10 to
 * 10,000), of live roots (10 to 100,000) and of activations-table entries that no frame names
 * (up to 100,000), v17 walk with debug checks on (the default).
 *
 * The stack is laid out by the host directly in guest memory (gc/testing/scale-stack.ts), so
 * only the collector is timed: the walk, the stack-map lookups, the root reads, the debug
 * membership check and the sweep. Every object is also held by the host, so each collection
 * repeats the same work; table-only entries are put back (untimed) before each one.
 *
 * JSON lines. Per case (`collector`, `frames`, `roots`, `table_refs` as fields): `gc_us`, the
 * best time of one collection, `roots_per_s`, and `ns_per_item` (time over frames + roots +
 * table entries). Then, per collector profile: the marginal costs `ns_per_frame`,
 * `ns_per_root` and `ns_per_table_entry` (a least-squares fit of gc_us = a + b·frames +
 * c·roots + d·table_refs over every case); `min_roots_per_s_1000plus`, the worst roots/s over
 * the cases with ≥ 1,000 roots and no table-only entries (target ≥ 20 M), and the same over
 * those cases with at least as many roots as frames (`..._roots_ge_frames`: in the others the
 * frames' cost is most of the time); `per_root_ratio_100000_vs_1000` (time per root at 100,000
 * roots over the same at 1,000, 10 frames, same run; target ≤ 1.5); `roots_per_s_debug_off`.
 *
 * `collector` is a dimension so that later wasmtime versions' collectors join the same table:
 * add the profile to SCALE_PROFILES (gc/testing/scale-stack.ts) and it runs every case.
 */
import type { Arch } from '../isa/arch.ts';
import { buildScaleCase, SCALE_PROFILES, type ScaleProfile } from '../gc/testing/scale-stack.ts';
import { emit, type BenchOptions } from './report.ts';

interface Shape {
  frames: number;
  roots: number;
  tableRefs: number;
}

interface Measured extends Shape {
  usPerGc: number;
}

const FRAMES = [10, 100, 1_000, 10_000];
const ROOTS = [10, 1_000, 10_000, 100_000];
const TABLE_REFS = [1_000, 10_000, 100_000];
/** The shape of the debug-checks-off comparison. */
const BIG: Shape = { frames: 1_000, roots: 100_000, tableRefs: 0 };

function shapes(): Shape[] {
  const out: Shape[] = [];
  for (const frames of FRAMES) for (const roots of ROOTS) out.push({ frames, roots, tableRefs: 0 });
  for (const tableRefs of TABLE_REFS) out.push({ frames: 10, roots: 1_000, tableRefs });
  return out;
}

/**
 * Microseconds of one collection: the best batch over at least `repeats` batches and about
 * 0.3 s, after a warm-up. Time is the process's CPU time (user + system), not wall time: on a
 * shared machine a collection of 100,000 roots (several ms) is usually preempted at least once,
 * which would charge other processes' time to the largest cases and inflate exactly the ratios
 * this bench exists to watch. The collector runs on one thread, so on an idle machine both agree.
 */
async function measure(arch: Arch, profile: ScaleProfile, shape: Shape, repeats: number, debugChecks: boolean): Promise<number> {
  const c = await buildScaleCase(arch, { ...shape, profile, debugChecks });
  try {
    c.refillTable();
    const first = c.collector.collect();
    if (first.roots !== shape.roots || first.frames !== shape.frames || first.freedCount !== 0) {
      throw new Error(`bench setup wrong: ${first.roots} roots, ${first.frames} frames, ${first.freedCount} freed`);
    }
    // Table-only entries are dropped by every sweep, so each collection needs its own refill.
    const batch = shape.tableRefs > 0 ? 1 : Math.max(1, Math.ceil(50_000 / (shape.roots + shape.frames)));
    for (let i = 0; i < 3; i++) {
      c.refillTable();
      c.collector.collect();
    }
    let best = Infinity;
    let spent = 0;
    for (let r = 0; r < Math.max(5, repeats) || (spent < 300 && r < 500); r++) {
      c.refillTable();
      const t0 = process.cpuUsage();
      for (let i = 0; i < batch; i++) c.collector.collect();
      const used = process.cpuUsage(t0);
      const dt = (used.user + used.system) / 1000;
      spent += dt;
      best = Math.min(best, (dt * 1000) / batch);
    }
    return best;
  } finally {
    c.close();
  }
}

/** Least squares for y ≈ X·β (normal equations, Gaussian elimination with partial pivoting). */
function leastSquares(rows: number[][], y: number[]): number[] {
  const n = rows[0].length;
  const a = Array.from({ length: n }, (_, i) => Array.from({ length: n + 1 }, (_, j) => {
    let s = 0;
    for (let k = 0; k < rows.length; k++) s += rows[k][i] * (j === n ? y[k] : rows[k][j]);
    return s;
  }));
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let j = col; j <= n; j++) a[r][j] -= f * a[col][j];
    }
  }
  return a.map((row, i) => row[n] / row[i]);
}

export async function benchGc(options: BenchOptions): Promise<void> {
  for (const arch of options.arches) {
    for (const collector of SCALE_PROFILES) {
      const cases: Measured[] = [];
      for (const shape of shapes()) {
        const usPerGc = await measure(arch, collector, shape, options.repeats, true);
        cases.push({ ...shape, usPerGc });
        const dims = { collector, frames: shape.frames, roots: shape.roots, table_refs: shape.tableRefs };
        emit({ bench: 'gc', arch, metric: 'gc_us', ...dims, value: usPerGc });
        emit({ bench: 'gc', arch, metric: 'roots_per_s', ...dims, value: shape.roots / (usPerGc / 1e6) });
        emit({ bench: 'gc', arch, metric: 'ns_per_item', ...dims, value: (usPerGc * 1000) / (shape.frames + shape.roots + shape.tableRefs) });
      }
      const [, perFrame, perRoot, perEntry] = leastSquares(cases.map((c) => [1, c.frames, c.roots, c.tableRefs]), cases.map((c) => c.usPerGc));
      emit({ bench: 'gc', arch, metric: 'ns_per_frame', collector, value: perFrame * 1000 });
      emit({ bench: 'gc', arch, metric: 'ns_per_root', collector, value: perRoot * 1000 });
      emit({ bench: 'gc', arch, metric: 'ns_per_table_entry', collector, value: perEntry * 1000 });
      const rootsPerS = (list: Measured[]) => Math.min(...list.map((c) => c.roots / (c.usPerGc / 1e6)));
      const big = cases.filter((c) => c.roots >= 1000 && c.tableRefs === 0);
      emit({ bench: 'gc', arch, metric: 'min_roots_per_s_1000plus', collector, value: rootsPerS(big) });
      emit({ bench: 'gc', arch, metric: 'min_roots_per_s_1000plus_roots_ge_frames', collector, value: rootsPerS(big.filter((c) => c.roots >= c.frames)) });
      const perRootAt = (roots: number) => cases.find((c) => c.frames === 10 && c.roots === roots && c.tableRefs === 0)!.usPerGc / roots;
      emit({ bench: 'gc', arch, metric: 'per_root_ratio_100000_vs_1000', collector, value: perRootAt(100_000) / perRootAt(1_000) });
      const off = await measure(arch, collector, BIG, options.repeats, false);
      emit({ bench: 'gc', arch, metric: 'roots_per_s_debug_off', collector, frames: BIG.frames, roots: BIG.roots, table_refs: 0, value: BIG.roots / (off / 1e6) });
    }
  }
}
