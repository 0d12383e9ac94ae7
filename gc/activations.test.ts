import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { VMExternRefActivationsTableLayout, VMOffsets } from '../compiler/vmoffsets.ts';
import { assemble } from '../simulator/testing/asm.ts';
import { ExternRefHeap } from './externref.ts';
import { ActivationsTable } from './activations.ts';
import { ActivationsTableError } from './errors.ts';

const offsets = new VMOffsets({
  numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
  numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numEscapedFuncs: 0,
});

/** What Cranelift emits inline for an externref table.get/global.get: bump-insert if there is room. */
const INLINE_INSERT: Record<Arch, string> = {
  x64: `mov rax, [rdi]
cmp rax, [rdi + 8]
je 1f
mov [rax], rsi
add rax, 8
mov [rdi], rax
lock add qword ptr [rsi], 1
mov eax, 1
ret
1: xor eax, eax
ret`,
  aarch64: `ldr x2, [x0]
ldr x3, [x0, #8]
cmp x2, x3
b.eq 1f
str x1, [x2], #8
str x2, [x0]
ldr x4, [x1]
add x4, x4, #1
str x4, [x1]
mov x0, #1
ret
1: mov x0, #0
ret`,
};

for (const arch of ARCHES) {
  test(`${arch}: table struct in guest memory: next at 0, end at 8, boxed chunk (ptr, len) at 16; v17 starts empty`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const table = new ActivationsTable(m, heap);
    const next = m.readU64(table.address + BigInt(offsets.vmExternRefActivationTableNext()));
    const end = m.readU64(table.address + BigInt(offsets.vmExternRefActivationTableEnd()));
    t.is(next, table.chunkAddress);
    t.is(end, table.chunkAddress); // empty chunk: the first insertion takes the slow path
    t.is(m.readU64(table.address + 16n), table.chunkAddress);
    t.is(m.readU64(table.address + 24n), 0n);
    t.is(table.bumpCapacityRemaining(), 0);
    const ref = heap.allocate('x');
    t.false(table.tryInsert(ref));
    // Sweeping (what the first GC does) allocates the 512-slot chunk.
    const r = table.sweep(false);
    t.is(r.freedCount, 0);
    t.is(m.readU64(table.address + 24n), 512n);
    t.is(m.readU64(table.address + 8n), table.chunkAddress + 4096n);
    t.is(table.bumpCapacityRemaining(), 4096);
    t.is(VMExternRefActivationsTableLayout.chunkSlots, 512);
    m.close();
  });

  test(`${arch}: compiled code's inline bump insertion and the host's see the same table`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const table = new ActivationsTable(m, heap, { lazyChunk: false, chunkSlots: 4 });
    const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, assemble(arch, INLINE_INSERT[arch]));
    const a = heap.allocate('a');
    const b = heap.allocate('b');
    t.is(m.call(text.address, [table.address, a]), 1n);
    t.is(m.call(text.address, [table.address, b]), 1n);
    t.true(table.bumpInsertInline(a)); // the host's version of the same thing
    t.is(heap.strongCount(a), 3);
    t.is(heap.strongCount(b), 2);
    t.is(table.numFilledInBumpChunk(), 3);
    t.deepEqual(table.snapshot().bumpEntries, [a, b, a]);
    t.true(table.tryInsert(heap.clone(b)));
    t.is(m.call(text.address, [table.address, a]), 0n); // full: compiled code would call the libcall
    t.is(heap.strongCount(a), 3);
    t.deepEqual(table.elements().sort(), [Number(a), Number(a), Number(b), Number(b)].sort());
    // Drop our own counts: the table's four keep both alive; the sweep (no roots) frees both.
    heap.drop(a);
    heap.drop(b);
    const r = table.sweep(true);
    t.is(r.freedCount, 2);
    t.deepEqual(r.freed.map((f) => f.value).sort(), ['a', 'b']);
    t.is(table.numFilledInBumpChunk(), 0);
    t.deepEqual(table.snapshot().bumpEntries, []);
    t.is(m.readU64(table.chunkAddress), 0n); // cleared slots are null
    m.close();
  });

  test(`${arch}: corrupt next/end or a garbage slot is a typed error, not a crash`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const table = new ActivationsTable(m, heap, { lazyChunk: false });
    m.writeU64(table.address, table.chunkAddress + 3n);
    t.throws(() => table.numFilledInBumpChunk(), { instanceOf: ActivationsTableError, message: /next/ });
    m.writeU64(table.address, table.chunkAddress + 8n);
    m.writeU64(table.chunkAddress, 0x1234n);
    t.throws(() => table.sweep(false), { instanceOf: ActivationsTableError, message: /slot/ });
    m.writeU64(table.address + 8n, 0n);
    t.throws(() => table.tryInsert(1n), { instanceOf: ActivationsTableError, message: /end/ });
    m.close();
  });
}

test('over-approximated set holds one count per entry; duplicates give theirs back', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const heap = new ExternRefHeap(m);
  const table = new ActivationsTable(m, heap); // lazy: every insert goes to the set
  const a = heap.allocate('a');
  table.insertWithoutGc(heap.clone(a));
  table.insertWithoutGc(heap.clone(a));
  t.is(heap.strongCount(a), 2);
  t.is(table.overApproximated.size, 1);
  m.close();
});

test('insertWithGcIsNoop: only while a collection runs, the chunk is full and the set holds the live object', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const heap = new ExternRefHeap(m);
  const table = new ActivationsTable(m, heap); // lazy: the chunk is full from the start
  const a = heap.allocate('a');
  const b = heap.allocate('b');
  table.insertWithoutGc(heap.clone(a));
  t.false(table.insertWithGcIsNoop(Number(a)), 'no collection running');
  table.gcInProgress = true;
  t.true(table.insertWithGcIsNoop(Number(a)));
  t.false(table.insertWithGcIsNoop(Number(b)), 'not in the set');
  t.false(table.insertWithGcIsNoop(0x1234), 'not an object');
  table.setGcOkay(false);
  t.false(table.insertWithGcIsNoop(Number(a)), 'GC not allowed: the slow path reports it');
  table.setGcOkay(true);
  // What the skipped insertion would have done: two counts taken and both given back.
  const before = heap.strongCount(a);
  table.insertWithoutGc(heap.clone(a));
  table.insertWithGc(heap.clone(a), () => undefined);
  t.is(heap.strongCount(a), before);
  t.is(table.overApproximated.size, 1);
  table.gcInProgress = false;
  m.close();
});

test('insertWithGcIsNoop: false while the chunk has room', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const heap = new ExternRefHeap(m);
  const table = new ActivationsTable(m, heap, { lazyChunk: false });
  const a = heap.allocate('a');
  table.insertWithoutGc(heap.clone(a)); // into the chunk
  table.gcInProgress = true;
  t.false(table.insertWithGcIsNoop(Number(a)));
  table.gcInProgress = false;
  m.close();
});

test('resetEmpty: an empty table starts over with the lazy chunk; a table in use refuses', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const heap = new ExternRefHeap(m);
  const table = new ActivationsTable(m, heap);
  const a = heap.allocate('a');
  table.gcInProgress = true;
  table.sweep(false); // allocates the chunk
  table.gcInProgress = false;
  t.is(table.chunkLength, 512);
  t.true(table.tryInsert(heap.clone(a)));
  t.throws(() => table.resetEmpty(), { instanceOf: ActivationsTableError, message: /in use/ });
  for (let i = 0; i < 2; i++) {
    // No roots: the first sweep drops the chunk's entry, which left nothing anywhere.
    table.gcInProgress = true;
    table.sweep(false);
    table.gcInProgress = false;
  }
  t.is(table.overApproximated.size, 0);
  table.resetEmpty();
  t.is(table.chunkLength, 0);
  t.is(table.bumpCapacityRemaining(), 0, 'the next insertion takes the slow path, as in a new table');
  m.close();
});
