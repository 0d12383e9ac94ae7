/**
 * The data behind `stackscope inspect file.o [--json]`: sections, symbols and relocations of
 * one object, spelled the way `readelf -S -s -r --wide` spells them (type names, flag letters,
 * `UND`/`ABS`/`COM` indices), so the two can be compared line by line.
 */
import { hex } from '../isa/error.ts';
import type { Arch } from '../isa/arch.ts';
import { SHN_ABS, SHN_COMMON, SHN_UNDEF, readElf, type ElfObject } from './elf.ts';

export interface InspectSection {
  readonly index: number;
  readonly name: string;
  /** readelf's spelling: PROGBITS, NOBITS, RELA, X86_64_UNWIND, ... */
  readonly type: string;
  readonly address: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly entsize: bigint;
  /** readelf's flag letters, e.g. "AX", "WA", "I". */
  readonly flags: string;
  readonly link: number;
  readonly info: number;
  /** As stored (0 stays 0, unlike ElfSection.addralign). */
  readonly align: bigint;
}

export interface InspectSymbol {
  readonly index: number;
  readonly value: bigint;
  readonly size: bigint;
  /** NOTYPE, OBJECT, FUNC, SECTION, FILE, COMMON, TLS, ... */
  readonly type: string;
  /** LOCAL, GLOBAL, WEAK, UNIQUE */
  readonly binding: string;
  /** DEFAULT, INTERNAL, HIDDEN, PROTECTED */
  readonly visibility: string;
  /** A section index, or UND / ABS / COM. */
  readonly ndx: number | 'UND' | 'ABS' | 'COM';
  readonly name: string;
  /** AArch64 mapping symbol ($x / $d); the linker ignores these. */
  readonly mapping: boolean;
}

export interface InspectRelocation {
  readonly offset: bigint;
  readonly info: bigint;
  readonly type: string;
  readonly symbolIndex: number;
  readonly symbolValue: bigint;
  /** Empty for relocations against symbol 0. */
  readonly symbolName: string;
  readonly addend: bigint;
}

export interface InspectRelocationSection {
  readonly name: string;
  readonly offset: bigint;
  readonly target: string;
  readonly entries: readonly InspectRelocation[];
}

export interface InspectReport {
  readonly file: string;
  readonly arch: Arch;
  readonly machine: string;
  readonly sections: readonly InspectSection[];
  readonly symbols: readonly InspectSymbol[];
  readonly relocationSections: readonly InspectRelocationSection[];
}

const SECTION_TYPES: Record<number, string> = {
  0: 'NULL',
  1: 'PROGBITS',
  2: 'SYMTAB',
  3: 'STRTAB',
  4: 'RELA',
  5: 'HASH',
  6: 'DYNAMIC',
  7: 'NOTE',
  8: 'NOBITS',
  9: 'REL',
  10: 'SHLIB',
  11: 'DYNSYM',
  14: 'INIT_ARRAY',
  15: 'FINI_ARRAY',
  16: 'PREINIT_ARRAY',
  17: 'GROUP',
  18: 'SYMTAB SECTION INDICES',
  0x6ffffff5: 'GNU_ATTRIBUTES',
  0x6ffffff6: 'GNU_HASH',
  0x6ffffffd: 'VERDEF',
  0x6ffffffe: 'VERNEED',
  0x6fffffff: 'VERSYM',
  0x6fff4c00: 'LLVM_ODRTAB',
  0x6fff4c01: 'LLVM_LINKER_OPTIONS',
  0x6fff4c03: 'LLVM_ADDRSIG',
};

function sectionTypeName(arch: Arch, type: number): string {
  if (arch === 'x64' && type === 0x70000001) return 'X86_64_UNWIND';
  if (arch === 'aarch64' && type === 0x70000003) return 'AARCH64_ATTRIBUTES';
  const known = SECTION_TYPES[type];
  if (known !== undefined) return known;
  if (type >= 0x70000000 && type <= 0x7fffffff) return `LOPROC+${(type - 0x70000000).toString(16)}`;
  if (type >= 0x60000000 && type <= 0x6fffffff) return `LOOS+${(type - 0x60000000).toString(16)}`;
  if (type >= 0x80000000) return `LOUSER+${(type - 0x80000000).toString(16)}`;
  return `<unknown>: ${type.toString(16)}`;
}

/** readelf's flag letters in its order; unknown bits become x (generic), o (OS) or p (processor). */
export function sectionFlagLetters(arch: Arch, flags: bigint): string {
  const letters: [bigint, string][] = [
    [0x1n, 'W'],
    [0x2n, 'A'],
    [0x4n, 'X'],
    [0x10n, 'M'],
    [0x20n, 'S'],
    [0x40n, 'I'],
    [0x80n, 'L'],
    [0x100n, 'O'],
    [0x200n, 'G'],
    [0x400n, 'T'],
    [0x800n, 'C'],
    [0x80000000n, 'E'],
  ];
  if (arch === 'x64') letters.push([0x10000000n, 'l']);
  let out = '';
  let rest = flags;
  for (const [bit, letter] of letters) {
    if ((flags & bit) !== 0n) {
      out += letter;
      rest &= ~bit;
    }
  }
  if ((rest & 0x0ff00000n) !== 0n) out += 'o';
  if ((rest & 0xf0000000n) !== 0n) out += 'p';
  if ((rest & ~0xfff00000n) !== 0n) out += 'x';
  return out;
}

const SYMBOL_TYPES = ['NOTYPE', 'OBJECT', 'FUNC', 'SECTION', 'FILE', 'COMMON', 'TLS'];
const BINDINGS: Record<number, string> = { 0: 'LOCAL', 1: 'GLOBAL', 2: 'WEAK', 10: 'UNIQUE' };
const VISIBILITIES = ['DEFAULT', 'INTERNAL', 'HIDDEN', 'PROTECTED'];

/** Builds the report from an already-read object. */
export function inspectElf(obj: ElfObject): InspectReport {
  const sections: InspectSection[] = obj.sections.map((s) => {
    return {
      index: s.index,
      name: s.name,
      type: sectionTypeName(obj.arch, s.type),
      address: s.addr,
      offset: s.offset,
      size: s.size,
      entsize: s.entsize,
      flags: sectionFlagLetters(obj.arch, s.flags),
      link: s.link,
      info: s.info,
      align: rawAlignOf(obj, s.index),
    };
  });
  const symbols: InspectSymbol[] = obj.symbols.map((sym) => ({
    index: sym.index,
    value: sym.value,
    size: sym.size,
    type: SYMBOL_TYPES[sym.type] ?? `<type ${sym.type}>`,
    binding: BINDINGS[sym.binding] ?? `<binding ${sym.binding}>`,
    visibility: VISIBILITIES[sym.visibility],
    ndx: sym.shndx === SHN_UNDEF ? 'UND' : sym.shndx === SHN_ABS ? 'ABS' : sym.shndx === SHN_COMMON ? 'COM' : sym.shndx,
    name: sym.name,
    mapping: sym.isMapping,
  }));
  const relocationSections: InspectRelocationSection[] = obj.relocationSections.map((rs) => ({
    name: rs.section.name,
    offset: rs.section.offset,
    target: rs.target.name,
    entries: rs.relocations.map((r) => {
      const sym = obj.symbols[r.symbolIndex];
      return {
        offset: r.offset,
        info: r.info,
        type: r.typeName,
        symbolIndex: r.symbolIndex,
        symbolValue: r.symbolIndex === 0 ? 0n : sym.value,
        symbolName: r.symbolIndex === 0 ? '' : sym.name,
        addend: r.addend,
      };
    }),
  }));
  return {
    file: obj.file,
    arch: obj.arch,
    machine: obj.arch === 'x64' ? 'Advanced Micro Devices X86-64' : 'AArch64',
    sections,
    symbols,
    relocationSections,
  };
}

function rawAlignOf(obj: ElfObject, index: number): bigint {
  // ElfSection normalizes 0 to 1; readelf shows the stored value.
  const view = new DataView(obj.bytes.buffer, obj.bytes.byteOffset, obj.bytes.byteLength);
  const shoff = Number(view.getBigUint64(40, true));
  return view.getBigUint64(shoff + index * 64 + 48, true);
}

/** Reads `bytes` and builds the report. Throws LoaderError for malformed input. */
export function inspectObject(bytes: Uint8Array, file: string): InspectReport {
  return inspectElf(readElf(bytes, file));
}

/** The report as plain JSON data: 64-bit values become 0x-prefixed hex strings, addends signed decimal strings. */
export function inspectToJson(report: InspectReport): unknown {
  return {
    file: report.file,
    arch: report.arch,
    machine: report.machine,
    sections: report.sections.map((s) => ({
      ...s,
      address: hex(s.address),
      offset: hex(s.offset),
      size: hex(s.size),
      entsize: hex(s.entsize),
      align: s.align.toString(),
    })),
    symbols: report.symbols.map((s) => ({ ...s, value: hex(s.value), size: s.size.toString() })),
    relocationSections: report.relocationSections.map((rs) => ({
      ...rs,
      offset: hex(rs.offset),
      entries: rs.entries.map((e) => ({ ...e, offset: hex(e.offset), info: hex(e.info), symbolValue: hex(e.symbolValue), addend: e.addend.toString() })),
    })),
  };
}

const pad = (s: string, n: number): string => s.padEnd(n);
const h = (v: bigint, digits: number): string => BigInt.asUintN(64, v).toString(16).padStart(digits, '0');

/** readelf's "Symbol's Name + Addend" column for one relocation. */
export function formatRelocationTarget(r: InspectRelocation): string {
  const sign = r.addend < 0n ? '-' : '+';
  const mag = (r.addend < 0n ? -r.addend : r.addend).toString(16);
  if (r.symbolIndex === 0) return `${r.addend < 0n ? '-' : ''}${mag}`;
  return `${h(r.symbolValue, 16)} ${r.symbolName} ${sign} ${mag}`;
}

/** A text rendering close to `readelf -S -s -r --wide` (sections, relocations, symbols). */
export function formatInspect(report: InspectReport): string {
  const lines: string[] = [];
  lines.push(`File: ${report.file} (${report.machine})`, '', 'Section Headers:');
  lines.push('  [Nr] Name              Type            Address          Off    Size   ES Flg Lk Inf Al');
  for (const s of report.sections) {
    lines.push(
      `  [${String(s.index).padStart(2)}] ${pad(s.name, 17)} ${pad(s.type, 15)} ${h(s.address, 16)} ${h(s.offset, 6)} ${h(s.size, 6)} ${h(s.entsize, 2)} ${s.flags.padStart(3)} ${String(s.link).padStart(2)} ${String(s.info).padStart(3)} ${String(s.align).padStart(2)}`,
    );
  }
  for (const rs of report.relocationSections) {
    lines.push('', `Relocation section '${rs.name}' at offset ${hex(rs.offset)} contains ${rs.entries.length} ${rs.entries.length === 1 ? 'entry' : 'entries'}:`);
    lines.push("    Offset             Info             Type               Symbol's Value  Symbol's Name + Addend");
    for (const e of rs.entries) lines.push(`${h(e.offset, 16)}  ${h(e.info, 16)} ${pad(e.type, 22)} ${formatRelocationTarget(e)}`);
  }
  lines.push('', `Symbol table '.symtab' contains ${report.symbols.length} entries:`);
  lines.push('   Num:    Value          Size Type    Bind   Vis      Ndx Name');
  for (const s of report.symbols) {
    lines.push(
      `${String(s.index).padStart(6)}: ${h(s.value, 16)} ${(s.size < 100000n ? s.size.toString() : '0x' + s.size.toString(16)).padStart(5)} ${pad(s.type, 7)} ${pad(s.binding, 6)} ${pad(s.visibility, 8)} ${String(s.ndx).padStart(3)} ${s.name}`,
    );
  }
  return lines.join('\n') + '\n';
}
