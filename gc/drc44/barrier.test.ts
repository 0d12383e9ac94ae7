/**
 * Compiled code's side of the v44 list, as guest instructions on both arches: the DRC read
 * barrier of wasmtime v44's `translate_read_gc_reference` (crates/cranelift/src/func_environ/gc/
 * enabled/drc.rs) — null or i31: nothing; in-list bit set: nothing; else load the head through
 * vmctx `gc_heap_data` (+32), link the object to it (+16), set the in-list bit in the kind word's
 * reserved bits (+0), add one to the u64 ref count (+8) and make the object the head — written
 * with V44VMOffsets' numbers and run against the host's heap. Then a collection over it.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { assemble } from '../../simulator/testing/asm.ts';
import { V44DrcHeaderBits } from '../../compiler/v44/gc-layout.ts';
import { V44VMOffsets } from '../../compiler/v44/vmoffsets.ts';
import { collectDrc44 } from './collector.ts';
import { Drc44Heap } from './heap.ts';

const o = new V44VMOffsets({
  numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0, numImportedTags: 0,
  numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numDefinedTags: 0, numEscapedFuncs: 0,
});
const HEAD = o.vmctxGcHeapData();
const KIND = o.vmGcHeaderReservedBits();
const COUNT = o.vmDrcHeaderRefCount();
const NEXT = o.vmDrcHeaderNextOverApproximatedStackRoot();
const BIT = V44DrcHeaderBits.inOverApproxList;

/** barrier(vmctx, ref, heap base) → 1 when it pushed, 0 otherwise. */
const READ_BARRIER: Record<Arch, string> = {
  x64: `test esi, esi
jz 1f
test esi, 1
jnz 1f
mov esi, esi
lea r8, [rdx + rsi]
mov eax, [r8 + ${KIND}]
test eax, ${BIT}
jnz 1f
mov r9, [rdi + ${HEAD}]
mov ecx, [r9]
mov [r8 + ${NEXT}], ecx
or eax, ${BIT}
mov [r8 + ${KIND}], eax
add qword ptr [r8 + ${COUNT}], 1
mov [r9], esi
mov eax, 1
ret
1: xor eax, eax
ret`,
  aarch64: `cbz w1, 1f
tbnz w1, #0, 1f
add x8, x2, w1, uxtw
ldr w3, [x8, #${KIND}]
tbnz w3, #1, 1f
ldr x9, [x0, #${HEAD}]
ldr w4, [x9]
str w4, [x8, #${NEXT}]
orr w3, w3, #${BIT}
str w3, [x8, #${KIND}]
ldr x5, [x8, #${COUNT}]
add x5, x5, #1
str x5, [x8, #${COUNT}]
str w1, [x9]
mov x0, #1
ret
1: mov x0, #0
ret`,
};

for (const arch of ARCHES) {
  test(`${arch}: the v44 read barrier as guest code links objects into the host's over-approximated list`, async (t) => {
    const m = await Machine.create({ arch });
    try {
      const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
      const vmctx = m.map('vmctx', o.size, PROT_READ | PROT_WRITE).address;
      m.writeU64(vmctx + BigInt(HEAD), heap.listHead);
      const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
      m.writeBytes(text.address, assemble(arch, READ_BARRIER[arch]));
      const barrier = (ref: number) => m.call(text.address, [vmctx, BigInt(ref), heap.base]);
      const [a, b] = [heap.allocExternRef('a')!, heap.allocExternRef('b')!];
      t.is(barrier(0), 0n, 'null');
      t.is(barrier(0x2b), 0n, 'an i31ref');
      t.is(barrier(a), 1n);
      t.is(barrier(b), 1n);
      t.is(barrier(a), 0n, 'already in the list');
      t.deepEqual(heap.overApproximatedList(), [b, a], 'the host reads the list the guest built');
      t.deepEqual([heap.refCount(a), heap.refCount(b)], [2n, 2n]);
      t.true(heap.isInList(a) && !heap.isMarked(a));
      // The host drops its handles; a collection with `b` on the stack keeps b and frees a.
      heap.decRefAndMaybeDealloc(a);
      heap.decRefAndMaybeDealloc(b);
      const r = collectDrc44(heap, [{ raw: b }]);
      t.deepEqual(r.freed.map((f) => f.hostValue), ['a']);
      t.deepEqual(heap.overApproximatedList(), [b]);
      // The guest can push again what the sweep unlinked, as v44 code would on the next read.
      const c = heap.allocExternRef('c')!;
      t.is(barrier(c), 1n);
      t.deepEqual(heap.overApproximatedList(), [c, b]);
    } finally {
      m.close();
    }
  });
}
