/**
 * GC scenarios through the embedding API (issue 6 item 8), on both arches. Each program is a
 * .wat file in testdata/gc/; the tests drive it through Engine/Store/Module/Instance/Func and
 * check what the collector saw (GcReport and its explanation) and, after every scenario, that
 * each live handle's strongCount() equals its non-stack holders (host handles, Wasm tables,
 * globals) once a GC with no Wasm on the stack has emptied the activations table.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Engine, Store, Module, Instance, Func, ExternRef } from '../index.ts';
import type { GcReport } from '../gc/collector.ts';
import { GcInvariantError } from '../gc/errors.ts';
import type { ModuleStackMapsInput } from '../gc/stackmap-registry.ts';
import { storeInternals } from './store.ts';
import { ARCHES } from './testing.ts';
import type { Arch } from '../isa/arch.ts';

function wat(name: string): string {
  return readFileSync(fileURLToPath(new URL(`./testdata/gc/${name}.wat`, import.meta.url)), 'utf8');
}

async function setup(arch: Arch, program: string): Promise<{ engine: Engine; store: Store; module: Module }> {
  const engine = new Engine({ arch, maxWasmStack: 256 * 1024 });
  const store = await Store.create(engine);
  return { engine, store, module: await Module.fromWat(engine, wat(program), program) };
}

/** Records every collection the store's collector runs (host, store.gc and table-full ones). */
function recordCollections(store: Store): GcReport[] {
  const reports: GcReport[] = [];
  const collector = store.collector;
  const collect = collector.collect.bind(collector);
  collector.collect = (options) => {
    const r = collect(options);
    reports.push(r);
    return r;
  };
  return reports;
}

const noResults = { params: [], results: [] };

for (const arch of ARCHES) {
  test(`${arch}: recursion: refs held only by frames survive GCs at every depth`, async (t) => {
    const { store, module } = await setup(arch, 'recursion');
    const LEVELS = 8;
    const destroyed: string[] = [];
    const checked: Array<[number, unknown]> = [];
    const reports: GcReport[] = [];
    const make = Func.wrap(store, { params: ['i32'], results: ['externref'] }, (_c, n) =>
      ExternRef.new(store, `level ${n}`, (v) => destroyed.push(v as string)));
    const gc = Func.wrap(store, noResults, (caller) => {
      reports.push(caller.gc({ explain: true }));
    });
    const check = Func.wrap(store, { params: ['externref', 'i32'], results: [] }, (_c, r, n) => {
      checked.push([n as number, (r as ExternRef).value]);
    });
    const inst = Instance.create(store, module, [make, gc, check]);
    t.is(inst.getFunc('deep').call(LEVELS - 1), LEVELS - 1);
    // One GC at the bottom (LEVELS frames) and one per level on the way up.
    t.is(reports.length, LEVELS);
    reports.forEach((r, i) => {
      t.is(r.frames, LEVELS - i, `GC ${i}`);
      t.is(r.activations, 1);
      t.is(r.roots, LEVELS - i, `GC ${i}: every frame still on the stack holds its ref`);
      t.true(r.swept);
      const e = r.explanation!;
      t.is(e.frames.length, LEVELS - i);
      t.true(e.frames.every((f) => f.functionName !== undefined && f.map !== undefined));
      t.deepEqual(new Set(e.roots.map((x) => x.value)), new Set(Array.from({ length: LEVELS - i }, (_, k) => JSON.stringify(`level ${k + i}`))));
    });
    // The first GC frees nothing (every ref is in a frame); from the second on, each GC frees
    // the ref of the level that returned just before it.
    t.is(reports[0].freedCount, 0);
    for (let i = 1; i < LEVELS; i++) t.deepEqual(reports[i].freed.map((f) => f.value), [`level ${i - 1}`]);
    t.deepEqual(checked, Array.from({ length: LEVELS }, (_, n) => [n, `level ${n}`]));
    // The top level's ref was held by its frame (and the table) until the call returned.
    t.deepEqual(destroyed, Array.from({ length: LEVELS - 1 }, (_, n) => `level ${n}`));
    const after = store.gc({ explain: true });
    t.is(after.frames, 0);
    t.deepEqual(after.explanation!.freed.map((f) => f.value), [JSON.stringify(`level ${LEVELS - 1}`)]);
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: thousands of refs passed in and dropped; a full table collects from compiled code`, async (t) => {
    const { store, module } = await setup(arch, 'churn');
    const reports = recordCollections(store);
    const inst = Instance.create(store, module);
    const keepLast = inst.getFunc('keep_last');
    const N = 3000;
    let destroyed = 0;
    let last!: ExternRef;
    for (let i = 0; i < N; i++) {
      const r = ExternRef.new(store, i, () => destroyed++);
      keepLast.call(r);
      if (i === N - 1) last = r;
      else r.release();
    }
    // As in wasmtime, passing in collects first whenever the argument would not fit in the
    // table's bump chunk (empty until the first sweep, then 512 slots): the global and the
    // table slot dropped every older ref, so only the last chunk's worth is still held.
    const chunk = storeInternals(store).activationsTable.chunkLength;
    t.true(reports.length >= Math.floor(N / chunk), `${reports.length} collections before entry`);
    t.true(reports.every((r) => r.reason === 'table-full' && r.swept && r.frames === 0));
    t.true(destroyed >= N - 1 - chunk, `${destroyed} destroyed`);
    t.true(storeInternals(store).externRefHeap.liveCount <= chunk + 1);
    const before = reports.length;
    const destroyedBefore = destroyed;
    const ROUNDS = 1100;
    t.is(inst.getFunc('churn').call(ROUNDS), ROUNDS);
    const full = reports.slice(before).filter((r) => r.reason === 'table-full');
    // Two clones per round fill the 512-slot chunk about every 256 rounds.
    t.true(full.length >= Math.floor((2 * ROUNDS) / 512), `${full.length} table-full collections`);
    t.true(full.every((r) => r.swept && r.frames === 1 && r.framesWithMaps === 1));
    t.is(full[0].freedCount, N - 1 - destroyedBefore, 'the first table-full GC from compiled code freed every dropped argument left');
    t.is(destroyed, N - 1);
    store.gc();
    // Holders of the last ref: our handle, the global and the table slot.
    t.is(last.strongCount(), 3);
    t.is(storeInternals(store).externRefHeap.liveCount, 1);
    last.release();
    store.close();
  });

  test(`${arch}: 1,000 live refs in one frame survive a GC inside a host call`, async (t) => {
    const { store, module } = await setup(arch, 'many-locals');
    const N = 1000;
    let inst!: Instance;
    let report!: GcReport;
    const gc = Func.wrap(store, noResults, (caller) => {
      const tab = inst.getTable('tab');
      for (let i = 0; i < N; i++) tab.set(i, null); // now only the frame's locals hold them
      report = caller.gc({ explain: true });
    });
    const wrong: number[] = [];
    const check = Func.wrap(store, { params: ['externref', 'i32'], results: [] }, (_c, r, i) => {
      if ((r as ExternRef | null)?.value !== `ref ${i}`) wrong.push(i as number);
    });
    inst = Instance.create(store, module, [gc, check]);
    const tab = inst.getTable('tab');
    const handles = Array.from({ length: N }, (_, i) => ExternRef.new(store, `ref ${i}`));
    handles.forEach((h, i) => tab.set(i, h));
    handles.slice(0, N / 2).forEach((h) => h.release()); // keep host handles on half of them
    t.is(inst.getFunc('many').call(), N);
    t.deepEqual(wrong, []);
    t.is(report.frames, 1);
    t.is(report.roots, N);
    t.true(report.slotsScanned >= N);
    t.is(report.freedCount, 0);
    const frame = report.explanation!.frames[0];
    t.true(frame.map!.mappedWords >= N);
    t.is(frame.map!.words.filter((w) => w.isRef && w.value !== 0n).length, N);
    t.true(frame.map!.words.filter((w) => w.isRef && w.value !== 0n).every((w) => w.inTable === true));
    const after = store.gc({ explain: true });
    t.is(after.freedCount, N / 2);
    t.deepEqual(new Set(after.freed.map((f) => f.value)), new Set(Array.from({ length: N / 2 }, (_, i) => `ref ${i}`)));
    for (const h of handles.slice(N / 2)) t.is(h.strongCount(), 1);
    for (const h of handles) h.release();
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: table and global slots keep refs alive and release them on overwrite`, async (t) => {
    const { store, module } = await setup(arch, 'slots');
    const inst = Instance.create(store, module);
    const destroyed: unknown[] = [];
    const r1 = ExternRef.new(store, 'r1', (v) => destroyed.push(v));
    const r2 = ExternRef.new(store, 'r2', (v) => destroyed.push(v));
    inst.getFunc('put').call(0, r1);
    store.gc();
    t.is(r1.strongCount(), 3, 'host + table slot + global');
    r1.release();
    store.gc();
    t.deepEqual(destroyed, [], 'the slots keep it alive with no host handle');
    const got = inst.getFunc('get').call(0) as ExternRef;
    t.is(got.value, 'r1');
    got.release();
    store.gc(); // table.get put a clone in the activations table; only the slots hold r1 now
    t.deepEqual(destroyed, []);
    // Compiled table.set drops r1's table count; compiled global.set drops the last one, and
    // drop_externref runs the destructor right there.
    inst.getFunc('put_table').call(0, r2);
    t.deepEqual(destroyed, []);
    inst.getFunc('put_global').call(r2);
    t.deepEqual(destroyed, ['r1']);
    store.gc();
    t.is(r2.strongCount(), 3);
    // The host API's overwrites release too.
    inst.getTable('tab').set(0, null);
    inst.getGlobal('g').set(null);
    t.is(r2.strongCount(), 1);
    r2.release();
    t.deepEqual(destroyed, ['r1', 'r2']);
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: a destructor re-enters Wasm during a sweep; GC inside GC returns early`, async (t) => {
    const { store, module } = await setup(arch, 'reenter');
    const reports = recordCollections(store);
    let inst!: Instance;
    const innerReports: GcReport[] = [];
    let depth = 0;
    const gc = Func.wrap(store, noResults, (caller) => {
      depth++;
      try {
        innerReports.push(caller.gc({ explain: true }));
      } finally {
        depth--;
      }
    });
    inst = Instance.create(store, module, [gc]);
    const keeper = ExternRef.new(store, 'keeper');
    inst.getFunc('stash').call(1, keeper); // table slot 1 holds keeper
    const events: string[] = [];
    let heldBack: ExternRef | null = null;
    const victim = ExternRef.new(store, 'victim', () => {
      events.push(`destructor (gc in progress: ${storeInternals(store).activationsTable.gcInProgress})`);
      // Re-enter Wasm from inside the sweep: the argument goes into the table (the hash set, as
      // the chunk is being swept), the callee's env.gc asks for a GC inside this GC, and
      // read_many fills the chunk so compiled code takes the insert_with_gc libcall.
      const fresh = ExternRef.new(store, 'made in destructor');
      heldBack = inst.getFunc('hold').call(fresh) as ExternRef;
      fresh.release();
      t.is(inst.getFunc('read_many').call(1, 600), 600);
      events.push('destructor done');
    });
    const victimPtr = victim.pointer;
    inst.getFunc('stash').call(0, victim);
    victim.release();
    inst.getFunc('clear').call(0); // the table slot's count goes; the activations table's remains
    t.true(storeInternals(store).externRefHeap.isLive(victimPtr));
    const outer = store.gc({ explain: true });
    t.deepEqual(events, ['destructor (gc in progress: true)', 'destructor done']);
    t.is(outer.skipped, undefined);
    t.deepEqual(outer.freed.map((f) => f.value), ['victim']);
    // The nested collections: the one env.gc asked for and the table-full ones from the libcall.
    t.is(innerReports.length, 1);
    t.is(innerReports[0].skipped, 'reentrant');
    const nested = reports.filter((r) => r.skipped === 'reentrant');
    t.true(nested.some((r) => r.reason === 'table-full'), 'the libcall collection inside the sweep returned early');
    t.is(depth, 0);
    t.is((heldBack as ExternRef | null)?.value, 'made in destructor');
    // Everything the re-entrant calls put in the table survives until a later GC with no Wasm.
    store.gc();
    t.is((heldBack as unknown as ExternRef).strongCount(), 1);
    (heldBack as unknown as ExternRef).release();
    t.is(keeper.strongCount(), 2, 'host + table slot 1');
    keeper.release();
    t.is(storeInternals(store).externRefHeap.liveCount, 1);
    inst.getFunc('clear').call(1); // compiled table.set drops keeper's last count: freed at once
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: refs passed as arguments through several frames are found in each`, async (t) => {
    const { store, module } = await setup(arch, 'args');
    let a!: ExternRef | null;
    let b!: ExternRef | null;
    let report!: GcReport;
    const checks: Array<[number, unknown, unknown]> = [];
    const gc = Func.wrap(store, noResults, (caller) => {
      // Drop the host's handles: only the three frames (and the activations table) hold them.
      a!.release();
      b!.release();
      a = b = null;
      report = caller.gc({ explain: true });
      caller.gc(); // a second GC sees only the precise set of the first
    });
    const check = Func.wrap(store, { params: ['externref', 'externref', 'i32'], results: [] }, (_c, x, y, level) => {
      checks.push([level as number, (x as ExternRef).value, (y as ExternRef).value]);
    });
    const inst = Instance.create(store, module, [gc, check]);
    a = ExternRef.new(store, { name: 'a' });
    b = ExternRef.new(store, { name: 'b' });
    const result = inst.getFunc('f1').call(a, b) as ExternRef;
    t.deepEqual(result.value, { name: 'b' });
    t.deepEqual(checks, [3, 2, 1].map((l) => [l, { name: 'a' }, { name: 'b' }]));
    t.is(report.frames, 3);
    t.is(report.framesWithMaps, 3);
    t.is(report.roots, 2);
    t.is(report.freedCount, 0);
    const e = report.explanation!;
    t.deepEqual(e.frames.map((f) => f.index), [0, 1, 2]);
    for (const root of e.roots) {
      t.deepEqual(new Set(root.sites.map((s) => s.frame)), new Set([0, 1, 2]), `${root.value} is in every frame`);
      t.is(root.countAfter, 1, 'held only by the new over-approximated set');
    }
    t.deepEqual(new Set(e.roots.map((r) => r.value)), new Set(['{"name":"a"}', '{"name":"b"}']));
    // Frames: each FP is above the previous, each frame size is the map's words.
    for (let i = 1; i < e.frames.length; i++) t.true(e.frames[i].fp > e.frames[i - 1].fp);
    for (const f of e.frames) t.is(f.frameSize, f.map!.mappedWords * 8);
    const after = store.gc({ explain: true });
    t.deepEqual(after.freed.map((f) => f.value), [{ name: 'a' }]);
    t.is(result.strongCount(), 1);
    result.release();
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });
}

/**
 * The negative scenario: `mixed(a, x, b)` holds two refs and an i64 across env.gc. One run
 * with the real map finds which frame word holds x; each corruption of the registered map then
 * makes a marked bit read x, and the collection must throw GcInvariantError naming it while
 * every count stays as it was.
 */
for (const arch of ARCHES) {
  const X = 0x1235n;
  const corruptions: Array<[string, (m: ModuleStackMapsInput, xWord: number) => void]> = [
    ['one flipped bit', (m, xWord) => {
      for (const f of m.functions) for (const map of f.maps) map.bits = Uint32Array.from(map.bits, (w, i) => (i === xWord >> 5 ? (w ^ (1 << (xWord & 31))) >>> 0 : w));
    }],
    ['frame size one word too large', (m) => {
      for (const f of m.functions) for (const map of f.maps) map.mappedWords += 1;
    }],
    ['frame size one word too small', (m) => {
      for (const f of m.functions) for (const map of f.maps) map.mappedWords -= 1;
    }],
  ];

  async function runMixed(t: ExecutionContext, corrupt?: (m: ModuleStackMapsInput) => void) {
    const { store, module } = await setup(arch, 'corrupt');
    let report: GcReport | undefined;
    let error: unknown;
    const gc = Func.wrap(store, noResults, (caller) => {
      try {
        report = caller.gc({ explain: true });
      } catch (e) {
        error = e;
      }
    });
    const inst = Instance.create(store, module, [gc]);
    if (corrupt) {
      // Re-register the module's maps, corrupted, through the store's registry.
      const textBase = store.textBaseOf(module)!;
      const maps = module.code.stackMaps('corrupt', textBase);
      corrupt(maps);
      t.true(store.stackMaps.unregister(textBase));
      store.stackMaps.register(maps);
    }
    const a = ExternRef.new(store, 'a');
    const b = ExternRef.new(store, 'b');
    const result = inst.getFunc('mixed').call(a, X, b);
    return { store, a, b, result, report, error };
  }
  test(`${arch}: negative: corrupted stack maps fail loudly with GcInvariantError and free nothing`, async (t) => {
    const clean = await runMixed(t);
    t.is(clean.result, X);
    t.is(clean.error, undefined);
    t.is(clean.report!.roots, 2);
    const words = clean.report!.explanation!.frames[0].map!.words;
    const xWord = words.findIndex((w) => w.value === X);
    t.true(xWord >= 0 && !words[xWord].isRef, 'x sits in an unmarked word of the frame');
    clean.store.gc();
    t.is(clean.a.strongCount(), 1);
    clean.store.close();
    let failed = 0;
    for (const [name, corrupt] of corruptions) {
      // Which words the corrupted map's marked bits read (relative to the real SP).
      const marked = words.map((w, i) => (w.isRef ? i : -1)).filter((i) => i >= 0);
      const shift = name.includes('large') ? -1 : name.includes('small') ? 1 : 0;
      const reads = name.includes('flipped') ? [...marked, xWord] : marked.map((i) => i + shift);
      const expectFailure = reads.includes(xWord);
      const run = await runMixed(t, (m) => corrupt(m, xWord));
      if (expectFailure) {
        failed++;
        t.true(run.error instanceof GcInvariantError, `${name}: ${String(run.error)}`);
        const err = run.error as GcInvariantError;
        t.is(err.check, 'root-not-in-table', name);
        t.is(err.value, X, name);
        t.regex(err.message, /GC invariant root-not-in-table: value 0x1235 in /);
        t.is(err.where!.frame, 0);
        t.is(run.report, undefined);
      }
      t.is(run.result, X);
      // Nothing was freed while the frame held a and b; counts are the host's + the table's.
      t.true(storeInternals(run.store).externRefHeap.isLive(run.a.pointer) && storeInternals(run.store).externRefHeap.isLive(run.b.pointer));
      t.is(run.a.strongCount(), 2, name);
      t.is(run.b.strongCount(), 2, name);
      run.store.stackMaps.unregister(storeInternals(run.store).placed.values().next().value!.textBase); // no Wasm runs any more
      run.store.gc();
      t.is(run.a.strongCount(), 1);
      run.a.release();
      run.b.release();
      t.is(storeInternals(run.store).externRefHeap.liveCount, 0);
      run.store.close();
    }
    t.true(failed >= 2, `${failed} of the corruptions named x`);
  });
}
