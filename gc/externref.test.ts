import test from 'ava';
import fc from 'fast-check';
import { ARCHES } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { VMExternDataLayout, VMOffsets } from '../compiler/vmoffsets.ts';
import { assemble } from '../simulator/testing/asm.ts';
import { CLAIM_DEAD, CLAIM_HELD, CLAIM_NEW, CLAIM_UNMARKED, ExternRefHeap, EXTERNREF_ALLOCATION_SIZE, FREED_POISON } from './externref.ts';
import { GuestHeap } from './guest-heap.ts';
import { DestructorError, ExternRefError, HeapFreeError } from './errors.ts';

const offsets = new VMOffsets({
  numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
  numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numEscapedFuncs: 0,
});

for (const arch of ARCHES) {
  test(`${arch}: externref object layout byte for byte (read back at VMOffsets offsets)`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const ref = heap.allocate({ file: 'a.txt' });
    const lay = heap.layout(ref);
    // The externref points at VMExternData; the value block precedes it.
    t.is(lay.externData, ref);
    t.is(lay.allocation + 8n, ref);
    t.is(m.readU64(ref + BigInt(offsets.vmExternDataRefCount())), 1n);
    t.is(offsets.vmExternDataRefCount(), 0);
    // value_ptr is a fat pointer: data word back at the value, then the vtable.
    t.is(m.readU64(ref + BigInt(VMExternDataLayout.valuePtr)), lay.allocation);
    t.is(m.readU64(ref + BigInt(VMExternDataLayout.valuePtr) + 8n), heap.vtable);
    // The value block holds the host value's id.
    t.is(m.readU64(lay.allocation), lay.hostValueId);
    // The vtable mimics a `dyn Any` vtable: drop, size, align, type_id.
    t.deepEqual([0n, 8n, 16n, 24n].map((o) => m.readU64(heap.vtable + o)), [0n, 8n, 8n, 0n]);
    t.is(EXTERNREF_ALLOCATION_SIZE, 32);
    t.deepEqual(heap.value(ref), { file: 'a.txt' });
    // The count seen by compiled code follows host clones and drops, and vice versa.
    heap.clone(ref);
    t.is(m.readU64(ref), 2n);
    m.writeU64(ref, 5n); // as compiled code would
    t.is(heap.strongCount(ref), 5);
    m.close();
  });

  test(`${arch}: compiled code changes ref_count in guest memory; drop to zero runs the destructor once`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
    // inc(ref): the add compiled code emits for a clone (a lock add on x86-64).
    const code = arch === 'x64' ? 'lock add qword ptr [rdi], 1\nret' : 'ldr x1, [x0]\nadd x1, x1, #1\nstr x1, [x0]\nret';
    m.writeBytes(text.address, assemble(arch, code));
    const destroyed: unknown[] = [];
    const ref = heap.allocate('hello', (v) => destroyed.push(v));
    m.call(text.address, [ref]);
    m.call(text.address, [ref]);
    t.is(heap.strongCount(ref), 3);
    t.false(heap.drop(ref));
    t.false(heap.drop(ref));
    t.deepEqual(destroyed, []);
    t.true(heap.drop(ref));
    t.deepEqual(destroyed, ['hello']);
    t.false(heap.isLive(ref));
    t.is(m.readU64(ref - 8n), FREED_POISON);
    t.is(heap.liveCount, 0);
    t.throws(() => heap.drop(ref), { instanceOf: ExternRefError });
    t.throws(() => heap.clone(0n), { instanceOf: ExternRefError });
    m.close();
  });

  test(`${arch}: drop_externref: compiled code brought the count to 0, the host destroys and frees`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const seen: unknown[] = [];
    const ref = heap.allocate('x', (v) => seen.push(v));
    t.throws(() => heap.dropAndDealloc(ref), { instanceOf: ExternRefError, message: /ref_count is 1/ });
    m.writeU64(ref, 0n); // the decrement compiled code did
    heap.dropAndDealloc(ref);
    t.deepEqual(seen, ['x']);
    t.false(heap.isLive(ref));
    m.close();
  });

  test(`${arch}: a destructor may call back into guest code`, async (t) => {
    const m = await Machine.create({ arch });
    const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
    const code = arch === 'x64' ? 'lea rax, [rdi + rdi*2]\nret' : 'add x0, x0, x0, lsl #1\nret';
    m.writeBytes(text.address, assemble(arch, code));
    const results: bigint[] = [];
    const heap = new ExternRefHeap(m, { onDestroy: (v) => results.push(m.call(text.address, [BigInt(v as number)])) });
    const a = heap.allocate(7);
    const b = heap.allocate(11);
    heap.drop(b);
    heap.drop(a);
    t.deepEqual(results, [33n, 21n]);
    m.close();
  });

  test(`${arch}: a throwing destructor still frees the object and reports a DestructorError`, async (t) => {
    const m = await Machine.create({ arch });
    const heap = new ExternRefHeap(m);
    const ref = heap.allocate(1, () => {
      throw new Error('boom');
    });
    const e = t.throws(() => heap.drop(ref), { instanceOf: DestructorError });
    t.is(e!.failures[0].address, ref);
    t.false(heap.isLive(ref));
    t.is(heap.heap.stats().allocations, 1); // only the vtable is left
    m.close();
  });
}

test('guest heap: coalescing free list (property: no overlap, full coalescing, exact accounting)', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  let arenaCount = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 300 }), fc.nat()), { maxLength: 200 }), (ops) => {
      const heap = new GuestHeap(m, { name: `h${arenaCount++}`, arenaSize: 16384 });
      const live: Array<[number, number]> = [];
      for (const [isAlloc, size, pick] of ops) {
        if (isAlloc || live.length === 0) {
          const a = heap.alloc(size);
          const rounded = Math.ceil(size / 8) * 8;
          for (const [b, s] of live) if (a < b + s && b < a + rounded) return false;
          if (a % 8 !== 0) return false;
          live.push([a, rounded]);
        } else {
          const [a] = live.splice(pick % live.length, 1)[0];
          heap.free(a);
        }
      }
      const blocks = heap.freeBlocks();
      for (let i = 1; i < blocks.length; i++) {
        // Never two adjacent free blocks.
        if (blocks[i - 1][0] + blocks[i - 1][1] === blocks[i][0]) return false;
      }
      const st = heap.stats();
      if (st.allocatedBytes + st.freeBytes !== st.capacity) return false;
      for (const [a] of live) heap.free(a);
      // Everything coalesces back to one block per arena.
      return heap.freeBlocks().length === heap.arenas.length;
    }),
    { numRuns: 40, seed: 42 },
  );
  t.pass();
  m.close();
});

test('guest heap: bad frees are typed errors; a full arena maps another', async (t) => {
  const m = await Machine.create({ arch: 'aarch64' });
  const heap = new GuestHeap(m, { name: 'small', arenaSize: 4096, maxArenas: 2 });
  const a = heap.alloc(4000);
  t.throws(() => heap.free(a + 8), { instanceOf: HeapFreeError });
  const b = heap.alloc(4000);
  t.is(heap.arenas.length, 2);
  t.not(heap.arenaOf(a), heap.arenaOf(b));
  t.throws(() => heap.alloc(4000), { message: /cannot allocate/ });
  heap.free(a);
  t.throws(() => heap.free(a), { instanceOf: HeapFreeError });
  t.is(heap.alloc(4096), a);
  m.close();
});

test('claimRaw and releaseRaw change counts and marks as the separate calls do, across the 32-bit halves', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const heap = new ExternRefHeap(m);
  const mark = heap.claimMark()!;
  for (const count of [1n, 2n, 0xffff_fffen, 0xffff_ffffn, 0x1_0000_0000n, 0x1_0000_0001n]) {
    const ref = heap.allocate(`count ${count}`);
    const r = Number(ref);
    m.writeU64(ref, count);
    // Claim: the first time a count more and the mark; then held; a mark it lacks is unmarked.
    t.is(heap.claimRaw(r, 0, mark), CLAIM_NEW);
    t.is(m.readU64(ref), count + 1n, `claim at ${count}`);
    t.true(heap.hasMark(r, mark));
    t.is(heap.claimRaw(r, 0, mark), CLAIM_HELD);
    t.is(heap.claimRaw(r, mark << 1, mark), CLAIM_UNMARKED);
    t.is(m.readU64(ref), count + 1n);
    // Release: in one pass only while the low half stays above zero; otherwise nothing changes.
    m.writeU64(ref, count);
    const done = heap.releaseRaw(r, mark);
    t.is(done, (count & 0xffff_ffffn) > 1n, `release at ${count}`);
    t.is(m.readU64(ref), done ? count - 1n : count);
    t.is(heap.hasMark(r, mark), !done);
    heap.clearMark(r, mark);
  }
  // Not an object: dead, or unmarked when a mark is required; release declines.
  const dead = heap.allocate('x');
  m.writeU64(dead, 1n);
  heap.drop(dead);
  t.is(heap.claimRaw(Number(dead), 0, mark), CLAIM_DEAD);
  t.is(heap.claimRaw(Number(dead) + 4, 0, mark), CLAIM_DEAD);
  t.is(heap.claimRaw(8, mark << 1, mark), CLAIM_UNMARKED);
  t.false(heap.releaseRaw(8, mark));
  m.close();
});
