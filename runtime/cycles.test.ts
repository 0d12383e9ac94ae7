/**
 * The cycle model through the embedding API: an Engine (or Store) with `cycles` counts every
 * entry into Wasm, and `store.cycleReport()` names the Wasm functions that ran.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { CycleModelError, type CycleReport } from '../simulator/timing/cycles.ts';
import { HostUarchError, UnknownUarchError } from '../simulator/timing/model.ts';
import { detectHost } from '../simulator/timing/host.ts';
import { Engine, Func, Instance, Module, Store } from './api.ts';
import { sumLoopWat, sumOfSquares } from './testing.ts';

const LOOP_WAT = sumLoopWat('note');

async function open(engine: Engine, store?: Store): Promise<{ store: Store; instance: Instance; notes: number[] }> {
  const s = store ?? (await Store.create(engine));
  const module = await Module.fromWat(engine, LOOP_WAT, 'loop.wat');
  const notes: number[] = [];
  const note = Func.wrap(s, { params: ['i32'], results: [] }, (_caller, n) => { notes.push(n as number); });
  return { store: s, instance: Instance.create(s, module, [note]), notes };
}

/** The report's invariants against the run: instructions, positive cycles, the stack's sum. */
function checkReport(t: import('ava').ExecutionContext, r: CycleReport | undefined, store: Store, mode: 'fast' | 'detailed'): CycleReport {
  if (!r) throw new Error('no cycle report');
  t.is(r.mode, mode);
  t.is(r.arch, store.engine.arch);
  t.is(BigInt(r.instructions), store.machine.instructionsExecuted(), 'the report covers exactly the instructions the run executed');
  t.true(r.cycles > 0);
  const parts = r.stack.base + r.stack.dependency + r.stack.branch + r.stack.memory;
  t.true(Math.abs(parts - r.cycles) <= 1e-9 * r.cycles, `CPI stack ${parts} vs ${r.cycles}`);
  t.true(Math.abs(r.ipc - r.instructions / r.cycles) < 1e-12);
  return r;
}

for (const arch of ARCHES) {
  for (const mode of ['fast', 'detailed'] as const) {
    test(`${arch} ${mode}: Engine cycles count a Wasm call; hot spots name the Wasm function`, async (t) => {
      const engine = new Engine({ arch, cycles: { mode } });
      const { store, instance, notes } = await open(engine);
      try {
        t.is(instance.getFunc('outer').call(1000), sumOfSquares(1000));
        t.deepEqual(notes, [1000]);
        const r = checkReport(t, store.cycleReport(), store, mode);
        t.is(r.uarch, arch === 'x64' ? 'skylake' : 'neoverse-n2');
        t.true(r.instructions > 4000, `${r.instructions} instructions for 1000 iterations`);
        // The loop is in sum: it is the hottest function and owns the hottest block.
        t.is(r.functions[0].name, 'loop.wat!sum');
        t.true(r.functions[0].share > 0.9, `sum's share ${r.functions[0].share}`);
        t.true(r.functions.some((f) => f.name === 'loop.wat!outer'));
        t.regex(r.blocks[0].symbol ?? '', /^loop\.wat!sum\+0x[0-9a-f]+$/);
        t.true(r.blocks[0].executions >= 1000);
        if (mode === 'detailed') {
          t.truthy(r.branches);
          t.true(r.branches!.conditional >= 1000);
          t.truthy(r.memory, 'caches are on by default');
        } else {
          t.is(r.branches, undefined);
          t.is(r.stack.branch + r.stack.memory, 0);
        }
      } finally {
        store.close();
      }
    });
  }

  test(`${arch}: every entry into Wasm starts from empty counts`, async (t) => {
    const engine = new Engine({ arch, cycles: { mode: 'fast' } });
    const { store, instance } = await open(engine);
    try {
      instance.getFunc('sum').call(1000);
      const big = checkReport(t, store.cycleReport(), store, 'fast');
      instance.getFunc('sum').call(10);
      const small = checkReport(t, store.cycleReport(), store, 'fast');
      t.true(small.instructions < big.instructions / 20, `${small.instructions} vs ${big.instructions}`);
      t.true(small.cycles < big.cycles / 20);
      t.deepEqual(small.functions.map((f) => f.name).filter((n) => n.startsWith('loop.wat!')), ['loop.wat!sum']);
    } finally {
      store.close();
    }
  });
}

for (const arch of ARCHES) {
  for (const mode of ['fast', 'detailed'] as const) {
    test(`${arch} ${mode}: with accumulate, one report adds up every entry until resetCycles()`, async (t) => {
      const engine = new Engine({ arch, cycles: { mode, accumulate: true } });
      const { store, instance } = await open(engine);
      try {
        const sum = instance.getFunc('sum');
        const instructions: bigint[] = [];
        const reports: CycleReport[] = [];
        for (const n of [300, 50, 1000]) {
          t.is(sum.call(n), sumOfSquares(n));
          instructions.push(store.machine.instructionsExecuted());
          reports.push(store.cycleReport()!);
        }
        // Each entry's own count stays per call; the report grows by exactly that much.
        t.true(instructions[2] > instructions[0] && instructions[0] > instructions[1]);
        t.is(BigInt(reports[0].instructions), instructions[0]);
        t.is(BigInt(reports[1].instructions), instructions[0] + instructions[1]);
        t.is(BigInt(reports[2].instructions), instructions[0] + instructions[1] + instructions[2]);
        t.true(reports[2].cycles > reports[1].cycles && reports[1].cycles > reports[0].cycles);
        const total = reports[2];
        t.true(Math.abs(total.stack.base + total.stack.dependency + total.stack.branch + total.stack.memory - total.cycles) <= 1e-9 * total.cycles);
        const loop = total.blocks[0];
        t.regex(loop.symbol ?? '', /^loop\.wat!sum\+0x[0-9a-f]+$/);
        t.true(loop.executions >= 1350, `${loop.executions} executions of the loop over 1350 iterations`);
        if (mode === 'fast') {
          // Static prices: the three calls cost what they cost one by one.
          const single = new Engine({ arch, cycles: { mode } });
          const alone = await open(single);
          let cycles = 0;
          for (const n of [300, 50, 1000]) {
            alone.instance.getFunc('sum').call(n);
            cycles += alone.store.cycleReport()!.cycles;
          }
          alone.store.close();
          t.true(Math.abs(cycles - total.cycles) <= 1e-9 * cycles, `${cycles} one by one vs ${total.cycles} accumulated`);
        }
        store.resetCycles();
        const empty = store.cycleReport()!;
        t.is(empty.instructions, 0);
        t.is(empty.cycles, 0);
        t.is(store.machine.instructionsExecuted(), instructions[2], 'resetCycles leaves the last call\'s count alone');
        sum.call(50);
        t.is(BigInt(store.cycleReport()!.instructions), store.machine.instructionsExecuted());
      } finally {
        store.close();
      }
    });
  }
}

test('resetCycles from inside a host function is a MachineError', async (t) => {
  const engine = new Engine({ arch: 'x64', cycles: { mode: 'fast', accumulate: true } });
  const store = await Store.create(engine);
  const module = await Module.fromWat(engine, LOOP_WAT, 'loop.wat');
  const note = Func.wrap(store, { params: ['i32'], results: [] }, () => store.resetCycles());
  const instance = Instance.create(store, module, [note]);
  try {
    t.throws(() => instance.getFunc('outer').call(3), { message: /resetCycles\(\) while guest code runs/ });
  } finally {
    store.close();
  }
});

test('a store may override the engine: its own model, or none', async (t) => {
  const plain = new Engine({ arch: 'aarch64' });
  const counted = await open(plain, await Store.create(plain, { cycles: { mode: 'fast', uarch: 'a72' } }));
  const uncounted = await open(plain);
  const withModel = new Engine({ arch: 'x64', cycles: { mode: 'detailed', uarch: 'zen3', caches: false } });
  const off = await open(withModel, await Store.create(withModel, { cycles: { mode: 'off' } }));
  const inherited = await open(withModel);
  try {
    counted.instance.getFunc('sum').call(100);
    t.is(checkReport(t, counted.store.cycleReport(), counted.store, 'fast').uarch, 'cortex-a72');
    uncounted.instance.getFunc('sum').call(100);
    t.is(uncounted.store.cycleReport(), undefined);
    off.instance.getFunc('sum').call(100);
    t.is(off.store.cycleReport(), undefined);
    inherited.instance.getFunc('sum').call(100);
    const r = checkReport(t, inherited.store.cycleReport(), inherited.store, 'detailed');
    t.is(r.uarch, 'znver3');
    t.is(r.memory, undefined, 'caches: false');
    t.is(r.functions[0].name, 'loop.wat!sum');
  } finally {
    for (const s of [counted, uncounted, off, inherited]) s.store.close();
  }
});

test('bad cycle options are typed errors where they are given', async (t) => {
  const cases: Array<[Arch, unknown, new (...a: never[]) => Error, RegExp]> = [
    ['x64', { mode: 'fast', uarch: 'pentium' }, UnknownUarchError, /unknown microarchitecture 'pentium'/],
    ['x64', { mode: 'fast', uarch: 'a72' }, CycleModelError, /a72: models aarch64, the engine is x64/],
    ['aarch64', { mode: 'detailed', uarch: 'skylake' }, CycleModelError, /skylake: models x64, the engine is aarch64/],
    ['x64', { mode: 'slow' }, CycleModelError, /unknown cycle mode "slow"/],
    ['x64', { mode: 'fast', accumulate: 'yes' }, CycleModelError, /cycles\.accumulate must be a boolean \(got "yes"\)/],
  ];
  // `host` names this machine's table: a typed error for code of the other arch.
  const host = detectHost();
  if (host.arch !== undefined && host.uarch !== undefined) {
    cases.push([host.arch === 'x64' ? 'aarch64' : 'x64', { mode: 'fast', uarch: 'host' }, HostUarchError, /uarch 'host': this host is/]);
  }
  for (const [arch, cycles, type, message] of cases) {
    t.throws(() => new Engine({ arch, cycles: cycles as never }), { instanceOf: type, message });
    const engine = new Engine({ arch });
    await t.throwsAsync(Store.create(engine, { cycles: cycles as never }), { instanceOf: type, message });
  }
});
