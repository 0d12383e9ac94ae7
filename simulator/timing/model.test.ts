import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';
import { KERNEL_GOLDENS, type KernelGolden } from './testing/kernel-goldens.ts';
import { disassemble, type DecodedInsn } from './disasm.ts';
import {
  BlockCostError,
  DEFAULT_ENTRY,
  UARCH_NAMES,
  loadTimingModels,
  UnknownUarchError,
  branchTarget,
  loopRunCycles,
  parseUarch,
  timingModel,
  type BlockInstruction,
  type UarchName,
} from './model.ts';

await loadTimingModels();

const BASE = 0x10000n;

async function kernelBlock(k: KernelGolden): Promise<DecodedInsn[]> {
  return disassemble(k.arch, Uint8Array.from(Buffer.from(k.bytes, 'hex')), BASE);
}

interface Score {
  readonly mape: number;
  readonly worst: number;
  readonly worstKernel: string;
  readonly count: number;
}

/**
 * Model vs llvm-mca goldens for one uarch: per-iteration cycles of the 100-iteration run, and
 * steady state. Priced without the core's mechanisms (llvm-mca has none of them).
 */
async function score(uarch: UarchName, steady: boolean): Promise<Score> {
  const model = timingModel(uarch);
  let sum = 0;
  let worst = 0;
  let worstKernel = '';
  let count = 0;
  for (const k of KERNEL_GOLDENS) {
    if (k.arch !== model.arch) continue;
    const cost = model.blockCost(await kernelBlock(k), { mechanisms: false });
    const total = k.totalCycles[uarch]!;
    const golden = steady ? (k.totalCyclesTwice[uarch]! - total) / k.iterations : total / k.iterations;
    const predicted = steady ? cost.cycles : loopRunCycles(cost, k.iterations) / k.iterations;
    const err = Math.abs(predicted - golden) / golden;
    sum += err;
    count++;
    if (err > worst) {
      worst = err;
      worstKernel = k.name;
    }
  }
  return { mape: sum / count, worst, worstKernel, count };
}

test('goldens cover at least 20 kernels per arch and every uarch of the arch', (t) => {
  for (const arch of ['x64', 'aarch64'] as Arch[]) {
    const ks = KERNEL_GOLDENS.filter((k) => k.arch === arch);
    t.true(ks.length >= 20, arch);
    for (const k of ks) {
      for (const u of UARCH_NAMES) {
        if (timingModel(u).arch !== arch) continue;
        t.true((k.totalCycles[u] ?? 0) > 0, `${k.name} ${u}`);
        t.true((k.totalCyclesTwice[u] ?? 0) > k.totalCycles[u]!, `${k.name} ${u} twice`);
      }
    }
  }
});

/** Tables with documented corrections to llvm-mca's data (znver5) cannot agree with llvm-mca. */
const AS_LLVM_MCA = UARCH_NAMES.filter((u) => timingModel(u).table.adjusted === undefined);

for (const uarch of AS_LLVM_MCA) {
  test(`${uarch}: cycles per iteration of 100-iteration runs within MAPE 5 % and worst 20 % of llvm-mca`, async (t) => {
    const s = await score(uarch, false);
    t.log(`${uarch}: MAPE ${(s.mape * 100).toFixed(2)} %, worst ${(s.worst * 100).toFixed(1)} % (${s.worstKernel}), ${s.count} kernels`);
    t.true(s.count >= 20);
    t.true(s.mape <= 0.05, `MAPE ${s.mape}`);
    t.true(s.worst <= 0.2, `worst ${s.worst} on ${s.worstKernel}`);
  });

  test(`${uarch}: steady-state cycles per iteration (llvm-mca 200 − 100 iterations) within MAPE 2 %`, async (t) => {
    const s = await score(uarch, true);
    t.log(`${uarch} steady: MAPE ${(s.mape * 100).toFixed(2)} %, worst ${(s.worst * 100).toFixed(1)} % (${s.worstKernel})`);
    t.true(s.mape <= 0.02, `MAPE ${s.mape}`);
    // Two kernels sit near 17-20 %: a dependency chain competing with port pressure, which a
    // max of bounds cannot see (llvm-mca's oldest-first issue delays the chain).
    t.true(s.worst <= 0.25, `worst ${s.worst} on ${s.worstKernel}`);
  });

}

for (const uarch of UARCH_NAMES) {
  test(`${uarch}: every kernel instruction is priced from the table exactly`, async (t) => {
    const model = timingModel(uarch);
    for (const k of KERNEL_GOLDENS.filter((k) => k.arch === model.arch)) {
      const cost = model.blockCost(await kernelBlock(k));
      t.deepEqual(cost.unknown, [], k.name);
      t.deepEqual(cost.approximate, [], k.name);
      t.true(cost.isLoop, `${k.name} recognised as a loop`);
    }
  });
}

test('table entries reference existing units and sane numbers', (t) => {
  for (const u of UARCH_NAMES) {
    const { table } = timingModel(u);
    const keys = Object.keys(table.forms);
    t.true(keys.length > 500, u);
    t.deepEqual(keys, [...keys].sort(), `${u} keys sorted`);
    for (const [key, e] of Object.entries(table.forms)) {
      t.true(e.lat >= 0 && e.uops >= 0 && e.rtp >= 0, `${u} ${key}`);
      for (const [units, cycles] of e.demands) {
        t.true(cycles > 0, `${u} ${key} cycles`);
        for (const unit of units) t.true(unit >= 0 && unit < table.units.length, `${u} ${key} unit ${unit}`);
      }
    }
  }
});

test('tables of the same arch share one key set', (t) => {
  for (const u of UARCH_NAMES) {
    const first = UARCH_NAMES.find((v) => timingModel(v).arch === timingModel(u).arch)!;
    t.deepEqual(Object.keys(timingModel(u).table.forms), Object.keys(timingModel(first).table.forms), u);
  }
});

function insn(address: bigint, size: number, text: string): BlockInstruction {
  const sp = text.indexOf(' ');
  return sp < 0 ? { address, size, mnemonic: text, opStr: '' } : { address, size, mnemonic: text.slice(0, sp), opStr: text.slice(sp + 1) };
}

test('a dependency chain binds as latency, independent adds as ports', (t) => {
  const m = timingModel('skylake');
  const chain = m.blockCost([insn(0x1000n, 3, 'add rax, rbx'), insn(0x1003n, 3, 'add rax, rbx'), insn(0x1006n, 3, 'dec rcx'), insn(0x1009n, 2, 'jne 0x1000')]);
  t.true(chain.isLoop);
  t.is(chain.bottleneck, 'latency');
  t.is(chain.cycles, 2);
  t.deepEqual(chain.stack, { base: chain.cycles - chain.stack.dependency, dependency: 2 - Math.max(chain.bounds.issue, chain.bounds.ports) });
  t.true(chain.stack.dependency > 0);
  const indep = m.blockCost([insn(0x1000n, 3, 'add rax, rbx'), insn(0x1003n, 3, 'add rdx, rbx'), insn(0x1006n, 3, 'add rsi, rbx'), insn(0x1009n, 3, 'add rdi, rbx'), insn(0x100cn, 3, 'dec rcx'), insn(0x100fn, 2, 'jne 0x1000')]);
  t.is(indep.bottleneck, 'ports');
  t.is(indep.cycles, 1.5); // 6 uops on p0156
  t.deepEqual(indep.stack, { base: 1.5, dependency: 0 });
});

test('port balancing: flexible uops avoid the port a restricted one needs', (t) => {
  // 3 adds (p0156) + 1 imul (p1): a per-port sum would charge p1 1.75; the balance is 1.
  const m = timingModel('skylake');
  const c = m.blockCost([insn(0n, 3, 'add rax, rbx'), insn(3n, 3, 'add rdx, rbx'), insn(6n, 3, 'add rsi, rbx'), insn(9n, 4, 'imul rdi, rbx')], { loop: true });
  t.is(c.bounds.ports, 1);
});

test('zeroing idioms break the dependency chain', (t) => {
  const m = timingModel('znver3');
  const withIdiom = m.blockCost([insn(0n, 2, 'xor eax, eax'), insn(2n, 4, 'imul rax, rbx'), insn(6n, 2, 'jmp 0x0')]);
  const without = m.blockCost([insn(0n, 4, 'imul rax, rbx'), insn(4n, 2, 'jmp 0x0')]);
  t.is(without.bounds.latency, 3);
  t.is(withIdiom.bounds.latency, 0);
  t.true(withIdiom.isLoop);
});

test('x86 load-op register inputs see the ALU latency; AArch64 writeback uses the measured pointer latency', (t) => {
  const skl = timingModel('skylake');
  const loadOp = skl.blockCost([insn(0n, 4, 'add rax, qword ptr [rdi]'), insn(4n, 2, 'jmp 0x0')]);
  t.is(loadOp.bounds.latency, 1);
  const chase = skl.blockCost([insn(0n, 3, 'mov rdi, qword ptr [rdi]'), insn(3n, 2, 'jmp 0x0')]);
  t.is(chase.bounds.latency, 5);
  const n2 = timingModel('neoverse-n2');
  const post = n2.blockCost([insn(0n, 4, 'ldr x1, [x0], #8'), insn(4n, 4, 'b #0x0')]);
  t.is(post.bounds.latency, n2.table.forms['ldr x,m[post]'].ptrLat!);
  t.true(post.bounds.latency < n2.table.forms['ldr x,m[post]'].lat);
});

test('front-end bytes bind straight-line x86 code but not small loops', (t) => {
  const m = timingModel('skylake');
  const long = Array.from({ length: 6 }, (_, i) => insn(BigInt(i * 10), 10, 'movabs rax, 0x123456789abc'));
  const straight = m.blockCost(long);
  t.false(straight.isLoop);
  t.true(straight.frontEndApplies);
  t.is(straight.bottleneck, 'frontend');
  t.is(straight.cycles, 60 / 16);
  const loop = m.blockCost(long, { loop: true });
  t.false(loop.frontEndApplies);
  t.is(loop.bounds.frontEnd, 60 / 16);
  t.true(loop.cycles < 60 / 16);
  t.is(m.blockCost(long, { loop: true, frontEnd: 'always' }).bottleneck, 'frontend');
  t.is(timingModel('neoverse-n2').blockCost([insn(0n, 4, 'nop')]).bounds.frontEnd, 0);
});

test('unknown and unparsable instructions get the documented default and are reported', (t) => {
  const m = timingModel('skylake');
  const c = m.blockCost([insn(0n, 3, 'frobnicate rax, rbx'), insn(3n, 3, 'add rax, {weird}'), insn(6n, 3, 'add rax, rbx'), insn(9n, 1, 'constructor'), insn(10n, 1, '__proto__')]);
  t.deepEqual(c.unknown, ['frobnicate rax, rbx', 'add rax, {weird}', 'constructor', '__proto__']);
  t.is(c.perInstruction[0].match, 'default');
  t.is(c.perInstruction[0].uops, DEFAULT_ENTRY.uops);
  t.is(c.perInstruction[2].match, 'exact');
  // A width the corpus lacks falls back to a relaxed key.
  const approx = m.blockCost([insn(0n, 4, 'shld bx, si, 5')]);
  t.is(approx.perInstruction[0].match, 'approx');
  t.deepEqual(approx.approximate, ['shld bx, si, 5']);
});

test('bad requests fail with typed errors', (t) => {
  t.throws(() => timingModel('pentium4'), { instanceOf: UnknownUarchError });
  t.throws(() => timingModel('skylake').blockCost([]), { instanceOf: BlockCostError });
  t.is(parseUarch('Zen3'), 'znver3');
  t.is(parseUarch('a72'), 'cortex-a72');
  t.is(parseUarch('nope'), undefined);
});

test('branch targets and loop detection from Capstone text', (t) => {
  t.is(branchTarget('x64', 'jne', '0x1000'), 0x1000n);
  t.is(branchTarget('x64', 'jmp', 'rax'), undefined);
  t.is(branchTarget('x64', 'add', '0x10'), undefined);
  t.is(branchTarget('aarch64', 'b.ne', '#0x40'), 0x40n);
  t.is(branchTarget('aarch64', 'cbz', 'x0, #0x80'), 0x80n);
  t.is(branchTarget('aarch64', 'tbnz', 'w1, #3, #0x84'), 0x84n);
  const m = timingModel('cortex-a72');
  t.false(m.blockCost([insn(0x100n, 4, 'add x0, x0, #1'), insn(0x104n, 4, 'b.ne #0x200')]).isLoop);
  t.true(m.blockCost([insn(0x100n, 4, 'add x0, x0, #1'), insn(0x104n, 4, 'b.ne #0x100')]).isLoop);
});

test('property: any text prices without crashing, and cycles dominate every applicable bound', (t) => {
  const models = UARCH_NAMES.map((u) => timingModel(u));
  const text = fc.string({ maxLength: 24 });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: models.length - 1 }),
      fc.array(fc.record({ mnemonic: text, opStr: text, size: fc.integer({ min: 1, max: 15 }) }), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      (mi, block, loop) => {
        const c = models[mi].blockCost(block, { loop });
        const applicable = [c.bounds.issue, c.bounds.ports, c.bounds.latency, c.frontEndApplies ? c.bounds.frontEnd : 0];
        return Number.isFinite(c.cycles) && applicable.every((b) => c.cycles >= b - 1e-9) && applicable.some((b) => Math.abs(c.cycles - b) < 1e-9);
      },
    ),
    { numRuns: 300, seed: 8 },
  );
  t.pass();
});

test('property: kernel sub-blocks cost at least micro-ops over dispatch width', async (t) => {
  const blocks = await Promise.all(KERNEL_GOLDENS.map(async (k) => ({ k, insns: await kernelBlock(k) })));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: blocks.length - 1 }), fc.nat(), fc.nat(), (bi, a, b) => {
      const { k, insns } = blocks[bi];
      const from = a % insns.length;
      const to = from + 1 + (b % (insns.length - from));
      for (const u of UARCH_NAMES) {
        const m = timingModel(u);
        if (m.arch !== k.arch) continue;
        const c = m.blockCost(insns.slice(from, to));
        if (c.cycles + 1e-9 < c.uops / m.table.dispatchWidth) return false;
        if (c.cycles <= 0) return false;
      }
      return true;
    }),
    { numRuns: 200, seed: 17 },
  );
  t.pass();
});

test('errors thrown by the model are StackscopeErrors', (t) => {
  const e = t.throws(() => timingModel('skylake').blockCost([]));
  t.true(e instanceof StackscopeError);
});
