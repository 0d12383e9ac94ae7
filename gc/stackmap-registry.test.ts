import test from 'ava';
import fc from 'fast-check';
import { StackMapRegistry, stackMapBit, stackMapBits, type ModuleStackMapsInput, type StackMapInput } from './stackmap-registry.ts';
import { StackMapRegistryError } from './errors.ts';

function map(callOffset: number, returnAddressOffset: number, mappedWords = 4, set: number[] = [1]): StackMapInput {
  return { callOffset, returnAddressOffset, mappedWords, bits: stackMapBits(mappedWords, set) };
}

const MODULE: ModuleStackMapsInput = {
  moduleName: 'm',
  textStart: 0x40_0000n,
  functions: [
    { name: 'f0', start: 0n, length: 0x40, maps: [map(0x10, 0x15, 4, [0]), map(0x20, 0x25, 4, [1])] },
    { name: 'f1', start: 0x40n, length: 0x40, maps: [] },
    { name: 'f2', start: 0x80n, length: 0x40, maps: [map(0x8, 0xd, 2, [1])] },
  ],
};

test('bits: bit i is bit (i mod 32) of word (i div 32)', (t) => {
  const bits = stackMapBits(70, [0, 31, 32, 69]);
  t.deepEqual([...bits], [0x8000_0001, 1, 0x20]);
  t.true(stackMapBit(bits, 69));
  t.false(stackMapBit(bits, 68));
  t.throws(() => stackMapBits(4, [4]), { instanceOf: RangeError });
});

test('v17: exact match on the return-address offset only', (t) => {
  const r = new StackMapRegistry();
  r.register(MODULE);
  const base = 0x40_0000n;
  t.is(r.lookup(base + 0x15n)?.functionName, 'f0');
  t.deepEqual([...r.lookup(base + 0x15n)!.bits], [1]);
  t.is(r.lookup(base + 0x25n)?.mapOffset, 0x25);
  t.is(r.lookup(base + 0x16n), undefined); // no nearest-preceding in v17
  t.is(r.lookup(base + 0x10n), undefined); // the call offset is not the key
  t.is(r.lookup(base + 0x8dn)?.functionName, 'f2');
  t.is(r.lookup(base + 0x45n), undefined);
  t.deepEqual(r.functionAt(base + 0x45n), { moduleName: 'm', functionName: 'f1', functionStart: base + 0x40n, pcOffset: 5 });
  t.true(r.isWasmPc(base));
  t.false(r.isWasmPc(base + 0xc0n));
  t.false(r.isWasmPc(base - 1n));
});

test('v0.22: nearest preceding map keyed by call offset, "no map" markers at function starts', (t) => {
  const r = new StackMapRegistry({ mode: 'v0.22' });
  r.register(MODULE);
  const base = 0x40_0000n;
  t.is(r.lookup(base + 0x5n), undefined); // before the first map: Err(0)
  t.is(r.lookup(base + 0x15n)?.mapOffset, 0x10); // the return address finds the safepoint before the call
  t.is(r.lookup(base + 0x1fn)?.mapOffset, 0x10);
  t.is(r.lookup(base + 0x25n)?.mapOffset, 0x20);
  t.is(r.lookup(base + 0x3fn)?.mapOffset, 0x20); // drift inside f0 keeps the last map (the seed's behaviour)
  t.is(r.lookup(base + 0x45n), undefined); // f1's "no map" marker stops f0's map leaking
  t.is(r.lookup(base + 0x85n), undefined); // f2 before its first map: marker at f2's start
  t.is(r.lookup(base + 0x90n)?.functionName, 'f2');
  t.is(r.lookup(base + 0xc0n)?.functionName, 'f2'); // the module's end is inclusive, as the seed compared it
  t.is(r.lookup(base + 0xc1n), undefined);
});

test('v0.22: no marker when a function has a map at offset 0 or follows a marker', (t) => {
  const r = new StackMapRegistry({ mode: 'v0.22' });
  r.register({
    moduleName: 'n', textStart: 0x1000n, functions: [
      { name: 'a', start: 0n, length: 0x10, maps: [map(0, 5)] },
      { name: 'b', start: 0x10n, length: 0x10, maps: [map(0, 5)] },
      { name: 'c', start: 0x20n, length: 0x10, maps: [] },
      { name: 'd', start: 0x30n, length: 0x10, maps: [] },
    ],
  });
  t.is(r.lookup(0x100fn)?.functionName, 'a');
  t.is(r.lookup(0x1010n)?.functionName, 'b');
  t.is(r.lookup(0x1025n), undefined);
  t.is(r.lookup(0x1035n), undefined);
});

test('collision assertions: overlap, conflicting re-registration, offsets outside the function', (t) => {
  for (const mode of ['v17', 'v0.22'] as const) {
    const r = new StackMapRegistry({ mode });
    r.register(MODULE);
    r.register(MODULE); // identical: no-op
    t.is(r.moduleCount, 1);
    const changed = structuredClone(MODULE);
    changed.functions[0].maps[0].bits = stackMapBits(4, [2]);
    t.throws(() => r.register(changed), { instanceOf: StackMapRegistryError, message: /conflicting-reregistration/ });
    t.throws(() => r.register({ ...MODULE, moduleName: 'o', textStart: 0x40_0080n }), { instanceOf: StackMapRegistryError, message: /overlapping-module/ });
    t.throws(() => r.register({ moduleName: 'p', textStart: 0x50_0000n, functions: [{ name: 'f', start: 0n, length: 8, maps: [map(8, 9)] }] }), { message: /offset-outside-function/ });
    t.throws(() => r.register({ moduleName: 'q', textStart: 0x50_0000n, functions: [{ name: 'f', start: 0n, length: 8, maps: [{ callOffset: 0, returnAddressOffset: 4, mappedWords: 40, bits: new Uint32Array(1) }] }] }), { message: /bad-map/ });
    t.throws(() => r.register({ moduleName: 'r', textStart: 0x50_0000n, functions: [{ name: 'f', start: 0n, length: 8, maps: [] }, { name: 'g', start: 4n, length: 8, maps: [] }] }), { message: /overlapping-functions/ });
  }
  // v0.22 required a gap between modules; v17 ranges may touch.
  const touching = { moduleName: 't', textStart: 0x40_00c0n, functions: [{ name: 'g', start: 0n, length: 0x10, maps: [map(0, 5)] }] };
  const v17 = new StackMapRegistry();
  v17.register(MODULE);
  v17.register(touching);
  t.is(v17.lookup(0x40_00c5n)?.functionName, 'g');
  const old = new StackMapRegistry({ mode: 'v0.22' });
  old.register(MODULE);
  t.throws(() => old.register(touching), { message: /overlapping-module/ });
});

test('property: v17 lookup hits exactly the registered return addresses', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 999 }), { maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (offsets, probe) => {
      const r = new StackMapRegistry();
      r.register({ moduleName: 'x', textStart: 0x10000n, functions: [{ name: 'f', start: 0n, length: 1000, maps: offsets.map((o) => map(o - 1, o)) }] });
      const hit = r.lookup(0x10000n + BigInt(probe));
      return offsets.includes(probe) ? hit?.mapOffset === probe : hit === undefined;
    }),
    { numRuns: 300, seed: 7 },
  );
  t.pass();
});
