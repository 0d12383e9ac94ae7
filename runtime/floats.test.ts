/**
 * Floats through the public API, on both arches and in both register-allocation modes:
 * f32/f64 parameters and results of Func.call and TypedFunc, host functions (Func.wrap) with
 * float parameters and results called from Wasm, float globals read and written from both
 * sides, float memory, and the trapping conversions as WasmTraps with Wasm's trap codes.
 */
import test from 'ava';
import { Engine, ExternRef, Func, Global, Instance, Module, Store, WasmTrap } from '../index.ts';
import { ARCHES } from './testing.ts';
import { REGALLOC_MODES } from '../compiler/regalloc/modes.ts';

const WAT = `(module
  (import "env" "scale" (func $scale (param f64 f32) (result f64)))
  (import "env" "g" (global $ig (mut f32)))
  (global $gd (export "gd") (mut f64) (f64.const -0.5))
  (memory (export "mem") 1)
  (func (export "hypot") (param f64 f64) (result f64)
    (f64.sqrt (f64.add (f64.mul (local.get 0) (local.get 0)) (f64.mul (local.get 1) (local.get 1)))))
  (func (export "mix") (param i32 f32 i64 f64) (result f32)
    ;; f32(i32) + f32(a) + f32(i64) + demote(f64): arguments of every kind, interleaved
    (f32.add (f32.add (f32.convert_i32_s (local.get 0)) (local.get 1))
             (f32.add (f32.convert_i64_s (local.get 2)) (f32.demote_f64 (local.get 3)))))
  (func (export "callHost") (param f64) (result f64)
    (f64.add (call $scale (local.get 0) (f32.const 1.5)) (f64.promote_f32 (global.get $ig))))
  (func (export "bumpGlobals")
    (global.set $ig (f32.mul (global.get $ig) (f32.const 2)))
    (global.set $gd (f64.neg (global.get $gd))))
  (func (export "roundTripMemory") (param f64) (result f64)
    (f64.store offset=8 (i32.const 0) (local.get 0))
    (f32.store (i32.const 4) (f32.demote_f64 (f64.load offset=8 (i32.const 0))))
    (f64.promote_f32 (f32.load (i32.const 4))))
  (func (export "toI32") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "toI32Sat") (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0)))
  (func (export "nearest") (param f32) (result f32) (f32.nearest (local.get 0))))`;

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: float parameters, results, host functions, globals and traps through the API`, async (t) => {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      try {
        const hostCalls: [number, number][] = [];
        const scale = Func.wrap(store, { params: ['f64', 'f32'], results: ['f64'] }, (_caller, x, k) => {
          hostCalls.push([x as number, k as number]);
          return (x as number) * (k as number);
        });
        const g = Global.new(store, { valType: 'f32', mutable: true }, 0.25);
        const instance = Instance.create(store, await Module.fromWat(engine, WAT), [scale, g]);

        const hypot = instance.getTypedFunc('hypot', ['f64', 'f64'], ['f64']);
        t.is(hypot.call(3, 4), 5);
        t.true(Number.isNaN(hypot.call(Infinity, NaN)));
        t.true(Object.is(instance.getFunc('nearest').call(-0.5), -0), 'nearest(-0.5) = -0');
        t.is(instance.getFunc('nearest').call(2.5), 2, 'ties to even');
        t.is(instance.getFunc('nearest').call(3.5), 4);
        // Every argument register kind interleaved; f32 results are rounded to f32.
        t.is(instance.getFunc('mix').call(1, 0.1, 2n, 0.2), Math.fround(Math.fround(1 + Math.fround(0.1)) + Math.fround(2 + Math.fround(0.2))));
        // A host function with float parameters and result, called from Wasm; an imported global.
        t.is(instance.getFunc('callHost').call(2), 2 * 1.5 + 0.25);
        t.deepEqual(hostCalls, [[2, 1.5]]);
        instance.getFunc('bumpGlobals').call();
        t.is(g.get(), 0.5);
        const gd = instance.getGlobal('gd');
        t.is(gd.get(), 0.5);
        gd.set(-1e300);
        instance.getFunc('bumpGlobals').call();
        t.is(gd.get(), 1e300);
        // f32 arguments are rounded to the nearest f32; memory keeps the bits.
        t.is(instance.getFunc('roundTripMemory').call(0.1), Math.fround(0.1));
        t.is(instance.getFunc('toI32').call(-2147483648.9), -2147483648);
        t.is(instance.getFunc('toI32Sat').call(1e10), 2147483647);
        t.is(instance.getFunc('toI32Sat').call(NaN), 0);
        for (const [arg, code] of [[NaN, 'BadConversionToInteger'], [2147483648, 'IntegerOverflow'], [-2147483649, 'IntegerOverflow']] as const) {
          const e = t.throws(() => instance.getFunc('toI32').call(arg), { instanceOf: WasmTrap });
          t.is(e?.code, code, `toI32(${arg})`);
        }
        t.throws(() => instance.getFunc('hypot').call(1n, 2), { message: /expected f64/ });
        // Exact bits through Func.callRaw: signalling NaNs keep their payloads both ways.
        t.is(instance.getFunc('nearest').callRaw(0x7fa00001n), 0x7fe00001n, 'nearest quiets a NaN, keeping its payload (an arithmetic NaN)');
        t.is(instance.getFunc('roundTripMemory').callRaw(0x7ff4000000000001n), 0x7ffc000000000000n, 'demote/promote: arithmetic NaN');
        t.is(instance.getFunc('toI32Sat').callRaw(0xffc00000n), 0n);
        t.is(instance.getFunc('mix').callRaw(1n, 0x3f800000n, 1n, 0x3ff0000000000000n), 0x40800000n);
        t.is(instance.getFunc('bumpGlobals').callRaw(), null);
        t.throws(() => instance.getFunc('hypot').callRaw(1n), { message: /takes 2 arguments/ });
      } finally {
        store.close();
      }
    });
  }
}

/**
 * Floats beside references across a collection: f32/f64 values and externrefs are live across
 * the host gc call together (with linear-scan the floats in float registers or slots, the
 * references spilled to their slots); every stack map must list exactly the two externrefs, and
 * the collection must keep both objects and leave the floats untouched.
 */
const MIXED = `(module
  (import "env" "gc" (func $gc))
  (func (export "mixed") (param $a externref) (param $x f64) (param $b externref) (param $y f32) (result f64)
    (local $z f64)
    (local.set $z (f64.mul (local.get $x) (f64.promote_f32 (local.get $y))))
    (call $gc)
    (drop (select (result externref) (local.get $a) (local.get $b) (f64.lt (local.get $z) (local.get $x))))
    (f64.add (local.get $z) (f64.add (local.get $x) (f64.promote_f32 (local.get $y))))))`;

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: stack maps list exactly the externrefs when floats are live across the same call`, async (t) => {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      try {
        const module = await Module.fromWat(engine, MIXED);
        const fn = module.image!.functions[0];
        const sites = fn.callSites.filter((c) => c.kind === 'call-import');
        t.is(sites.length, 1);
        t.is(sites[0].liveSlots.length, 2, 'the two externrefs, nothing else');
        const values = fn.frame.allocation?.values ?? [];
        if (regalloc === 'linear-scan') {
          const refSlots = values.filter((v) => v.type === 'externref').map((v) => (typeof v.loc === 'number' ? v.loc : v.home));
          t.true(sites[0].liveSlots.every((s) => refSlots.includes(s)), 'each mapped slot is an externref\'s');
          t.true(values.some((v) => (v.type === 'f64' || v.type === 'f32') && v.crossesCall), 'floats cross the call too');
        }
        let collections = 0;
        const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
          caller.gc();
          collections++;
        });
        const instance = Instance.create(store, module, [gc]);
        const a = ExternRef.new(store, { name: 'a' });
        const b = ExternRef.new(store, { name: 'b' });
        const r = instance.getTypedFunc('mixed', ['externref', 'f64', 'externref', 'f32'], ['f64']).call(a, 1.5, b, 0.25);
        t.is(r, 1.5 * 0.25 + (1.5 + 0.25));
        t.is(collections, 1);
        t.deepEqual([a.value, b.value], [{ name: 'a' }, { name: 'b' }]);
        a.release();
        b.release();
      } finally {
        store.close();
      }
    });
  }
}
