/**
 * The collector over frames the compiler generated (compiler/testing.ts builds the VMContext
 * by hand; these tests point its activations-table slot at gc/'s table and run real
 * collections from inside imported host functions and builtins). The full runtime scenarios
 * (issue 6 item 8) live with the runtime.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import type { HostCall, HostFunction } from '../simulator/machine.ts';
import { VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';
import { compileModule } from '../compiler/index.ts';
import { instantiateImage, watModule, type TestInstance } from '../compiler/testing.ts';
import { assemble } from '../simulator/testing/asm.ts';
import { ExternRefHeap } from './externref.ts';
import { ActivationsTable } from './activations.ts';
import { StackMapRegistry, type ModuleStackMapsInput } from './stackmap-registry.ts';
import { GcInvariantError } from './errors.ts';
import { Collector, type GcReport } from './collector.ts';
import { stackMapsFromCompiledImage } from './image-stackmaps.ts';
import { writeRuntimeLimits } from './walk.ts';
import { Machine } from '../simulator/machine.ts';

/** entry(limits, target, a, b, c, d): stores its SP as last_wasm_entry_sp, calls target(a, b, c, d). */
const ENTRY: Record<Arch, string> = {
  x64: `push rbp\nmov rbp, rsp\nmov [rdi + ${VMRuntimeLimitsLayout.lastWasmEntrySp}], rsp\nmov rax, rsi\nmov rdi, rdx\nmov rsi, rcx\nmov rdx, r8\nmov rcx, r9\ncall rax\npop rbp\nret`,
  aarch64: `stp x29, x30, [sp, #-16]!\nmov x29, sp\nmov x9, sp\nstr x9, [x0, #${VMRuntimeLimitsLayout.lastWasmEntrySp}]\nmov x9, x1\nmov x0, x2\nmov x1, x3\nmov x2, x4\nmov x3, x5\nblr x9\nldp x29, x30, [sp], #16\nret`,
};

const WAT = `(module
  (import "env" "gc" (func $gc))
  (table $t 4 externref)
  (func (export "hold") (param $a externref) (param $b externref) (result externref)
    call $gc
    local.get $b
    drop
    local.get $a)
  (func (export "roundtrip") (param $r externref) (param $i i32) (result externref)
    (table.set $t (local.get $i) (local.get $r))
    (table.get $t (local.get $i)))
  (func (export "setslot") (param $r externref) (param $i i32)
    (table.set $t (local.get $i) (local.get $r))))`;

const MIXED = `(module
  (import "env" "gc" (func $gc))
  (func (export "mixed") (param $a externref) (param $x i64) (param $b externref) (result i64)
    call $gc
    (drop (local.get $a))
    (drop (local.get $b))
    local.get $x))`;

interface Setup {
  inst: TestInstance;
  heap: ExternRefHeap;
  table: ActivationsTable;
  collector: Collector;
  limits: bigint;
  entry: bigint;
  reports: GcReport[];
}

async function setup(
  arch: Arch, onGc: (s: Setup) => void, wat = WAT, onCheck?: (ref: bigint) => void,
  mutateMaps?: (maps: ModuleStackMapsInput) => void,
): Promise<Setup> {
  const module = await watModule(wat);
  const image = compileModule(module, { arch });
  const machine = await Machine.create({ arch });
  let s!: Setup;
  const exit = (call: HostCall) => writeRuntimeLimits(machine, s.limits, { exitFp: call.fp, exitPc: call.returnAddress });
  const gcImport: HostFunction = (_args, call) => {
    exit(call);
    onGc(s);
  };
  const inst = instantiateImage(machine, module, image, {
    functions: new Map<number, HostFunction>([[0, gcImport], [1, ([, , ref]) => onCheck?.(ref)]]),
    builtins: {
      activations_table_insert_with_gc: ([, ref], call) => {
        exit(call); // what the libcall stub does before entering the host
        s.collector.libcallInsertWithGc(ref);
      },
      drop_externref: ([, ref]) => s.heap.dropAndDealloc(ref),
    },
  });
  const heap = new ExternRefHeap(machine);
  const table = new ActivationsTable(machine, heap);
  machine.writeU64(inst.vmctx + BigInt(image.offsets.vmctxExternrefActivationsTable()), table.address);
  const limits = machine.readU64(inst.vmctx + BigInt(image.offsets.vmctxRuntimeLimits()));
  const registry = new StackMapRegistry();
  const maps = stackMapsFromCompiledImage('wat', inst.textBase, image);
  mutateMaps?.(maps);
  registry.register(maps);
  const reports: GcReport[] = [];
  const collector = new Collector({ machine, heap, table, registry, walk: { kind: 'v17', limits }, onCollect: (r) => reports.push(r) });
  const text = machine.map('entry-trampoline', 4096, PROT_READ | PROT_EXEC);
  machine.writeBytes(text.address, assemble(arch, ENTRY[arch]));
  s = { inst, heap, table, collector, limits, entry: text.address, reports };
  return s;
}

/** Calls an exported function through the entry trampoline, restoring the limits afterwards. */
function invoke(s: Setup, funcIndex: number, args: bigint[]): bigint {
  const result = s.inst.machine.call(s.entry, [s.limits, s.inst.functionAddress(funcIndex), s.inst.vmctx, s.inst.vmctx, ...args]);
  writeRuntimeLimits(s.inst.machine, s.limits, { exitPc: 0n, exitFp: 0n, entrySp: 0n });
  return result;
}

for (const arch of ARCHES) {
  test(`${arch}: compiled frames: arguments held across a host call are roots; table-only refs are freed`, async (t) => {
    let report: GcReport | undefined;
    const s = await setup(arch, (x) => {
      report = x.collector.collect({ explain: true });
    });
    const a = s.heap.allocate('a');
    const b = s.heap.allocate('b');
    const freed: unknown[] = [];
    const garbage = s.heap.allocate('garbage', (v) => freed.push(v));
    // Passing refs into Wasm moves a count into the activations table (v17).
    s.table.insertWithoutGc(s.heap.clone(a));
    s.table.insertWithoutGc(s.heap.clone(b));
    s.table.insertWithoutGc(garbage);
    const result = invoke(s, 1, [a, b]);
    t.is(result, a);
    t.is(report!.frames, 1);
    t.is(report!.framesWithMaps, 1);
    t.is(report!.roots, 2, JSON.stringify(report!.explanation?.frames[0].map?.bits));
    t.deepEqual(freed, ['garbage']);
    const frame = report!.explanation!.frames[0];
    t.is(frame.functionName, s.inst.image.functions.find((f) => f.funcIndex === 1)!.name);
    t.is(frame.frameSize, s.inst.image.functions.find((f) => f.funcIndex === 1)!.frameSize);
    t.is(s.heap.strongCount(a), 2);
    // Back in the host with no Wasm on the stack, a GC leaves only the host's counts.
    s.collector.collect();
    t.is(s.heap.strongCount(a), 1);
    t.is(s.heap.strongCount(b), 1);
    s.inst.machine.close();
  });

  test(`${arch}: compiled table.get inserts into gc/'s activations table; filling it GCs through the libcall`, async (t) => {
    const s = await setup(arch, () => {});
    const r = s.heap.allocate('kept');
    s.table.insertWithoutGc(s.heap.clone(r));
    for (let i = 0; i < 1100; i++) t.is(invoke(s, 2, [r, BigInt(i % 4)]), r);
    // table.get cloned r into the bump chunk on every call; the lazy chunk made the first one
    // take the libcall; every 512 more filled it and collected.
    t.true(s.reports.length >= 2, `${s.reports.length} collections`);
    t.is(s.reports[0].reason, 'table-full');
    t.true(s.reports.every((x) => x.swept));
    // Holders now: the host, the four Wasm table slots, and the activations table (bump slots
    // since the last GC, plus at most one over-approximated entry).
    const inTable = s.table.elements().filter((e) => e === Number(r)).length;
    t.is(s.heap.strongCount(r), 1 + 4 + inTable);
    s.collector.collect();
    t.is(s.heap.strongCount(r), 1 + 4);
    s.inst.machine.close();
  });
}

for (const arch of ARCHES) {
  // `mixed` keeps a, x and b live across the call; its map marks words 1 and 3 (a and b) and
  // x sits in word 2 (checked below), so each corruption makes a marked bit read x.
  const corruptions: Array<[string, (m: ModuleStackMapsInput) => void]> = [
    ['bit 2 flipped on', (m) => {
      for (const map of m.functions[0].maps) map.bits = Uint32Array.from([map.bits[0] | 4]);
    }],
    ['frame size one word too large', (m) => {
      for (const map of m.functions[0].maps) map.mappedWords += 1;
    }],
    ['frame size one word too small', (m) => {
      for (const map of m.functions[0].maps) map.mappedWords -= 1;
    }],
  ];
  for (const [name, mutate] of corruptions) {
    test(`${arch}: compiled frames, negative: ${name} fails loudly and frees nothing`, async (t) => {
      let error: unknown;
      let layoutChecked = false;
      const s = await setup(arch, (x) => {
        try {
          x.collector.collect();
        } catch (e) {
          error = e;
        }
      }, MIXED, undefined, (maps) => {
        const map = maps.functions[0].maps[0];
        layoutChecked = map.mappedWords === 6 && map.bits[0] === 0b1010;
        mutate(maps);
      });
      const a = s.heap.allocate('a');
      const b = s.heap.allocate('b');
      s.table.insertWithoutGc(a); // the only counts are the table's
      s.table.insertWithoutGc(b);
      t.true(layoutChecked);
      t.is(invoke(s, 1, [a, 0x1235n, b]), 0x1235n);
      t.true(error instanceof GcInvariantError, String(error));
      t.is((error as GcInvariantError).check, 'root-not-in-table');
      t.is((error as GcInvariantError).value, 0x1235n);
      t.true(s.heap.isLive(a) && s.heap.isLive(b));
      t.is(s.heap.strongCount(a), 1);
      s.inst.machine.close();
    });
  }

  test(`${arch}: compiled frames: a shift onto null words escapes the v17 check but not the strict conservative check`, async (t) => {
    // hold's map marks words 1 and 2 (a, b); words 0 and 3..5 are null. One word too few moves
    // bit 1 onto b and bit 2 onto a null: a is missed, and the table's count is its only one.
    const run = async (strict: boolean) => {
      let error: unknown;
      const s = await setup(arch, (x) => {
        try {
          x.collector.collect();
        } catch (e) {
          error = e;
        }
      }, WAT, undefined, (maps) => {
        for (const map of maps.functions[0].maps) map.mappedWords -= 1;
      });
      if (strict) s.collector.conservativeCheck = 'strict';
      const a = s.heap.allocate('a');
      const b = s.heap.allocate('b');
      s.table.insertWithoutGc(a);
      s.table.insertWithoutGc(b);
      invoke(s, 1, [a, b]);
      const aSurvived = s.heap.isLive(a);
      s.inst.machine.close();
      return { error, aSurvived };
    };
    const lax = await run(false);
    t.is(lax.error, undefined);
    t.false(lax.aSurvived); // freed while its frame still held it: what the debug check cannot see
    const strict = await run(true);
    t.is((strict.error as GcInvariantError).check, 'missed-root');
    t.true(strict.aSurvived);
  });

  test(`${arch}: compiled table.set releases the overwritten ref; at zero drop_externref runs its destructor`, async (t) => {
    const s = await setup(arch, () => {});
    const destroyed: unknown[] = [];
    const r1 = s.heap.allocate('r1', (v) => destroyed.push(v));
    const r2 = s.heap.allocate('r2', (v) => destroyed.push(v));
    // Passing a ref into Wasm moves the host's count into the activations table.
    s.table.insertWithoutGc(r1);
    t.is(invoke(s, 2, [r1, 0n]), r1); // table slot 0 = r1; table.get cloned it into the chunk
    s.collector.collect(); // no Wasm on the stack: only the Wasm table's count is left
    t.is(s.heap.strongCount(r1), 1);
    s.table.insertWithoutGc(r2);
    invoke(s, 3, [r2, 0n]); // overwrite slot 0: compiled code brings r1 to 0 and calls drop_externref
    t.deepEqual(destroyed, ['r1']);
    t.false(s.heap.isLive(r1));
    t.is(s.heap.strongCount(r2), 2); // the Wasm table's and the activations table's
    s.collector.collect();
    t.is(s.heap.strongCount(r2), 1);
    s.inst.machine.close();
  });
}

/** Each recursion level takes its own ref out of a Wasm table (compiled inline insertion into
 * the activations table), holds it across the recursive call, and hands it to $check after. */
const DEEP = `(module
  (import "env" "gc" (func $gc))
  (import "env" "check" (func $check (param externref)))
  (table $t 16 externref)
  (func $deep (export "deep") (param $n i32) (result i32)
    (local $mine externref)
    (local.set $mine (table.get $t (local.get $n)))
    (if (i32.eqz (local.get $n))
      (then (call $gc))
      (else (drop (call $deep (i32.sub (local.get $n) (i32.const 1))))))
    (call $check (local.get $mine))
    (local.get $n)))`;

for (const arch of ARCHES) {
  test(`${arch}: compiled recursion: refs held only by frames (several deep) survive a GC at the bottom`, async (t) => {
    const LEVELS = 10;
    let report: GcReport | undefined;
    const checked: unknown[] = [];
    let s!: Setup;
    let refs: bigint[] = [];
    s = await setup(arch, (x) => {
      // Empty the Wasm table: now only the frames (and the activations table) hold the refs.
      const base = x.inst.tableBases[0];
      for (let i = 0; i < LEVELS; i++) {
        x.heap.drop(x.inst.machine.readU64(base + BigInt(8 * i)));
        x.inst.machine.writeU64(base + BigInt(8 * i), 0n);
      }
      x.collector.collect(); // twice: the second sees only the precise set from the first
      report = x.collector.collect({ explain: true });
    }, DEEP, (ref) => checked.push(s.heap.isLive(ref) ? s.heap.value(ref) : 'FREED'));
    const base = s.inst.tableBases[0];
    refs = Array.from({ length: LEVELS }, (_, i) => s.heap.allocate(`level${i}`));
    refs.forEach((r, i) => s.inst.machine.writeU64(base + BigInt(8 * i), r)); // the table's count is the allocation's
    t.is(invoke(s, 2, [BigInt(LEVELS - 1)]), BigInt(LEVELS - 1)); // $deep is function 2 of its module
    t.is(report!.frames, LEVELS);
    t.is(report!.roots, LEVELS);
    t.is(report!.freedCount, 0);
    t.deepEqual(checked, Array.from({ length: LEVELS }, (_, i) => `level${i}`));
    // Back in the host: nothing holds them any more.
    s.collector.collect();
    t.is(s.heap.liveCount, 0);
    s.inst.machine.close();
  });
}
