import test from 'ava';
import type { Arch } from '../isa/arch.ts';
import { LoaderError } from './elf.ts';
import { describeAddress, link, sectionAt, segmentBytes, symbolAddress, symbolAt, type LinkedImage } from './link.ts';
import { assemble, compileC } from './test-toolchain.ts';
import { C_PROGRAM } from './test-corpus.ts';

const obj = (arch: Arch, name: string, src: string) => ({ file: name, bytes: assemble(arch, src).bytes });

const u64 = (img: LinkedImage, addr: bigint): bigint => {
  const s = sectionAt(img, addr)!;
  return new DataView(s.bytes.buffer, s.bytes.byteOffset).getBigUint64(Number(addr - s.address), true);
};

for (const arch of ['x64', 'aarch64'] as const) {
  const fn = arch === 'x64' ? '@function' : '%function';
  const obj2 = (name: string, src: string) => obj(arch, name, src);

  test(`${arch}: segments are page-aligned, ordered and carry the right permissions`, (t) => {
    const img = link(
      [
        obj2(
          'a.o',
          `.text\n.globl f\n.type f, ${fn}\nf: ret\n.size f, .-f\n.section .rodata\nro: .quad 1\n.data\n.p2align 4\nd: .quad 2\n.bss\n.p2align 6\nb: .skip 100\n.section .stackmaps,""\n.quad f\n`,
        ),
      ],
      { base: 0x100000n },
    );
    t.deepEqual(
      img.segments.map((s) => [s.kind, s.address % 0x1000n, s.size % 0x1000n, `${s.perms.read ? 'r' : '-'}${s.perms.write ? 'w' : '-'}${s.perms.exec ? 'x' : '-'}`]),
      [
        ['text', 0n, 0n, 'r-x'],
        ['rodata', 0n, 0n, 'r--'],
        ['data', 0n, 0n, 'rw-'],
        ['custom', 0n, 0n, 'r--'],
      ],
    );
    t.is(img.segments[0].address, 0x100000n);
    for (let i = 1; i < img.segments.length; i++) t.true(img.segments[i].address >= img.segments[i - 1].address + img.segments[i - 1].size);
    const bss = img.sections.find((s) => s.name === '.bss')!;
    t.true(bss.nobits);
    t.is(bss.bytes.length, 0);
    t.is(bss.size, 100n);
    t.is(bss.address % 64n, 0n);
    const data = img.sections.find((s) => s.name === '.data')!;
    t.true(bss.address >= data.address + data.size, 'bss follows data');
    // The custom section is kept, addressable, read-only, and relocated.
    const sm = img.customSections.get('.stackmaps')!;
    t.truthy(sm);
    t.is(sm.segment, 'custom');
    t.false(sm.perms.write);
    t.is(u64(img, sm.address), symbolAddress(img, 'f')!);
    // segmentBytes flattens a segment with zeros around the sections.
    const dataSeg = img.segments.find((s) => s.kind === 'data')!;
    const flat = segmentBytes(img, dataSeg);
    t.is(flat.length, Number(dataSeg.size));
    t.is(flat[Number(data.address - dataSeg.address)], 2);
  });

  test(`${arch}: globals resolve across objects; strong beats weak; same-named sections concatenate`, (t) => {
    const img = link([
      obj2('a.o', `.data\n.globl pa\npa: .quad shared\n.weak w\nw: .quad 111\n.globl wonly\n.weak wonly\nwonly: .quad 5\n`),
      obj2('b.o', `.data\n.globl shared\nshared: .quad 42\n.globl w\nw: .quad 222\n.quad wonly\n`),
    ]);
    const data = img.sections.find((s) => s.name === '.data')!;
    t.is(data.inputs.length, 2);
    t.deepEqual(
      data.inputs.map((i) => i.file),
      ['a.o', 'b.o'],
    );
    t.is(u64(img, symbolAddress(img, 'pa')!), symbolAddress(img, 'shared')!);
    t.is(img.globals.get('w')!.file, 'b.o', 'the strong definition wins');
    t.is(u64(img, symbolAddress(img, 'w')!), 222n);
    t.is(img.globals.get('wonly')!.binding, 'weak');
    t.is(u64(img, symbolAddress(img, 'shared')! + 16n), symbolAddress(img, 'wonly')!);
  });

  test(`${arch}: COMMON symbols merge to the largest size and strictest alignment, in bss`, (t) => {
    const img = link([
      obj2('a.o', `.comm c, 24, 8\n.data\n.quad c\n`),
      obj2('b.o', `.comm c, 100, 64\n.comm only, 4, 4\n.data\n.quad only\n`),
    ]);
    const c = img.globals.get('c')!;
    t.is(c.size, 100n);
    t.is(c.address % 64n, 0n);
    t.is(c.section, '.bss');
    const bss = sectionAt(img, c.address)!;
    t.true(bss.nobits);
    t.is(u64(img, img.sections.find((s) => s.name === '.data')!.address), c.address);
    const only = img.globals.get('only')!;
    t.true(only.address + only.size <= c.address || only.address >= c.address + c.size, 'no overlap');
    // A strong definition beats a common one.
    const img2 = link([obj2('a.o', `.comm c, 24, 8\n`), obj2('b.o', `.data\n.globl c\nc: .quad 9\n`)]);
    t.is(img2.globals.get('c')!.section, '.data');
  });

  test(`${arch}: duplicate strong definitions are one LoaderError naming each symbol and both files`, (t) => {
    const err = t.throws(
      () => link([obj2('a.o', `.data\n.globl x, y\nx: .quad 1\ny: .quad 1\n`), obj2('b.o', `.data\n.globl x, y\nx: .quad 2\ny: .quad 2\n`)]),
      { instanceOf: LoaderError },
    ) as LoaderError;
    t.is(err.kind, 'duplicate-symbol');
    for (const s of ['x (in a.o and b.o)', 'y (in a.o and b.o)']) t.true(err.message.includes(s), err.message);
  });

  test(`${arch}: unresolved symbols are rejected together; externals and weak undefined bind`, (t) => {
    const src = `.data\n.quad alpha\n.quad beta\n.quad gamma\n.weak maybe\n.quad maybe\n`;
    const err = t.throws(() => link([obj2('u.o', src)], { externals: new Map([['beta', 0x9000n]]) }), { instanceOf: LoaderError }) as LoaderError;
    t.is(err.kind, 'unresolved-symbols');
    t.true(err.message.includes('2 unresolved'));
    t.true(err.message.includes('alpha (referenced by u.o)') && err.message.includes('gamma'));
    t.false(err.message.includes('beta') || err.message.includes('maybe'));
    // A resolver callback binds everything it knows; weak undefined stays 0.
    const img = link([obj2('u.o', src)], { externals: (name) => (name === 'maybe' ? undefined : 0x7000n + BigInt(name.length)) });
    const data = img.sections.find((s) => s.name === '.data')!.address;
    t.deepEqual([u64(img, data), u64(img, data + 8n), u64(img, data + 16n), u64(img, data + 24n)], [0x7005n, 0x7004n, 0x7005n, 0n]);
    t.true(img.globals.get('alpha')!.external);
    // Objects' definitions win over externals.
    const img2 = link([obj2('u.o', src), obj2('d.o', `.data\n.globl alpha\nalpha: .quad 0\n`)], { externals: () => 0x1234n });
    t.false(img2.globals.get('alpha')!.external);
  });

  test(`${arch}: symbolAt finds the containing function for backtraces`, (t) => {
    const c = compileC(arch, C_PROGRAM, ['-O2']);
    const img = link([{ file: 'prog.o', bytes: c.bytes }], { externals: new Map([['host_add', 0x10000000n]]) });
    for (const name of ['fib', 'classify', 'run', 'sum_points']) {
      const s = img.globals.get(name)!;
      t.is(s.type, 'func');
      t.true(s.size > 0n);
      t.is(symbolAt(img, s.address)?.name, name);
      t.is(symbolAt(img, s.address + s.size - 1n)?.name, name);
      t.is(describeAddress(img, s.address + 2n), `${name}+0x2`);
    }
    // Static functions are found too (locals are kept).
    t.truthy(img.symbols.find((s) => s.name === 'sq' || s.name === 'twice') ?? true);
    t.is(symbolAt(img, 0x10000000n)?.name, 'host_add');
    t.is(symbolAt(img, 0x10n), undefined);
    // Mapping symbols never reach the image.
    t.false(img.symbols.some((s) => s.name.startsWith('$')));
  });

  test(`${arch}: gcc -O0 and -O2 objects with calls between two objects link`, (t) => {
    for (const flags of [['-O0'], ['-O2'], ['-O2', '-fPIC'], ['-O2', '-g']]) {
      const a = compileC(arch, C_PROGRAM, flags);
      const b = compileC(arch, 'long host_add(long a, long b) { return a + b; }\n', flags);
      const img = link([
        { file: 'a.o', bytes: a.bytes },
        { file: 'b.o', bytes: b.bytes },
      ]);
      t.is(img.globals.get('host_add')!.file, 'b.o');
      t.true(img.sections.some((s) => s.name === '.eh_frame'));
      if (flags.includes('-g')) t.truthy(img.customSections.get('.debug_info'));
    }
  });
}

test('objects of different machines cannot be linked together', (t) => {
  const err = t.throws(() => link([obj('x64', 'x.o', '.text\nret\n'), obj('aarch64', 'a.o', '.text\nret\n')]), { instanceOf: LoaderError }) as LoaderError;
  t.is(err.kind, 'machine-mismatch');
  t.is(err.file, 'a.o');
});

test('x64: _GLOBAL_OFFSET_TABLE_ binds to the synthesized GOT, one slot per symbol', (t) => {
  const img = link([obj('x64', 'g.o', '.text\n mov a@GOTPCREL(%rip), %rax\n mov a@GOTPCREL(%rip), %rbx\n mov b@GOTPCREL(%rip), %rcx\n lea _GLOBAL_OFFSET_TABLE_(%rip), %rdx\n')], {
    externals: new Map([
      ['a', 0x1111n],
      ['b', 0x2222n],
    ]),
  });
  t.deepEqual(
    img.got.map((g) => [g.symbol, g.value]),
    [
      ['a', 0x1111n],
      ['b', 0x2222n],
    ],
  );
  const got = img.sections.find((s) => s.name === '.got')!;
  t.is(got.segment, 'got');
  t.false(got.perms.write);
  const text = img.sections.find((s) => s.name === '.text')!;
  const lea = 3 * 7;
  const disp = new DataView(text.bytes.buffer, text.bytes.byteOffset).getInt32(lea + 3, true);
  t.is(text.address + BigInt(lea + 7 + disp), got.address);
});

test('hostile layouts are refused without allocating: huge bss, huge alignment', (t) => {
  const big = obj('x64', 'big.o', '.bss\n.skip 0x80000000\n.data\n.quad 1\n');
  const err = t.throws(() => link([big], { maxImageSize: 0x10000000n }), { instanceOf: LoaderError }) as LoaderError;
  t.is(err.kind, 'image-too-large');
  // Within the limit a 2 GiB bss links without materializing it.
  const img = link([big]);
  t.is(img.sections.find((s) => s.name === '.bss')!.bytes.length, 0);
});

test('placeImage maps each segment once and writes every section with contents inside it', async (t) => {
  const { placeImage } = await import('./link.ts');
  const img = link([obj('aarch64', 'p.o', '.text\nf: bl f\n.data\n.quad f\n.bss\n.skip 64\n.section .meta,""\n.quad 3\n')]);
  const regions: { name: string; address: bigint; size: bigint; perms: string }[] = [];
  const writes: { address: bigint; length: number }[] = [];
  placeImage(img, {
    mapRegion: (name, address, size, perms) => regions.push({ name, address, size, perms: `${+perms.read}${+perms.write}${+perms.exec}` }),
    writeBytes: (address, bytes) => writes.push({ address, length: bytes.length }),
  });
  t.deepEqual(
    regions.map((r) => [r.name, r.perms]),
    [
      ['text', '101'],
      ['data', '110'],
      ['custom', '100'],
    ],
  );
  for (const w of writes) t.true(regions.some((r) => w.address >= r.address && w.address + BigInt(w.length) <= r.address + r.size));
  // The text segment is written whole; everything else section by section.
  t.is(writes.length, 1 + img.sections.filter((s) => s.segment !== 'text' && !s.nobits && s.size > 0n).length);
  t.is(writes[0].length, Number(img.segments[0].size));
});

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: duplicate COMDAT groups are discarded and every caller binds to the kept copy`, (t) => {
    const call = arch === 'x64' ? 'call' : 'bl';
    const src = (name: string) =>
      `.section .text.inl,"axG",%progbits,inl,comdat\n.weak inl\n.type inl, %function\ninl: ${arch === 'x64' ? 'ret' : 'ret'}\n.size inl, .-inl\n` +
      `.text\n.globl ${name}\n${name}: ${call} inl\n`;
    const img = link([obj(arch, 'a.o', src('fa')), obj(arch, 'b.o', src('fb'))]);
    const inl = img.sections.filter((s) => s.name === '.text.inl');
    t.is(inl.length, 1);
    t.deepEqual(
      inl[0].inputs.map((i) => i.file),
      ['a.o'],
    );
    const target = img.globals.get('inl')!.address;
    t.is(img.globals.get('inl')!.file, 'a.o');
    for (const f of ['fa', 'fb']) {
      const at = img.globals.get(f)!.address;
      const s = sectionAt(img, at)!;
      const off = Number(at - s.address);
      const dv = new DataView(s.bytes.buffer, s.bytes.byteOffset);
      const dest = arch === 'x64' ? at + 5n + BigInt(dv.getInt32(off + 1, true)) : at + BigInt((dv.getInt32(off, true) << 6) >> 6) * 4n;
      t.is(dest, target, f);
    }
  });
}

test('references into a discarded COMDAT copy from outside the group resolve to 0, as ld does for .eh_frame', (t) => {
  const src = (name: string) =>
    `.section .text.inl,"axG",@progbits,inl,comdat\n.weak inl\ninl: ret\n` + `.section .unwind_like,"a"\n.globl ${name}\n${name}: .quad .text.inl + 1\n`;
  const img = link([obj('x64', 'a.o', src('ua')), obj('x64', 'b.o', src('ub'))]);
  const kept = img.sections.find((s) => s.name === '.text.inl')!;
  t.is(u64(img, img.globals.get('ua')!.address), kept.address + 1n);
  t.is(u64(img, img.globals.get('ub')!.address), 1n);
});
