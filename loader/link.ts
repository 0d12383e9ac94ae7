/**
 * Links ELF64 relocatable objects into a `LinkedImage`: a pure value describing what guest
 * memory should hold (segments with permissions, sections with final relocated bytes, symbols,
 * GOT and veneers). Nothing here touches a Machine; a later step maps the image.
 *
 * Layout, bottom up from `base`, each segment page-aligned:
 *   text (r-x: executable sections, each followed by its range-extension veneers if any)
 *   rodata (r--: other allocatable read-only sections)
 *   got (r--: synthesized 8-byte slots; read-only once the image is mapped)
 *   data (rw-: writable sections, then NOBITS sections and COMMON symbols, zero-filled)
 *   custom (r--: non-allocatable SHT_PROGBITS sections such as stack maps, kept addressable)
 * Input sections of the same name and segment are concatenated into one output section, in
 * input order, each at its own alignment (as a linker script's `*(.name)` would).
 */
import { hex } from '../isa/error.ts';
import type { Arch } from '../isa/arch.ts';
import {
  GRP_COMDAT,
  LoaderError,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STB_LOCAL,
  STB_WEAK,
  SHT_NULL,
  STT_FILE,
  STT_SECTION,
  STT_TLS,
  readElf,
  type ElfObject,
  type ElfSymbol,
} from './elf.ts';
import { relocationInfo } from './reloc-types.ts';
import { VENEER_SIZE, applyRelocation, branchReaches, veneerBytes } from './relocate.ts';

export interface Permissions {
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
}

export type SegmentKind = 'text' | 'rodata' | 'got' | 'data' | 'custom';

export const SEGMENT_ORDER: readonly SegmentKind[] = ['text', 'rodata', 'got', 'data', 'custom'];

export const SEGMENT_PERMISSIONS: Readonly<Record<SegmentKind, Permissions>> = {
  text: { read: true, write: false, exec: true },
  rodata: { read: true, write: false, exec: false },
  got: { read: true, write: false, exec: false },
  data: { read: true, write: true, exec: false },
  custom: { read: true, write: false, exec: false },
};

/** A page-aligned range of guest memory with one set of permissions. Memory not covered by a section's bytes is zero. */
export interface ImageSegment {
  readonly kind: SegmentKind;
  readonly address: bigint;
  /** A multiple of the page size. */
  readonly size: bigint;
  readonly perms: Permissions;
}

/** Where one input section landed. */
export interface PlacedInput {
  readonly file: string;
  readonly sectionIndex: number;
  readonly name: string;
  readonly address: bigint;
  readonly size: bigint;
}

export interface ImageSection {
  readonly name: string;
  readonly segment: SegmentKind;
  readonly address: bigint;
  readonly size: bigint;
  readonly align: bigint;
  /** True for zero-filled sections (.bss, COMMON); their `bytes` is empty. */
  readonly nobits: boolean;
  /** Final (relocated) contents, `size` bytes long unless `nobits`. */
  readonly bytes: Uint8Array;
  readonly perms: Permissions;
  readonly inputs: readonly PlacedInput[];
}

export type SymbolType = 'notype' | 'object' | 'func' | 'section' | 'file' | 'common' | 'tls' | 'other';
export type SymbolBinding = 'local' | 'global' | 'weak';

export interface ImageSymbol {
  readonly name: string;
  readonly address: bigint;
  readonly size: bigint;
  readonly type: SymbolType;
  readonly binding: SymbolBinding;
  /** Output section name; undefined for absolute symbols and externals. */
  readonly section: string | undefined;
  /** Object that defined it; undefined for externals and linker-made symbols. */
  readonly file: string | undefined;
  /** Bound to a caller-supplied external address (host function) rather than defined by an object. */
  readonly external: boolean;
}

export interface GotSlot {
  /** The symbol the slot holds the address of (name as in the object). */
  readonly symbol: string;
  readonly address: bigint;
  /** The value stored in the slot. */
  readonly value: bigint;
}

export interface Veneer {
  readonly address: bigint;
  readonly target: bigint;
  readonly symbol: string;
}

export interface LinkedImage {
  readonly arch: Arch;
  readonly base: bigint;
  readonly pageSize: bigint;
  /**
   * The strictest alignment of any placed section (at least the page size). Linked at a base
   * that is a multiple of it, the layout relative to the base is the same for every base.
   */
  readonly align: bigint;
  /** One past the last byte of the last segment. */
  readonly end: bigint;
  readonly segments: readonly ImageSegment[];
  /** Output sections in address order (includes the synthesized `.got` and `<name>.veneers`). */
  readonly sections: readonly ImageSection[];
  /** Every named symbol that survived resolution: locals of each object, winning globals, externals. */
  readonly symbols: readonly ImageSymbol[];
  /** Global and weak symbols by name (including externals that were bound). */
  readonly globals: ReadonlyMap<string, ImageSymbol>;
  /** Non-allocatable SHT_PROGBITS output sections by name (e.g. stack maps), relocated. */
  readonly customSections: ReadonlyMap<string, ImageSection>;
  readonly got: readonly GotSlot[];
  readonly veneers: readonly Veneer[];
}

export type ExternalResolver = ReadonlyMap<string, bigint> | ((name: string) => bigint | undefined);

export interface LinkOptions {
  /** Guest address of the first segment; must be page-aligned. Default 0x400000. */
  readonly base?: bigint;
  /** Default 0x1000. */
  readonly pageSize?: bigint;
  /** Addresses for symbols no object defines (host functions). Objects' definitions win. */
  readonly externals?: ExternalResolver;
  /** Largest allowed span from base to end. Default 4 GiB. */
  readonly maxImageSize?: bigint;
  /** Largest total of materialized section bytes (padding inside output sections included). Default 256 MiB. */
  readonly maxMaterializedBytes?: number;
}

export interface LinkInput {
  readonly file: string;
  readonly bytes: Uint8Array;
}

export const DEFAULT_BASE = 0x400000n;
/**
 * The strictest section alignment the linker places (1 GiB, the largest page of either arch).
 * Beyond it an alignment is hostile, not real; ld would accept it and emit gigabytes of padding.
 */
export const MAX_PLACED_ALIGN = 1n << 30n;
const DEFAULT_PAGE = 0x1000n;
const GOT_SYMBOL = '_GLOBAL_OFFSET_TABLE_';

/** int3: fills gaps in x86-64 text so stray execution traps. */
const TRAP_FILL_X64 = 0xcc;

const alignUp = (x: bigint, a: bigint): bigint => (a <= 1n ? x : (x + a - 1n) & ~(a - 1n));

function symbolType(t: number): SymbolType {
  return (['notype', 'object', 'func', 'section', 'file', 'common', 'tls'] as const)[t] ?? 'other';
}
function symbolBinding(b: number): SymbolBinding {
  return b === STB_LOCAL ? 'local' : b === STB_WEAK ? 'weak' : 'global';
}

interface InputRef {
  obj: number;
  index: number;
}

interface OutputSection {
  name: string;
  segment: SegmentKind;
  nobits: boolean;
  inputs: InputRef[];
  /** COMMON symbols allocated at the end of this section (only in `.bss`). */
  commons: { name: string; size: bigint; align: bigint }[];
  align: bigint;
  size: bigint;
  address: bigint;
  /** Offsets of inputs and commons inside the section, parallel to `inputs` / `commons`. */
  inputOffsets: bigint[];
  commonOffsets: bigint[];
}

type GlobalDef =
  | { kind: 'strong' | 'weak'; obj: number; sym: ElfSymbol }
  | { kind: 'common'; obj: number; sym: ElfSymbol; size: bigint; align: bigint };

/** Reads each input (when given as bytes) and links them. */
export function link(inputs: readonly (LinkInput | ElfObject)[], options: LinkOptions = {}): LinkedImage {
  const objects = inputs.map((i) => ('sections' in i ? i : readElf(i.bytes, i.file)));
  return linkObjects(objects, options);
}

export function linkObjects(objects: readonly ElfObject[], options: LinkOptions = {}): LinkedImage {
  const base = options.base ?? DEFAULT_BASE;
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  const maxImageSize = options.maxImageSize ?? 1n << 32n;
  const maxMaterialized = options.maxMaterializedBytes ?? 256 * 1024 * 1024;
  const linkName = objects.length === 1 ? objects[0].file : '<link>';
  if (objects.length === 0) throw new LoaderError('bad-header', linkName, 'nothing to link: no input objects');
  if (pageSize <= 0n || (pageSize & (pageSize - 1n)) !== 0n) throw new LoaderError('bad-alignment', linkName, `page size ${pageSize} is not a power of two`);
  if (base < 0n || base % pageSize !== 0n) throw new LoaderError('bad-alignment', linkName, `base ${hex(base)} is not page-aligned`);
  const arch = objects[0].arch;
  for (const o of objects) {
    if (o.arch !== arch) throw new LoaderError('machine-mismatch', o.file, `object is ${o.arch} but ${objects[0].file} is ${arch}`);
  }

  // ---- Classify input sections into output sections.
  const outputs = new Map<string, OutputSection>();
  const placement: (OutputSection | undefined)[][] = objects.map((o) => new Array(o.sections.length).fill(undefined));
  const inputSlot: number[][] = objects.map((o) => new Array(o.sections.length).fill(-1));
  const outputFor = (segment: SegmentKind, name: string, nobits: boolean): OutputSection => {
    const key = `${segment}\0${nobits ? 'nobits' : 'bits'}\0${name}`;
    let out = outputs.get(key);
    if (out === undefined) {
      out = { name, segment, nobits, inputs: [], commons: [], align: 1n, size: 0n, address: 0n, inputOffsets: [], commonOffsets: [] };
      outputs.set(key, out);
    }
    return out;
  };
  // COMDAT: the first group with a given signature is kept; later duplicates are discarded whole
  // (their members are equivalent copies, e.g. C++ inline functions emitted in every object).
  const discarded: boolean[][] = objects.map((o) => new Array(o.sections.length).fill(false));
  const comdatSeen = new Set<string>();
  objects.forEach((o, oi) => {
    for (const g of o.groups) {
      if ((g.flags & GRP_COMDAT) === 0) continue;
      if (comdatSeen.has(g.signature)) for (const m of g.members) discarded[oi][m] = true;
      else comdatSeen.add(g.signature);
    }
  });
  objects.forEach((o, oi) => {
    for (const s of o.sections) {
      if (s.index === 0 || s.type === SHT_NULL || discarded[oi][s.index]) continue;
      let segment: SegmentKind | undefined;
      const nobits = s.type === SHT_NOBITS;
      if ((s.flags & SHF_ALLOC) !== 0n) {
        if ((s.flags & 0x400n) !== 0n) {
          throw new LoaderError('unsupported', o.file, 'thread-local (SHF_TLS) sections are not supported', { section: s.name });
        }
        if (nobits) segment = 'data';
        else if ((s.flags & SHF_EXECINSTR) !== 0n) segment = 'text';
        else if ((s.flags & SHF_WRITE) !== 0n) segment = 'data';
        else segment = 'rodata';
      } else if (s.type === SHT_PROGBITS) {
        segment = 'custom';
      }
      if (segment === undefined) continue;
      const out = outputFor(segment, s.name, nobits);
      inputSlot[oi][s.index] = out.inputs.length;
      out.inputs.push({ obj: oi, index: s.index });
      placement[oi][s.index] = out;
    }
  });

  // ---- Global symbol resolution: strong > common > weak > undefined.
  const globalDefs = new Map<string, GlobalDef>();
  const duplicates: string[] = [];
  const undefinedRefs = new Map<string, { weak: boolean; files: Set<string> }>();
  objects.forEach((o, oi) => {
    for (const sym of o.symbols) {
      if (sym.index === 0 || sym.binding === STB_LOCAL || sym.isMapping) continue;
      if (sym.type === STT_TLS) throw new LoaderError('unsupported', o.file, `thread-local symbol ${sym.name} is not supported`, { section: '.symtab' });
      if (sym.name === '') continue;
      // A definition inside a discarded COMDAT copy defers to the kept copy's.
      if (sym.shndx !== SHN_UNDEF && sym.shndx < o.sections.length && discarded[oi][sym.shndx]) continue;
      if (sym.shndx === SHN_UNDEF) {
        const u = undefinedRefs.get(sym.name) ?? { weak: true, files: new Set<string>() };
        if (sym.binding !== STB_WEAK) u.weak = false;
        u.files.add(o.file);
        undefinedRefs.set(sym.name, u);
        continue;
      }
      const prev = globalDefs.get(sym.name);
      let def: GlobalDef;
      if (sym.shndx === SHN_COMMON) def = { kind: 'common', obj: oi, sym, size: sym.size, align: sym.value };
      else def = { kind: sym.binding === STB_WEAK ? 'weak' : 'strong', obj: oi, sym };
      if (prev === undefined) {
        globalDefs.set(sym.name, def);
      } else if (prev.kind === 'strong' && def.kind === 'strong') {
        duplicates.push(`${sym.name} (in ${objects[prev.obj].file} and ${o.file})`);
      } else if (prev.kind === 'common' && def.kind === 'common') {
        // Commons merge: the largest size and the strictest alignment.
        globalDefs.set(sym.name, {
          ...prev,
          size: prev.size > def.size ? prev.size : def.size,
          align: prev.align > def.align ? prev.align : def.align,
        });
      } else {
        const rank = { strong: 3, common: 2, weak: 1 } as const;
        if (rank[def.kind] > rank[prev.kind]) globalDefs.set(sym.name, def);
      }
    }
  });
  if (duplicates.length > 0) {
    throw new LoaderError('duplicate-symbol', linkName, `duplicate definitions of ${duplicates.length} symbol(s): ${duplicates.join(', ')}`);
  }

  // Undefined references: objects' definitions, then the GOT symbol, then externals, then weak → 0.
  const externalAddress = new Map<string, bigint>();
  const unresolved: string[] = [];
  const resolver = options.externals;
  for (const [name, ref] of undefinedRefs) {
    if (globalDefs.has(name) || name === GOT_SYMBOL) continue;
    let addr: bigint | undefined;
    if (resolver !== undefined) addr = typeof resolver === 'function' ? resolver(name) : resolver.get(name);
    if (addr !== undefined) externalAddress.set(name, BigInt.asUintN(64, addr));
    else if (ref.weak) externalAddress.set(name, 0n);
    else unresolved.push(`${name} (referenced by ${[...ref.files].join(', ')})`);
  }
  if (unresolved.length > 0) {
    throw new LoaderError('unresolved-symbols', linkName, `${unresolved.length} unresolved symbol(s): ${unresolved.join(', ')}`);
  }

  // COMMON symbols that won resolution are allocated in .bss.
  const commonIndex = new Map<string, number>();
  for (const [name, def] of globalDefs) {
    if (def.kind !== 'common') continue;
    const bss = outputFor('data', '.bss', true);
    commonIndex.set(name, bss.commons.length);
    bss.commons.push({ name, size: def.size, align: def.align });
  }

  // ---- Symbol keys (identity for GOT slots and veneers).
  const symbolKey = (oi: number, sym: ElfSymbol): string => (sym.binding === STB_LOCAL ? `l:${oi}:${sym.index}` : `g:${sym.name}`);

  // GOT slots: one per distinct symbol (AArch64: per symbol+addend, since GDAT(S+A) holds S+A).
  const gotKeys = new Map<string, { oi: number; sym: ElfSymbol; addend: bigint; index: number }>();
  objects.forEach((o, oi) => {
    for (const rs of o.relocationSections) {
      if (placement[oi][rs.target.index] === undefined) continue;
      for (const rel of rs.relocations) {
        if (!relocationInfo(arch, rel.type)?.usesGot) continue;
        const sym = o.symbols[rel.symbolIndex];
        const addend = arch === 'aarch64' ? rel.addend : 0n;
        const key = `${symbolKey(oi, sym)}+${addend}`;
        if (!gotKeys.has(key)) gotKeys.set(key, { oi, sym, addend, index: gotKeys.size });
      }
    }
  });
  const usesGotBase = objects.some((o, oi) =>
    o.relocationSections.some((rs) => placement[oi][rs.target.index] !== undefined && rs.relocations.some((r) => relocationInfo(arch, r.type)?.usesGotBase)),
  );
  const gotOut: OutputSection | undefined = gotKeys.size > 0 || usesGotBase || undefinedRefs.has(GOT_SYMBOL) ? outputFor('got', '.got', false) : undefined;
  if (gotOut !== undefined) gotOut.align = 8n;

  // Output sections in segment order; within data, bits before nobits.
  const ordered: OutputSection[] = [];
  for (const seg of SEGMENT_ORDER) {
    const here = [...outputs.values()].filter((o) => o.segment === seg);
    ordered.push(...here.filter((o) => !o.nobits), ...here.filter((o) => o.nobits));
  }

  // Output section sizes (address-independent: inputs are aligned relative to a section start
  // that is itself aligned to the strictest input alignment).
  let imageAlign = pageSize;
  for (const out of ordered) {
    let off = 0n;
    for (const inp of out.inputs) {
      const s = objects[inp.obj].sections[inp.index];
      if (s.addralign > MAX_PLACED_ALIGN) {
        throw new LoaderError('bad-alignment', objects[inp.obj].file, `section ${s.name} asks for alignment ${hex(s.addralign)}; sections are placed aligned to at most ${hex(MAX_PLACED_ALIGN)} (1 GiB)`, { section: s.name });
      }
      if (s.addralign > out.align) out.align = s.addralign;
      off = alignUp(off, s.addralign);
      out.inputOffsets.push(off);
      off += s.size;
    }
    for (const c of out.commons) {
      if (c.align > MAX_PLACED_ALIGN) {
        throw new LoaderError('bad-alignment', linkName, `COMMON symbol ${c.name} asks for alignment ${hex(c.align)}; at most ${hex(MAX_PLACED_ALIGN)} (1 GiB)`, { section: '.bss' });
      }
      if (c.align > out.align) out.align = c.align;
      off = alignUp(off, c.align);
      out.commonOffsets.push(off);
      off += c.size;
    }
    if (out === gotOut) off = BigInt(gotKeys.size) * 8n;
    out.size = off;
    if (out.align > imageAlign) imageAlign = out.align;
    if (out.size > maxImageSize) throw new LoaderError('image-too-large', linkName, `output section ${out.name} is ${hex(out.size)} bytes`);
  }
  let materialized = 0;
  for (const out of ordered) {
    if (out.nobits) continue;
    materialized += Number(out.size);
    if (materialized > maxMaterialized) {
      throw new LoaderError('image-too-large', linkName, `section contents exceed ${maxMaterialized} bytes (at ${out.name})`);
    }
  }

  // ---- Layout, repeated while new veneers are found to be needed (the set only grows).
  // Veneers are grouped per text output section and placed right after it, so a call only
  // needs to reach the end of its own output section (a section over 128 MiB can still overflow).
  interface VeneerGroup {
    address: bigint;
    entries: Map<string, { target: bigint; symbol: string; index: number }>;
  }
  const veneerGroups = new Map<OutputSection, VeneerGroup>();
  let segments: ImageSegment[] = [];
  let end = base;
  // Sections are placed by address arithmetic: alignment padding that covers whole pages is
  // left unmapped (a segment kind then has several segments), so a section aligned to 8 MiB
  // costs address space, not memory.
  const layout = (): void => {
    segments = [];
    let cursor = base;
    for (const seg of SEGMENT_ORDER) {
      cursor = alignUp(cursor, pageSize);
      let start: bigint | null = null;
      const close = (): void => {
        if (start !== null && cursor > start) {
          const size = alignUp(cursor - start, pageSize);
          segments.push({ kind: seg, address: start, size, perms: SEGMENT_PERMISSIONS[seg] });
          cursor = start + size;
        }
        start = null;
      };
      for (const out of ordered) {
        if (out.segment !== seg) continue;
        const at = alignUp(cursor, out.align);
        if (start !== null && at - alignUp(cursor, pageSize) >= pageSize) close();
        start ??= at - (at % pageSize);
        cursor = at;
        out.address = cursor;
        cursor += out.size;
        const group = veneerGroups.get(out);
        if (group !== undefined) {
          cursor = alignUp(cursor, 16n);
          group.address = cursor;
          cursor += BigInt(group.entries.size * VENEER_SIZE);
        }
        if (cursor - base > maxImageSize) throw new LoaderError('image-too-large', linkName, `image span exceeds ${hex(maxImageSize)} bytes`);
      }
      close();
    }
    end = cursor;
    if (end >= 1n << 64n) throw new LoaderError('image-too-large', linkName, 'image extends past the 64-bit address space');
  };

  const inputAddress = (oi: number, shndx: number): bigint | undefined => {
    const out = placement[oi][shndx];
    if (out === undefined) return undefined;
    return out.address + out.inputOffsets[inputSlot[oi][shndx]];
  };
  const globalAddress = (name: string): bigint | undefined => {
    const def = globalDefs.get(name);
    if (def !== undefined) {
      if (def.kind === 'common') {
        const bss = outputFor('data', '.bss', true);
        return bss.address + bss.commonOffsets[commonIndex.get(name)!];
      }
      return definedAddress(def.obj, def.sym);
    }
    if (name === GOT_SYMBOL) return gotOut?.address ?? 0n;
    return externalAddress.get(name);
  };
  const definedAddress = (oi: number, sym: ElfSymbol): bigint | undefined => {
    if (sym.shndx === SHN_ABS) return sym.value;
    const a = inputAddress(oi, sym.shndx);
    return a === undefined ? undefined : BigInt.asUintN(64, a + sym.value);
  };
  const resolve = (oi: number, sym: ElfSymbol, rsName: string, offset: bigint): bigint => {
    if (sym.index === 0) return 0n;
    let a: bigint | undefined;
    if (sym.binding === STB_LOCAL) {
      // Like ld, references into a discarded COMDAT copy (from .eh_frame, debug info) become 0.
      if (sym.shndx !== SHN_UNDEF && sym.shndx < objects[oi].sections.length && discarded[oi][sym.shndx]) return 0n;
      a = sym.shndx === SHN_UNDEF || sym.shndx === SHN_COMMON ? undefined : definedAddress(oi, sym);
    } else {
      a = globalAddress(sym.name);
    }
    if (a === undefined) {
      throw new LoaderError('bad-symbol', objects[oi].file, `relocation refers to symbol '${sym.name}' whose section is not part of the image`, {
        section: rsName,
        offset,
      });
    }
    return a;
  };
  const veneerKey = (oi: number, sym: ElfSymbol, addend: bigint): string => `${symbolKey(oi, sym)}+${addend}`;
  /** Visits every veneerable relocation in a text output section with its place and destination (S+A). */
  const forEachBranch = (visit: (out: OutputSection, key: string, place: bigint, dest: bigint, sym: ElfSymbol) => void): void => {
    objects.forEach((o, oi) => {
      for (const rs of o.relocationSections) {
        const out = placement[oi][rs.target.index];
        const sectionAddress = inputAddress(oi, rs.target.index);
        if (out === undefined || out.segment !== 'text' || sectionAddress === undefined) continue;
        for (const rel of rs.relocations) {
          if (!relocationInfo(arch, rel.type)?.veneerable) continue;
          const sym = o.symbols[rel.symbolIndex];
          const dest = BigInt.asUintN(64, resolve(oi, sym, rs.target.name, rel.offset) + rel.addend);
          visit(out, veneerKey(oi, sym, rel.addend), sectionAddress + rel.offset, dest, sym);
        }
      }
    });
  };
  for (let round = 0; ; round++) {
    layout();
    // Real inputs converge in a few rounds (each adds veneers only where earlier veneers pushed
    // a target out of range); a bound keeps crafted inputs from costing rounds x relocations.
    if (round > 64) throw new LoaderError('relocation-overflow', linkName, 'veneer placement did not converge after 64 rounds');
    let added = false;
    forEachBranch((out, key, place, dest, sym) => {
      // S+A-P is exactly what the branch field must hold (x86-64's -4 addend included).
      if (branchReaches(arch, place, dest)) return;
      let group = veneerGroups.get(out);
      if (group === undefined) {
        group = { address: 0n, entries: new Map() };
        veneerGroups.set(out, group);
      }
      if (!group.entries.has(key)) {
        group.entries.set(key, { target: 0n, symbol: sym.name, index: group.entries.size });
        added = true;
      }
    });
    if (!added) break;
  }
  // Destinations from the final layout. x86-64: the rel32 field ends the call/jmp, so the
  // destination is S+A+4 (A being the usual -4).
  forEachBranch((out, key, _place, dest) => {
    const v = veneerGroups.get(out)?.entries.get(key);
    if (v !== undefined) v.target = arch === 'x64' ? BigInt.asUintN(64, dest + 4n) : dest;
  });

  // ---- Materialize section bytes.
  const bytesOf = new Map<OutputSection, Uint8Array>();
  for (const out of ordered) {
    if (out.nobits) continue;
    const buf = new Uint8Array(Number(out.size));
    // Padding in x86-64 code is int3, so running off the end of a function traps instead of
    // executing `add [rax], al` (what zeros decode to). AArch64 zeros already decode as udf #0.
    if (out.segment === 'text' && arch === 'x64') buf.fill(TRAP_FILL_X64);
    out.inputs.forEach((inp, i) => {
      const s = objects[inp.obj].sections[inp.index];
      buf.set(s.data, Number(out.inputOffsets[i]));
    });
    bytesOf.set(out, buf);
  }

  // GOT contents.
  const got: GotSlot[] = [];
  const gotSlotAddress = new Map<string, bigint>();
  if (gotOut !== undefined) {
    const buf = bytesOf.get(gotOut)!;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (const [key, g] of gotKeys) {
      const value = BigInt.asUintN(64, resolve(g.oi, g.sym, '.got', 0n) + g.addend);
      const address = gotOut.address + BigInt(g.index) * 8n;
      view.setBigUint64(g.index * 8, value, true);
      gotSlotAddress.set(key, address);
      got.push({ symbol: g.sym.name, address, value });
    }
  }

  // ---- Apply relocations.
  objects.forEach((o, oi) => {
    for (const rs of o.relocationSections) {
      const out = placement[oi][rs.target.index];
      if (out === undefined) continue;
      if (out.nobits) {
        if (rs.relocations.length > 0) {
          throw new LoaderError('unsupported', o.file, `relocations against NOBITS section ${rs.target.name}`, { section: rs.section.name });
        }
        continue;
      }
      const buf = bytesOf.get(out)!;
      const inOff = out.inputOffsets[inputSlot[oi][rs.target.index]];
      const secAddr = out.address + inOff;
      for (const rel of rs.relocations) {
        const info = relocationInfo(arch, rel.type)!;
        const sym = o.symbols[rel.symbolIndex];
        const site = { file: o.file, section: rs.target.name, offset: rel.offset, symbolName: sym.name };
        const place = secAddr + rel.offset;
        let S = resolve(oi, sym, rs.target.name, rel.offset);
        let A = rel.addend;
        let gotSlot: bigint | undefined;
        if (info.usesGot) gotSlot = gotSlotAddress.get(`${symbolKey(oi, sym)}+${arch === 'aarch64' ? rel.addend : 0n}`);
        const group = veneerGroups.get(out);
        if (info.veneerable && group !== undefined) {
          const v = group.entries.get(veneerKey(oi, sym, rel.addend));
          if (v !== undefined && !branchReaches(arch, place, BigInt.asUintN(64, S + A))) {
            S = group.address + BigInt(v.index * VENEER_SIZE);
            if (arch === 'aarch64') A = 0n;
          }
        }
        applyRelocation(arch, rel.type, buf, Number(inOff + rel.offset), { place, symbol: S, addend: A, gotSlot, gotBase: gotOut?.address }, site);
      }
    }
  });

  // ---- Build the value.
  const sections: ImageSection[] = [];
  const veneers: Veneer[] = [];
  for (const out of ordered) {
    const inputs: PlacedInput[] = out.inputs.map((inp, i) => {
      const s = objects[inp.obj].sections[inp.index];
      return { file: objects[inp.obj].file, sectionIndex: inp.index, name: s.name, address: out.address + out.inputOffsets[i], size: s.size };
    });
    sections.push({
      name: out.name,
      segment: out.segment,
      address: out.address,
      size: out.size,
      align: out.align,
      nobits: out.nobits,
      bytes: bytesOf.get(out) ?? new Uint8Array(0),
      perms: SEGMENT_PERMISSIONS[out.segment],
      inputs,
    });
    const group = veneerGroups.get(out);
    if (group !== undefined) {
      const vbuf = new Uint8Array(group.entries.size * VENEER_SIZE);
      for (const v of group.entries.values()) {
        vbuf.set(veneerBytes(arch, v.target), v.index * VENEER_SIZE);
        veneers.push({ address: group.address + BigInt(v.index * VENEER_SIZE), target: v.target, symbol: v.symbol });
      }
      sections.push({
        name: `${out.name}.veneers`,
        segment: 'text',
        address: group.address,
        size: BigInt(vbuf.length),
        align: 16n,
        nobits: false,
        bytes: vbuf,
        perms: SEGMENT_PERMISSIONS.text,
        inputs: [],
      });
    }
  }

  const outName = (oi: number, shndx: number): string | undefined => placement[oi][shndx]?.name;
  const symbols: ImageSymbol[] = [];
  const globals = new Map<string, ImageSymbol>();
  objects.forEach((o, oi) => {
    for (const sym of o.symbols) {
      if (sym.index === 0 || sym.isMapping || sym.name === '' || sym.type === STT_FILE || sym.type === STT_SECTION) continue;
      if (sym.binding === STB_LOCAL) {
        if (sym.shndx === SHN_UNDEF || sym.shndx === SHN_COMMON) continue;
        const a = definedAddress(oi, sym);
        if (a === undefined) continue;
        symbols.push({
          name: sym.name,
          address: a,
          size: sym.size,
          type: symbolType(sym.type),
          binding: 'local',
          section: sym.shndx === SHN_ABS ? undefined : outName(oi, sym.shndx),
          file: o.file,
          external: false,
        });
        continue;
      }
      const def = globalDefs.get(sym.name);
      if (def === undefined || def.obj !== oi || def.sym.index !== sym.index || globals.has(sym.name)) continue;
      const a = globalAddress(sym.name);
      if (a === undefined) continue;
      const s: ImageSymbol = {
        name: sym.name,
        address: a,
        size: def.kind === 'common' ? def.size : sym.size,
        type: def.kind === 'common' ? 'object' : symbolType(sym.type),
        binding: symbolBinding(sym.binding),
        section: def.kind === 'common' ? '.bss' : sym.shndx === SHN_ABS ? undefined : outName(oi, sym.shndx),
        file: o.file,
        external: false,
      };
      symbols.push(s);
      globals.set(sym.name, s);
    }
  });
  // Veneers get symbols so a PC inside one symbolizes as `__veneer_<target>`.
  for (const v of veneers) {
    const sec = sections.find((x) => x.name.endsWith('.veneers') && v.address >= x.address && v.address < x.address + x.size);
    symbols.push({ name: `__veneer_${v.symbol}`, address: v.address, size: BigInt(VENEER_SIZE), type: 'func', binding: 'local', section: sec?.name, file: undefined, external: false });
  }
  for (const [name, address] of externalAddress) {
    const s: ImageSymbol = { name, address, size: 0n, type: 'notype', binding: undefinedRefs.get(name)?.weak ? 'weak' : 'global', section: undefined, file: undefined, external: true };
    symbols.push(s);
    globals.set(name, s);
  }

  const customSections = new Map<string, ImageSection>();
  for (const s of sections) if (s.segment === 'custom' && !customSections.has(s.name)) customSections.set(s.name, s);
  sections.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));

  return { arch, base, pageSize, align: imageAlign, end, segments, sections, symbols, globals, customSections, got, veneers };
}

// ---- Queries on an image.

const symbolIndexCache = new WeakMap<LinkedImage, ImageSymbol[]>();

function sortedSymbols(image: LinkedImage): ImageSymbol[] {
  let sorted = symbolIndexCache.get(image);
  if (sorted === undefined) {
    sorted = image.symbols
      .filter((s) => !s.external && s.section !== undefined && (s.type === 'func' || s.type === 'object' || s.type === 'notype'))
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : b.size > a.size ? 1 : -1));
    symbolIndexCache.set(image, sorted);
  }
  return sorted;
}

/**
 * The symbol containing `address` (for symbolized backtraces): the symbol with
 * `address <= a < address + size`; failing that, the nearest preceding zero-size symbol in the
 * same output section (hand-written assembly often has no .size). Externals are found only by
 * exact address.
 */
export function symbolAt(image: LinkedImage, address: bigint): ImageSymbol | undefined {
  const sorted = sortedSymbols(image);
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].address <= address) lo = mid + 1;
    else hi = mid;
  }
  // sorted[0..lo) have address <= target. Prefer the closest sized symbol that contains it.
  for (let i = lo - 1; i >= 0 && i >= lo - 64; i--) {
    const s = sorted[i];
    if (s.size > 0n && address < s.address + s.size) return s;
  }
  if (lo > 0) {
    const s = sorted[lo - 1];
    const sec = sectionAt(image, address);
    if (s.size === 0n && sec !== undefined && sec.name === s.section && s.address >= sec.address) return s;
  }
  for (const s of image.globals.values()) if (s.external && s.address === address) return s;
  return undefined;
}

/** The output section whose [address, address + size) contains `address`. */
export function sectionAt(image: LinkedImage, address: bigint): ImageSection | undefined {
  return image.sections.find((s) => address >= s.address && address < s.address + s.size);
}

/** Address of a global symbol, or undefined. */
export function symbolAddress(image: LinkedImage, name: string): bigint | undefined {
  return image.globals.get(name)?.address;
}

/**
 * Flattens a segment to bytes: zeros where no section has contents, except in x86-64 text,
 * where gaps are int3. Allocates `segment.size` bytes.
 */
export function segmentBytes(image: LinkedImage, segment: ImageSegment): Uint8Array {
  const out = new Uint8Array(Number(segment.size));
  if (segment.kind === 'text' && image.arch === 'x64') out.fill(TRAP_FILL_X64);
  for (const s of image.sections) {
    if (s.nobits || s.address < segment.address || s.address >= segment.address + segment.size) continue;
    out.set(s.bytes, Number(s.address - segment.address));
  }
  return out;
}

/** Renders `address` as `name+0xoff` when a symbol contains it, else as hex. */
export function describeAddress(image: LinkedImage, address: bigint): string {
  const s = symbolAt(image, address);
  if (s === undefined) return hex(address);
  const off = address - s.address;
  return off === 0n ? s.name : `${s.name}+${hex(off)}`;
}

/**
 * Where an image is placed. The simulator implements this over its Machine; loader/ does not
 * depend on simulator/. `mapRegion` maps zero-filled memory; `writeBytes` fills initial contents
 * (a host-side write, so it must work on regions the guest cannot write, such as text).
 */
export interface ImageTarget {
  mapRegion(name: SegmentKind, address: bigint, size: bigint, perms: Permissions): void;
  writeBytes(address: bigint, bytes: Uint8Array): void;
}

/**
 * Maps every segment, then writes its contents: text segments whole (so x86-64 gaps hold int3),
 * other segments section by section (NOBITS sections rely on the zero fill).
 */
export function placeImage(image: LinkedImage, target: ImageTarget): void {
  for (const seg of image.segments) target.mapRegion(seg.kind, seg.address, seg.size, seg.perms);
  for (const seg of image.segments) {
    if (seg.kind === 'text') {
      target.writeBytes(seg.address, segmentBytes(image, seg));
      continue;
    }
    for (const s of image.sections) {
      if (s.nobits || s.bytes.length === 0 || s.address < seg.address || s.address >= seg.address + seg.size) continue;
      target.writeBytes(s.address, s.bytes);
    }
  }
}
