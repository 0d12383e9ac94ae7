/**
 * Calls and frames with `--regalloc linear-scan`, as Cranelift v17 emits them:
 * - a call's result is used where it arrives and a returned value is computed where it leaves,
 *   in the return register (x64 rax, AArch64 x0): no move after the call, none before the
 *   epilogue (regalloc/virtual.ts: returnRegisterValues). The cases put the call's result on
 *   either side of every binop that may take it, with the other operand in a register, a
 *   constant or a value computed later, and values that must not take it (another instruction in
 *   between, a second call, a local);
 * - the stack-limit check adds only the fixed frame storage (spill slots) to the limit, and a
 *   leaf without any has no check (machinst/abi.rs gen_prologue, v17.0.0); v31 adds the whole
 *   frame and, when the function calls, a callee's 16-byte setup area.
 * Results are checked against values worked out by hand, in both modes, on both arches.
 */
import test from 'ava';
import type { Arch } from '../../isa/arch.ts';
import { compileModule } from '../index.ts';
import { formatListing } from '../listing.ts';
import { instantiate, watModule } from '../testing.ts';
import { PROFILES } from '../../profiles/profile.ts';
import type { RegallocMode } from './modes.ts';

const MODULE = `(module
  (memory 1)
  (func $id (param i32) (result i32) (local.get 0))
  (func $id64 (param i64) (result i64) (local.get 0))
  ;; 2: fib, the kernel of bench/compiler.
  (func $fib (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; 3: x - f(y): the call's result is the subtrahend, the difference returned.
  (func (param i32 i32) (result i32) (i32.sub (local.get 0) (call $id (local.get 1))))
  ;; 4: f(x) - y.
  (func (param i32 i32) (result i32) (i32.sub (call $id (local.get 0)) (local.get 1)))
  ;; 5: f(x) * (x + 3) - y, i.e. the other operand computed before the call.
  (func (param i32 i32) (result i32)
    (i32.sub (i32.mul (i32.add (local.get 0) (i32.const 3)) (call $id (local.get 0))) (local.get 1)))
  ;; 6: f(a) op f(b) for and/or/xor, and a 64-bit one.
  (func (param i32 i32) (result i32)
    (i32.xor (i32.or (call $id (local.get 0)) (call $id (local.get 1)))
             (i32.and (call $id (local.get 0)) (call $id (local.get 1)))))
  (func (param i64 i64) (result i64) (i64.sub (call $id64 (local.get 0)) (call $id64 (local.get 1))))
  ;; 8: a load between the call and its use: the result may not stay in the return register.
  (func (param i32) (result i32)
    (i32.store (i32.const 0) (i32.const 1000))
    (i32.add (call $id (local.get 0)) (i32.load (i32.const 0))))
  ;; 9: the result kept in a local across a loop, then returned.
  (func (param i32) (result i32) (local i32 i32)
    (local.set 1 (call $id (local.get 0)))
    (loop (local.set 2 (i32.add (local.get 2) (local.get 1)))
      (br_if 0 (i32.lt_u (local.get 2) (i32.const 100))))
    (local.get 2))
  ;; 10: the result divided (no binop that may take it).
  (func (param i32 i32) (result i32) (i32.div_u (call $id (local.get 0)) (local.get 1)))
  ;; 11: a deep recursion that needs its stack-limit check.
  (func $down (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))`;

/** [function, arguments, expected result]. */
const CASES: readonly [number, readonly (number | bigint)[], bigint][] = [
  [2, [0], 0n], [2, [1], 1n], [2, [10], 55n], [2, [20], 6765n],
  [3, [10, 3], 7n], [3, [3, 10], 0xfffffff9n],
  [4, [10, 3], 7n], [4, [3, 10], 0xfffffff9n],
  [5, [4, 5], 23n], [5, [0, 1], 0xffffffffn],
  [6, [0b1100, 0b1010], 0b0110n],
  [7, [5n, 7n], 0xfffffffffffffffen],
  [8, [5], 1005n],
  [9, [7], 105n], [9, [200], 200n],
  [10, [100, 7], 14n],
  [11, [1000], 1000n],
];

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];
const MODES: readonly RegallocMode[] = ['none', 'linear-scan'];

for (const arch of ARCHES) {
  test(`${arch}: call results and returned values through the return register compute what none computes`, async (t) => {
    const module = await watModule(MODULE);
    for (const regalloc of MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      for (const [f, args, want] of CASES) {
        t.is(BigInt.asUintN(f === 7 ? 64 : 32, inst.call(f, args.map(BigInt))), want, `${regalloc}: function ${f} (${args.join(', ')})`);
      }
      inst.machine.close();
    }
  });
}

/** The listing lines of function `index` (its header to the next one), without the Wasm comments. */
async function functionListing(arch: Arch, index: number, profile?: typeof PROFILES.v31): Promise<string[]> {
  const module = await watModule(MODULE);
  const lines = formatListing(compileModule(module, { arch, regalloc: 'linear-scan', ...(profile ? { profile } : {}) }), module);
  const start = lines.findIndex((l) => l.startsWith(`; function ${index} `));
  const end = lines.findIndex((l, k) => k > start && l.startsWith('; function '));
  return lines.slice(start, end < 0 ? undefined : end).filter((l) => !l.includes(';; ['));
}
/** The instructions' text: a listing line is its offset, its bytes, the instruction and maybe a comment, two or more spaces apart. */
const instructionsOf = (lines: readonly string[]): string[] => lines.filter((l) => /^ {2}0x/.test(l)).map((l) => l.trim().split(/\s{2,}/)[2]);

test('fib: the second call\'s result is added where it arrives and returned from there (both arches)', async (t) => {
  const x64 = instructionsOf(await functionListing('x64', 2));
  const calls = x64.flatMap((s, k) => (s.startsWith('call') ? [k] : []));
  t.is(calls.length, 2);
  t.regex(x64[calls[1] + 1], /^add eax, r1[235]d$/, 'the add reads rax and writes it');
  t.regex(x64[calls[1] + 2], /^mov (rbx|r1[235]), qword ptr \[rsp/, 'then the epilogue');
  const a64 = instructionsOf(await functionListing('aarch64', 2));
  const bls = a64.flatMap((s, k) => (s.startsWith('bl ') ? [k] : []));
  t.regex(a64[bls[1] + 1], /^add w0, w2\d, w0$/);
  t.regex(a64[bls[1] + 2], /^ldp x19, x20/);
});

test('a result with another instruction before its use, or in a local, is moved out of the return register', async (t) => {
  for (const f of [8, 9]) {
    const x64 = instructionsOf(await functionListing('x64', f));
    const call = x64.findIndex((s) => s.startsWith('call'));
    t.regex(x64[call + 1], /^mov (r(bx|1[2-5]|si|di|8|9)), rax$/, `function ${f}`);
  }
});

test('v17: the stack-limit check adds the spill area only, and a leaf without spill slots has none', async (t) => {
  for (const arch of ARCHES) {
    const leaf = instructionsOf(await functionListing(arch, 0));
    t.false(leaf.some((s) => /r10|x16/.test(s)), `${arch}: no stack-limit load in a leaf`);
    const fib = instructionsOf(await functionListing(arch, 2));
    const limit = fib.findIndex((s) => /^(mov r10, qword ptr \[r10\]|ldr x16, \[x16\])$/.test(s));
    t.true(limit > 0, `${arch}: fib checks the stack`);
    t.regex(fib[limit + 1], arch === 'x64' ? /^cmp rsp, r10$/ : /^cmp sp, x16$/, `${arch}: nothing added: fib has no spill slot`);
  }
});

test('v31: the stack-limit check adds the whole frame and a callee\'s setup area', async (t) => {
  for (const arch of ARCHES) {
    const lines = await functionListing(arch, 2, PROFILES.v31);
    const frame = Number(/frame (\d+) bytes/.exec(lines[1])![1]);
    const fib = instructionsOf(lines);
    const add = fib.find((s) => /^add (r10|x16, x16), /.test(s));
    t.truthy(add, arch);
    t.is(Number(/(0x[0-9a-f]+|\d+)$/.exec(add!.replace('#', ''))![1]), frame + 16, arch);
  }
});
