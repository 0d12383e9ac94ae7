/**
 * bench/loader: link (and place into a Machine) a generated object with ≥ 50,000 relocations
 * of the common kinds — absolute data words, PC-relative calls and address loads — on each
 * arch, and report relocations per second.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';
import { readElf } from '../loader/elf.ts';
import { link } from '../loader/link.ts';
import { loadObjects } from '../loader/sandbox.ts';
import { Machine } from '../simulator/machine.ts';
import { emit, type BenchOptions } from './report.ts';

const FUNCTIONS = 2_500;
const CALLS_PER_FUNCTION = 10;
const WORDS_PER_FUNCTION = 12;

function source(arch: Arch): string {
  const lines: string[] = [arch === 'x64' ? '.intel_syntax noprefix' : '', '.text'];
  for (let f = 0; f < FUNCTIONS; f++) {
    lines.push(`.globl f${f}`, `.type f${f}, @function`, `f${f}:`);
    for (let c = 0; c < CALLS_PER_FUNCTION; c++) {
      const target = (f * 7 + c * 13) % FUNCTIONS;
      lines.push(arch === 'x64' ? `call f${target}` : `bl f${target}`);
    }
    lines.push(arch === 'x64' ? `lea rax, [rip + table${f}]` : `adrp x0, table${f}\nadd x0, x0, :lo12:table${f}`);
    lines.push(arch === 'x64' ? 'ret' : 'ret');
  }
  lines.push('.data');
  for (let f = 0; f < FUNCTIONS; f++) {
    lines.push(`table${f}:`);
    for (let w = 0; w < WORDS_PER_FUNCTION; w++) lines.push(`.quad f${(f + w) % FUNCTIONS}`);
  }
  return lines.join('\n') + '\n';
}

export async function benchLoader(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-bench-loader-'));
  try {
    for (const arch of options.arches) {
      const src = join(dir, `${arch}.s`);
      const obj = join(dir, `${arch}.o`);
      writeFileSync(src, source(arch));
      execFileSync(arch === 'x64' ? 'as' : 'aarch64-linux-gnu-as', ['-o', obj, src]);
      const bytes = new Uint8Array(readFileSync(obj));
      const relocations = readElf(bytes, obj).relocationSections.reduce((n, s) => n + s.relocations.length, 0);
      if (relocations < 50_000) throw new Error(`generated object has only ${relocations} relocations`);
      const linkTimes: number[] = [];
      const loadTimes: number[] = [];
      for (let i = 0; i < options.repeats; i++) {
        let t0 = performance.now();
        link([{ file: obj, bytes }]);
        linkTimes.push((performance.now() - t0) / 1000);
        const machine = await Machine.create({ arch });
        t0 = performance.now();
        loadObjects(machine, [{ file: obj, bytes }]);
        loadTimes.push((performance.now() - t0) / 1000);
        machine.close();
      }
      emit({ bench: 'loader', arch, metric: 'relocations', value: relocations });
      emit({ bench: 'loader', arch, metric: 'link_relocations_per_s', value: relocations / Math.min(...linkTimes) });
      emit({ bench: 'loader', arch, metric: 'load_into_machine_relocations_per_s', value: relocations / Math.min(...loadTimes) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
