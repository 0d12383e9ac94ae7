/**
 * Property test: mutated objects of both arches (bit flips, truncation, and replacement of
 * fields in the ELF header, section headers, symbols and relocations) either link or fail with
 * a LoaderError — never another exception, a crash or a hang.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { LoaderError, readElf } from './elf.ts';
import { writeElf } from './elf-writer.ts';
import { link } from './link.ts';
import { assemble, compileC } from './test-toolchain.ts';
import { C_PROGRAM, RELOC_DEFS, RELOC_USER } from './test-corpus.ts';

interface Field {
  offset: number;
  width: number;
}
interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Linked alongside the mutated seed so symbol resolution and relocation get exercised. */
  partner: Uint8Array | undefined;
  fields: Field[];
}

/** Every structural field of a valid object, located with the (trusted, unmutated) reader. */
function fieldsOf(bytes: Uint8Array): Field[] {
  const o = readElf(bytes, 'seed');
  const fields: Field[] = [4, 5, 6, 7].map((offset) => ({ offset, width: 1 }));
  for (const [offset, width] of [
    [16, 2],
    [18, 2],
    [20, 4],
    [40, 8],
    [52, 2],
    [58, 2],
    [60, 2],
    [62, 2],
  ]) {
    fields.push({ offset, width });
  }
  const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
  for (let i = 0; i < o.sections.length; i++) {
    for (const [f, width] of [
      [0, 4],
      [4, 4],
      [8, 8],
      [24, 8],
      [32, 8],
      [40, 4],
      [44, 4],
      [48, 8],
      [56, 8],
    ]) {
      fields.push({ offset: shoff + i * 64 + f, width });
    }
  }
  const symtab = o.sections[o.symtabIndex];
  for (let i = 0; i < o.symbols.length; i++) {
    for (const [f, width] of [
      [0, 4],
      [4, 1],
      [5, 1],
      [6, 2],
      [8, 8],
      [16, 8],
    ]) {
      fields.push({ offset: Number(symtab.offset) + i * 24 + f, width });
    }
  }
  for (const rs of o.relocationSections) {
    for (let i = 0; i < rs.relocations.length; i++) {
      for (const [f, width] of [
        [0, 8],
        [8, 4],
        [12, 4],
        [16, 8],
      ]) {
        fields.push({ offset: Number(rs.section.offset) + i * 24 + f, width });
      }
    }
  }
  for (const g of o.groups) {
    for (let w = 0; w <= g.members.length; w++) fields.push({ offset: Number(g.section.offset) + w * 4, width: 4 });
  }
  return fields;
}

function seedsFor(arch: Arch): Seed[] {
  const user = assemble(arch, RELOC_USER[arch]).bytes;
  const defs = assemble(arch, RELOC_DEFS[arch]).bytes;
  const prog = compileC(arch, C_PROGRAM + '\nint common_thing;\n', ['-O2', '-fcommon']).bytes;
  const written = writeElf({
    arch,
    sections: [
      { name: '.text', kind: 'text', bytes: new Uint8Array(32) },
      { name: '.data', kind: 'data', bytes: new Uint8Array(24), align: 8n },
      { name: '.bss', kind: 'bss', size: 64n, align: 16n },
      { name: '.stackmaps', kind: 'custom', bytes: new Uint8Array(16), align: 8n },
    ],
    symbols: [
      { name: 'entry', section: '.text', type: 'func', size: 32n },
      { name: 'counter', section: '.data', value: 8n, type: 'object', size: 8n },
      { name: 'ext', type: 'func' },
      { name: 'cm', section: 'COMMON', value: 8n, size: 24n },
    ],
    relocations:
      arch === 'x64'
        ? [
            { section: '.text', offset: 1n, type: 'PLT32', symbol: 'ext', addend: -4n },
            { section: '.text', offset: 8n, type: 'REX_GOTPCRELX', symbol: 'counter', addend: -4n },
            { section: '.data', offset: 0n, type: '64', symbol: 'entry' },
            { section: '.stackmaps', offset: 0n, type: '64', sectionSymbol: '.text', addend: 4n },
          ]
        : [
            { section: '.text', offset: 0n, type: 'CALL26', symbol: 'ext' },
            { section: '.text', offset: 4n, type: 'ADR_PREL_PG_HI21', symbol: 'counter' },
            { section: '.text', offset: 8n, type: 'LDST64_ABS_LO12_NC', symbol: 'counter' },
            { section: '.data', offset: 0n, type: 'ABS64', symbol: 'cm' },
            { section: '.stackmaps', offset: 0n, type: 'ABS64', sectionSymbol: '.text', addend: 4n },
          ],
  });
  return [
    { name: `${arch}-user.o`, bytes: user, partner: defs, fields: fieldsOf(user) },
    { name: `${arch}-defs.o`, bytes: defs, partner: user, fields: fieldsOf(defs) },
    { name: `${arch}-prog.o`, bytes: prog, partner: undefined, fields: fieldsOf(prog) },
    { name: `${arch}-written.o`, bytes: written, partner: undefined, fields: fieldsOf(written) },
  ];
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'field'; field: number; value: bigint; choice: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('field' as const),
      field: fc.nat(),
      choice: fc.integer({ min: 0, max: 11 }),
      value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  },
);

/** Values that tend to hit edge cases of offsets, sizes, counts and indices. */
function interesting(choice: number, random: bigint, width: number, fileLength: number): bigint {
  const max = (1n << BigInt(width * 8)) - 1n;
  const table = [0n, 1n, 2n, max, max >> 1n, BigInt(fileLength), BigInt(fileLength) - 8n, BigInt(fileLength) + 1n, 0xfff1n, 1n << 31n, random & 0xfn, random];
  return table[choice] & max;
}

function mutate(seed: Seed, mutations: Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(seed.bytes);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    if (m.kind === 'flip') {
      bytes[m.at % bytes.length] ^= 1 << m.bit;
    } else if (m.kind === 'truncate') {
      bytes = bytes.slice(0, m.at % bytes.length);
    } else {
      const f = seed.fields[m.field % seed.fields.length];
      let v = interesting(m.choice, m.value, f.width, seed.bytes.length);
      for (let i = 0; i < f.width && f.offset + i < bytes.length; i++) {
        bytes[f.offset + i] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
  }
  return bytes;
}

const outcomes = { linked: 0, loaderErrors: 0 };

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: 15,000 mutated objects each link or raise a LoaderError`, (t) => {
    const seeds = seedsFor(arch);
    // Unmutated seeds link (so mutations start from a valid state).
    for (const s of seeds) {
      t.notThrows(() => link([{ file: s.name, bytes: s.bytes }, ...(s.partner ? [{ file: 'partner.o', bytes: s.partner }] : [])], { externals: () => 0x5000000n }));
    }
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (seedIndex, mutations) => {
        const seed = seeds[seedIndex % seeds.length];
        const bytes = mutate(seed, mutations);
        try {
          link([{ file: seed.name, bytes }, ...(seed.partner ? [{ file: 'partner.o', bytes: seed.partner }] : [])], {
            externals: (name) => (name.length % 3 === 0 ? undefined : 0x5000000n),
          });
          outcomes.linked++;
        } catch (e) {
          if (!(e instanceof LoaderError)) throw e;
          kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
          if (typeof e.file !== 'string' || e.message.length === 0) return false;
          outcomes.loaderErrors++;
        }
        return true;
      }),
      // STACKSCOPE_FUZZ_SEED / _RUNS allow longer exploratory runs; the default is fixed and deterministic.
      {
        numRuns: Number(process.env.STACKSCOPE_FUZZ_RUNS ?? 15000),
        seed: Number(process.env.STACKSCOPE_FUZZ_SEED ?? (arch === 'x64' ? 0x5eed : 0xa64)),
      },
    );
    t.log(`linked so far: ${outcomes.linked}; error kinds: ${[...kinds].map(([k, n]) => `${k}=${n}`).join(' ')}`);
    // The mutations must reach deep checks, not only the magic number.
    t.true(kinds.size >= 10, `only ${kinds.size} kinds of error were reached`);
  });
}

test.after('both outcomes occurred', () => {
  if (outcomes.linked === 0 || outcomes.loaderErrors === 0) throw new Error(`outcomes ${JSON.stringify(outcomes)}`);
});
