/**
 * A full-width load whose value is only the second operand of the integer binop right after it
 * (`add`, `sub`, `and`, `or`, `xor`, `mul`, i32 and i64) is folded into the operation on x64 with
 * registers (`add r, dword ptr [base + index]`, `imul r, [..]`), as Cranelift's x64 lowering
 * sinks such a load; the operation is then the access and its HeapOutOfBounds trap site.
 * AArch64 and `--regalloc none` load first. The cases include a destination that is the
 * index's own register (the index dies at the operation), for a commutative operation and for
 * `sub`, an index just computed by a `lea`, offsets, and an access past the end of memory.
 * Every result is checked against JavaScript's arithmetic, both arches, both modes.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { instantiate, trapCodeAt, watModule } from './testing.ts';
import { REGALLOC_MODES } from './index.ts';

const OPS = ['add', 'sub', 'and', 'or', 'xor', 'mul'] as const;

const MODULE = `(module
  (memory 1)
  ${OPS.map((op) => `(func (param i32 i32) (result i32) (i32.${op} (local.get 0) (i32.load offset=4 (local.get 1))))`).join('\n  ')}
  ${OPS.map((op) => `(func (param i64 i32) (result i64) (i64.${op} (local.get 0) (i64.load offset=8 (local.get 1))))`).join('\n  ')}
  ;; 12, 13: the result written to the local that is the address (its register may be the destination).
  (func (param i32 i32) (result i32) (local.set 1 (i32.add (local.get 0) (i32.load (local.get 1)))) (local.get 1))
  (func (param i32 i32) (result i32) (local.set 1 (i32.sub (local.get 0) (i32.load (local.get 1)))) (local.get 1))
  ;; 14: bench/compiler's sum: the index computed by the shifted add right before.
  (func (param $a i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $next
        (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_s (local.get $i) (local.get $n)))))
    (local.get $s))
  ;; 15: a product of two loads (matmul's), the second folded.
  (func (param i32 i32) (result i32) (i32.mul (i32.load (local.get 0)) (i32.load (i32.shl (local.get 1) (i32.const 2)))))
  ;; 16, 17: the index just computed (used as it is) and dying at the operation, whose result
  ;; may take its register: sub (the index copied first) and xor (loaded into it).
  (func (param i32 i32 i32) (result i32)
    (i32.add (local.get 0) (i32.sub (local.get 2) (i32.load (i32.add (local.get 1) (i32.shl (local.get 0) (i32.const 2)))))))
  (func (param i32 i32 i32) (result i32)
    (i32.add (local.get 0) (i32.xor (local.get 2) (i32.load (i32.add (local.get 1) (i32.shl (local.get 0) (i32.const 2)))))))
)`;

const ARCHES = ['x64', 'aarch64'] as const satisfies readonly Arch[];

function apply(op: (typeof OPS)[number], a: bigint, b: bigint, bits: 32 | 64): bigint {
  const r = { add: a + b, sub: a - b, and: a & b, or: a | b, xor: a ^ b, mul: a * b }[op];
  return BigInt.asUintN(bits, r);
}

for (const arch of ARCHES) for (const regalloc of REGALLOC_MODES) {
  test(`${arch} ${regalloc}: a load folded into the binop after it computes what Wasm says`, async (t) => {
    const inst = await instantiate(await watModule(MODULE), arch, {}, regalloc);
    const base = inst.memoryBase!;
    const u32 = fc.integer({ min: 0, max: 0xffff_ffff }).map(BigInt);
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const at = fc.integer({ min: 0, max: 1000 }).map((k) => 8 * k);
    fc.assert(fc.property(u32, u32, u64, u64, at, fc.integer({ min: 0, max: 5 }), (a, m, a64, m64, addr, k) => {
      inst.machine.writeU32(base + BigInt(addr) + 4n, Number(m));
      inst.machine.writeU64(base + BigInt(addr) + 8n, m64);
      const op = OPS[k]!;
      return BigInt.asUintN(32, inst.call(k, [a, BigInt(addr)])) === apply(op, a, m, 32)
        && BigInt.asUintN(64, inst.call(6 + k, [a64, BigInt(addr)])) === apply(op, a64, m64, 64);
    }), { numRuns: 120, seed: 17 });
    inst.machine.writeU32(base + 400n, 30);
    t.is(BigInt.asUintN(32, inst.call(12, [12n, 400n])), 42n);
    t.is(BigInt.asUintN(32, inst.call(13, [12n, 400n])), BigInt.asUintN(32, -18n));
    for (let i = 0; i < 50; i++) inst.machine.writeU32(base + 1024n + BigInt(4 * i), i * i);
    t.is(BigInt.asUintN(32, inst.call(14, [1024n, 50n])), BigInt((49 * 50 * 99) / 6));
    inst.machine.writeU32(base + 2048n, 7);
    inst.machine.writeU32(base + 4n * 600n, 6);
    t.is(BigInt.asUintN(32, inst.call(15, [2048n, 600n])), 42n);
    inst.machine.writeU32(base + 3000n + 4n * 5n, 0x1234);
    t.is(BigInt.asUintN(32, inst.call(16, [5n, 3000n, 0x10000n])), 5n + 0x10000n - 0x1234n);
    t.is(BigInt.asUintN(32, inst.call(17, [5n, 3000n, 0xff00n])), BigInt(5 + (0xff00 ^ 0x1234)));
    // Past the end of the 64 KiB memory: the folded access traps, as the load does.
    for (const f of [0, 5, 6, 13]) {
      const e = t.throws(() => inst.call(f, [1n, 65535n]), { instanceOf: GuestTrap })!;
      t.is(trapCodeAt(inst, e), 'HeapOutOfBounds', `function ${f}`);
    }
    inst.machine.close();
  });
}

test('x64 linear-scan: the operation reads memory and is the trap site; AArch64 and none load first', async (t) => {
  const module = await watModule(MODULE);
  for (const arch of ARCHES) for (const regalloc of REGALLOC_MODES) {
    const inst = await instantiate(module, arch, {}, regalloc);
    for (const f of [0, 5, 14]) {
      const fn = inst.image.functions[f]!;
      const site = fn.traps.find((x) => x.code === 'HeapOutOfBounds')!.offset;
      const access = createDisassembler(arch).disasm(fn.code, 0n).find((i) => Number(i.address) === site)!;
      const folded = arch === 'x64' && regalloc === 'linear-scan';
      t.is(/^(add|imul) \w+, dword ptr \[/.test(access.text), folded, `${arch} ${regalloc} function ${f}: ${access.text}`);
    }
    inst.machine.close();
  }
});
