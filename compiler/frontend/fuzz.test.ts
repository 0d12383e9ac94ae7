import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { CompileError } from './errors.ts';
import { parseWasm } from './index.ts';
import { loadWat, watToBinary } from './wat.ts';
import { moduleBytes, section, vec } from './testing.ts';

/**
 * Robustness: any mutation of a valid binary (bit flips, truncation, inserted, deleted or
 * overwritten bytes) must end as a module or a CompileError, never another exception or a
 * hang. Seeds are fixed so the test is deterministic.
 */

const CORPUS_WAT = [
  readFileSync(new URL('./testdata/all-instructions.wat', import.meta.url), 'utf8'),
  `(module $names
    (type $pair (func (param i32 i64) (result i64 i32)))
    (import "m" "f" (func $f (param i32) (result i32)))
    (import "m" "t" (table 2 externref))
    (import "m" "g" (global i64))
    (memory 1 1)
    (global $c (mut i64) (global.get 0))
    (func $loop (export "loop") (param $n i32) (result i32) (local $acc i32)
      block $out
        loop $top
          local.get $n i32.eqz br_if $out
          local.get $acc local.get $n call $f i32.add local.set $acc
          local.get $n i32.const 1 i32.sub local.set $n
          br $top
        end
      end
      local.get $acc)
    (func (param i32 i64) (result i64 i32) local.get 1 local.get 0)
    (elem declare func $loop)
    (data (i32.const 100) "\\00\\01\\02\\ff"))`,
];

let corpus: Uint8Array[] = [];

test.before(async () => {
  await loadWat();
  corpus = CORPUS_WAT.map((text) => watToBinary(text).bytes);
  // Hand-built: every element segment form, so mutations explore their flag bits too.
  corpus.push(moduleBytes(
    section(1, vec([[0x60, 0x00, 0x00]])),
    section(3, vec([[0x00]])),
    section(4, vec([[0x70, 0x00, 0x04], [0x6f, 0x01, 0x01, 0x02]])),
    section(9, vec([
      [0x00, 0x41, 0x00, 0x0b, ...vec([[0x00]])],
      [0x05, 0x6f, ...vec([[0xd0, 0x6f, 0x0b]])],
      [0x06, 0x01, 0x41, 0x00, 0x0b, 0x6f, ...vec([[0xd0, 0x6f, 0x0b]])],
      [0x07, 0x70, ...vec([[0xd2, 0x00, 0x0b]])],
    ])),
    section(10, vec([[0x02, 0x00, 0x0b]])),
  ));
});

/** The outcome of decoding: 'module', or the CompileError kind; anything else fails the test. */
function outcome(bytes: Uint8Array): string {
  try {
    parseWasm(bytes);
    return 'module';
  } catch (e) {
    if (e instanceof CompileError) return e.kind;
    throw e;
  }
}

type Mutation =
  | { kind: 'flip'; flips: [number, number][] }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'overwrite'; at: number; bytes: number[] };

function mutate(original: Uint8Array, m: Mutation): Uint8Array {
  const n = original.length;
  const pos = (x: number): number => Math.floor(x * n) % Math.max(n, 1);
  switch (m.kind) {
    case 'flip': {
      const out = original.slice();
      for (const [x, bit] of m.flips) out[pos(x)] ^= 1 << bit;
      return out;
    }
    case 'truncate':
      return original.slice(0, pos(m.at));
    case 'insert': {
      const p = pos(m.at);
      return new Uint8Array([...original.subarray(0, p), m.byte, ...original.subarray(p)]);
    }
    case 'delete': {
      const p = pos(m.at);
      return new Uint8Array([...original.subarray(0, p), ...original.subarray(p + m.length)]);
    }
    case 'overwrite': {
      const out = original.slice();
      const p = pos(m.at);
      m.bytes.forEach((b, i) => {
        if (p + i < n) out[p + i] = b;
      });
      return out;
    }
  }
}

/** A position as a fraction of the length, unbiased (fast-check otherwise favours 0 and 1). */
const fraction = fc.noBias(fc.integer({ min: 0, max: 1_000_000 - 1 })).map((x) => x / 1_000_000);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.tuple(fraction, fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fraction }),
  fc.record({ kind: fc.constant('insert' as const), at: fraction, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fraction, length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fraction, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }),
);

test('the corpus itself is valid', (t) => {
  t.deepEqual(corpus.map(outcome), corpus.map(() => 'module'));
});

test('mutated binaries end as a module or a CompileError (4,000 cases)', (t) => {
  const seen = new Map<string, number>();
  const started = performance.now();
  fc.assert(
    fc.property(fc.nat({ max: 1000 }), mutation, (which, m) => {
      const bytes = mutate(corpus[which % corpus.length], m);
      const result = outcome(bytes);
      seen.set(result, (seen.get(result) ?? 0) + 1);
    }),
    { numRuns: 4000, seed: 0x5eed },
  );
  const ms = performance.now() - started;
  t.log(`outcomes: ${JSON.stringify(Object.fromEntries(seen))}; ${ms.toFixed(0)} ms`);
  // The mutations must actually reach the decoder's error paths, not only produce modules.
  t.true((seen.get('malformed') ?? 0) > 100);
  t.true((seen.get('validation') ?? 0) > 10);
});

test('random byte strings after a valid header end as a module or a CompileError (2,000 cases)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      outcome(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...tail]));
    }),
    { numRuns: 2000, seed: 0xb17e },
  );
  t.pass();
});
