/**
 * The v31 free list: wasmtime v31.0.0's own free_list.rs tests (same names, same numbers), the
 * 512 KiB heap's first block, and properties checked against a byte-map model after every
 * operation: first fit, no overlap, integrity, and wasmtime's no-fragmentation property (free
 * everything: one block at the start of the heap, short only of the unsplit slack v31 loses at
 * the heap's end).
 */
import test from 'ava';
import fc from 'fast-check';
import { FreeList, FreeListDeallocError, FreeListLayoutError } from './free-list.ts';

const ALIGN = 8;
const MIN = 24;

test('new 512 KiB heap: one block at 8 of 524280 bytes; max size 524280', (t) => {
  const f = new FreeList(1 << 19);
  t.deepEqual(f.blocks(), [{ index: 8, length: 524_280 }]);
  t.is(f.maxSize(), 524_280);
  t.is(f.alloc(24), 8, 'the first object is at index 8: 0 stays the null reference');
  t.is(f.alloc(1), 32, 'sizes round up to 8');
  t.is(f.alloc(16), 40);
});

test('allocate_no_split (free_list.rs): remainder below 24 is not split off', (t) => {
  const f = new FreeList(ALIGN + MIN * 2);
  t.is(f.blocks().length, 1);
  t.is(f.maxSize(), MIN * 2);
  t.is(f.alloc(MIN + ALIGN), 8);
  t.is(f.blocks().length, 0);
});

test('allocate_and_split (free_list.rs)', (t) => {
  const f = new FreeList(ALIGN + MIN * 3);
  t.is(f.maxSize(), MIN * 3);
  t.is(f.alloc(MIN + ALIGN), 8);
  t.deepEqual(f.blocks(), [{ index: 8 + MIN + ALIGN, length: MIN * 3 - MIN - ALIGN }]);
});

test('dealloc_merge_prev_and_next, dealloc_merge_with_prev_and_not_next, with_next_and_not_prev, no_merge (free_list.rs)', (t) => {
  const fresh = () => new FreeList(ALIGN + MIN * 100);
  {
    const f = fresh();
    const a = f.alloc(MIN)!;
    const b = f.alloc(MIN)!;
    t.is(f.blocks().length, 1);
    f.dealloc(a, MIN);
    t.is(f.blocks().length, 2);
    f.dealloc(b, MIN);
    t.deepEqual(f.blocks(), [{ index: 8, length: MIN * 100 }]);
  }
  {
    const f = fresh();
    const [a, b] = [f.alloc(MIN)!, f.alloc(MIN)!, f.alloc(MIN)!];
    f.dealloc(a, MIN);
    f.dealloc(b, MIN);
    t.deepEqual(f.blocks(), [{ index: 8, length: 2 * MIN }, { index: 8 + 3 * MIN, length: 97 * MIN }]);
  }
  {
    const f = fresh();
    const [a, , c] = [f.alloc(MIN)!, f.alloc(MIN)!, f.alloc(MIN)!];
    f.dealloc(a, MIN);
    f.dealloc(c, MIN);
    t.deepEqual(f.blocks(), [{ index: 8, length: MIN }, { index: 8 + 2 * MIN, length: 98 * MIN }]);
  }
  {
    const f = fresh();
    const [a, , c] = [f.alloc(MIN)!, f.alloc(MIN)!, f.alloc(MIN)!, f.alloc(MIN)!];
    f.dealloc(a, MIN);
    f.dealloc(c, MIN);
    t.is(f.blocks().length, 3);
  }
});

test('alloc_size_too_large and alloc_align_too_large (free_list.rs) are errors, a full heap is undefined', (t) => {
  const f = new FreeList(ALIGN + MIN * 10);
  t.is(f.maxSize(), MIN * 10);
  t.throws(() => f.alloc(MIN * 20), { instanceOf: FreeListLayoutError });
  t.throws(() => f.alloc(MIN, ALIGN * 2), { instanceOf: FreeListLayoutError });
  t.throws(() => f.alloc(0), { instanceOf: FreeListLayoutError, message: /zero-sized/ });
  t.is(f.alloc(MIN * 10), 8);
  t.is(f.alloc(MIN), undefined);
});

test('unsplit slack comes back when a neighbour merges (blocks_are_contiguous treats gaps < 24 as touching)', (t) => {
  const f = new FreeList(ALIGN + 64);
  // A 48-byte request takes the whole 64-byte block: the 16-byte tail is too small to split.
  const a = f.alloc(48)!;
  t.deepEqual(f.blocks(), []);
  f.dealloc(a, 48);
  t.deepEqual(f.blocks(), [{ index: 8, length: 48 }], 'the slack stays lost while no neighbour is free');
  const g = new FreeList(ALIGN + 200);
  const x = g.alloc(48)!;
  const y = g.alloc(40)!;
  g.dealloc(y, 40);
  g.dealloc(x, 48);
  t.deepEqual(g.blocks(), [{ index: 8, length: 200 }]);
});

test('a live allocation under 24 bytes in a gap is never swallowed (wasmtime v31 would merge across it)', (t) => {
  const f = new FreeList(ALIGN + 200);
  const a = f.alloc(16)!; // a field-less struct: 16 bytes
  const b = f.alloc(16)!;
  t.deepEqual([a, b], [8, 24]);
  f.dealloc(a, 16);
  // wasmtime: the gap between a's end (24) and the free block at 40 is 16 < 24, so it would merge
  // a with that block and cover b. Here b is live, so a stays a block of its own.
  t.deepEqual(f.blocks(), [{ index: 8, length: 16 }, { index: 40, length: 168 }]);
  f.dealloc(b, 16);
  t.deepEqual(f.blocks(), [{ index: 8, length: 200 }]);
});

test('bad deallocs are typed errors', (t) => {
  const f = new FreeList(1024);
  const a = f.alloc(24)!;
  t.throws(() => f.dealloc(0, 24), { instanceOf: FreeListDeallocError });
  t.throws(() => f.dealloc(a + 4, 24), { instanceOf: FreeListDeallocError });
  t.throws(() => f.dealloc(a + 24, 24), { instanceOf: FreeListDeallocError, message: /no live allocation starts here/ });
  f.dealloc(a, 24);
  t.throws(() => f.dealloc(a, 24), { instanceOf: FreeListDeallocError, message: /double free/ });
  const b = f.alloc(40)!;
  t.throws(() => f.dealloc(b, 24), { instanceOf: FreeListDeallocError, message: /was 40 bytes/ });
});

test('v31 loses an unsplit block\'s slack at the heap end, once per reuse (wasmtime v31.0.0 does the same; #10349 changed the split rule later)', (t) => {
  // A 40-byte heap: one block [8, 40). 9 bytes round to 16 and leave 16 < 24: no split, the
  // whole block goes; dealloc gives back 16. Then 1 byte (8) takes that 16-byte block whole
  // again and gives back 8. A property run of fast-check found this sequence.
  const f = new FreeList(40);
  const a = f.alloc(9)!;
  f.dealloc(a, 9);
  t.deepEqual(f.blocks(), [{ index: 8, length: 16 }]);
  const b = f.alloc(1)!;
  f.dealloc(b, 1);
  t.deepEqual(f.blocks(), [{ index: 8, length: 8 }]);
});

/** Operations: allocate `size`, or free the live allocation at position `pick` (modulo). */
type Op = { kind: 'alloc'; size: number } | { kind: 'free'; pick: number };
const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 2000 })) }),
    fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
  ),
  { maxLength: 200 },
);

test('property: first fit, no overlap, integrity and byte conservation after every operation; everything freed = the initial block', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8192 }), ops, (capacity, list: Op[]) => {
      const f = new FreeList(capacity);
      const initial = f.blocks();
      const initialBytes = f.freeBytes();
      const live: Array<{ index: number; size: number; taken: number }> = [];
      let slack = 0; // bytes handed out beyond the rounded sizes (unsplit blocks), over the run
      for (const op of list) {
        if (op.kind === 'alloc') {
          const before = f.blocks();
          const bytesBefore = f.freeBytes();
          let index: number | undefined;
          try {
            index = f.alloc(op.size);
          } catch (e) {
            if (!(e instanceof FreeListLayoutError) || (op.size <= f.maxSize() && op.size !== 0)) throw e;
            continue;
          }
          const rounded = Math.ceil(op.size / 8) * 8;
          const fit = before.find((b) => b.length >= rounded);
          if (index === undefined) {
            if (fit !== undefined) return false;
            continue;
          }
          if (fit === undefined || fit.index !== index) return false; // first fit
          live.push({ index, size: op.size, taken: bytesBefore - f.freeBytes() });
          slack += bytesBefore - f.freeBytes() - rounded;
        } else if (live.length) {
          const [victim] = live.splice(op.pick % live.length, 1);
          f.dealloc(victim.index, victim.size);
        }
        f.checkIntegrity();
        // Model: a byte map of owned bytes; allocations and free blocks never overlap.
        const owner = new Uint8Array(capacity);
        const claim = (from: number, len: number) => {
          for (let i = from; i < from + len; i++) {
            if (owner[i]) throw new Error(`byte ${i} claimed twice`);
            owner[i] = 1;
          }
        };
        for (const a of live) claim(a.index, Math.ceil(a.size / 8) * 8);
        for (const b of f.blocks()) claim(b.index, b.length);
        if (owner[0]) return false;
      }
      for (const a of live.splice(0)) f.dealloc(a.index, a.size);
      // wasmtime's no-fragmentation property, with the one loss v31's algorithm has: an unsplit
      // block's slack is not given back by dealloc, and at the heap's end no neighbour absorbs
      // it, so it is lost (again at each reuse: see the test below). Whatever is missing must
      // be such slack.
      const final = f.blocks();
      if (initial.length === 0) return final.length === 0;
      return final.length === 1 && final[0].index === 8 && final[0].length <= initialBytes && initialBytes - final[0].length <= slack;
    }),
    { numRuns: 300 },
  );
  t.pass();
});
