/**
 * Memory addressing as Cranelift emits it with registers: an address `x + (y << k)` (one
 * scaled-index `lea` / shifted-register `add`, Wasm's wrap-around kept) used by the access right
 * after it as its index, and memory 0's base kept in one register for the whole function —
 * callee-saved across calls and memory.grow, caller-saved otherwise. Both arches, both
 * register-allocation modes (none keeps its per-access loads).
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { instantiate, u32, watModule } from './testing.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { ALLOCATABLE } from './codegen/common.ts';
import { REGALLOC_MODES } from './index.ts';

const ARCHES = ['x64', 'aarch64'] as const satisfies readonly Arch[];
const TARGETS = ARCHES.flatMap((arch) => REGALLOC_MODES.map((regalloc) => ({ arch, regalloc })));

const SCALED = `(module
  (memory 1)
  (func (param i32 i32) (result i32) (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 1))))
  (func (param i32 i32) (result i32) (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2))))
  (func (param i32 i32) (result i32) (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 3))))
  (func (param i64 i64) (result i64) (i64.add (local.get 0) (i64.shl (local.get 1) (i64.const 3))))
  (func (param i32 i32) (result i32) (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 4))))
  (func (param i32 i32) (result i32) (i32.load (i32.add (local.get 0) (i32.shl (local.get 1) (i32.const 2)))))
)`;

for (const { arch, regalloc } of TARGETS) {
  test(`${arch} ${regalloc}: x + (y << k) wraps as Wasm's i32/i64 arithmetic, folded or not`, async (t) => {
    const inst = await instantiate(await watModule(SCALED), arch, {}, regalloc);
    const i32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
    const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    fc.assert(fc.property(i32, i32, fc.constantFrom(0, 1, 2, 4), (x, y, f) => {
      const k = [1, 2, 3, 0, 4][f]!;
      const want = BigInt.asUintN(32, BigInt(x) + (BigInt(y) << BigInt(k)));
      return u32(inst.call(f, [BigInt.asUintN(32, BigInt(x)), BigInt.asUintN(32, BigInt(y))])) === want;
    }), { numRuns: 200, seed: 8 });
    fc.assert(fc.property(i64, i64, (x, y) => inst.call(3, [x, y]) === BigInt.asUintN(64, x + (y << 3n))), { numRuns: 100, seed: 9 });
    // A load right after the folded add uses its zero-extended result as the index.
    inst.machine.writeU32(inst.memoryBase! + 4n * 10n + 8n, 0xfeed);
    t.is(u32(inst.call(5, [8, 10])), 0xfeedn);
    if (regalloc === 'linear-scan') {
      // The access comes right after the address's `lea`/`add`, which left its index ready.
      const load = inst.image.functions[5]!;
      const site = load.traps.find((x) => x.code === 'HeapOutOfBounds')!.offset;
      const insns = createDisassembler(arch).disasm(load.code, 0n);
      const at = insns.findIndex((i) => Number(i.address) === site);
      const shown = insns.slice(0, at + 1).map((i) => i.text).join('; ');
      const add = insns.slice(0, at).reverse().find((i) => (arch === 'x64' ? /^lea e/ : /^add w.*lsl #2/).test(i.text))!;
      const sum = /^\w+ (\w+),/.exec(add.text)![1]!;
      // x64: the lea's 32-bit result is the index as it is (no `mov eax, …` first).
      const index = arch === 'x64' ? `+ r${sum.slice(1).replace(/d$/, '')}]` : `, ${sum}, uxtw]`;
      t.true(insns[at]!.text.includes(index), `${index} in: ${shown}`);
      t.false(insns.slice(insns.indexOf(add), at).some((i) => /^mov eax/.test(i.text)), shown);
    }
  });
}

const WALK = `(module
  (memory 1 4)
  (func $next (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "walk") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $l
      (if (i32.eq (local.get $i) (i32.const 100)) (then (drop (memory.grow (i32.const 1)))))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (call $next (local.get $i)))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
  (func (export "leaf") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
)`;

for (const { arch, regalloc } of TARGETS) {
  test(`${arch} ${regalloc}: memory 0's base stays in one register across calls and memory.grow`, async (t) => {
    const inst = await instantiate(await watModule(WALK), arch, {}, regalloc);
    // 20,000 words: past the first page only after the grow at i = 100.
    const n = 20_000;
    t.is(u32(inst.call(1, [n])), BigInt.asUintN(32, BigInt((n * (n + 1)) / 2)));
    t.is(u32(inst.call(2, [300])), BigInt(sumBytes(inst, 300)));
    const [walk, leaf] = [inst.image.functions[1]!, inst.image.functions[2]!];
    if (regalloc === 'linear-scan') {
      const callee = ALLOCATABLE[arch].calleeSaved.at(-1)!;
      const caller = ALLOCATABLE[arch].callerSaved.at(-1)!;
      t.is(walk.frame.allocation?.heapBase, callee, 'a function that calls keeps it in a callee-saved register (saved by its prologue)');
      t.true(walk.frame.savedRegs?.includes(callee));
      t.is(leaf.frame.allocation?.heapBase, caller, 'a leaf keeps it in a caller-saved one');
    } else {
      t.is(walk.frame.allocation, undefined);
    }
  });
}

/** The sum of the first `n` bytes of the test instance's memory. */
function sumBytes(inst: Awaited<ReturnType<typeof instantiate>>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Number(inst.machine.readBytes(inst.memoryBase! + BigInt(i), 1)[0]);
  return s;
}
