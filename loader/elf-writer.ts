/**
 * A small ELF64 little-endian ET_REL writer for both machines: the compiler emits its images
 * through it, and `readElf` reads them back. Output follows what GNU as produces: a null
 * section, the caller's sections, one `.rela<name>` per relocated section, `.symtab` (locals
 * first, a section symbol per section), `.strtab`, `.shstrtab`, then the section header table.
 */
import type { Arch } from '../isa/arch.ts';
import {
  EM_AARCH64,
  EM_X86_64,
  ET_REL,
  LoaderError,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
} from './elf.ts';
import { relocationInfo, relocationTypeByName } from './reloc-types.ts';

export type WriterSectionKind = 'text' | 'rodata' | 'data' | 'bss' | 'custom';

export interface WriterSection {
  readonly name: string;
  /** Chooses type and flags: text AX, rodata A, data WA, bss NOBITS WA, custom (non-alloc PROGBITS). */
  readonly kind: WriterSectionKind;
  /** Contents; for `bss` leave undefined and give `size`. */
  readonly bytes?: Uint8Array;
  readonly size?: bigint;
  /** Power of two; default 1 (16 for text). */
  readonly align?: bigint;
  /** Overrides the flags implied by `kind`. */
  readonly flags?: bigint;
}

export interface WriterSymbol {
  readonly name: string;
  /** Defining section name; undefined = undefined symbol; 'ABS' = absolute; 'COMMON' = common (value = alignment). */
  readonly section?: string;
  readonly value?: bigint;
  readonly size?: bigint;
  readonly type?: 'notype' | 'func' | 'object';
  readonly binding?: 'local' | 'global' | 'weak';
}

export interface WriterRelocation {
  /** Section being patched. */
  readonly section: string;
  readonly offset: bigint;
  /** Type number, or name with or without the `R_X86_64_` / `R_AARCH64_` prefix. */
  readonly type: number | string;
  /** Name of a symbol given in `symbols`; or omit it and give `sectionSymbol`. */
  readonly symbol?: string;
  /** Refer to the section symbol of this section (as GNU as does for local labels). */
  readonly sectionSymbol?: string;
  readonly addend?: bigint;
}

export interface WriterObject {
  readonly arch: Arch;
  readonly sections: readonly WriterSection[];
  readonly symbols?: readonly WriterSymbol[];
  readonly relocations?: readonly WriterRelocation[];
  /** Name used in errors. */
  readonly file?: string;
}

class StringTable {
  private readonly parts: number[] = [0];
  private readonly seen = new Map<string, number>([['', 0]]);
  add(s: string): number {
    const have = this.seen.get(s);
    if (have !== undefined) return have;
    const off = this.parts.length;
    for (const b of Buffer.from(s, 'utf8')) this.parts.push(b);
    this.parts.push(0);
    this.seen.set(s, off);
    return off;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const KIND_FLAGS: Record<WriterSectionKind, bigint> = {
  text: SHF_ALLOC | SHF_EXECINSTR,
  rodata: SHF_ALLOC,
  data: SHF_ALLOC | SHF_WRITE,
  bss: SHF_ALLOC | SHF_WRITE,
  custom: 0n,
};

const SHF_INFO_LINK = 0x40n;

/** Serializes `obj` as an ELF64 relocatable object. Throws LoaderError for inconsistent input. */
export function writeElf(obj: WriterObject): Uint8Array {
  const file = obj.file ?? '<elf-writer>';
  const userSymbols = obj.symbols ?? [];
  const relocs = obj.relocations ?? [];
  const sectionIndex = new Map<string, number>();
  obj.sections.forEach((s, i) => {
    if (sectionIndex.has(s.name)) throw new LoaderError('bad-header', file, `section ${s.name} given twice`);
    sectionIndex.set(s.name, 1 + i);
    const align = s.align ?? 1n;
    if (align <= 0n || (align & (align - 1n)) !== 0n) throw new LoaderError('bad-alignment', file, `alignment ${align} is not a power of two`, { section: s.name });
    if (s.kind !== 'bss' && s.bytes === undefined) throw new LoaderError('bad-header', file, `section ${s.name} has no bytes`, { section: s.name });
  });

  // Symbol table: null, one section symbol per section, caller's locals, then globals/weaks.
  const strtab = new StringTable();
  interface Sym {
    name: number;
    info: number;
    shndx: number;
    value: bigint;
    size: bigint;
  }
  const syms: Sym[] = [{ name: 0, info: 0, shndx: 0, value: 0n, size: 0n }];
  const sectionSymbol = new Map<string, number>();
  obj.sections.forEach((s, i) => {
    sectionSymbol.set(s.name, syms.length);
    syms.push({ name: 0, info: (STB_LOCAL << 4) | STT_SECTION, shndx: 1 + i, value: 0n, size: 0n });
  });
  const symbolIndex = new Map<string, number>();
  const toSym = (s: WriterSymbol): Sym => {
    const binding = s.binding === 'local' ? STB_LOCAL : s.binding === 'weak' ? STB_WEAK : STB_GLOBAL;
    const type = s.type === 'func' ? STT_FUNC : s.type === 'object' ? STT_OBJECT : STT_NOTYPE;
    let shndx: number;
    if (s.section === undefined) shndx = SHN_UNDEF;
    else if (s.section === 'ABS') shndx = SHN_ABS;
    else if (s.section === 'COMMON') shndx = SHN_COMMON;
    else {
      const idx = sectionIndex.get(s.section);
      if (idx === undefined) throw new LoaderError('bad-symbol', file, `symbol ${s.name} is in unknown section ${s.section}`);
      shndx = idx;
    }
    if (shndx === SHN_UNDEF && binding === STB_LOCAL) throw new LoaderError('bad-symbol', file, `local symbol ${s.name} must be defined`);
    return { name: strtab.add(s.name), info: (binding << 4) | type, shndx, value: s.value ?? 0n, size: s.size ?? 0n };
  };
  const locals = userSymbols.filter((s) => s.binding === 'local');
  const nonLocals = userSymbols.filter((s) => s.binding !== 'local');
  for (const s of [...locals, ...nonLocals]) {
    if (symbolIndex.has(s.name)) throw new LoaderError('bad-symbol', file, `symbol ${s.name} given twice`);
    symbolIndex.set(s.name, syms.length);
    syms.push(toSym(s));
  }
  const firstNonLocal = 1 + obj.sections.length + locals.length;

  // Relocations grouped by target section, in the caller's order.
  const relaBySection = new Map<string, Uint8Array>();
  const grouped = new Map<string, WriterRelocation[]>();
  for (const r of relocs) {
    if (!sectionIndex.has(r.section)) throw new LoaderError('bad-index', file, `relocation targets unknown section ${r.section}`);
    const list = grouped.get(r.section) ?? [];
    list.push(r);
    grouped.set(r.section, list);
  }
  for (const [name, list] of grouped) {
    const buf = new Uint8Array(list.length * 24);
    const view = new DataView(buf.buffer);
    const sec = obj.sections[sectionIndex.get(name)! - 1];
    const secSize = sec.bytes !== undefined ? BigInt(sec.bytes.length) : (sec.size ?? 0n);
    list.forEach((r, i) => {
      const type = typeof r.type === 'number' ? r.type : relocationTypeByName(obj.arch, r.type);
      const info = type === undefined ? undefined : relocationInfo(obj.arch, type);
      if (type === undefined || info === undefined) throw new LoaderError('unknown-relocation', file, `unknown ${obj.arch} relocation ${r.type}`, { section: name, offset: r.offset });
      if (r.offset < 0n || r.offset + BigInt(info.width) > secSize) {
        throw new LoaderError('relocation-out-of-section', file, `${info.name} does not fit in ${name}`, { section: name, offset: r.offset });
      }
      let sym: number | undefined;
      if (r.symbol !== undefined) sym = symbolIndex.get(r.symbol);
      else if (r.sectionSymbol !== undefined) sym = sectionSymbol.get(r.sectionSymbol);
      if (sym === undefined) throw new LoaderError('bad-symbol', file, `relocation refers to unknown symbol ${r.symbol ?? r.sectionSymbol}`, { section: name, offset: r.offset });
      view.setBigUint64(i * 24, r.offset, true);
      view.setBigUint64(i * 24 + 8, (BigInt(sym) << 32n) | BigInt(type), true);
      view.setBigInt64(i * 24 + 16, r.addend ?? 0n, true);
    });
    relaBySection.set(name, buf);
  }

  const symtab = new Uint8Array(syms.length * 24);
  {
    const v = new DataView(symtab.buffer);
    syms.forEach((s, i) => {
      const o = i * 24;
      v.setUint32(o, s.name, true);
      v.setUint8(o + 4, s.info);
      v.setUint8(o + 5, 0);
      v.setUint16(o + 6, s.shndx, true);
      v.setBigUint64(o + 8, s.value, true);
      v.setBigUint64(o + 16, s.size, true);
    });
  }

  // Section headers in final order.
  interface Out {
    name: string;
    type: number;
    flags: bigint;
    data: Uint8Array | undefined;
    size: bigint;
    link: number;
    info: number;
    align: bigint;
    entsize: bigint;
  }
  const outs: Out[] = [];
  for (const s of obj.sections) {
    const nobits = s.kind === 'bss';
    outs.push({
      name: s.name,
      type: nobits ? SHT_NOBITS : SHT_PROGBITS,
      flags: s.flags ?? KIND_FLAGS[s.kind],
      data: nobits ? undefined : s.bytes,
      size: nobits ? (s.size ?? 0n) : BigInt(s.bytes!.length),
      link: 0,
      info: 0,
      align: s.align ?? (s.kind === 'text' ? 16n : 1n),
      entsize: 0n,
    });
  }
  const symtabIndex = 1 + outs.length + relaBySection.size;
  for (const [name, buf] of relaBySection) {
    outs.push({
      name: '.rela' + name,
      type: SHT_RELA,
      flags: SHF_INFO_LINK,
      data: buf,
      size: BigInt(buf.length),
      link: symtabIndex,
      info: sectionIndex.get(name)!,
      align: 8n,
      entsize: 24n,
    });
  }
  outs.push({ name: '.symtab', type: SHT_SYMTAB, flags: 0n, data: symtab, size: BigInt(symtab.length), link: symtabIndex + 1, info: firstNonLocal, align: 8n, entsize: 24n });
  const strBytes = strtab.bytes();
  outs.push({ name: '.strtab', type: SHT_STRTAB, flags: 0n, data: strBytes, size: BigInt(strBytes.length), link: 0, info: 0, align: 1n, entsize: 0n });
  const shstr = new StringTable();
  const nameOffsets = outs.map((o) => shstr.add(o.name));
  const shstrtabNameOff = shstr.add('.shstrtab');
  const shstrBytes = shstr.bytes();
  outs.push({ name: '.shstrtab', type: SHT_STRTAB, flags: 0n, data: shstrBytes, size: BigInt(shstrBytes.length), link: 0, info: 0, align: 1n, entsize: 0n });
  nameOffsets.push(shstrtabNameOff);

  // File layout.
  let cursor = 64;
  const offsets: number[] = [];
  for (const o of outs) {
    const a = Number(o.align > 64n ? 64n : o.align);
    if (o.data !== undefined) cursor = Math.ceil(cursor / a) * a;
    offsets.push(cursor);
    if (o.data !== undefined) cursor += o.data.length;
  }
  const shoff = Math.ceil(cursor / 8) * 8;
  const shnum = outs.length + 1;
  const total = shoff + shnum * 64;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  v.setUint16(16, ET_REL, true);
  v.setUint16(18, obj.arch === 'x64' ? EM_X86_64 : EM_AARCH64, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, shnum, true);
  v.setUint16(62, shnum - 1, true);
  outs.forEach((o, i) => {
    if (o.data !== undefined) out.set(o.data, offsets[i]);
    const h = shoff + (i + 1) * 64;
    v.setUint32(h, nameOffsets[i], true);
    v.setUint32(h + 4, o.type, true);
    v.setBigUint64(h + 8, o.flags, true);
    v.setBigUint64(h + 24, BigInt(offsets[i]), true);
    v.setBigUint64(h + 32, o.size, true);
    v.setUint32(h + 40, o.link, true);
    v.setUint32(h + 44, o.info, true);
    v.setBigUint64(h + 48, o.align, true);
    v.setBigUint64(h + 56, o.entsize, true);
  });
  return out;
}
