/**
 * Returns in place (`--regalloc linear-scan`): a branch out of the function, or to a block whose
 * `end` is the function's last instruction, loads the results into the return registers and has
 * its own epilogue. The values a conditional branch (`br_if`, `br_table`) carries stay on the
 * operand stack for the path that does not branch, so a constant among them must be written
 * before the branch, not on the branch's own path (the Wasm spec suite's br_if.wast and
 * br_table.wast caught that). Both arches, both modes, against values worked out by hand.
 */
import test from 'ava';
import type { Arch } from '../../isa/arch.ts';
import { instantiate, watModule } from '../testing.ts';
import type { RegallocMode } from './modes.ts';

const MODULE = `(module
  (func $dummy)
  ;; 0: br_if to an in-place block, the value a constant.
  (func (param i32) (result i32)
    (block (result i32) (call $dummy) (br_if 0 (i32.const 11) (local.get 0))))
  ;; 1: br_if out of the function (depth 1), then the constant falls through.
  (func (param i32) (result i32)
    (block (result i32) (drop (br_if 1 (i32.const 20) (local.get 0))) (i32.const 21)))
  ;; 2: br_table to the function and to an in-place block, carrying a constant.
  (func (param i32) (result i32)
    (block (result i32)
      (i32.add (i32.const 1)
        (block (result i32) (br_table 0 1 2 (i32.const 7) (local.get 0))))))
  ;; 3: an if whose arms return in place, one with a constant, one computed.
  (func (param i32) (result i64)
    (if (result i64) (local.get 0) (then (i64.const 5)) (else (i64.extend_i32_u (i32.add (local.get 0) (i32.const 40))))))
  ;; 4: return from inside a loop, the value a constant, the loop's condition a compare.
  (func (param i32) (result i32) (local i32)
    (loop (br_if 0 (i32.lt_s (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))
    (if (i32.gt_s (local.get 1) (i32.const 3)) (then (return (i32.const 99))))
    (local.get 1))
  ;; 5: two results returned in place from a br_if, constants.
  (func (param i32) (result i32 i64)
    (block (result i32 i64) (br_if 0 (i32.const 3) (i64.const 4) (local.get 0)) (drop) (drop) (i32.const 6) (i64.const 7))))`;

/** [function, argument, expected results]. */
const CASES: readonly [number, number, readonly bigint[]][] = [
  [1, 0, [11n]], [1, 1, [11n]],
  [2, 0, [21n]], [2, 1, [20n]],
  [3, 0, [8n]], [3, 1, [7n]], [3, 2, [7n]], [3, 9, [7n]],
  [4, 0, [40n]], [4, 1, [5n]],
  [5, 2, [2n]], [5, 3, [3n]], [5, 9, [99n]],
  [6, 1, [3n, 4n]], [6, 0, [6n, 7n]],
];

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];
const MODES: readonly RegallocMode[] = ['none', 'linear-scan'];

for (const arch of ARCHES) {
  test(`${arch}: branches that return in place carry their values, constants included (both modes)`, async (t) => {
    const module = await watModule(MODULE);
    for (const regalloc of MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      for (const [f, arg, want] of CASES) {
        const first = inst.call(f, [BigInt(arg)]);
        // Only the first result comes back from a call here; the second is checked through the runtime tests.
        t.is(first, want[0], `${regalloc}: function ${f - 1} (${arg})`);
      }
      inst.machine.close();
    }
  });
}
