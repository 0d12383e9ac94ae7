/**
 * Differential test against GNU ld: the same gcc objects are linked by our linker and by ld,
 * with a generated linker script that puts every output section at the address we chose.
 * Every relocated section (except .eh_frame, which ld rewrites) must then be byte-identical,
 * which checks relocation arithmetic on real compiler output independently of our own decoders.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Arch } from '../isa/arch.ts';
import { readElf } from './elf.ts';
import { link } from './link.ts';
import { relocationInfo } from './reloc-types.ts';
import { compileC, writeTemp } from './test-toolchain.ts';
import { C_PROGRAM } from './test-corpus.ts';

const MAIN_C = `
extern long lib_mul(long, long);
extern long lib_data[4];
extern const char lib_name[];
extern long host_add(long, long);
extern long (*lib_ops[2])(long);
static long local_counter;
static const long weights[5] = {5, 4, 3, 2, 1};
long entry(long n) {
  local_counter += n + weights[n % 5];
  return host_add(lib_mul(n, lib_data[n & 3]), lib_name[0] + local_counter + lib_ops[n & 1](n));
}
`;
const LIB_C = `
long lib_data[4] = {1, 2, 3, 4};
const char lib_name[] = "lib";
long lib_mul(long a, long b) { return a * b; }
static long inc(long v) { return v + 1; }
static long dec(long v) { return v - 1; }
long (*lib_ops[2])(long) = { inc, dec };
`;

const TOOLS: Record<Arch, { ld: string; objcopy: string }> = {
  x64: { ld: 'ld', objcopy: 'objcopy' },
  aarch64: { ld: 'aarch64-linux-gnu-ld', objcopy: 'aarch64-linux-gnu-objcopy' },
};

function differential(t: import('ava').ExecutionContext, arch: Arch, sources: string[], flags: string[]): void {
  const host = 0x5000000n;
  const objects = sources.map((src) => compileC(arch, src, flags));
  // ld would build its own GOT elsewhere; keep this test to objects whose code needs none.
  for (const o of objects) {
    const elf = readElf(o.bytes, o.path);
    t.false(
      elf.relocationSections.some((rs) => rs.relocations.some((r) => relocationInfo(arch, r.type)!.usesGot)),
      `${flags.join(' ')} produced GOT relocations`,
    );
  }
  const img = link(
    objects.map((o) => ({ file: o.path, bytes: o.bytes })),
    { externals: new Map([['host_add', host]]), base: 0x400000n },
  );
  const alloc = img.sections.filter((s) => s.segment !== 'custom' && s.inputs.length > 0);
  const script = [
    'SECTIONS {',
    ...alloc.map((s) => `  ${s.name} 0x${s.address.toString(16)} : { ${s.inputs.map((i) => `"${i.file}"(${s.name})`).join(' ')} }`),
    '  /DISCARD/ : { *(.note.GNU-stack) *(.note.gnu.property) *(.comment) }',
    '}',
  ].join('\n');
  const scriptPath = writeTemp(new TextEncoder().encode(script), '.ld');
  const out = writeTemp(new Uint8Array(0), '.elf');
  execFileSync(
    TOOLS[arch].ld,
    ['-static', '-nostdlib', '--no-relax', '--build-id=none', '-e', '0', `--defsym=host_add=0x${host.toString(16)}`, '-T', scriptPath, '-o', out, ...objects.map((o) => o.path)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let compared = 0;
  for (const s of alloc) {
    if (s.nobits || s.name === '.eh_frame' || s.size === 0n) continue;
    const bin = out + s.name.replace(/[^a-z0-9]/gi, '_') + '.bin';
    execFileSync(TOOLS[arch].objcopy, ['-O', 'binary', '-j', s.name, out, bin], { stdio: ['ignore', 'pipe', 'pipe'] });
    const theirs = new Uint8Array(readFileSync(bin));
    t.is(theirs.length, Number(s.size), `${s.name} size`);
    // Only bytes that came from input sections: padding between inputs differs on purpose
    // (ld fills x86-64 code gaps with nops, we fill them with int3).
    const fromInput = new Uint8Array(s.bytes.length);
    for (const i of s.inputs) fromInput.fill(1, Number(i.address - s.address), Number(i.address - s.address + i.size));
    const firstDiff = s.bytes.findIndex((b, i) => fromInput[i] === 1 && b !== theirs[i]);
    t.is(firstDiff, -1, `${arch} ${flags.join(' ')}: ${s.name} differs from ld at +0x${firstDiff.toString(16)}`);
    compared++;
  }
  t.true(compared >= 3, `compared ${compared} sections`);
}

for (const arch of ['x64', 'aarch64'] as const) {
  // AArch64 PIE code reaches extern data through the GOT, which ld lays out its own way.
  const pie = arch === 'aarch64' ? ['-fno-pie'] : [];
  for (const flags of [['-O0', ...pie], ['-O2', ...pie], ['-O1', '-fno-pie', '-fno-omit-frame-pointer'], ['-Os', '-ffunction-sections', '-fdata-sections', ...pie]]) {
    test(`${arch} ${flags.join(' ')}: every byte from an input section equals GNU ld's at the same addresses`, (t) => {
      differential(t, arch, [MAIN_C, LIB_C], flags);
      differential(t, arch, [C_PROGRAM, 'long host_add_unused;\n'], flags);
    });
  }
}
