/**
 * Property test: random functions over externref locals, with an operand stack of references
 * and calls scattered through straight-line code and if/else, run on both arches. At every
 * call the callee reads the words the stack map marks from the real stack; they must be
 * exactly the references the generator knows are live there: the operand-stack references
 * below the call plus the locals that some later path reads before writing (computed on the
 * generator's own tree, not on the compiler's instruction array).
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { instantiate, liveWords, watModule, type TestInstance } from './testing.ts';
import { REGALLOC_MODES } from './index.ts';

type Stmt =
  | { kind: 'copy'; dst: number; src: number }
  | { kind: 'null'; dst: number }
  | { kind: 'push'; src: number }
  | { kind: 'drop' }
  | { kind: 'call'; site: number }
  | { kind: 'if'; cond: boolean; then: Stmt[]; else: Stmt[] };

const NUM_LOCALS = 5; // generator locals 0..1 are parameters, 2..4 declared
/** i64 locals declared before the externref ones, so maps span more than one bitmap word. */
const PAD = 40;
const idx = (l: number): number => (l < 2 ? l : l + PAD);

const stmtArb: fc.Memo<Stmt> = fc.memo((depth) => {
  const local = fc.integer({ min: 0, max: NUM_LOCALS - 1 });
  const leaves: fc.Arbitrary<Stmt>[] = [
    fc.record({ kind: fc.constant('copy' as const), dst: local, src: local }),
    fc.record({ kind: fc.constant('null' as const), dst: local }),
    fc.record({ kind: fc.constant('call' as const), site: fc.constant(0) }),
    fc.record({ kind: fc.constant('call' as const), site: fc.constant(0) }),
  ];
  if (depth <= 1) return fc.oneof(...leaves);
  const body = fc.array(stmtArb(depth - 1), { maxLength: 4 });
  return fc.oneof(...leaves, fc.record({ kind: fc.constant('if' as const), cond: fc.boolean(), then: body, else: body }));
});
const topArb = fc.array(
  fc.oneof(
    stmtArb(3),
    fc.record({ kind: fc.constant('push' as const), src: fc.integer({ min: 0, max: NUM_LOCALS - 1 }) }),
    fc.constant({ kind: 'drop' as const }),
  ),
  { minLength: 1, maxLength: 14 },
);

interface Generated {
  wat: string;
  /** site → the expected live values at that call, given the initial local values. */
  expected: Map<number, bigint[]>;
}

/** Numbers call sites, emits WAT, and derives the expected maps by interpreting the tree. */
function generate(stmts: Stmt[], fnIndex: number, params: [bigint, bigint]): Generated {
  let nextSite = fnIndex * 1000;
  const number = (ss: Stmt[]): void => {
    for (const s of ss) {
      if (s.kind === 'call') s.site = nextSite++;
      if (s.kind === 'if') { number(s.then); number(s.else); }
    }
  };
  // Drops only when something is on the stack; the function ends with an empty stack.
  const fixed: Stmt[] = [];
  let height = 0;
  for (const s of stmts) {
    if (s.kind === 'drop' && height === 0) continue;
    if (s.kind === 'push') height++;
    if (s.kind === 'drop') height--;
    fixed.push(s);
  }
  for (; height > 0; height--) fixed.push({ kind: 'drop' });
  number(fixed);

  const emit = (ss: Stmt[]): string =>
    ss.map((s) => {
      switch (s.kind) {
        case 'copy': return `(local.set ${idx(s.dst)} (local.get ${idx(s.src)}))`;
        case 'null': return `(local.set ${idx(s.dst)} (ref.null extern))`;
        case 'push': return `(local.get ${idx(s.src)})`;
        case 'drop': return `(drop)`;
        case 'call': return `(call $obs (i32.const ${s.site}))`;
        case 'if': return `(if (i32.const ${s.cond ? 1 : 0}) (then ${emit(s.then)}) (else ${emit(s.else)}))`;
      }
    }).join(' ');

  // Static liveness on the tree: live-in of a statement list given the live-out after it.
  const liveIn = (ss: Stmt[], out: Set<number>): Set<number> => {
    let live = new Set(out);
    for (let i = ss.length - 1; i >= 0; i--) {
      const s = ss[i];
      if (s.kind === 'copy') { live.delete(s.dst); live.add(s.src); }
      else if (s.kind === 'null') live.delete(s.dst);
      else if (s.kind === 'push') live.add(s.src);
      else if (s.kind === 'if') live = new Set([...liveIn(s.then, live), ...liveIn(s.else, live)]);
    }
    return live;
  };
  // Execute, recording at each executed call the expected live values.
  const expected = new Map<number, bigint[]>();
  const values: bigint[] = [params[0], params[1], 0n, 0n, 0n];
  const stack: bigint[] = [];
  const run = (ss: Stmt[], out: Set<number>): void => {
    ss.forEach((s, i) => {
      switch (s.kind) {
        case 'copy': values[s.dst] = values[s.src]; break;
        case 'null': values[s.dst] = 0n; break;
        case 'push': stack.push(values[s.src]); break;
        case 'drop': stack.pop(); break;
        case 'call': {
          const after = liveIn(ss.slice(i + 1), out);
          expected.set(s.site, [...stack, ...[...after].map((l) => values[l])].sort());
          break;
        }
        case 'if': run(s.cond ? s.then : s.else, liveIn(ss.slice(i + 1), out)); break;
      }
    });
  };
  run(fixed, new Set());
  const wat = `(func (param externref externref) (local ${'i64 '.repeat(PAD)}externref externref externref) ${emit(fixed)})`;
  return { wat, expected };
}

const FUNCS_PER_MODULE = 6;

for (const arch of ['x64', 'aarch64'] as const satisfies readonly Arch[]) for (const regalloc of REGALLOC_MODES) {
  test(`each stack map marks exactly the live externref slots (${regalloc === 'none' ? arch : `${arch}, ${regalloc}`})`, async (t) => {
    let sites = 0;
    let wide = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(topArb, { minLength: FUNCS_PER_MODULE, maxLength: FUNCS_PER_MODULE }), async (bodies) => {
        const params: [bigint, bigint] = [0x7000_0010n, 0x7000_0020n];
        const gens = bodies.map((b, k) => generate(structuredClone(b), k, params));
        const wat = `(module (import "env" "obs" (func $obs (param i32))) ${gens.map((g) => g.wat).join('\n')})`;
        const seen = new Map<number, bigint[]>();
        let inst: TestInstance;
        inst = await instantiate(await watModule(wat), arch, {
          functions: new Map([[0, (args, call) => {
            const map = inst.stackMapAt(call.returnAddress);
            if (map === undefined) throw new Error('no stack map at a call');
            if (BigInt(map.mappedWords * 8) !== call.fp - (arch === 'x64' ? call.sp + 8n : call.sp)) throw new Error('map does not span SP..FP');
            seen.set(Number(args[2]), liveWords(inst.machine, call.fp, map).sort());
            if (map.bitmap.slice(1).some((w) => w !== 0)) wide++;
          }]]),
        }, regalloc);
        gens.forEach((g, k) => {
          seen.clear();
          inst.call(k + 1, params);
          for (const [site, want] of g.expected) {
            const got = seen.get(site);
            if (got === undefined) throw new Error(`site ${site} not reached`);
            if (got.join() !== want.join()) throw new Error(`site ${site}: map has [${got}], live are [${want}]`);
            sites++;
          }
        });
      }),
      { numRuns: 12, seed: arch === 'x64' ? 17 : 23 },
    );
    t.true(sites > 50, `only ${sites} call sites checked`);
    // The padding locals push slots past the first bitmap word only where every value has a slot.
    if (regalloc === 'none') t.true(wide > 0, 'no map with a set bit beyond the first bitmap word');
  });
}

test('exact and nearest-preceding stack-map lookups (v17 vs v0.22 styles)', async (t) => {
  const { compileModule } = await import('./index.ts');
  const { StackMapIndex } = await import('./stackmaps.ts');
  const image = compileModule(await watModule(`(module
    (import "env" "f" (func $f (param externref)))
    (func $a (param externref externref) (call $f (local.get 1)) (call $f (local.get 0)))
    (func $b (param i32) (result i32) (local i64 i64 i64 i64) (i32.add (local.get 0) (i32.const 1))))`), { arch: 'x64' });
  const index = new StackMapIndex(image);
  const [first, second] = image.stackMaps;
  // Both styles find each call's map from its return address.
  for (const m of [first, second]) {
    t.is(index.exact(m.textReturnOffset), m);
    t.is(index.nearestPreceding(m.textReturnOffset), m);
  }
  t.notDeepEqual(first.bitmap, second.bitmap);
  // A PC that is not a return address: v17 finds nothing...
  const b = image.functions.find((f) => f.name === 'b')!;
  const inB = b.textOffset + 8;
  t.is(index.exact(inB), undefined);
  // ...v0.22 without function-start markers borrows $a's last map for a frame of $b (wrong
  // frame size, wrong slots); with the markers it finds nothing.
  t.is(index.nearestPreceding(inB, { functionStartMarkers: false }), second);
  t.not(second.mappedWords * 8, b.frameSize);
  t.is(index.nearestPreceding(inB), undefined);
  // Between the two calls, nearest-preceding answers with the first call's map.
  const a = image.functions.find((f) => f.name === 'a')!;
  t.is(index.nearestPreceding(a.textOffset + second.site.callOffset - 1), first);
  t.is(index.nearestPreceding(a.textOffset + second.site.callOffset), second);
});
