/**
 * Differential acceptance: C programs compiled with gcc (x86-64) and aarch64-linux-gnu-gcc at
 * -O0 and -O2 run in the sandbox and natively — the same objects linked into a C harness and
 * run on this x86-64 host, or statically linked and run under qemu-aarch64 — and must print
 * the same results for the same sequence of calls.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { loadObjects, type HostBinding } from './sandbox.ts';

const SOURCES = new URL('./testdata/c/', import.meta.url).pathname;
const PROGRAMS: Record<string, string[]> = {
  arith: ['arith.c'], loops: ['loops.c'], recursion: ['recursion.c'], data: ['data.c'], rodata: ['rodata.c'],
  bss: ['bss.c'], fnptr: ['fnptr.c'], structs: ['structs.c'], switch: ['switch.c'], 'two objects': ['multi_a.c', 'multi_b.c'],
  host: ['host.c'], memory: ['memory.c'], bits: ['bits.c'],
};
/** Called in this order, in one process or one sandbox load, so static state carries over. */
const CALLS: Array<[bigint, bigint]> = [[3n, 5n], [-7n, 12n], [1000003n, -99n], [12345n, 678n], [0n, 1n]];
const OPT_LEVELS = ['-O0', '-O2'];

const TOOLS: Record<Arch, { gcc: string; link: string[]; run: (exe: string) => [string, string[]] }> = {
  x64: { gcc: 'gcc', link: [], run: (exe) => [exe, []] },
  aarch64: { gcc: 'aarch64-linux-gnu-gcc', link: ['-static'], run: (exe) => ['qemu-aarch64', [exe]] },
};

const HARNESS = `#include <stdio.h>
extern long entry(long, long);
long host_mix(long x, long y) { return (long)((unsigned long)x * 31u + ((unsigned long)y ^ 0x5bd1e995ul)); }
int main(void) {
  static const long calls[][2] = {${CALLS.map(([a, b]) => `{${a}L, ${b}L}`).join(', ')}};
  for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) printf("%ld\\n", entry(calls[i][0], calls[i][1]));
  return 0;
}
`;

const hostMix = ([x, y]: bigint[]) => BigInt.asUintN(64, x * 31n + (y ^ 0x5bd1e995n));

function sandboxHostFunctions(machine: Machine): Record<string, HostBinding> {
  return {
    host_mix: { arity: 2, fn: hostMix },
    memcpy: { arity: 3, fn: ([d, s, n]) => { machine.writeBytes(d, machine.readBytes(s, Number(n))); return d; } },
    memset: { arity: 3, fn: ([d, c, n]) => { machine.writeBytes(d, new Uint8Array(Number(n)).fill(Number(c & 0xffn))); return d; } },
    // libgcc's helper for __builtin_popcountl when the target has no popcnt (x86-64 -O0)
    __popcountdi2: { arity: 1, fn: ([x]) => BigInt([...x.toString(2)].filter((c) => c === '1').length) },
  };
}

const work = mkdtempSync(join(tmpdir(), 'stackscope-diff-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

for (const arch of ARCHES) {
  test(`${arch}: gcc -O0/-O2 programs give the same results in the sandbox as natively`, async (t) => {
    const tool = TOOLS[arch];
    const harness = join(work, `harness-${arch}.c`);
    writeFileSync(harness, HARNESS);
    let compared = 0;
    for (const [name, files] of Object.entries(PROGRAMS)) {
      for (const opt of OPT_LEVELS) {
        const objects = files.map((f) => {
          const out = join(work, `${arch}-${opt}-${f}.o`);
          execFileSync(tool.gcc, ['-c', opt, '-fno-stack-protector', '-o', out, join(SOURCES, f)]);
          return { file: out, bytes: new Uint8Array(readFileSync(out)) };
        });
        const exe = join(work, `${arch}-${opt}-${name.replace(/\s/g, '_')}`);
        execFileSync(tool.gcc, [...tool.link, '-o', exe, harness, ...objects.map((o) => o.file)]);
        const [cmd, args] = tool.run(exe);
        const native = execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n');

        const machine = await Machine.create({ arch });
        try {
          const program = loadObjects(machine, objects, { hostFunctions: sandboxHostFunctions(machine) });
          const sandboxed = CALLS.map(([a, b]) => BigInt.asIntN(64, program.call('entry', [a, b])).toString());
          t.deepEqual(sandboxed, native, `${name} ${opt}`);
          compared++;
        } finally {
          machine.close();
        }
      }
    }
    t.is(compared, Object.keys(PROGRAMS).length * OPT_LEVELS.length);
  });
}
