/**
 * Keeps the committed data in step with its sources: every corpus line, assembled with GNU as
 * and decoded by Capstone, has an exact table entry on every microarchitecture of its arch, and
 * the kernel bytes in data/kernels.ts are what GNU as makes of kernels.ts today. A failure
 * means someone edited corpus.ts/kernels.ts/forms.ts without rerunning
 * `node --import tsx scripts/gen-timing-tables.ts`.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { instructionCorpus } from './corpus.ts';
import { KERNEL_GOLDENS } from './data/kernels.ts';
import { disassemble } from './disasm.ts';
import { parseForm } from './forms.ts';
import { KERNELS } from './kernels.ts';
import { UARCH_NAMES, timingModel } from './model.ts';

function assemble(arch: Arch, source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'timing-test-'));
  try {
    const [as, objcopy] = arch === 'x64' ? ['as', 'objcopy'] : ['aarch64-linux-gnu-as', 'aarch64-linux-gnu-objcopy'];
    writeFileSync(join(dir, 'a.s'), (arch === 'x64' ? '.intel_syntax noprefix\n' : '') + source);
    execFileSync(as, ['-o', join(dir, 'a.o'), join(dir, 'a.s')], { stdio: 'pipe' });
    execFileSync(objcopy, ['-O', 'binary', '--only-section=.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const arch of ['x64', 'aarch64'] as Arch[]) {
  test(`${arch}: every corpus line has an exact entry in each table`, async (t) => {
    const lines = instructionCorpus(arch);
    const insns = await disassemble(arch, assemble(arch, lines.join('\n') + '\n.Ltarget:\nnop\n'), 0n);
    t.is(insns.length, lines.length + 1);
    const models = UARCH_NAMES.map((u) => timingModel(u)).filter((m) => m.arch === arch);
    t.is(models.length, 2);
    const missing: string[] = [];
    insns.slice(0, -1).forEach((insn, i) => {
      const key = parseForm(arch, insn.mnemonic, insn.opStr).key;
      for (const m of models) if (!m.table.forms[key]) missing.push(`${m.uarch}: ${lines[i]} → ${key}`);
    });
    t.deepEqual(missing, []);
  });
}

test('kernel bytes in data/kernels.ts match kernels.ts', (t) => {
  t.is(KERNEL_GOLDENS.length, KERNELS.length);
  for (const k of KERNELS) {
    const golden = KERNEL_GOLDENS.find((g) => g.name === k.name);
    if (!golden) {
      t.fail(`no golden for ${k.name}`);
      continue;
    }
    const label = `.Lloop_${k.name.replace(/[^A-Za-z0-9]/g, '_')}`;
    const body = k.asm.trim().split('\n').map((l) => l.trim().replace(/\bLOOP\b/, label)).join('\n');
    t.is(Buffer.from(assemble(k.arch, `${label}:\n${body}\n`)).toString('hex'), golden.bytes, k.name);
  }
});
