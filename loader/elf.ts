/**
 * A hand-written reader for ELF64 little-endian relocatable objects (ET_REL) of x86-64 and
 * AArch64. Every field that later code trusts (offsets, sizes, indices, string offsets) is
 * checked here against the file, so the linker can index without re-checking. Any malformed
 * input ends in a `LoaderError`; no size field from the file ever drives an allocation larger
 * than the file itself.
 */
import { StackscopeError, hex } from '../isa/error.ts';
import type { Arch } from '../isa/arch.ts';
import { relocationInfo } from './reloc-types.ts';

/** What kind of problem a LoaderError reports; stable strings that tests and tools can match. */
export type LoaderErrorKind =
  | 'bad-magic'
  | 'bad-class'
  | 'bad-endianness'
  | 'bad-version'
  | 'bad-type'
  | 'bad-machine'
  | 'truncated'
  | 'bad-header'
  | 'bad-index'
  | 'bad-offset'
  | 'bad-string'
  | 'bad-alignment'
  | 'overlap'
  | 'oversized'
  | 'bad-entsize'
  | 'unsupported'
  | 'unknown-relocation'
  | 'relocation-out-of-section'
  | 'relocation-overflow'
  | 'misaligned-relocation'
  | 'machine-mismatch'
  | 'duplicate-symbol'
  | 'unresolved-symbols'
  | 'bad-symbol'
  | 'image-too-large';

export class LoaderError extends StackscopeError {
  override name = 'LoaderError';
  readonly kind: LoaderErrorKind;
  readonly file: string;
  readonly section?: string;
  readonly offset?: bigint;

  constructor(kind: LoaderErrorKind, file: string, detail: string, where: { section?: string; offset?: bigint | number } = {}) {
    const at =
      (where.section !== undefined ? ` in section ${where.section}` : '') +
      (where.offset !== undefined ? ` at offset ${hex(where.offset)}` : '');
    super(`${file}: ${detail}${at}`);
    this.kind = kind;
    this.file = file;
    if (where.section !== undefined) this.section = where.section;
    if (where.offset !== undefined) this.offset = BigInt(where.offset);
  }
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const ET_REL = 1;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_GROUP = 17;
export const SHT_SYMTAB_SHNDX = 18;

export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STT_COMMON = 5;
export const STT_TLS = 6;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const RELA_SIZE = 24;

/** Upper bound on a NOBITS section or a section alignment: larger values are hostile, not real. */
export const MAX_SECTION_SIZE = 1n << 32n;
export const MAX_SECTION_ALIGN = 1n << 32n;

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly info: number;
  /** Always a power of two (0 in the file is reported as 1). */
  readonly addralign: bigint;
  readonly entsize: bigint;
  /** The section's file contents (a view into the input); empty for SHT_NOBITS and SHT_NULL. */
  readonly data: Uint8Array;
}

export interface ElfSymbol {
  /** Index in .symtab; relocations refer to symbols by this index. */
  readonly index: number;
  /** For STT_SECTION symbols with an empty name this is the section's name, as readelf shows. */
  readonly name: string;
  readonly value: bigint;
  readonly size: bigint;
  readonly type: number;
  readonly binding: number;
  readonly visibility: number;
  /** Section index or SHN_UNDEF / SHN_ABS / SHN_COMMON; always valid when an ordinary index. */
  readonly shndx: number;
  /** AArch64 `$x`, `$d` (and `$x.N`-style) mapping symbols: kept so indices stay right, skipped by the linker. */
  readonly isMapping: boolean;
}

export interface ElfRelocation {
  readonly offset: bigint;
  readonly type: number;
  /** Canonical name, e.g. `R_X86_64_PC32` or `R_AARCH64_CALL26`. */
  readonly typeName: string;
  readonly symbolIndex: number;
  readonly addend: bigint;
  /** r_info as stored (symbol index << 32 | type). */
  readonly info: bigint;
}

export interface ElfRelocationSection {
  /** The SHT_RELA section itself. */
  readonly section: ElfSection;
  /** The section the relocations patch (sh_info). */
  readonly target: ElfSection;
  readonly relocations: readonly ElfRelocation[];
}

export interface ElfObject {
  readonly file: string;
  readonly arch: Arch;
  readonly machine: number;
  readonly bytes: Uint8Array;
  readonly sections: readonly ElfSection[];
  /** All symbols in .symtab order (index 0 is the null symbol); empty if there is no .symtab. */
  readonly symbols: readonly ElfSymbol[];
  /** Index of the .symtab section, 0 if none. */
  readonly symtabIndex: number;
  readonly relocationSections: readonly ElfRelocationSection[];
  /** SHT_GROUP sections (COMDAT groups and plain groups). */
  readonly groups: readonly ElfGroup[];
}

export const GRP_COMDAT = 1;

export interface ElfGroup {
  readonly section: ElfSection;
  /** Name of the signature symbol: COMDAT groups with equal signatures are duplicates of one another. */
  readonly signature: string;
  readonly flags: number;
  /** Indices of the member sections. */
  readonly members: readonly number[];
}

/** AArch64 mapping symbols: `$x`, `$d`, `$a`, `$t`, optionally followed by `.suffix`. */
export function isMappingSymbolName(name: string): boolean {
  return /^\$[xdat](\..*)?$/.test(name);
}

/** Bounds-checked little-endian reads over the whole file. */
class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(offset: number, size: number, what: string, section?: string): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new LoaderError('truncated', this.file, `${what} (${size} bytes) extends past end of file (${this.bytes.length} bytes)`, {
        section,
        offset,
      });
    }
  }
  u8(o: number): number {
    return this.view.getUint8(o);
  }
  u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  u64(o: number): bigint {
    return this.view.getBigUint64(o, true);
  }
  i64(o: number): bigint {
    return this.view.getBigInt64(o, true);
  }
}

/**
 * A string table decoded once. Lookups cost O(1) whatever the offsets: a hostile table with one
 * long string and many symbols pointing into it must not cost (symbols x string length).
 */
class StringTable {
  private text: string | undefined;
  private nextNul: Int32Array | undefined;
  constructor(
    readonly file: string,
    readonly table: ElfSection,
  ) {}

  get(offset: number, what: string): string {
    const data = this.table.data;
    const where = { section: this.table.name || `#${this.table.index}`, offset };
    if (offset >= data.length) {
      if (offset === 0 && data.length === 0) return '';
      throw new LoaderError('bad-string', this.file, `${what}: string offset ${offset} is outside the string table (${data.length} bytes)`, where);
    }
    if (this.text === undefined || this.nextNul === undefined) {
      // latin1 maps every byte to one code unit, so hostile bytes cannot throw and offsets stay aligned.
      this.text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
      this.nextNul = new Int32Array(data.length);
      let nul = -1;
      for (let i = data.length - 1; i >= 0; i--) {
        if (data[i] === 0) nul = i;
        this.nextNul[i] = nul;
      }
    }
    const end = this.nextNul[offset];
    if (end < 0) throw new LoaderError('bad-string', this.file, `${what}: string at ${offset} is not NUL-terminated`, where);
    return this.text.slice(offset, end);
  }
}

/** Parses and validates an ELF64 relocatable object. Throws only LoaderError. */
export function readElf(bytes: Uint8Array, file: string): ElfObject {
  const r = new Reader(bytes, file);
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new LoaderError('bad-magic', file, 'not an ELF file (bad magic)', { offset: 0 });
  }
  r.need(0, EHDR_SIZE, 'ELF header');
  if (bytes[4] !== 2) throw new LoaderError('bad-class', file, `ELF class ${bytes[4]} is not ELFCLASS64`, { offset: 4 });
  if (bytes[5] !== 1) throw new LoaderError('bad-endianness', file, `data encoding ${bytes[5]} is not little-endian`, { offset: 5 });
  if (bytes[6] !== 1) throw new LoaderError('bad-version', file, `ELF ident version ${bytes[6]} is not 1`, { offset: 6 });
  const eType = r.u16(16);
  if (eType !== ET_REL) throw new LoaderError('bad-type', file, `ELF type ${eType} is not ET_REL (relocatable)`, { offset: 16 });
  const machine = r.u16(18);
  let arch: Arch;
  if (machine === EM_X86_64) arch = 'x64';
  else if (machine === EM_AARCH64) arch = 'aarch64';
  else throw new LoaderError('bad-machine', file, `machine ${machine} is neither EM_X86_64 (62) nor EM_AARCH64 (183)`, { offset: 18 });
  const version = r.u32(20);
  if (version !== 1) throw new LoaderError('bad-version', file, `ELF version ${version} is not 1`, { offset: 20 });
  const ehsize = r.u16(52);
  if (ehsize !== EHDR_SIZE) throw new LoaderError('bad-header', file, `e_ehsize ${ehsize} is not 64`, { offset: 52 });

  const shoffBig = r.u64(40);
  const shentsize = r.u16(58);
  let shnum = r.u16(60);
  let shstrndx = r.u16(62);
  if (shoffBig === 0n) {
    if (shnum !== 0) throw new LoaderError('bad-header', file, `e_shoff is 0 but e_shnum is ${shnum}`, { offset: 40 });
    throw new LoaderError('bad-header', file, 'object has no section header table', { offset: 40 });
  }
  if (shentsize !== SHDR_SIZE) throw new LoaderError('bad-header', file, `e_shentsize ${shentsize} is not 64`, { offset: 58 });
  if (shoffBig > BigInt(bytes.length)) {
    throw new LoaderError('truncated', file, `section header table offset ${hex(shoffBig)} is past end of file`, { offset: 40 });
  }
  const shoff = Number(shoffBig);
  // Extended numbering: counts too large for 16 bits live in section header 0.
  r.need(shoff, SHDR_SIZE, 'section header 0');
  if (shnum === 0) {
    const n = r.u64(shoff + 32);
    if (n > BigInt(Math.floor(bytes.length / SHDR_SIZE))) {
      throw new LoaderError('truncated', file, `extended section count ${n} cannot fit in the file`, { offset: shoff + 32 });
    }
    shnum = Number(n);
    if (shnum === 0) throw new LoaderError('bad-header', file, 'object has no sections', { offset: 60 });
  }
  if (shstrndx === SHN_XINDEX) shstrndx = r.u32(shoff + 40);
  r.need(shoff, shnum * SHDR_SIZE, `section header table (${shnum} entries)`);
  if (shoff % 8 !== 0) throw new LoaderError('bad-alignment', file, `section header table offset ${hex(shoff)} is not 8-aligned`, { offset: 40 });
  if (shoff < EHDR_SIZE) throw new LoaderError('overlap', file, 'section header table overlaps the ELF header', { offset: shoff });
  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) {
    throw new LoaderError('bad-index', file, `section name table index ${shstrndx} is out of range (${shnum} sections)`, { offset: 62 });
  }

  // Raw headers first; names need the section-name table, which is one of them.
  interface Raw {
    nameOff: number;
    type: number;
    flags: bigint;
    addr: bigint;
    offset: bigint;
    size: bigint;
    link: number;
    info: number;
    addralign: bigint;
    entsize: bigint;
    data: Uint8Array;
  }
  const raws: Raw[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const type = r.u32(h + 4);
    const offset = r.u64(h + 24);
    const size = r.u64(h + 32);
    let addralign = r.u64(h + 48);
    const where = { section: `#${i}`, offset: h };
    if (addralign === 0n) addralign = 1n;
    if ((addralign & (addralign - 1n)) !== 0n) {
      throw new LoaderError('bad-alignment', file, `section alignment ${addralign} is not a power of two`, where);
    }
    if (addralign > MAX_SECTION_ALIGN) throw new LoaderError('oversized', file, `section alignment ${hex(addralign)} is too large`, where);
    let data: Uint8Array = new Uint8Array(0);
    if (i === 0) {
      // Header 0 is reserved; it may carry extended counts, but never contents.
    } else if (type === SHT_NOBITS) {
      if (size > MAX_SECTION_SIZE) throw new LoaderError('oversized', file, `NOBITS section size ${hex(size)} is too large`, where);
    } else if (type !== SHT_NULL) {
      if (offset > BigInt(bytes.length) || size > BigInt(bytes.length) - offset) {
        throw new LoaderError('truncated', file, `section contents [${hex(offset)}, +${hex(size)}) extend past end of file`, where);
      }
      data = bytes.subarray(Number(offset), Number(offset + size));
    }
    raws.push({
      nameOff: r.u32(h),
      type,
      flags: r.u64(h + 8),
      addr: r.u64(h + 16),
      offset,
      size,
      link: r.u32(h + 40),
      info: r.u32(h + 44),
      addralign,
      entsize: r.u64(h + 56),
      data,
    });
  }

  // File-backed sections may not overlap each other, the ELF header or the section header table.
  const extents: { start: number; end: number; what: string }[] = [
    { start: 0, end: EHDR_SIZE, what: 'ELF header' },
    { start: shoff, end: shoff + shnum * SHDR_SIZE, what: 'section header table' },
  ];
  raws.forEach((s, i) => {
    if (i !== 0 && s.type !== SHT_NOBITS && s.type !== SHT_NULL && s.data.length > 0) {
      extents.push({ start: Number(s.offset), end: Number(s.offset) + s.data.length, what: `section #${i}` });
    }
  });
  extents.sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < extents.length; i++) {
    if (extents[i].start < extents[i - 1].end) {
      throw new LoaderError('overlap', file, `${extents[i].what} overlaps ${extents[i - 1].what}`, { offset: extents[i].start });
    }
  }

  const shstr = raws[shstrndx];
  if (shstr.type !== SHT_STRTAB) {
    throw new LoaderError('bad-index', file, `section name table #${shstrndx} is not SHT_STRTAB (type ${shstr.type})`, { offset: 62 });
  }
  const shstrSection: ElfSection = { index: shstrndx, name: '.shstrtab', ...raws[shstrndx] };
  const sectionNames = new StringTable(file, shstrSection);
  const sections: ElfSection[] = raws.map((s, i) => {
    const name = i === 0 ? '' : sectionNames.get(s.nameOff, `name of section #${i}`);
    const { nameOff: _n, ...rest } = s;
    return { index: i, name, ...rest };
  });
  const label = (s: ElfSection): string => s.name || `#${s.index}`;

  // Symbols.
  let symtabIndex = 0;
  for (const s of sections) {
    if (s.type === SHT_SYMTAB) {
      if (symtabIndex !== 0) throw new LoaderError('unsupported', file, 'more than one SHT_SYMTAB section', { section: label(s) });
      symtabIndex = s.index;
    }
    if (s.type === SHT_SYMTAB_SHNDX) {
      throw new LoaderError('unsupported', file, 'SHT_SYMTAB_SHNDX (extended symbol section indices) is not supported', { section: label(s) });
    }
  }
  const symbols: ElfSymbol[] = [];
  if (symtabIndex !== 0) {
    const st = sections[symtabIndex];
    if (st.entsize !== BigInt(SYM_SIZE)) {
      throw new LoaderError('bad-entsize', file, `symbol entry size ${st.entsize} is not 24`, { section: label(st) });
    }
    if (st.data.length % SYM_SIZE !== 0) {
      throw new LoaderError('bad-entsize', file, `symbol table size ${st.data.length} is not a multiple of 24`, { section: label(st) });
    }
    if (st.link === 0 || st.link >= shnum || sections[st.link].type !== SHT_STRTAB) {
      throw new LoaderError('bad-index', file, `symbol table links to #${st.link}, which is not a string table`, { section: label(st) });
    }
    const strtab = new StringTable(file, sections[st.link]);
    const count = st.data.length / SYM_SIZE;
    if (st.info > count) {
      throw new LoaderError('bad-index', file, `first non-local symbol index ${st.info} exceeds symbol count ${count}`, { section: label(st) });
    }
    const base = Number(st.offset);
    for (let i = 0; i < count; i++) {
      const o = base + i * SYM_SIZE;
      const where = { section: label(st), offset: BigInt(i * SYM_SIZE) };
      const info = r.u8(o + 4);
      const shndx = r.u16(o + 6);
      const type = info & 0xf;
      const binding = info >> 4;
      if (shndx === SHN_XINDEX) throw new LoaderError('unsupported', file, `symbol #${i} uses SHN_XINDEX`, where);
      if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= shnum) {
        throw new LoaderError('bad-index', file, `symbol #${i} refers to section ${shndx} of ${shnum}`, where);
      }
      if (shndx >= SHN_LORESERVE && shndx !== SHN_ABS && shndx !== SHN_COMMON) {
        throw new LoaderError('unsupported', file, `symbol #${i} has reserved section index ${hex(shndx)}`, where);
      }
      if (binding !== STB_LOCAL && binding !== STB_GLOBAL && binding !== STB_WEAK && binding !== 10 /* STB_GNU_UNIQUE */) {
        throw new LoaderError('bad-symbol', file, `symbol #${i} has unknown binding ${binding}`, where);
      }
      let name = strtab.get(r.u32(o), `name of symbol #${i}`);
      if (type === STT_SECTION && name === '' && shndx !== SHN_UNDEF && shndx < shnum) name = sections[shndx].name;
      const value = r.u64(o + 8);
      const size = r.u64(o + 16);
      if (shndx === SHN_COMMON && (value === 0n || (value & (value - 1n)) !== 0n || value > MAX_SECTION_ALIGN)) {
        throw new LoaderError('bad-alignment', file, `COMMON symbol ${name} has invalid alignment ${value}`, where);
      }
      if (shndx === SHN_COMMON && size > MAX_SECTION_SIZE) {
        throw new LoaderError('oversized', file, `COMMON symbol ${name} size ${hex(size)} is too large`, where);
      }
      symbols.push({
        index: i,
        name,
        value,
        size,
        type,
        binding,
        visibility: r.u8(o + 5) & 3,
        shndx,
        isMapping: arch === 'aarch64' && binding === STB_LOCAL && isMappingSymbolName(name),
      });
    }
  }

  // Relocations.
  const relocationSections: ElfRelocationSection[] = [];
  for (const s of sections) {
    if (s.type === SHT_REL) {
      throw new LoaderError('unsupported', file, 'SHT_REL sections are not used on x86-64 or AArch64', { section: label(s) });
    }
    if (s.type !== SHT_RELA) continue;
    if (s.entsize !== BigInt(RELA_SIZE)) throw new LoaderError('bad-entsize', file, `relocation entry size ${s.entsize} is not 24`, { section: label(s) });
    if (s.data.length % RELA_SIZE !== 0) {
      throw new LoaderError('bad-entsize', file, `relocation section size ${s.data.length} is not a multiple of 24`, { section: label(s) });
    }
    if (s.link !== symtabIndex || symtabIndex === 0) {
      throw new LoaderError('bad-index', file, `relocation section links to #${s.link}, not the symbol table`, { section: label(s) });
    }
    if (s.info === 0 || s.info >= shnum) {
      throw new LoaderError('bad-index', file, `relocation section targets section ${s.info} of ${shnum}`, { section: label(s) });
    }
    const target = sections[s.info];
    if (target.type === SHT_RELA || target.type === SHT_SYMTAB || target.type === SHT_STRTAB || target.type === SHT_NULL) {
      throw new LoaderError('bad-index', file, `relocation section targets ${label(target)}, which cannot be relocated`, { section: label(s) });
    }
    const targetSize = target.size;
    const count = s.data.length / RELA_SIZE;
    const relocations: ElfRelocation[] = [];
    const base = Number(s.offset);
    for (let i = 0; i < count; i++) {
      const o = base + i * RELA_SIZE;
      const where = { section: label(s), offset: BigInt(i * RELA_SIZE) };
      const offset = r.u64(o);
      const info = r.u64(o + 8);
      const addend = r.i64(o + 16);
      const type = Number(info & 0xffffffffn);
      const symbolIndex = Number(info >> 32n);
      const desc = relocationInfo(arch, type);
      if (desc === undefined) throw new LoaderError('unknown-relocation', file, `unknown ${arch} relocation type ${type}`, where);
      if (symbolIndex >= symbols.length) {
        throw new LoaderError('bad-index', file, `${desc.name} refers to symbol ${symbolIndex} of ${symbols.length}`, where);
      }
      const width = BigInt(desc.width);
      if (offset > targetSize || width > targetSize - offset) {
        throw new LoaderError(
          'relocation-out-of-section',
          file,
          `${desc.name} at ${hex(offset)} (${desc.width} bytes) is outside ${label(target)} (${hex(targetSize)} bytes)`,
          { section: label(target), offset },
        );
      }
      relocations.push({ offset, type, typeName: desc.name, symbolIndex, addend, info });
    }
    relocationSections.push({ section: s, target, relocations });
  }

  // Section groups.
  const groups: ElfGroup[] = [];
  for (const s of sections) {
    if (s.type !== SHT_GROUP) continue;
    const where = { section: label(s) };
    if (s.data.length < 4 || s.data.length % 4 !== 0) throw new LoaderError('bad-entsize', file, `group section size ${s.data.length} is not a positive multiple of 4`, where);
    if (s.link !== symtabIndex || symtabIndex === 0) throw new LoaderError('bad-index', file, `group section links to #${s.link}, not the symbol table`, where);
    if (s.info >= symbols.length) throw new LoaderError('bad-index', file, `group signature symbol ${s.info} of ${symbols.length}`, where);
    const base = Number(s.offset);
    const members: number[] = [];
    for (let o = 4; o < s.data.length; o += 4) {
      const m = r.u32(base + o);
      if (m === 0 || m >= shnum) throw new LoaderError('bad-index', file, `group member ${m} of ${shnum} sections`, { section: label(s), offset: o });
      members.push(m);
    }
    groups.push({ section: s, signature: symbols[s.info].name, flags: r.u32(base), members });
  }

  return { file, arch, machine, bytes, sections, symbols, symtabIndex, relocationSections, groups };
}
