import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { LoaderError, isMappingSymbolName, readElf, SHT_NOBITS, type LoaderErrorKind } from './elf.ts';
import { assemble } from './test-toolchain.ts';

const SOURCE = `
  .text
  .globl f
f: nop
  nop
  .quad g
  .data
  .quad g
  .bss
  .skip 32
`;

interface Fixture {
  bytes: Uint8Array;
  shoff: number;
  index(name: string): number;
  symtabOffset: number;
  relaOffset: number;
}

function fixture(arch: Arch): Fixture {
  const bytes = assemble(arch, SOURCE).bytes;
  const o = readElf(bytes, 'ok.o');
  const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
  return {
    bytes,
    shoff,
    index: (name) => o.sections.findIndex((s) => s.name === name),
    symtabOffset: Number(o.sections[o.symtabIndex].offset),
    relaOffset: Number(o.sections.find((s) => s.name === '.rela.text')!.offset),
  };
}

function patched(bytes: Uint8Array, offset: number, width: number, value: bigint): Uint8Array {
  const b = Uint8Array.from(bytes);
  for (let i = 0; i < width; i++) b[offset + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return b;
}

function expectError(t: import('ava').ExecutionContext, bytes: Uint8Array, kind: LoaderErrorKind, where: { section?: string; offset?: bigint } = {}): LoaderError {
  const err = t.throws(() => readElf(bytes, 'bad.o'), { instanceOf: LoaderError }) as LoaderError;
  t.true(err instanceof StackscopeError);
  t.is(err.kind, kind, err.message);
  t.is(err.file, 'bad.o');
  if ('section' in where) t.is(err.section, where.section, err.message);
  if ('offset' in where) t.is(err.offset, where.offset, err.message);
  return err;
}

for (const arch of ARCHES) {
  test(`${arch}: a valid object reads`, (t) => {
    const f = fixture(arch);
    const o = readElf(f.bytes, 'ok.o');
    t.is(o.arch, arch);
    t.is(o.sections[f.index('.bss')].type, SHT_NOBITS);
    t.is(o.sections[f.index('.bss')].size, 32n);
    t.is(o.sections[f.index('.text')].data.length, arch === 'x64' ? 10 : 16);
    const g = o.symbols.find((s) => s.name === 'g')!;
    t.is(g.shndx, 0);
    const rt = o.relocationSections.find((r) => r.target.name === '.text')!;
    t.is(rt.relocations.length, 1);
    t.is(rt.relocations[0].symbolIndex, g.index);
    t.is(rt.relocations[0].typeName, arch === 'x64' ? 'R_X86_64_64' : 'R_AARCH64_ABS64');
  });

  test(`${arch}: header problems are typed`, (t) => {
    const f = fixture(arch);
    expectError(t, patched(f.bytes, 0, 1, 0x7en), 'bad-magic', { offset: 0n });
    expectError(t, patched(f.bytes, 4, 1, 1n), 'bad-class', { offset: 4n });
    expectError(t, patched(f.bytes, 5, 1, 2n), 'bad-endianness', { offset: 5n });
    expectError(t, patched(f.bytes, 16, 2, 2n), 'bad-type', { offset: 16n });
    expectError(t, patched(f.bytes, 18, 2, 40n), 'bad-machine', { offset: 18n });
    expectError(t, f.bytes.slice(0, 40), 'truncated');
    expectError(t, new Uint8Array(0), 'bad-magic');
    expectError(t, patched(f.bytes, 40, 8, BigInt(f.bytes.length + 64)), 'truncated', { offset: 40n });
    expectError(t, patched(f.bytes, 40, 8, (1n << 64n) - 8n), 'truncated');
    expectError(t, patched(f.bytes, 60, 2, 0xffffn), 'truncated');
    expectError(t, patched(f.bytes, 62, 2, 200n), 'bad-index', { offset: 62n });
    expectError(t, patched(f.bytes, 58, 2, 40n), 'bad-header', { offset: 58n });
  });

  test(`${arch}: section header problems are typed and located`, (t) => {
    const f = fixture(arch);
    const text = f.index('.text');
    const data = f.index('.data');
    const bss = f.index('.bss');
    const sh = (i: number, field: number): number => f.shoff + i * 64 + field;
    // Contents past the end of the file, including sizes that would be huge allocations.
    expectError(t, patched(f.bytes, sh(text, 32), 8, 1n << 62n), 'truncated', { section: `#${text}` });
    expectError(t, patched(f.bytes, sh(text, 24), 8, BigInt(f.bytes.length)), 'truncated', { section: `#${text}` });
    // Overlap: .data placed on top of .text.
    const textOff = new DataView(f.bytes.buffer, f.bytes.byteOffset).getBigUint64(sh(text, 24), true);
    expectError(t, patched(f.bytes, sh(data, 24), 8, textOff), 'overlap');
    expectError(t, patched(f.bytes, sh(data, 24), 8, 8n), 'overlap');
    expectError(t, patched(f.bytes, sh(bss, 32), 8, 1n << 40n), 'oversized', { section: `#${bss}` });
    expectError(t, patched(f.bytes, sh(text, 48), 8, 3n), 'bad-alignment', { section: `#${text}` });
    expectError(t, patched(f.bytes, sh(text, 48), 8, 1n << 40n), 'oversized', { section: `#${text}` });
    expectError(t, patched(f.bytes, sh(text, 0), 4, 0xffffffn), 'bad-string', { section: '.shstrtab' });
  });

  test(`${arch}: symbol and relocation problems are typed and located`, (t) => {
    const f = fixture(arch);
    const o = readElf(f.bytes, 'ok.o');
    const g = o.symbols.find((s) => s.name === 'g')!;
    const symField = (i: number, field: number): number => f.symtabOffset + i * 24 + field;
    expectError(t, patched(f.bytes, symField(g.index, 6), 2, 500n), 'bad-index', { section: '.symtab', offset: BigInt(g.index * 24) });
    expectError(t, patched(f.bytes, symField(g.index, 0), 4, 0xfffffn), 'bad-string', { section: '.strtab' });
    expectError(t, patched(f.bytes, symField(g.index, 4), 1, 0x70n), 'bad-symbol', { section: '.symtab' });
    // Relocation with an unknown type, a symbol index past the table, and an offset past its section.
    expectError(t, patched(f.bytes, f.relaOffset + 8, 4, 200n), 'unknown-relocation', { section: '.rela.text', offset: 0n });
    expectError(t, patched(f.bytes, f.relaOffset + 12, 4, 9999n), 'bad-index', { section: '.rela.text', offset: 0n });
    const textSize = o.sections[f.index('.text')].size;
    const err = expectError(t, patched(f.bytes, f.relaOffset, 8, textSize - 4n), 'relocation-out-of-section', { section: '.text', offset: textSize - 4n });
    t.true(err.message.includes(arch === 'x64' ? 'R_X86_64_64' : 'R_AARCH64_ABS64'));
    expectError(t, patched(f.bytes, f.relaOffset, 8, (1n << 64n) - 1n), 'relocation-out-of-section', { section: '.text' });
    // sh_link of the relocation section must name the symbol table.
    const rela = f.index('.rela.text');
    expectError(t, patched(f.bytes, f.shoff + rela * 64 + 40, 4, 1n), 'bad-index', { section: '.rela.text' });
    expectError(t, patched(f.bytes, f.shoff + rela * 64 + 44, 4, 1000n), 'bad-index', { section: '.rela.text' });
  });
}

test('every truncation of a valid object is a LoaderError', (t) => {
  for (const arch of ARCHES) {
    const f = fixture(arch);
    let errors = 0;
    for (let n = 0; n < f.bytes.length; n++) {
      try {
        readElf(f.bytes.subarray(0, n), 'cut.o');
      } catch (e) {
        t.true(e instanceof LoaderError);
        errors++;
      }
    }
    // The section header table sits at the end, so every proper prefix is invalid.
    t.is(errors, f.bytes.length);
  }
});

test('mapping symbol names', (t) => {
  for (const n of ['$x', '$d', '$x.12', '$d.foo']) t.true(isMappingSymbolName(n), n);
  for (const n of ['x', '$xy', '$', 'f$x', '$q']) t.false(isMappingSymbolName(n), n);
});

test('many symbols pointing into one long name cost linear time, not symbols x length', async (t) => {
  const { writeElf } = await import('./elf-writer.ts');
  const count = 40000;
  const longName = 'n'.repeat(1 << 20);
  const symbols = [{ name: longName, section: '.data' }, ...Array.from({ length: count }, (_, i) => ({ name: `s${i}`, section: '.data' }))];
  const bytes = writeElf({ arch: 'x64', sections: [{ name: '.data', kind: 'data', bytes: new Uint8Array(8) }], symbols });
  const o = readElf(bytes, 'w.o');
  const symtab = o.sections[o.symtabIndex];
  const longAt = new DataView(bytes.buffer).getUint32(Number(symtab.offset) + o.symbols.findIndex((s) => s.name === longName) * 24, true);
  const view = new DataView(bytes.buffer);
  for (const s of o.symbols) if (s.name.startsWith('s')) view.setUint32(Number(symtab.offset) + s.index * 24, longAt + (s.index % 1000), true);
  // Timed against a baseline read in the same run (the untouched file, where every name is
  // short), so machine load moves both sides. Decoding each of the 40,000 names anew would cost
  // 40,000 × 1 MiB of byte reads, thousands of times the baseline; decoding once is a small multiple.
  const timed = (input: Uint8Array, name: string) => {
    const start = performance.now();
    const object = readElf(input, name);
    return { object, ms: performance.now() - start };
  };
  const pristine = writeElf({ arch: 'x64', sections: [{ name: '.data', kind: 'data', bytes: new Uint8Array(8) }], symbols });
  const baseline = Math.min(timed(pristine, 'baseline.o').ms, timed(pristine, 'baseline.o').ms);
  const hostile = timed(bytes, 'hostile.o');
  t.is(hostile.object.symbols.filter((s) => s.name.length > 1000000).length, count + 1);
  t.log(`hostile ${hostile.ms.toFixed(1)} ms, baseline ${baseline.toFixed(1)} ms`);
  t.true(hostile.ms < 50 * baseline + 50, `hostile ${hostile.ms.toFixed(0)} ms, baseline ${baseline.toFixed(0)} ms`);
});
