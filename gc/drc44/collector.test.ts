/**
 * The v44 DRC heap and collection on both arches: headers byte for byte in guest memory (24
 * bytes, next link and object size, mark and in-list bits in the kind word), the growable heap
 * and its free list (ALIGN 16), the intrusive over-approximated list (expose, the read barrier,
 * the sweep's unlinking), freeing through fields, and collections across stack chains — several
 * suspended continuations keep exactly their refs, a returned or forgotten continuation releases
 * its refs — with the explanation naming the stack of every frame.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { V44DrcHeaderLayout, V44GcKind, drc44ArrayLayout, drc44StructLayout } from '../../compiler/v44/gc-layout.ts';
import { DrcRootError } from '../drc/collector.ts';
import { collectDrc44 } from './collector.ts';
import { Drc44Heap, OverApproximatedListError } from './heap.ts';
import { V44StackWorld } from './testing.ts';
import { drc44ExplanationToJson, renderDrc44Explanation } from './v44-collector.ts';

async function on(arch: (typeof ARCHES)[number], run: (m: Machine) => void | Promise<void>): Promise<void> {
  const m = await Machine.create({ arch });
  try {
    await run(m);
  } finally {
    m.close();
  }
}

for (const arch of ARCHES) {
  test(`${arch}: objects are v44 DRC headers in guest memory; the heap starts empty and grows by pages`, (t) =>
    on(arch, (m) => {
      const heap = new Drc44Heap(m, { maxCapacity: 4 * 65536 });
      t.is(heap.capacity, 0, 'min 0 pages');
      t.is(heap.allocExternRef('x'), undefined, 'an empty heap is full');
      t.true(heap.grow(32));
      t.is(heap.capacity, 65536, 'at least the pages the allocation needs');
      const a = heap.allocExternRef('a')!;
      const s = heap.allocStruct(7, drc44StructLayout(['ref', 'i32']), [24])!;
      t.deepEqual([a, s], [16, 48], 'ALIGN 16: the first block at 16; a 32-byte externref ends at 48');
      const word = (ref: number, off: number) => m.readU32(heap.addressOf(ref) + BigInt(off));
      t.is(word(a, 0), V44GcKind.ExternRef, 'kind word: the kind, reserved bits clear');
      t.is(word(a, 4), 0xffff_ffff, 'externref: no type');
      t.is(m.readU64(heap.addressOf(a) + 8n), 1n, 'ref_count 1');
      t.is(word(a, V44DrcHeaderLayout.nextOverApproximatedStackRoot), 0);
      t.is(word(a, V44DrcHeaderLayout.objectSize), 32);
      t.is(word(s, 4), 7);
      t.is(word(s, V44DrcHeaderLayout.objectSize), 32);
      // Doubling: 1 page → 2 → 4; then the maximum stops it.
      t.true(heap.grow(16));
      t.is(heap.capacity, 2 * 65536);
      t.true(heap.grow(16));
      t.is(heap.capacity, 4 * 65536);
      t.false(heap.grow(16));
      heap.freeList.checkIntegrity();
      t.is(heap.freeList.blocks().length, 1, 'grown pages merge with the free block they touch');
    }));

  test(`${arch}: the over-approximated list is intrusive — head cell, next links, in-list bit; the read barrier counts, a repeated expose leaks`, (t) =>
    on(arch, (m) => {
      const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
      const a = heap.allocExternRef('a')!;
      const b = heap.allocExternRef('b')!;
      heap.exposeGcRefToWasm(a);
      heap.exposeGcRefToWasm(b);
      t.is(m.readU32(heap.listHead), b, 'vmctx gc_heap_data points at the u32 head');
      t.is(heap.nextOf(b), a);
      t.is(m.readU32(heap.addressOf(a)) & 3, 2, 'bit 1 of the reserved bits: in the list');
      t.deepEqual(heap.overApproximatedList(), [b, a]);
      t.deepEqual([heap.refCount(a), heap.refCount(b)], [1n, 1n], 'the list took over the host clone');
      const c = heap.allocExternRef('c')!;
      heap.readBarrier(c);
      t.is(heap.refCount(c), 2n, 'compiled code pushes with an inc_ref');
      heap.readBarrier(c);
      t.is(heap.refCount(c), 2n, 'already in the list: no change');
      heap.incRef(a);
      heap.exposeGcRefToWasm(a);
      t.is(heap.refCount(a), 2n, 'v44.0.0: exposing a ref already in the list keeps the clone\'s count (no destructor)');
      // Corruption of the list is caught, not followed.
      heap.setNext(a, b);
      t.throws(() => heap.overApproximatedList(), { instanceOf: OverApproximatedListError, message: /cycle/ });
    }));

  test(`${arch}: dec_ref_and_maybe_dealloc frees through struct fields and array elements (v44's trace_gc_ref)`, (t) =>
    on(arch, (m) => {
      const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
      const leaf = heap.allocExternRef('leaf')!;
      const arr = heap.allocArray(3, 2, drc44ArrayLayout('ref'), true)!;
      heap.writeRefField(arr, 28, leaf);
      heap.writeRefField(arr, 32, 0x7); // an i31ref element: no count
      const box = heap.allocStruct(4, drc44StructLayout(['ref']), [24])!;
      heap.writeRefField(box, 24, arr);
      const freed = heap.decRefAndMaybeDealloc(box);
      t.deepEqual(freed.map((f) => [f.ref, f.kind]), [[box, 'StructRef'], [arr, 'ArrayRef'], [leaf, 'ExternRef']]);
      t.is(freed[2].hostValue, 'leaf');
      t.deepEqual(heap.liveObjects(), []);
      t.is(heap.freeList.freeBytes(), 65536 - 16);
    }));

  test(`${arch}: a GC while several continuations are suspended keeps exactly their refs; returned and forgotten ones release theirs`, (t) =>
    on(arch, (m) => {
      const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
      const w = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 4 });
      const gc = w.collector(heap);
      const ref = (v: string) => {
        const r = heap.allocExternRef(v)!;
        heap.exposeGcRefToWasm(r);
        return r;
      };
      const [main, g1, g2, g3, tmp] = ['main', 'g1', 'g2', 'g3', 'tmp'].map(ref);
      w.push([main, tmp]);
      w.pop();
      w.push([main]);
      // Two generators suspended holding refs across `suspend`, a third one suspended inside a parent.
      const gens = [w.newContinuation(), w.newContinuation(), w.newContinuation()];
      w.resume(gens[0]);
      w.push([g1]);
      w.suspend();
      w.resume(gens[1]);
      w.push([g2, g1]);
      const inner = gens[2];
      w.resume(inner);
      w.push([g3]);
      w.suspend(2);
      const first = gc.collect({ explain: true });
      t.deepEqual(first.report.freed.map((f) => f.hostValue), ['tmp'], 'only the ref no stack holds any more');
      t.deepEqual([...first.report.preciseRoots].sort((a, b) => a - b), [main, g1, g2, g3].sort((a, b) => a - b));
      t.deepEqual(heap.liveObjects(), [main, g1, g2, g3].sort((a, b) => a - b));
      const text = renderDrc44Explanation(first.explanation!);
      t.regex(text, /#0 initial stack .*, running \(Running\), store's chain/);
      t.regex(text, new RegExp(`continuation 0x${gens[0].address.toString(16)}, suspended \\(Suspended\\)`));
      t.regex(text, new RegExp(`continuation 0x${inner.address.toString(16)}, suspended \\(Suspended\\)`));
      t.regex(text, new RegExp(`continuation 0x${gens[1].address.toString(16)}, parent \\(Parent\\), chain of the suspended 0x${inner.address.toString(16)} continuation`));
      t.regex(text, /host value "tmp"|Freed:\n {2}0x[0-9a-f]+ {2}ExternRef, 32 bytes, host value "tmp"/);
      const json = drc44ExplanationToJson(first.explanation!) as { stacks: { role: string; address: string }[]; frames: { stack: number }[] };
      t.deepEqual(json.stacks.map((s) => s.role), ['running', 'suspended', 'suspended', 'parent']);
      t.deepEqual([...new Set(json.frames.map((f) => f.stack))].sort(), [0, 1, 2, 3], 'frames from four stacks');
      // g1's generator resumes, returns, and is done: g1 is still held by gens[1]'s frame.
      w.resume(gens[0]);
      w.pop();
      w.finish();
      t.deepEqual(gc.collect().report.freed, []);
      // The pair is forgotten (a store that reclaimed it): g2, g3 and g1 lose their last stack slots.
      w.forget(gens[1]);
      w.forget(inner);
      const last = gc.collect();
      t.deepEqual(last.report.freed.map((f) => f.hostValue).sort(), ['g1', 'g2', 'g3']);
      t.deepEqual(heap.liveObjects(), [main]);
      t.deepEqual(heap.overApproximatedList(), [main]);
      t.false(heap.isMarked(main), 'marks are cleared by the sweep');
    }));

  test(`${arch}: a root that is not in the list is a DrcRootError and leaves no mark behind; allocWithRetry grows before it collects`, (t) =>
    on(arch, (m) => {
      const heap = new Drc44Heap(m, { maxCapacity: 65536 });
      const w = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 1 });
      const gc = w.collector(heap);
      const grown = gc.allocWithRetry(() => heap.allocExternRef('a'), 32);
      t.true(grown.grew, 'v44 grows the heap first');
      const a = grown.ref!;
      const stray = heap.allocExternRef('stray')!;
      heap.exposeGcRefToWasm(a);
      w.push([a, stray]);
      const e = t.throws(() => gc.collect(), { instanceOf: DrcRootError });
      t.regex(e!.message, /not in the over-approximated-stack-roots list/);
      t.false(heap.isMarked(a));
      w.pop();
      w.push([a]);
      // Fill the one-page heap; the next allocation cannot grow (maximum) and collects instead.
      heap.decRefAndMaybeDealloc(stray);
      while (heap.allocExternRef('fill') !== undefined);
      const full = gc.allocWithRetry(() => heap.allocExternRef('b'), 32);
      t.false(full.grew);
      t.truthy(full.collected);
      t.is(full.ref, undefined, 'nothing was garbage: fill objects are held by the host');
      t.deepEqual(collectDrc44(heap, [{ raw: a }]).unlinked, []);
    }));
}
