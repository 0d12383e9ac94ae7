import test from 'ava';
import { execFileSync } from 'node:child_process';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { LoaderError, SHT_NOBITS, SHT_PROGBITS, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FUNC, readElf } from './elf.ts';
import { writeElf, type WriterObject } from './elf-writer.ts';
import { inspectObject } from './inspect.ts';
import { link } from './link.ts';
import { objdump, writeTemp } from './test-toolchain.ts';

/** A function `entry` that calls `helper` (defined) and `host` (external) and reads `counter`. */
function sample(arch: Arch): WriterObject {
  const text =
    arch === 'x64'
      ? // call helper; call host; mov counter(%rip), %rax; ret; helper: ret
        Uint8Array.from([0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xc3, 0xc3])
      : // bl helper; bl host; adrp x0, counter; ldr x0, [x0, :lo12:counter]; ret; helper: ret
        new Uint8Array(new Uint32Array([0x94000000, 0x94000000, 0x90000000, 0xf9400000, 0xd65f03c0, 0xd65f03c0]).buffer);
  const helperAt = arch === 'x64' ? 18n : 20n;
  return {
    arch,
    file: 'written.o',
    sections: [
      { name: '.text', kind: 'text', bytes: text, align: 16n },
      { name: '.data', kind: 'data', bytes: new Uint8Array(16).fill(7), align: 8n },
      { name: '.bss', kind: 'bss', size: 128n, align: 32n },
      { name: '.stackscope.stackmaps', kind: 'custom', bytes: new Uint8Array(16), align: 8n },
    ],
    symbols: [
      { name: 'helper', section: '.text', value: helperAt, size: 1n, type: 'func', binding: 'local' },
      { name: 'entry', section: '.text', value: 0n, size: helperAt, type: 'func' },
      { name: 'counter', section: '.data', value: 8n, size: 8n, type: 'object' },
      { name: 'maybe', section: '.data', value: 0n, size: 8n, type: 'object', binding: 'weak' },
      { name: 'host', type: 'func' },
    ],
    relocations:
      arch === 'x64'
        ? [
            { section: '.text', offset: 1n, type: 'R_X86_64_PLT32', symbol: 'helper', addend: -4n },
            { section: '.text', offset: 6n, type: 'PLT32', symbol: 'host', addend: -4n },
            { section: '.text', offset: 13n, type: 'PC32', symbol: 'counter', addend: -4n },
            { section: '.stackscope.stackmaps', offset: 0n, type: '64', symbol: 'entry' },
            { section: '.stackscope.stackmaps', offset: 8n, type: '64', sectionSymbol: '.bss', addend: 16n },
          ]
        : [
            { section: '.text', offset: 0n, type: 'R_AARCH64_CALL26', symbol: 'helper' },
            { section: '.text', offset: 4n, type: 'CALL26', symbol: 'host' },
            { section: '.text', offset: 8n, type: 'ADR_PREL_PG_HI21', symbol: 'counter' },
            { section: '.text', offset: 12n, type: 'LDST64_ABS_LO12_NC', symbol: 'counter' },
            { section: '.stackscope.stackmaps', offset: 0n, type: 'ABS64', symbol: 'entry' },
            { section: '.stackscope.stackmaps', offset: 8n, type: 'ABS64', sectionSymbol: '.bss', addend: 16n },
          ],
  };
}

for (const arch of ARCHES) {
  test(`${arch}: readelf and objdump accept the writer's output without complaint`, (t) => {
    const bytes = writeElf(sample(arch));
    const path = writeTemp(bytes);
    const out = execFileSync('readelf', ['-a', '--wide', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    t.regex(out, /REL \(Relocatable file\)/);
    t.regex(out, arch === 'x64' ? /Advanced Micro Devices X86-64/ : /AArch64/);
    t.notRegex(out, /[Ww]arning|[Ee]rror/);
    const dis = objdump(arch, ['-dr'], path);
    t.regex(dis, arch === 'x64' ? /R_X86_64_PLT32\s+host-0x4/ : /R_AARCH64_CALL26\s+host/);
    t.regex(dis, /<entry>:/);
    // readelf's view equals ours (inspect.test.ts checks that rendering in depth).
    const report = inspectObject(bytes, path);
    t.true(out.includes('.stackscope.stackmaps'));
    t.is(report.symbols.find((s) => s.name === 'maybe')!.binding, 'WEAK');
  });

  test(`${arch}: the reader round-trips the writer's sections, symbols and relocations`, (t) => {
    const input = sample(arch);
    const o = readElf(writeElf(input), 'written.o');
    for (const s of input.sections) {
      const got = o.sections.find((x) => x.name === s.name)!;
      t.truthy(got, s.name);
      t.is(got.type, s.kind === 'bss' ? SHT_NOBITS : SHT_PROGBITS);
      t.is(got.addralign, s.align!);
      if (s.bytes) t.deepEqual(Array.from(got.data), Array.from(s.bytes));
      else t.is(got.size, s.size!);
    }
    // Locals precede globals, as sh_info promises.
    const symtab = o.sections[o.symtabIndex];
    t.true(o.symbols.slice(0, symtab.info).every((s) => s.binding === STB_LOCAL));
    t.true(o.symbols.slice(symtab.info).every((s) => s.binding !== STB_LOCAL));
    for (const s of input.symbols!) {
      const got = o.symbols.find((x) => x.name === s.name)!;
      t.is(got.value, s.value ?? 0n, s.name);
      t.is(got.binding, s.binding === 'local' ? STB_LOCAL : s.binding === 'weak' ? STB_WEAK : STB_GLOBAL);
      if (s.type === 'func') t.is(got.type, STT_FUNC);
      t.is(s.section === undefined ? '' : o.sections[got.shndx].name, s.section ?? '');
    }
    const flat = o.relocationSections.flatMap((rs) => rs.relocations.map((r) => ({ section: rs.target.name, r })));
    t.is(flat.length, input.relocations!.length);
    input.relocations!.forEach((want, i) => {
      const { section, r } = flat[i];
      t.is(section, want.section);
      t.is(r.offset, want.offset);
      t.is(r.addend, want.addend ?? 0n);
      t.true(r.typeName.endsWith(String(want.type).replace(/^R_(X86_64|AARCH64)_/, '')));
      t.is(o.symbols[r.symbolIndex].name, want.symbol ?? want.sectionSymbol!);
    });
  });

  test(`${arch}: written objects link, with the custom section relocated`, (t) => {
    const img = link([{ file: 'written.o', bytes: writeElf(sample(arch)) }], { externals: new Map([['host', 0x5000000n]]) });
    const sm = img.customSections.get('.stackscope.stackmaps')!;
    const view = new DataView(sm.bytes.buffer, sm.bytes.byteOffset);
    t.is(view.getBigUint64(0, true), img.globals.get('entry')!.address);
    t.is(view.getBigUint64(8, true), img.sections.find((s) => s.name === '.bss')!.address + 16n);
    t.is(img.symbols.find((s) => s.name === 'helper')!.binding, 'local');
  });
}

test('the writer rejects inconsistent input with LoaderError', (t) => {
  const base = sample('x64');
  const bad: WriterObject[] = [
    { ...base, relocations: [{ section: '.nope', offset: 0n, type: 'PC32', symbol: 'entry' }] },
    { ...base, relocations: [{ section: '.text', offset: 0n, type: 'R_AARCH64_CALL26', symbol: 'entry' }] },
    { ...base, relocations: [{ section: '.text', offset: 17n, type: '64', symbol: 'entry' }] },
    { ...base, relocations: [{ section: '.text', offset: 0n, type: 'PC32', symbol: 'nobody' }] },
    { ...base, symbols: [{ name: 'x', section: '.nope' }] },
    { ...base, sections: [...base.sections, { name: '.text', kind: 'text', bytes: new Uint8Array(1) }] },
    { ...base, sections: [{ name: '.t', kind: 'text', bytes: new Uint8Array(1), align: 3n }], symbols: [], relocations: [] },
  ];
  for (const b of bad) t.throws(() => writeElf(b), { instanceOf: LoaderError });
});
