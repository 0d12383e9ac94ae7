/**
 * Stack switching compiled and run under profile v44, on both arches and both register-allocation
 * modes: cont.new, resume with handlers, suspend; the structs v44 keeps (VMContRef, the chain,
 * states, last ancestors, handler lists, the control context) read back at each step; what the
 * collector keeps and frees across several stacks, nested chains suspended two levels up, and
 * the two stack-switching traps.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { REGALLOC_MODES, type RegallocMode } from '../../compiler/regalloc/modes.ts';
import { VMContRefLayout, VMCommonStackInformationLayout } from '../../compiler/v44/stack-switching.ts';
import { readCommonStackInformation, readContRef, readControlContext, readV44StoreContext } from '../../gc/drc44/structs.ts';
import { WasmTrap } from '../errors.ts';
import { held, world } from './testing.ts';

const GENERATOR = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "probe" (func $probe))
  (import "env" "gc" (func $gc))
  (type $ft (func (param i32) (result i32)))
  (type $ct (cont $ft))
  (type $rt (func (param i32) (result i32)))
  (type $rk (cont $rt))
  (tag $yield (param externref i32) (result i32))
  ;; Yields n items with a counter; what each resume sends back is summed and returned.
  (func $gen (param $n i32) (result i32)
    (local $keep externref) (local $i i32) (local $sum i32)
    (local.set $keep (call $make (i32.const 100)))
    (loop $next
      (call $probe)
      (local.set $sum (i32.add (local.get $sum) (suspend $yield (call $make (local.get $i)) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (drop (local.get $keep))
    (local.get $sum))
  (elem declare func $gen)
  (func (export "run") (param $n i32) (result i32)
    (local $k (ref null $rk)) (local $first i32) (local $got i32) (local $item externref)
    (local.set $first (i32.const 1))
    (block $done (result i32)
      (loop $more
        (block $on_yield (result externref i32 (ref $rk))
          (if (local.get $first)
            (then
              (local.set $first (i32.const 0))
              (br $done (resume $ct (on $yield $on_yield) (local.get $n) (cont.new $ct (ref.func $gen)))))
            (else (br $done (resume $rk (on $yield $on_yield) (i32.mul (local.get $got) (i32.const 10)) (local.get $k))))))
        (local.set $k)
        (local.set $got)
        (local.set $item)
        (call $gc)
        (br $more))
      (unreachable)))
)`;


for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: a generator passes values both ways; collections while it is suspended keep its frame's ref and free the consumed items`, async (t) => {
      const w = await world(arch, GENERATOR, regalloc);
      try {
        // Items 0, 1, 2 are sent back as 0, 10, 20: the generator returns 30.
        t.is(w.call('run', 3), 30);
        t.is(w.gcs.length, 3);
        for (const r of w.gcs) {
          t.is(r.stacks, 2, 'the consumer on the initial stack and the suspended generator');
          t.true(held(r).includes('suspended:item 100'), 'the generator keeps $keep in its frame on its own stack');
        }
        t.deepEqual(w.destroyed.slice(0, 2), ['item 0', 'item 1'], 'each item is freed by the collection after the consumer dropped it');
        t.is(w.store.continuations.length, 1);
        t.is(readCommonStackInformation(w.store.machine, w.store.continuations[0]).state, 'Returned');
        w.store.gc();
        t.true(w.destroyed.includes('item 100'), 'a continuation that returned holds nothing: its ref is freed');
      } finally {
        w.store.close();
      }
    });
  }

  test(`${arch}: while the continuation runs, the store's chain, states, handler list and control context are v44's`, async (t) => {
    const w = await world(arch, GENERATOR);
    try {
      const m = w.store.machine;
      let seen = false;
      w.probes.push(() => {
        const sc = readV44StoreContext(m, w.store.storeContext);
        t.is(sc.chain.kind, 'Continuation');
        const c = readContRef(m, sc.chain.payload);
        t.is(c.csi.state, 'Running');
        t.is(c.lastAncestor, 0n, 'a running continuation has no last ancestor');
        t.is(c.parent.kind, 'InitialStack');
        const parent = readCommonStackInformation(m, c.parent.payload);
        t.is(parent.state, 'Parent');
        t.is(parent.handlers.length, 1);
        const tagDef = m.readU64(parent.handlers.data);
        t.is(tagDef, w.inst.vmctx + BigInt((w.inst.offsets as { element(r: 'defined_tags', i: number): number }).element('defined_tags', 0)), 'the handler list holds the tag\'s VMTagDefinition');
        t.is(m.readU32(c.parent.payload + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex)), 1);
        t.not(parent.lastWasmEntryFp, 0n, 'the parent saved its entry FP');
        t.is(sc.stackLimit, c.csi.stackLimit, 'the store runs with the continuation\'s stack limit');
        t.true(sc.exitTrampolineFp > c.stackTop - c.stackLen && sc.exitTrampolineFp < c.stackTop, 'the exit record is on the continuation\'s stack');
        const ctx = readControlContext(m, c.stackTop);
        t.truthy(m.symbolize(ctx.pc), 'the control context holds where the parent stopped, in its Wasm code');
        t.is(ctx.fp < c.stackTop - c.stackLen || ctx.fp > c.stackTop, true, 'and its FP, on the parent\'s stack');
        seen = true;
      });
      w.call('run', 1);
      t.true(seen);
      const c = readContRef(m, w.store.continuations[0]);
      t.is(c.csi.state, 'Returned');
      t.is(c.revision, 2n, 'resumed twice: revision 2');
      t.is(c.parent.kind, 'Absent');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a nested continuation suspends two levels up, taking its parent along; the walk finds both suspended stacks`, async (t) => {
    const NESTED = `(module
      (import "env" "make" (func $make (param i32) (result externref)))
      (import "env" "gc" (func $gc))
      (type $ft (func))
      (type $ct (cont $ft))
      (tag $outer)
      (tag $inner_tag)
      (func $inner (local $r externref)
        (local.set $r (call $make (i32.const 2)))
        (suspend $outer)
        (drop (local.get $r)))
      (func $middle (local $r externref)
        (local.set $r (call $make (i32.const 1)))
        ;; Handles only $inner_tag: the inner $outer suspends past this stack.
        (block $h (result (ref $ct))
          (resume $ct (on $inner_tag $h) (cont.new $ct (ref.func $inner)))
          (return))
        (drop)
        (drop (local.get $r)))
      (elem declare func $inner $middle)
      (func (export "run") (result i32)
        (local $k (ref null $ct))
        (block $h (result (ref $ct))
          (resume $ct (on $outer $h) (cont.new $ct (ref.func $middle)))
          (return (i32.const 0)))
        (local.set $k)
        (call $gc)
        ;; Resume the detached chain: inner finishes, then middle.
        (block $h2 (result (ref $ct))
          (resume $ct (on $outer $h2) (local.get $k))
          (return (i32.const 2)))
        (drop)
        (i32.const 1)))`;
    const w = await world(arch, NESTED);
    try {
      t.is(w.call('run'), 2);
      const r = w.gcs[0];
      const stacks = r.explanation!.stacks;
      t.deepEqual(stacks.map((s) => `${s.kind}:${s.role}`), ['initial:running', 'continuation:suspended', 'continuation:parent']);
      t.deepEqual(held(r).sort(), ['parent:item 1', 'suspended:item 2']);
      const [middle, inner] = w.store.continuations;
      const m = w.store.machine;
      // After the run both returned; during the collection inner's last ancestor was middle.
      t.is(readCommonStackInformation(m, inner).state, 'Returned');
      t.is(readCommonStackInformation(m, middle).state, 'Returned');
      t.is(m.readU64(inner + BigInt(VMContRefLayout.revision)), 2n);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: resuming a consumed continuation traps ContinuationAlreadyConsumed; a suspend nobody handles traps UnhandledTag`, async (t) => {
    const TRAPS = `(module
      (type $ft (func))
      (type $ct (cont $ft))
      (tag $t)
      (tag $unhandled)
      (func $yields (suspend $t))
      (func $lost (suspend $unhandled))
      (elem declare func $yields $lost)
      (func (export "twice")
        (local $k (ref null $ct))
        (local.set $k (cont.new $ct (ref.func $yields)))
        (block $h (result (ref $ct))
          (resume $ct (on $t $h) (local.get $k))
          (return))
        (drop)
        ;; $k was consumed by the first resume.
        (block $h2 (result (ref $ct))
          (resume $ct (on $t $h2) (local.get $k))
          (return))
        (drop))
      (func (export "unhandled")
        (block $h (result (ref $ct))
          (resume $ct (on $t $h) (cont.new $ct (ref.func $lost)))
          (return))
        (drop)))`;
    const w = await world(arch, TRAPS);
    try {
      t.is((t.throws(() => w.call('twice'), { instanceOf: WasmTrap }))!.code, 'ContinuationAlreadyConsumed');
      t.is((t.throws(() => w.call('unhandled'), { instanceOf: WasmTrap }))!.code, 'UnhandledTag');
      const after = readV44StoreContext(w.store.machine, w.store.storeContext);
      t.deepEqual([after.chain.kind, after.exitPc, after.entryFp], ['Absent', 0n, 0n], 'the store\'s records are restored after the traps');
    } finally {
      w.store.close();
    }
  });
}
