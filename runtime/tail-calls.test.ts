/**
 * Tail calls (`return_call`, `return_call_indirect`) end to end, on both arches and in both
 * register-allocation modes: results, 10 million tail calls in constant stack (the SP a host
 * function sees at the bottom does not depend on the count), callee-saved registers restored
 * before the jump (a caller's values in them survive), stack arguments, a tail call to a host
 * function, the return area passed on, and collections inside tail-called functions while
 * references are live in the frames below.
 */
import test from 'ava';
import { Engine, Store, Module, Instance, Func, ExternRef, CompileError } from '../index.ts';
import { storeInternals } from './store.ts';
import { ARCHES } from './testing.ts';
import { REGALLOC_MODES } from '../compiler/function.ts';

const PROGRAM = `(module
  (import "h" "probe" (func $probe (param i32)))
  (import "h" "gc" (func $gc))
  (import "h" "add" (func $add (param i64 i64) (result i64)))
  (import "h" "frames" (func $frames (param externref) (result i32)))
  (type $step (func (param i64 i64) (result i64)))
  (table 2 funcref) (elem (i32.const 0) $even $odd)

  ;; count(n, acc): n tail calls, then a host call that records SP.
  (func $count (export "count") (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (call $probe (i32.const 0)) (local.get $acc))
      (else (return_call $count (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (i64.const 2))))))
  ;; The same recursion with ordinary calls (the stack grows), for contrast.
  (func $deep (export "deep") (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (call $probe (i32.const 0)) (local.get $acc))
      (else (call $deep (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (i64.const 2))))))

  ;; Mutual recursion through the table.
  (func $even (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n)) (then (local.get $acc))
      (else (return_call_indirect (type $step) (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (i64.const 1)) (i32.const 1)))))
  (func $odd (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n)) (then (i64.sub (i64.const 0) (local.get $acc)))
      (else (return_call_indirect (type $step) (i64.sub (local.get $n) (i64.const 1)) (i64.add (local.get $acc) (i64.const 1)) (i32.const 0)))))
  (func (export "parity") (param i64) (result i64) (return_call $even (local.get 0) (i64.const 0)))

  ;; Values live across a call in the caller (callee-saved registers with linear-scan), while the
  ;; callee keeps values of its own across a call and then tail-calls.
  (func $busy (param $x i64) (result i64) (local $a i64) (local $b i64) (local $c i64)
    (local.set $a (i64.mul (local.get $x) (i64.const 3)))
    (local.set $b (i64.add (local.get $x) (i64.const 5)))
    (local.set $c (i64.xor (local.get $x) (i64.const 0xff)))
    (call $probe (i32.const 1))
    (return_call $add (i64.add (local.get $a) (local.get $b)) (local.get $c)))
  (func (export "keep") (param $x i64) (result i64) (local $p i64) (local $q i64) (local $r i64)
    (local.set $p (i64.add (local.get $x) (i64.const 100)))
    (local.set $q (i64.mul (local.get $x) (i64.const 7)))
    (local.set $r (i64.sub (local.get $x) (i64.const 9)))
    (i64.add (call $busy (local.get $x))
      (i64.add (local.get $p) (i64.add (local.get $q) (local.get $r)))))

  ;; Six i64 parameters: stack arguments on x86-64 (two words), passed on by a tail call.
  (func $six (param i64 i64 i64 i64 i64 i64) (result i64)
    (i64.add (i64.mul (local.get 0) (i64.const 100000))
      (i64.add (i64.mul (local.get 1) (i64.const 10000))
        (i64.add (i64.mul (local.get 2) (i64.const 1000))
          (i64.add (i64.mul (local.get 3) (i64.const 100)) (i64.add (i64.mul (local.get 4) (i64.const 10)) (local.get 5)))))))
  (func $rotate (export "rotate") (param i64 i64 i64 i64 i64 i64) (result i64)
    (return_call $six (local.get 5) (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))

  ;; Several results through a tail call: the callee fills the caller's caller's return area.
  (func $triple (param $n i32) (result i32 i64 i32 externref)
    (if (result i32 i64 i32 externref) (local.get $n)
      (then (return_call $triple (i32.sub (local.get $n) (i32.const 1))))
      (else (i32.const 1) (i64.const 2) (i32.const 3) (ref.null extern))))
  (func (export "triple") (param i32) (result i32 i64 i32 externref) (return_call $triple (local.get 0)))

  ;; References: hold keeps r in a local and tail-calls collect, which collects and returns it;
  ;; main keeps its own reference live across the call.
  (func $collect (param $r externref) (param $n i32) (result externref)
    (if (result externref) (local.get $n)
      (then (return_call $collect (local.get $r) (i32.sub (local.get $n) (i32.const 1))))
      (else (call $gc) (local.get $r))))
  (func $hold (param $r externref) (param $n i32) (result externref) (local $keep externref)
    (local.set $keep (local.get $r))
    (call $gc)
    (return_call $collect (local.get $keep) (local.get $n)))
  ;; The only Wasm frame of the activation tail-calls the host: a collection there walks no
  ;; Wasm frame (the exit trampoline's caller is the entry trampoline).
  (func (export "to_host") (param externref) (result i32) (return_call $frames (local.get 0)))
  (func (export "via_host") (param externref) (result i32) (i32.add (call $frames (local.get 0)) (i32.const 100)))
  (func (export "refs") (param $a externref) (param $b externref) (result externref externref)
    (call $hold (local.get $b) (i32.const 3))
    (call $gc)
    (local.get $a)))`;

interface Setup {
  store: Store;
  inst: Instance;
  probes: bigint[];
  collections: () => number;
}

async function setup(arch: 'x64' | 'aarch64', regalloc: 'none' | 'linear-scan'): Promise<Setup> {
  const engine = new Engine({ arch, regalloc });
  const store = await Store.create(engine);
  const module = await Module.fromWat(engine, PROGRAM);
  const probes: bigint[] = [];
  let collections = 0;
  const probe = Func.wrap(store, { params: ['i32'], results: [] }, (caller) => {
    probes.push(caller.call!.sp);
  });
  const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
    caller.gc();
    collections++;
  });
  const add = Func.wrap(store, { params: ['i64', 'i64'], results: ['i64'] }, (_c, a, b) => (a as bigint) + (b as bigint));
  const frames = Func.wrap(store, { params: ['externref'], results: ['i32'] }, (caller) => {
    collections++;
    return caller.gc().frames;
  });
  return { store, inst: Instance.create(store, module, [probe, gc, add, frames]), probes, collections: () => collections };
}

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: 10 million tail calls run in constant stack; ordinary calls do not`, async (t) => {
      const { store, inst, probes } = await setup(arch, regalloc);
      const count = inst.getFunc('count');
      t.is(count.call(0n, 5n), 5n);
      t.is(count.call(1n, 0n), 2n);
      t.is(count.call(1000n, 0n), 2000n);
      t.is(count.call(10_000_000n, 0n), 20_000_000n);
      t.is(new Set(probes).size, 1, `SP at the bottom: ${probes.map((p) => p.toString(16)).join(', ')}`);
      const deep = inst.getFunc('deep');
      probes.length = 0;
      t.is(deep.call(1n, 0n), 2n);
      t.is(deep.call(100n, 0n), 200n);
      t.true(probes[0] - probes[1] >= 99n * 16n, 'the measure sees a growing stack');
      store.close();
    });

    test(`${arch} ${regalloc}: return_call_indirect, callee-saved registers, stack arguments, host callees and several results`, async (t) => {
      const { store, inst } = await setup(arch, regalloc);
      t.is(inst.getFunc('parity').call(1001n), -1001n);
      t.is(inst.getFunc('parity').call(1000n), 1000n);
      const x = 12n;
      t.is(inst.getFunc('keep').call(x), (x * 3n + x + 5n + (x ^ 0xffn)) + (x + 100n) + x * 7n + (x - 9n));
      t.is(inst.getFunc('rotate').call(1n, 2n, 3n, 4n, 5n, 6n), 612345n);
      t.deepEqual(inst.getFunc('triple').call(5), [1, 2n, 3, null]);
      t.deepEqual(inst.getFunc('triple').callNative(0), [1, 2n, 3, null]);
      store.close();
    });

    test(`${arch} ${regalloc}: collections inside tail-called functions keep every live reference`, async (t) => {
      const { store, inst, collections } = await setup(arch, regalloc);
      const a = ExternRef.new(store, 'a');
      const b = ExternRef.new(store, 'b');
      const [ra, rb] = inst.getFunc('refs').call(a, b) as ExternRef[];
      t.is(collections(), 3);
      t.is(ra.value, 'b');
      t.is(rb.value, 'a');
      // A host function tail-called by the activation's only Wasm frame: nothing to walk; the
      // same call made normally walks that frame.
      t.is(inst.getFunc('to_host').call(a), 0);
      t.is(inst.getFunc('via_host').call(a), 101);
      t.is(a.value, 'a');
      for (const r of [a, b, ra, rb]) r.release();
      store.gc();
      t.is(storeInternals(store).externRefHeap.liveCount, 0);
      store.close();
    });
  }

  test(`${arch}: a tail call needing more stack arguments than the caller received is refused; mismatched results are invalid`, async (t) => {
    const engine = new Engine({ arch });
    const grow = await t.throwsAsync(() => Module.fromWat(engine, `(module
      (func $f (param i64 i64 i64 i64 i64 i64 i64) (result i64) (local.get 0))
      (func (export "g") (result i64) (return_call $f (i64.const 0) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6))))`));
    t.true(grow instanceof CompileError, String(grow));
    t.is((grow as CompileError).kind, 'unsupported');
    t.regex(grow!.message, /return_call: the callee takes \d stack-argument word\(s\), this function received 0/);
    const bad = await t.throwsAsync(() => Module.fromWat(engine, '(module (func $f (result i64) (i64.const 1)) (func (result i32) (return_call $f)))'));
    t.is((bad as CompileError).kind, 'validation');
  });
}
