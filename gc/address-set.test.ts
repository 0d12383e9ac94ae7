import test from 'ava';
import fc from 'fast-check';
import { AddressSet } from './address-set.ts';

// Addresses as the collector sees them: 8-aligned guest pointers, strided like externref
// objects, plus a few far above 2^32 and odd junk words.
const addressArb = fc.oneof(
  fc.nat(1 << 16).map((i) => 0x10_0000 + 32 * i + 8),
  fc.nat(1 << 20).map((i) => 0x7f00_0000_0000 + 8 * i),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
);
type Op = { kind: 'add' | 'has'; address: number } | { kind: 'clear' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('add' as const), address: addressArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('has' as const), address: addressArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

test('property: behaves as a Set of numbers (add, has, size, clear, insertion order)', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
      const mine = new AddressSet();
      const model = new Set<number>();
      for (const op of ops) {
        if (op.kind === 'clear') {
          mine.clear();
          model.clear();
        } else if (op.kind === 'add') {
          if (mine.add(op.address) !== !model.has(op.address)) return false;
          model.add(op.address);
        } else if (mine.has(op.address) !== model.has(op.address)) return false;
        if (mine.size !== model.size) return false;
      }
      const order = [...model];
      return [...mine].join() === order.join() && order.every((a, i) => mine.at(i) === a);
    }),
    { numRuns: 300, seed: 20261207 },
  );
  t.pass();
});

test('a cleared set of many members is empty and reusable; a few members in a big table clear too', (t) => {
  const s = new AddressSet();
  for (let i = 0; i < 50_000; i++) s.add(0x10_0000 + 32 * i + 8);
  s.clear();
  t.is(s.size, 0);
  t.false(s.has(0x10_0008));
  // Few members in the grown table: the per-member path.
  for (let i = 0; i < 10; i++) s.add(0x20_0000 + 8 * i);
  s.clear();
  for (let i = 0; i < 10; i++) t.false(s.has(0x20_0000 + 8 * i));
  s.add(0x20_0000);
  t.deepEqual([...s], [0x20_0000]);
});

test('strided addresses spread: probes stay a small constant per operation', (t) => {
  // 100,000 objects 32 bytes apart (the collector's typical keys), then as many misses.
  const s = new AddressSet();
  const n = 100_000;
  for (let i = 0; i < n; i++) s.add(0x10_0000 + 32 * i + 8);
  for (let i = 0; i < n; i++) s.has(0x10_0000 + 32 * i + 16);
  t.true(s.probes <= 4 * 2 * n, `${s.probes} probes for ${2 * n} operations`);
});

test('refuses what is not a non-null guest address', (t) => {
  const s = new AddressSet();
  for (const bad of [0, -8, 1.5, 2 ** 53, Number.NaN]) t.throws(() => s.add(bad), { instanceOf: RangeError });
  t.is(s.size, 0);
  t.false(s.has(0)); // the empty-slot marker is not a member
});
