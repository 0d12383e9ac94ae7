import test from 'ava';
import { execFileSync } from 'node:child_process';
import type { Arch } from '../isa/arch.ts';
import { LoaderError, readElf } from './elf.ts';
import { link, symbolAt, type LinkedImage } from './link.ts';
import { assemble, writeTemp } from './test-toolchain.ts';
import { RELOC_DEFS, RELOC_USER } from './test-corpus.ts';

const REQUIRED: Record<Arch, string[]> = {
  x64: ['64', 'PC32', 'PLT32', '32', '32S', 'PC64', 'GOTPCREL', 'GOTPCRELX', 'REX_GOTPCRELX'].map((n) => 'R_X86_64_' + n),
  aarch64: [
    'ABS64',
    'ABS32',
    'PREL32',
    'PREL64',
    'CALL26',
    'JUMP26',
    'ADR_PREL_PG_HI21',
    'ADR_PREL_LO21',
    'ADD_ABS_LO12_NC',
    'LDST8_ABS_LO12_NC',
    'LDST16_ABS_LO12_NC',
    'LDST32_ABS_LO12_NC',
    'LDST64_ABS_LO12_NC',
    'LDST128_ABS_LO12_NC',
    'ADR_GOT_PAGE',
    'LD64_GOT_LO12_NC',
    'CONDBR19',
    'TSTBR14',
  ].map((n) => 'R_AARCH64_' + n),
};

// ---- Independent field decoders (written from the instruction encodings, not from relocate.ts).

const sext = (v: bigint, bits: number): bigint => BigInt.asIntN(bits, v);
function le(bytes: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
  return v;
}
const insnAt = (bytes: Uint8Array, at: number): number => Number(le(bytes, at, 4));
const adrImm = (insn: number): bigint => sext(BigInt((((insn >>> 5) & 0x7ffff) << 2) | ((insn >>> 29) & 3)), 21);
const page = (x: bigint): bigint => x & ~0xfffn;

/** Reads the bytes of the image at a guest address. */
function imageRead(img: LinkedImage, address: bigint, width: number): bigint {
  const s = img.sections.find((x) => address >= x.address && address + BigInt(width) <= x.address + x.size);
  if (s === undefined || s.nobits) throw new Error(`no bytes at ${address.toString(16)}`);
  return le(s.bytes, Number(address - s.address), width);
}

function linkPair(arch: Arch, externals: Map<string, bigint>, options: { base?: bigint } = {}) {
  const user = assemble(arch, RELOC_USER[arch]);
  const defs = assemble(arch, RELOC_DEFS[arch]);
  const img = link(
    [
      { file: 'user.o', bytes: user.bytes },
      { file: 'defs.o', bytes: defs.bytes },
    ],
    { externals, ...options },
  );
  return { img, userObj: readElf(user.bytes, 'user.o') };
}

/** objdump of the text segment as raw binary: address → instruction text. */
function disassemble(img: LinkedImage): Map<bigint, string> {
  const text = img.sections.filter((s) => s.segment === 'text');
  const start = text[0].address;
  const end = text[text.length - 1].address + text[text.length - 1].size;
  // Gaps between sections are filled with int3 on x86-64 so objdump stays in sync.
  const buf = new Uint8Array(Number(end - start)).fill(img.arch === 'x64' ? 0xcc : 0);
  for (const s of text) buf.set(s.bytes, Number(s.address - start));
  const path = writeTemp(buf, '.bin');
  const [tool, machine] = img.arch === 'x64' ? ['objdump', 'i386:x86-64'] : ['aarch64-linux-gnu-objdump', 'aarch64'];
  const out = execFileSync(tool, ['-D', '-b', 'binary', '-m', machine, `--adjust-vma=0x${start.toString(16)}`, path], { encoding: 'utf8' });
  const lines = new Map<bigint, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t(.*)$/.exec(line);
    if (m) lines.set(BigInt('0x' + m[1]), m[2]);
  }
  return lines;
}

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: every relocation type from GNU as is patched to the independently decoded target`, (t) => {
    const host = 0x5000000n;
    const { img, userObj } = linkPair(arch, new Map([['host_fn', host]]));
    const dis = disassemble(img);
    const covered = new Set<string>();
    const sym = (name: string): bigint => {
      const s = img.globals.get(name);
      if (s === undefined) throw new Error(`no symbol ${name}`);
      return s.address;
    };
    for (const rs of userObj.relocationSections) {
      const sec = img.sections.flatMap((s) => s.inputs.map((i) => ({ s, i }))).find((x) => x.i.file === 'user.o' && x.i.sectionIndex === rs.target.index)!;
      for (const r of rs.relocations) {
        const name = userObj.symbols[r.symbolIndex].name;
        const S = sym(name);
        const A = r.addend;
        const P = sec.i.address + r.offset;
        const at = Number(P - sec.s.address);
        const b = sec.s.bytes;
        const what = `${r.typeName} against ${name} at ${P.toString(16)}`;
        const slotValue = (slot: bigint): bigint => imageRead(img, slot, 8);
        // Where objdump should show a target, the address it must mention.
        let shown: bigint | undefined;
        switch (r.typeName) {
          case 'R_X86_64_64':
            t.is(le(b, at, 8), S + A, what);
            break;
          case 'R_X86_64_PC64':
            t.is(sext(le(b, at, 8), 64), S + A - P, what);
            break;
          case 'R_X86_64_PC32':
          case 'R_X86_64_PLT32':
            t.is(sext(le(b, at, 4), 32), S + A - P, what);
            if (rs.target.name === '.text') shown = S + A + 4n;
            break;
          case 'R_X86_64_32':
            t.is(le(b, at, 4), S + A, what);
            break;
          case 'R_X86_64_32S':
            t.is(sext(le(b, at, 4), 32), S + A, what);
            break;
          case 'R_X86_64_GOTPCREL':
          case 'R_X86_64_GOTPCRELX':
          case 'R_X86_64_REX_GOTPCRELX': {
            const slot = P - A + sext(le(b, at, 4), 32);
            t.is(slotValue(slot), S, `${what}: GOT slot content`);
            if (rs.target.name === '.text') shown = slot;
            break;
          }
          case 'R_AARCH64_ABS64':
            t.is(le(b, at, 8), S + A, what);
            break;
          case 'R_AARCH64_ABS32':
            t.is(le(b, at, 4), S + A, what);
            break;
          case 'R_AARCH64_PREL64':
            t.is(sext(le(b, at, 8), 64), S + A - P, what);
            break;
          case 'R_AARCH64_PREL32':
            t.is(sext(le(b, at, 4), 32), S + A - P, what);
            break;
          case 'R_AARCH64_ADR_PREL_PG_HI21': {
            const target = page(P) + (adrImm(insnAt(b, at)) << 12n);
            t.is(target, page(S + A), what);
            shown = target;
            break;
          }
          case 'R_AARCH64_ADR_PREL_LO21': {
            const target = P + adrImm(insnAt(b, at));
            t.is(target, S + A, what);
            shown = target;
            break;
          }
          case 'R_AARCH64_ADD_ABS_LO12_NC':
            t.is(BigInt((insnAt(b, at) >>> 10) & 0xfff), (S + A) & 0xfffn, what);
            break;
          case 'R_AARCH64_LDST8_ABS_LO12_NC':
          case 'R_AARCH64_LDST16_ABS_LO12_NC':
          case 'R_AARCH64_LDST32_ABS_LO12_NC':
          case 'R_AARCH64_LDST64_ABS_LO12_NC':
          case 'R_AARCH64_LDST128_ABS_LO12_NC': {
            const scale = { LDST8: 1n, LDST16: 2n, LDST32: 4n, LDST64: 8n, LDST128: 16n }[r.typeName.split('_')[2] as 'LDST8']!;
            t.is(BigInt((insnAt(b, at) >>> 10) & 0xfff) * scale, (S + A) & 0xfffn, what);
            break;
          }
          case 'R_AARCH64_ADR_GOT_PAGE': {
            const target = page(P) + (adrImm(insnAt(b, at)) << 12n);
            const slot = img.got.find((g) => g.value === S + A)!;
            t.truthy(slot, `${what}: has a GOT slot`);
            t.is(target, page(slot.address), what);
            shown = target;
            break;
          }
          case 'R_AARCH64_LD64_GOT_LO12_NC': {
            const slot = img.got.find((g) => g.value === S + A)!;
            t.is(BigInt((insnAt(b, at) >>> 10) & 0xfff) * 8n, slot.address & 0xfffn, what);
            t.is(slotValue(slot.address), S + A, `${what}: GOT slot content`);
            break;
          }
          case 'R_AARCH64_CALL26':
          case 'R_AARCH64_JUMP26': {
            const target = P + sext(BigInt(insnAt(b, at) & 0x3ffffff), 26) * 4n;
            t.is(target, S + A, what);
            shown = target;
            break;
          }
          case 'R_AARCH64_CONDBR19': {
            const target = P + sext(BigInt((insnAt(b, at) >>> 5) & 0x7ffff), 19) * 4n;
            t.is(target, S + A, what);
            shown = target;
            break;
          }
          case 'R_AARCH64_TSTBR14': {
            const target = P + sext(BigInt((insnAt(b, at) >>> 5) & 0x3fff), 14) * 4n;
            t.is(target, S + A, what);
            shown = target;
            break;
          }
          default:
            t.fail(`unexpected relocation ${r.typeName}`);
        }
        covered.add(r.typeName);
        if (shown !== undefined) {
          // The instruction containing P: the nearest disassembled address at or below it.
          let best: bigint | undefined;
          for (const a of dis.keys()) if (a <= P && (best === undefined || a > best)) best = a;
          const line = dis.get(best!)!;
          t.true(line.includes(`0x${shown.toString(16)}`), `${what}: objdump shows '${line}', expected 0x${shown.toString(16)}`);
        }
      }
    }
    t.deepEqual([...covered].filter((n) => REQUIRED[arch].includes(n)).sort(), [...REQUIRED[arch]].sort());
  });

  test(`${arch}: calls to a far host function go through a veneer that reaches it`, (t) => {
    const host = 0x10_0000_0000n;
    const { img } = linkPair(arch, new Map([['host_fn', host]]));
    t.is(img.veneers.length, 1);
    const v = img.veneers[0];
    t.is(v.target, host);
    t.is(v.symbol, 'host_fn');
    const veneerSection = img.sections.find((s) => s.name === '.text.veneers')!;
    t.is(veneerSection.address, v.address);
    t.is(symbolAt(img, v.address + 4n)?.name, '__veneer_host_fn');
    t.true(veneerSection.perms.exec && !veneerSection.perms.write);
    const dis = disassemble(img);
    const text = [...dis.entries()].filter(([a]) => a >= v.address && a < v.address + 16n).map(([, l]) => l);
    if (arch === 'aarch64') {
      t.regex(text[0], /ldr\s+x16, 0x[0-9a-f]+/);
      t.regex(text[1], /br\s+x16/);
      t.is(imageRead(img, v.address + 8n, 8), host);
      // The bl to host_fn now lands on the veneer.
      const callers = [...dis.entries()].filter(([, l]) => new RegExp(`bl\\s+0x${v.address.toString(16)}\\b`).test(l));
      t.is(callers.length, 1);
    } else {
      t.regex(text[0], /jmp\s+\*0x2\(%rip\)/);
      t.is(imageRead(img, v.address + 8n, 8), host);
      const callers = [...dis.entries()].filter(([, l]) => new RegExp(`call\\s+0x${v.address.toString(16)}\\b`).test(l));
      t.is(callers.length, 1);
    }
  });
}

test('aarch64: a branch to a section aligned 256 MiB away gets a veneer placed after the calling section', (t) => {
  const far = assemble('aarch64', '.section .text.far,"ax"\n.p2align 28\n.globl far_fn\nfar_fn: ret\n.globl far_fn2\nfar_fn2: b near_fn\n');
  const near = assemble('aarch64', '.text\n.globl near_fn\nnear_fn: bl far_fn\n b far_fn\n bl far_fn2\n ret\n');
  const img = link([
    { file: 'near.o', bytes: near.bytes },
    { file: 'far.o', bytes: far.bytes },
  ]);
  const farFn = img.globals.get('far_fn')!.address;
  const nearFn = img.globals.get('near_fn')!.address;
  t.true(farFn - nearFn > 128n << 20n, 'far_fn really is out of direct range');
  // One veneer per distinct target in the caller's group, one for the reverse direction.
  t.deepEqual(img.veneers.map((v) => v.symbol).sort(), ['far_fn', 'far_fn2', 'near_fn']);
  const text = img.sections.find((s) => s.name === '.text')!;
  const insn = (i: number): number => insnAt(text.bytes, i * 4);
  const dest = (i: number): bigint => text.address + BigInt(i * 4) + sext(BigInt(insn(i) & 0x3ffffff), 26) * 4n;
  const byTarget = new Map(img.veneers.map((v) => [v.target, v.address]));
  t.is(dest(0), byTarget.get(farFn)!);
  t.is(dest(1), byTarget.get(farFn)!);
  t.is(insn(0) >>> 26, 0b100101, 'still a bl');
  t.is(insn(1) >>> 26, 0b000101, 'still a b');
  t.is(imageRead(img, byTarget.get(farFn)! + 8n, 8), farFn);
  t.is(imageRead(img, byTarget.get(farFn)!, 4), 0x58000050n);
  t.is(imageRead(img, byTarget.get(farFn)! + 4n, 4), 0xd61f0200n);
});

test('overflowing relocations name type, section, offset and symbol', (t) => {
  const cases: { arch: Arch; src: string; ext: bigint; type: string }[] = [
    { arch: 'x64', src: '.text\n nop\n lea far(%rip), %rax\n', ext: 0x1_0000_0000_0n, type: 'R_X86_64_PC32' },
    { arch: 'x64', src: '.text\n mov $far, %eax\n', ext: 0x1_0000_0000n, type: 'R_X86_64_32' },
    { arch: 'x64', src: '.text\n mov $far, %rax\n', ext: 0x8000_0000n, type: 'R_X86_64_32S' },
    { arch: 'aarch64', src: '.text\n nop\n adr x0, far\n', ext: 0x400000n + (1n << 20n) + 64n, type: 'R_AARCH64_ADR_PREL_LO21' },
    { arch: 'aarch64', src: '.text\n b.ne far\n', ext: 0x400000n + (1n << 20n) + 64n, type: 'R_AARCH64_CONDBR19' },
    { arch: 'aarch64', src: '.text\n tbz x1, #1, far\n', ext: 0x400000n + (1n << 15n) + 64n, type: 'R_AARCH64_TSTBR14' },
    { arch: 'aarch64', src: '.text\n adrp x0, far\n', ext: 0x4_0000_0000_0n, type: 'R_AARCH64_ADR_PREL_PG_HI21' },
    { arch: 'aarch64', src: '.data\n .4byte far\n', ext: 0x1_0000_0000n, type: 'R_AARCH64_ABS32' },
  ];
  for (const c of cases) {
    const o = assemble(c.arch, c.src);
    const err = t.throws(() => link([{ file: 'over.o', bytes: o.bytes }], { externals: new Map([['far', c.ext]]) }), { instanceOf: LoaderError });
    t.is((err as LoaderError).kind, 'relocation-overflow', c.type);
    t.true(err!.message.includes(c.type) && err!.message.includes("'far'"), err!.message);
    t.is((err as LoaderError).file, 'over.o');
    t.is((err as LoaderError).section, c.src.includes('.data') ? '.data' : '.text');
    t.is((err as LoaderError).offset, c.src.includes('nop') ? (c.arch === 'x64' ? 4n : 4n) : c.arch === 'x64' ? (c.type === 'R_X86_64_32' ? 1n : 3n) : 0n);
  }
});

test('aarch64: a misaligned :lo12: load is rejected instead of silently truncated', (t) => {
  const o = assemble('aarch64', '.text\n adrp x0, v\n ldr x1, [x0, :lo12:v]\n.data\n .byte 1\n.globl v\nv: .quad 2\n');
  const err = t.throws(() => link([{ file: 'mis.o', bytes: o.bytes }]), { instanceOf: LoaderError });
  t.is((err as LoaderError).kind, 'misaligned-relocation');
  t.true(err!.message.includes('R_AARCH64_LDST64_ABS_LO12_NC'));
});

test('extra types: AArch64 MOVW_UABS_G0..G3 and 16-bit data; x86-64 16/8-bit data', (t) => {
  const sym = 0x1234_5678_9abc_def0n;
  const a = assemble(
    'aarch64',
    '.text\n movz x0, #:abs_g3:s\n movk x0, #:abs_g2_nc:s\n movk x0, #:abs_g1_nc:s\n movk x0, #:abs_g0_nc:s\n' +
      ' movz x1, #:abs_g0:small\n movz x1, #:abs_g1:small\n movz x1, #:abs_g2:small\n' +
      '.data\n .2byte small\n .2byte small - .\n',
  );
  const small = 0x4321n;
  const img = link([{ file: 'm.o', bytes: a.bytes }], {
    base: 0n,
    externals: new Map([
      ['s', sym],
      ['small', small],
    ]),
  });
  const text = img.sections.find((s) => s.name === '.text')!;
  const imm16 = (i: number): bigint => BigInt((insnAt(text.bytes, i * 4) >>> 5) & 0xffff);
  t.is((imm16(0) << 48n) | (imm16(1) << 32n) | (imm16(2) << 16n) | imm16(3), sym);
  t.deepEqual([imm16(4), imm16(5), imm16(6)], [small, 0n, 0n]);
  const data = img.sections.find((s) => s.name === '.data')!;
  t.is(le(data.bytes, 0, 2), small);
  t.is(sext(le(data.bytes, 2, 2), 16), small - (data.address + 2n));
  const over = assemble('aarch64', '.text\n movz x1, #:abs_g0:big\n');
  const err = t.throws(() => link([{ file: 'o.o', bytes: over.bytes }], { externals: new Map([['big', 0x10000n]]) }), { instanceOf: LoaderError }) as LoaderError;
  t.is(err.kind, 'relocation-overflow');
  t.true(err.message.includes('R_AARCH64_MOVW_UABS_G0'));

  const x = assemble('x64', '.data\n .word small\n .byte tiny\n .word small - .\n .byte near - .\n');
  const ximg = link([{ file: 'x.o', bytes: x.bytes }], {
    base: 0n,
    externals: new Map([
      ['small', small],
      ['tiny', 0x7fn],
      ['near', 0x40n],
    ]),
  });
  const xd = ximg.sections.find((s) => s.name === '.data')!;
  t.is(le(xd.bytes, 0, 2), small);
  t.is(le(xd.bytes, 2, 1), 0x7fn);
  t.is(sext(le(xd.bytes, 3, 2), 16), small - (xd.address + 3n));
  t.is(sext(le(xd.bytes, 5, 1), 8), 0x40n - (xd.address + 5n));
  const types = new Set(readElf(x.bytes, 'x.o').relocationSections.flatMap((rs) => rs.relocations.map((r) => r.typeName)));
  t.deepEqual([...types].sort(), ['R_X86_64_16', 'R_X86_64_8', 'R_X86_64_PC16', 'R_X86_64_PC8']);
});
