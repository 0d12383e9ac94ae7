import test from 'ava';
import type { Arch } from '../../isa/arch.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../engine.ts';
import { Machine } from '../machine.ts';
import { CycleModelError, type CycleReport } from './cycles.ts';
import { KERNEL_GOLDENS } from './data/kernels.ts';
import { UARCH_NAMES, timingModel, type UarchName } from './model.ts';

/**
 * Kernels run through the Machine: the loop body of each validation kernel, entered at its
 * top with the loop counter set, then `ret`. Every other general register points into the
 * middle of a data region whose quadwords all hold that same address, so loads, stores and
 * pointer chases stay inside it. Kernels whose trip count depends on memory contents or that
 * use instructions Unicorn does not implement (AVX/FMA) are left out.
 */
const RUNNABLE: Record<Arch, Record<string, string>> = {
  x64: {
    'x64-dep-add8': 'rcx', 'x64-add8-4regs': 'rcx', 'x64-dep-imul4': 'rcx', 'x64-pointer-chase4': 'rcx',
    'x64-dep-addsd4': 'rcx', 'x64-dep-divsd2': 'rcx', 'x64-hash-mix': 'rcx', 'x64-fib': 'rcx', 'x64-select': 'rcx',
    'x64-lea-chain': 'rcx', 'x64-div32': 'rcx', 'x64-shift-cl': 'r8', 'x64-push-pop': 'rcx',
    'x64-int-fp-convert': 'rcx', 'x64-mixed-alu-mem': 'rcx',
  },
  aarch64: Object.fromEntries([
    'a64-dep-add8', 'a64-add8-4regs', 'a64-dep-mul4', 'a64-pointer-chase4', 'a64-dep-fadd4', 'a64-dep-fdiv2',
    'a64-fmla8-indep', 'a64-sum-postinc', 'a64-copy-ldp-stp', 'a64-hash-mix', 'a64-fib', 'a64-select',
    'a64-shifted-ops', 'a64-udiv', 'a64-frame-push-pop', 'a64-bitfield', 'a64-neon-packed', 'a64-int-fp-convert',
    'a64-mixed-alu-mem',
  ].map((n) => [n, 'x9'])),
};
const GPRS: Record<Arch, string[]> = {
  x64: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'],
  aarch64: Array.from({ length: 30 }, (_, i) => `x${i}`),
};
const ITERATIONS = 1000;
const SLOT = 256;

interface KernelRun {
  readonly name: string;
  readonly report: CycleReport;
  readonly loopCycles: number;
  readonly loopExecutions: number;
}

async function runKernels(uarch: UarchName): Promise<KernelRun[]> {
  const arch = timingModel(uarch).arch;
  const names = Object.keys(RUNNABLE[arch]);
  // The goldens' loop bytes (the body branches back to offset 0), then `ret`.
  const ret = arch === 'x64' ? [0xc3] : [0xc0, 0x03, 0x5f, 0xd6];
  const code = names.map((n) => Uint8Array.from([...Buffer.from(KERNEL_GOLDENS.find((k) => k.name === n)!.bytes, 'hex'), ...ret]));
  const m = await Machine.create({ arch, cycles: { mode: 'fast', uarch }, exactFaultPc: false });
  try {
    const text = m.map('text', names.length * SLOT, PROT_READ | PROT_EXEC);
    code.forEach((c, i) => m.writeBytes(text.address + BigInt(i * SLOT), c));
    const data = m.map('data', 1 << 20, PROT_READ | PROT_WRITE);
    const middle = data.address + BigInt(data.size / 2);
    const runs: KernelRun[] = [];
    names.forEach((name, i) => {
      for (let off = 0; off < data.size; off += 8) data.data.setBigUint64(off, middle, true);
      for (const r of GPRS[arch]) m.setReg(r, middle);
      m.setReg(RUNNABLE[arch][name], BigInt(ITERATIONS));
      const entry = text.address + BigInt(i * SLOT);
      m.call(entry);
      const report = m.cycleReport()!;
      const loop = report.blocks.find((b) => b.address === entry)!;
      runs.push({ name, report, loopCycles: loop.cycles, loopExecutions: loop.executions });
    });
    return runs;
  } finally {
    m.close();
  }
}

for (const uarch of UARCH_NAMES) {
  test(`${uarch}: fast mode through the Machine matches llvm-mca per iteration (MAPE ≤ 5 %, worst ≤ 20 %)`, async (t) => {
    const runs = await runKernels(uarch);
    t.true(runs.length >= 15);
    let sum = 0;
    let worst = 0;
    let worstName = '';
    for (const r of runs) {
      const golden = KERNEL_GOLDENS.find((k) => k.name === r.name)!;
      const steady = (golden.totalCyclesTwice[uarch]! - golden.totalCycles[uarch]!) / golden.iterations;
      t.is(r.loopExecutions, ITERATIONS, r.name);
      // The whole run (loop plus the `ret` block) per iteration.
      const perIteration = r.report.cycles / ITERATIONS;
      const err = Math.abs(perIteration - steady) / steady;
      sum += err;
      if (err > worst) {
        worst = err;
        worstName = r.name;
      }
      t.true(r.report.blocks[0].loop, `${r.name}: the loop block is priced as a loop`);
      t.is(r.report.stack.branch, 0);
      t.is(r.report.stack.memory, 0);
    }
    const mape = sum / runs.length;
    t.log(`${uarch}: ${runs.length} kernels, MAPE ${(mape * 100).toFixed(2)} %, worst ${(worst * 100).toFixed(1)} % (${worstName})`);
    t.true(mape <= 0.05, `MAPE ${mape}`);
    t.true(worst <= 0.2, `worst ${worst} on ${worstName}`);
  });
}

test('fast report: instructions, IPC, stack sums and hot spots agree', async (t) => {
  const runs = await runKernels('skylake');
  const r = runs.find((x) => x.name === 'x64-dep-add8')!.report;
  t.is(r.mode, 'fast');
  t.is(r.instructions, ITERATIONS * 10 + 1);
  t.true(Math.abs(r.stack.base + r.stack.dependency + r.stack.branch + r.stack.memory - r.cycles) < 1e-6);
  t.true(Math.abs(r.ipc - r.instructions / r.cycles) < 1e-9);
  t.true(Math.abs(r.cycles / ITERATIONS - 8) < 0.05);
  t.true(r.stack.dependency > r.stack.base, 'a dependency chain shows as dependency');
  t.is(r.pricing.unknown, 0);
  t.is(r.blocks[0].executions, ITERATIONS);
  t.is(r.functions.length, 1);
  t.is(r.functions[0].name, '<unknown>');
});

test('cycle model requests the machine cannot serve fail with typed errors', async (t) => {
  await t.throwsAsync(() => Machine.create({ arch: 'x64', cycles: { mode: 'fast', uarch: 'neoverse-n2' } }), { instanceOf: CycleModelError });
  await t.throwsAsync(() => Machine.create({ arch: 'aarch64', cycles: { mode: 'fast', uarch: 'pentium4' } }), { message: /unknown microarchitecture/ });
  const m = await Machine.create({ arch: 'x64' });
  t.is(m.cycleReport(), undefined);
  m.close();
});
