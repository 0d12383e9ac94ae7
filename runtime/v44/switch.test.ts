/**
 * `switch`, `cont.bind` and traps inside continuations under profile v44, on both arches: values
 * in both directions, the structs v44 keeps (states, last ancestors, handler lists with their
 * first switch handler, args and values buffers, revisions, control contexts) read back while the
 * program runs, collections across switched stacks, the traps v44 gives, what v44.0.0 refuses,
 * and a store that stays usable after a trap two continuations deep.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { REGALLOC_MODES } from '../../compiler/regalloc/modes.ts';
import { VMCommonStackInformationLayout, VMContRefLayout, VMHostArrayLayout } from '../../compiler/v44/stack-switching.ts';
import { CompileError } from '../../compiler/frontend/errors.ts';
import { readCommonStackInformation, readContRef, readControlContext, readV44StoreContext } from '../../gc/drc44/structs.ts';
import type { Machine } from '../../simulator/machine.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { WasmTrap } from '../errors.ts';
import { held, world } from './testing.ts';

/** Two players pass a countdown back and forth with `switch`; each keeps an externref in its frame. */
const PING_PONG = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "probe" (func $probe))
  (import "env" "gc" (func $gc))
  (rec (type $ft (func (param i32 (ref null $ct)))) (type $ct (cont $ft)))
  (tag $sw)
  (global $log (mut i32) (i32.const 0))
  (func $player (type $ft) (param $n i32) (param $k (ref null $ct))
    (local $mine externref)
    (local.set $mine (call $make (local.get $n)))
    (loop $turn
      (global.set $log (i32.add (i32.mul (global.get $log) (i32.const 10)) (local.get $n)))
      (call $probe)
      (if (i32.eqz (local.get $n))
        (then (call $gc) (drop (local.get $mine)) (return)))
      (switch $ct $sw (i32.sub (local.get $n) (i32.const 1)) (local.get $k))
      (local.set $k)
      (local.set $n)
      (br $turn)))
  (elem declare func $player)
  (func (export "run") (param $n i32) (result i32)
    (resume $ct (on $sw switch) (local.get $n) (cont.new $ct (ref.func $player)) (cont.new $ct (ref.func $player)))
    (global.get $log)))`;

const hostArray = (m: Machine, at: bigint) => ({ length: m.readU32(at + BigInt(VMHostArrayLayout.length)), capacity: m.readU32(at + BigInt(VMHostArrayLayout.capacity)), data: m.readU64(at + BigInt(VMHostArrayLayout.data)) });

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: symmetric switch passes a countdown between two continuations; the collection walks the running one, the initial stack and the switched-out one`, async (t) => {
      const w = await world(arch, PING_PONG, regalloc);
      try {
        // A gets 5 and switches to B with 4, B to A with 3, … B gets 0 and returns to run's resume.
        t.is(w.call('run', 5), 543210);
        t.is(w.gcs.length, 1);
        const r = w.gcs[0];
        t.deepEqual(r.explanation!.stacks.map((s) => `${s.kind}:${s.role}`), ['continuation:running', 'initial:parent', 'continuation:suspended']);
        t.deepEqual(held(r).sort(), ['running:item 4', 'suspended:item 5'], 'each player keeps its own ref on its own stack');
        const [b, a] = w.store.continuations;
        t.is(readCommonStackInformation(w.store.machine, b).state, 'Returned');
        t.is(readCommonStackInformation(w.store.machine, a).state, 'Suspended', 'A was switched away from and never resumed');
        w.store.gc();
        t.true(w.destroyed.includes('item 4'), 'the returned player holds nothing');
        t.false(w.destroyed.includes('item 5'), 'the suspended player still holds its ref (v44 keeps continuations until the store drops)');
      } finally {
        w.store.close();
      }
    });
  }

  test(`${arch}: a compiled image carries the continuation types and the tag section: the ping-pong runs from the .o`, async (t) => {
    const compiled = await Module.fromWat(new Engine({ arch, profile: 'v44' }), PING_PONG);
    const w = await world(arch, compiled.image!.elf);
    try {
      t.deepEqual(w.inst.module.wasm.tags, compiled.wasm.tags!.map((tag) => ({ typeIndex: tag.typeIndex, offset: 0 })));
      t.is(w.inst.module.wasm.tags!.length, 1);
      t.is(w.call('run', 3), 3210);
      t.deepEqual(w.gcs[0].explanation!.stacks.map((s) => `${s.kind}:${s.role}`), ['continuation:running', 'initial:parent', 'continuation:suspended']);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: during a switch the states, last ancestors, handler list, values buffer and control contexts are v44's`, async (t) => {
    const w = await world(arch, PING_PONG);
    try {
      const m = w.store.machine;
      const tagDef = w.inst.vmctx + BigInt((w.inst.offsets as { element(r: 'defined_tags', i: number): number }).element('defined_tags', 0));
      let checked = 0;
      // Probe 1: A runs with 2 (fresh, before any switch). Probe 2: B runs with 1, A switched out.
      w.probes.push(() => {
        const sc = readV44StoreContext(m, w.store.storeContext);
        t.is(sc.chain.kind, 'Continuation');
        const initial = readCommonStackInformation(m, readContRef(m, sc.chain.payload).parent.payload);
        t.is(initial.state, 'Parent');
        t.is(initial.handlers.length, 1);
        t.is(m.readU64(initial.handlers.data), tagDef, 'the switch handler is the tag\'s VMTagDefinition');
        t.is(m.readU32(readContRef(m, sc.chain.payload).parent.payload + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex)), 0, 'no suspend handlers: the switch handlers start at 0');
        checked++;
      });
      w.probes.push(() => {
        const sc = readV44StoreContext(m, w.store.storeContext);
        const [b, a] = w.store.continuations;
        t.is(sc.chain.payload, b, 'B runs');
        const bv = readContRef(m, b);
        t.is(bv.csi.state, 'Running');
        t.is(bv.parent.kind, 'InitialStack', 'B took A\'s place under the handler');
        t.is(bv.revision, 1n, 'B was consumed once (by the switch to it)');
        const av = readContRef(m, a);
        t.is(av.csi.state, 'Suspended');
        t.is(av.lastAncestor, a, 'A alone was cut off');
        t.is(av.parent.kind, 'Absent');
        t.is(av.revision, 1n, 'A was consumed once (by the resume)');
        t.not(av.csi.lastWasmEntryFp, 0n, 'A saved its entry FP');
        const values = hostArray(m, a + BigInt(VMContRefLayout.values));
        t.deepEqual([values.length, values.capacity], [0, 2], 'A\'s values buffer has room for the two values a switch back brings');
        t.not(values.data, 0n);
        const args = hostArray(m, b + BigInt(VMContRefLayout.args));
        t.is(args.length, 2, 'B\'s function got its two arguments (1 and A) through its args buffer');
        t.true((m.symbolize(readControlContext(m, av.stackTop).pc) ?? '').includes('player'), 'A\'s control context holds where A stopped, in $player');
        t.true((m.symbolize(readControlContext(m, bv.stackTop).pc) ?? '').includes('run'), 'B\'s holds where the handler stopped, in run');
        checked++;
      });
      t.is(w.call('run', 2), 210);
      t.is(checked, 2);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: cont.bind fixes the first arguments of a fresh continuation and of a suspended one; the buffers fill as v44's`, async (t) => {
    const BIND = `(module
      (import "env" "probe" (func $probe))
      (type $f3 (func (param i32 i32 i32) (result i32)))
      (type $c3 (cont $f3))
      (type $f1 (func (param i32) (result i32)))
      (type $c1 (cont $f1))
      (type $f0 (func (result i32)))
      (type $c0 (cont $f0))
      (type $f2 (func (param i32 i32) (result i32)))
      (type $c2 (cont $f2))
      (tag $two (param i32) (result i32 i32))
      (func $digits (type $f3) (param $a i32) (param $b i32) (param $c i32) (result i32)
        (i32.add (i32.add (i32.mul (local.get $a) (i32.const 100)) (i32.mul (local.get $b) (i32.const 10))) (local.get $c)))
      (func $asks (type $f0) (result i32)
        (local $x i32) (local $y i32)
        (suspend $two (i32.const 9))
        (local.set $y)
        (local.set $x)
        (i32.add (i32.mul (local.get $x) (i32.const 10)) (local.get $y)))
      (elem declare func $digits $asks)
      (func (export "fresh") (result i32)
        (local $k (ref null $c1))
        (local.set $k (cont.bind $c3 $c1 (i32.const 1) (i32.const 2) (cont.new $c3 (ref.func $digits))))
        (call $probe)
        (resume $c1 (i32.const 3) (local.get $k)))
      (func (export "suspended") (result i32)
        (local $k (ref null $c2)) (local $k1 (ref null $c1))
        (block $h (result i32 (ref $c2))
          (return (resume $c0 (on $two $h) (cont.new $c0 (ref.func $asks)))))
        (local.set $k)
        (drop)
        (local.set $k1 (cont.bind $c2 $c1 (i32.const 4) (local.get $k)))
        (call $probe)
        (resume $c1 (i32.const 5) (local.get $k1))))`;
    const w = await world(arch, BIND);
    try {
      const m = w.store.machine;
      w.probes.push(() => {
        const c = w.store.continuations[0];
        const args = hostArray(m, c + BigInt(VMContRefLayout.args));
        t.deepEqual([args.length, args.capacity], [2, 3], 'the two bound arguments are in the args buffer');
        t.deepEqual([m.readU64(args.data), m.readU64(args.data + 16n)], [1n, 2n]);
        t.is(readContRef(m, c).revision, 1n, 'cont.bind consumed the first reference');
        t.is(readContRef(m, c).csi.state, 'Fresh');
      });
      t.is(w.call('fresh'), 123);
      w.probes.push(() => {
        const c = w.store.continuations[1];
        const values = hostArray(m, c + BigInt(VMContRefLayout.values));
        t.deepEqual([values.length, values.capacity], [1, 2], 'the bound value waits in the values buffer sized at the suspend');
        t.is(m.readU64(values.data), 4n);
        t.is(readContRef(m, c).revision, 2n, 'resumed once, bound once');
        t.is(readContRef(m, c).csi.state, 'Suspended');
      });
      t.is(w.call('suspended'), 45);
      const done = w.store.continuations[1];
      t.deepEqual(hostArray(m, done + BigInt(VMContRefLayout.values)), { length: 0, capacity: 0, data: 0n }, 'the suspend site consumed and discarded the values');
      t.deepEqual(hostArray(m, done + BigInt(VMContRefLayout.args)), { length: 0, capacity: 0, data: 0n }, 'the return path consumed and discarded the results');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: switch and cont.bind trap as v44's code does: no switch handler, a suspend that only a switch handler names, null, consumed`, async (t) => {
    const TRAPS = `(module
      (rec (type $ft (func (param (ref null $ct)))) (type $ct (cont $ft)))
      (type $f0 (func)) (type $c0 (cont $f0))
      (type $f1 (func (param i32))) (type $c1 (cont $f1))
      (tag $sw)
      (tag $other)
      (func $noop (type $ft))
      (func $takes (type $f1))
      ;; Unfolded, and the null from a typed local: Binaryen's parser types a switch by its operand.
      (func $switcher (type $f0) (switch $ct $sw (cont.new $ct (ref.func $noop))) (drop))
      (func $switch_null (type $f0) (local $z (ref null $ct)) (switch $ct $sw (local.get $z)) (drop))
      (func $suspender (type $f0) (suspend $sw))
      (elem declare func $noop $takes $switcher $switch_null $suspender)
      (func (export "ok") (resume $c0 (on $sw switch) (cont.new $c0 (ref.func $switcher))))
      (func (export "unhandled") (resume $c0 (on $other switch) (cont.new $c0 (ref.func $switcher))))
      (func (export "suspend_to_switch") (resume $c0 (on $sw switch) (cont.new $c0 (ref.func $suspender))))
      (func (export "null") (resume $c0 (on $sw switch) (cont.new $c0 (ref.func $switch_null))))
      (func (export "bind_null") (local $z (ref null $c1)) (drop (cont.bind $c1 $c0 (i32.const 1) (local.get $z))))
      (func (export "consumed")
        (local $k (ref null $c1))
        (local.set $k (cont.new $c1 (ref.func $takes)))
        (drop (cont.bind $c1 $c0 (i32.const 1) (local.get $k)))
        (resume $c1 (i32.const 2) (local.get $k))))`;
    const w = await world(arch, TRAPS);
    try {
      t.is(w.call('ok'), null);
      const code = (name: string) => (t.throws(() => w.call(name), { instanceOf: WasmTrap }))!.code;
      t.is(code('unhandled'), 'UnhandledTag');
      t.is(code('suspend_to_switch'), 'UnhandledTag', 'suspend searches only the suspend handlers');
      t.is(code('null'), 'NullReference');
      t.is(code('bind_null'), 'NullReference');
      t.is(code('consumed'), 'ContinuationAlreadyConsumed');
      t.is(w.call('ok'), null, 'the store still runs switches after the traps');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a trap two continuations deep leaves them Running and Parent, as v44 does; the store runs the next call and its collection walks no stale frame`, async (t) => {
    const DEEP = `(module
      (import "env" "make" (func $make (param i32) (result externref)))
      (import "env" "gc" (func $gc))
      (type $ft (func (param i32) (result i32)))
      (type $ct (cont $ft))
      (func $inner (type $ft) (param $x i32) (result i32)
        (local $r externref)
        (local.set $r (call $make (i32.add (local.get $x) (i32.const 20))))
        (if (local.get $x) (then (unreachable)))
        (call $gc)
        (drop (local.get $r))
        (i32.add (local.get $x) (i32.const 10)))
      (func $middle (type $ft) (param $x i32) (result i32)
        (local $r externref)
        (local.set $r (call $make (i32.add (local.get $x) (i32.const 10))))
        (resume $ct (local.get $x) (cont.new $ct (ref.func $inner)))
        (drop (local.get $r))
        (i32.add (i32.const 100)))
      (elem declare func $inner $middle)
      (func (export "run") (param i32) (result i32)
        (resume $ct (local.get 0) (cont.new $ct (ref.func $middle)))))`;
    const w = await world(arch, DEEP);
    try {
      const m = w.store.machine;
      t.is((t.throws(() => w.call('run', 1), { instanceOf: WasmTrap }))!.code, 'UnreachableCodeReached');
      const [middle, inner] = w.store.continuations;
      t.is(readCommonStackInformation(m, inner).state, 'Running', 'v44 does not touch the continuations a trap unwinds');
      t.is(readCommonStackInformation(m, middle).state, 'Parent');
      t.deepEqual(readContRef(m, inner).parent, { kind: 'Continuation', payload: middle });
      const after = readV44StoreContext(m, w.store.storeContext);
      t.deepEqual([after.chain.kind, after.exitPc, after.entryFp, after.exitTrampolineFp], ['Absent', 0n, 0n, 0n], 'the store\'s chain and records are restored');
      const between = w.store.gc({ explain: true });
      t.is(between.explanation!.stacks.length, 0, 'outside Wasm nothing is walked: the abandoned Running and Parent stacks are not roots');
      t.deepEqual(w.destroyed.sort(), ['item 11', 'item 21'], 'what only their frames held is freed');
      t.is(w.call('run', 0), 110, 'the next call runs two continuations deep again');
      const r = w.gcs[0];
      t.deepEqual(r.explanation!.stacks.map((s) => `${s.kind}:${s.role}`), ['continuation:running', 'continuation:parent', 'initial:parent'], 'the collection inside walks the new chain only');
      t.deepEqual(held(r).sort(), ['parent:item 10', 'running:item 20']);
      t.is(r.explanation!.frames.length, 3, 'inner, middle and run: no frame of the trapped call');
    } finally {
      w.store.close();
    }
  });
}

test('cont.bind of a GC reference is refused as wasmtime v44.0.0 refuses it; resume_throw and resume_throw_ref are refused with its reason', async (t) => {
  const engine = new Engine({ arch: 'x64', profile: 'v44' });
  const e = await t.throwsAsync(Module.fromWat(engine, `(module
    (type $fe (func (param externref))) (type $ce (cont $fe))
    (type $f0 (func)) (type $c0 (cont $f0))
    (func $take (type $fe))
    (elem declare func $take)
    (func (export "f") (local $x externref) (drop (cont.bind $ce $c0 (local.get $x) (cont.new $ce (ref.func $take))))))`), { instanceOf: CompileError });
  t.is(e!.kind, 'unsupported');
  t.regex(e!.message, /cont\.bind of a externref argument: wasmtime v44\.0\.0 refuses it too/);
  // A module whose only function body is `resume_throw 1 0` with no handlers (then `resume_throw_ref 1`).
  for (const [op, name] of [[[0xe4, 1, 0, 0], 'resume_throw'], [[0xe5, 1, 0], 'resume_throw_ref']] as const) {
    const body = [0x00, 0xd0, 0x01, ...op, 0x0b];
    const bytes = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x06, 0x02, 0x60, 0x00, 0x00, 0x5d, 0x00, // types: func [] -> [], cont 0
      0x03, 0x02, 0x01, 0x00, // one function of type 0
      0x0d, 0x03, 0x01, 0x00, 0x00, // one tag of type 0
      0x0a, body.length + 2, 0x01, body.length, ...body,
    ]);
    const err = t.throws(() => Module.fromBinary(engine, bytes), { instanceOf: CompileError });
    t.is(err!.kind, 'unsupported');
    t.regex(err!.message, new RegExp(`'${name}' is not supported: wasmtime v44\\.0\\.0 refuses it too`));
  }
});
