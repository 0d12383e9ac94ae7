/**
 * Placing a compiled module image into a Machine: link the ELF object at a free address, map
 * its segments with their permissions (text read+execute, never writable by the guest), and
 * name code addresses after the Wasm functions for backtraces.
 */
import { functionDisplayName, type WasmModule } from '../compiler/frontend/module.ts';
import type { CompiledImage } from '../compiler/index.ts';
import { link, placeImage, segmentBytes, type ExternalResolver, type LinkedImage, type Permissions } from '../loader/link.ts';
import { relocationInfo, relocationTypeByName } from '../loader/reloc-types.ts';
import { applyRelocation, branchReaches } from '../loader/relocate.ts';
import { PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { Machine, Region } from '../simulator/machine.ts';
import { RuntimeError } from './errors.ts';
import type { ModuleCode } from './image-module.ts';

export interface PlacedImage {
  /** The linked ELF image, when the module was placed through its ELF object (see CodeArea). */
  readonly linked: LinkedImage | undefined;
  /** Guest address of `.text` (function text offsets are relative to it). */
  readonly textBase: bigint;
  /** `.text` as placed (relocated). */
  readonly text: Uint8Array;
  /** Guest address of each defined function's first instruction, by defined index. */
  readonly functionAddresses: readonly bigint[];
  /** Which function a code address belongs to. */
  functionAt(pc: bigint): { funcIndex: number; offset: number } | undefined;
}

function protOf(p: Permissions): number {
  return (p.read ? PROT_READ : 0) | (p.write ? PROT_WRITE : 0) | (p.exec ? PROT_EXEC : 0);
}

/** The lowest 64 KiB-aligned address above every mapped region (and its trailing gap). */
export function freeAddressAbove(machine: Machine, gap = BigInt(PAGE_SIZE)): bigint {
  let top = 0n;
  for (const r of machine.allRegions()) {
    const end = r.address + BigInt(r.size);
    if (end > top) top = end;
  }
  return (top + gap + 0xffffn) & ~0xffffn;
}

let imageCounter = 0;

const alignUp = (x: bigint, a: bigint): bigint => ((x + a - 1n) / a) * a;

/** Bytes mapped at a time for a CodeArea (more when one image needs more). */
const CODE_AREA_CHUNK = 1 << 20;

/** Where a module's text went: its address and bytes, and the linked ELF image if it was linked. */
interface TextPlacement {
  readonly textBase: bigint;
  readonly text: Uint8Array;
  readonly linked: LinkedImage | undefined;
}

const relocationTypes = new Map<string, number | undefined>();

/**
 * `.text` of a module compiled in this process, relocated for `textBase` without the ELF round
 * trip (writing the object, reading it back, linking it): each function's relocation requests
 * applied directly. stackscope's compiler emits them only for calls between the module's own
 * functions, so this is byte for byte what linking the image's ELF object at `textBase` makes of
 * `.text`; undefined when a request names any other symbol or a call would need a veneer (the
 * caller links the ELF object then).
 */
export function relocatedText(compiled: CompiledImage, textBase: bigint): Uint8Array | undefined {
  const arch = compiled.arch;
  const bytes = compiled.text.slice();
  let symbols: Map<string, number> | undefined;
  for (const f of compiled.functions) {
    for (const r of f.relocations) {
      symbols ??= new Map(compiled.functions.map((g) => [g.symbol, g.textOffset]));
      const target = symbols.get(r.symbol);
      const key = `${arch}:${r.kind}`;
      if (!relocationTypes.has(key)) relocationTypes.set(key, relocationTypeByName(arch, r.kind));
      const type = relocationTypes.get(key);
      if (target === undefined || type === undefined) return undefined;
      const offset = f.textOffset + r.offset;
      const place = textBase + BigInt(offset);
      const symbol = textBase + BigInt(target);
      if (relocationInfo(arch, type)?.veneerable && !branchReaches(arch, place, BigInt.asUintN(64, symbol + r.addend))) return undefined;
      applyRelocation(arch, type, bytes, offset, { place, symbol, addend: r.addend }, { file: 'module', section: '.text', offset: BigInt(offset), symbolName: r.symbol });
    }
  }
  return bytes;
}

/**
 * One executable area that a store places the text of many modules into, side by side (each
 * from a page boundary), mapped a chunk at a time: Store option `sharedCodeArea`. Mapping a
 * region costs Unicorn 2.0.1 0.1-1 ms, more as regions accumulate, and a module otherwise
 * maps two (its text and its metadata), so a store that instantiates hundreds of small modules
 * (the fuzzer) spends a large part of its time mapping, and more with every module. What a
 * module gives up: the unmapped page after its text (a jump past its end runs the next
 * module's code or zero bytes instead of faulting; compiled code never ends without a return,
 * jump or trap), and its metadata sections (stack maps, trap table, module section) are kept
 * host-side only, where the runtime reads them anyway; guest code never reads them. An image
 * with other segments (read-only or writable data, a GOT) is mapped on its own as usual.
 */
export class CodeArea {
  private region: Region | undefined;
  private used = 0;
  private chunks = 0;

  constructor(readonly machine: Machine, readonly name = 'module-code', readonly chunkBytes = CODE_AREA_CHUNK) {}

  /**
   * Places `image`'s text in the area: a module compiled in this process without the ELF round
   * trip (relocatedText), one from an image's bytes by linking its ELF object; undefined when
   * the image has segments the area does not take.
   */
  place(name: string, image: ModuleCode, externals?: ExternalResolver): TextPlacement | undefined {
    if (image.compiled && !externals) {
      const placed = this.placeCompiled(image.compiled);
      if (placed) return placed;
    }
    const linked = this.placeLinked(name, image, externals);
    if (!linked) return undefined;
    const text = linked.sections.find((s) => s.name === '.text');
    return text ? { textBase: text.address, text: text.bytes, linked } : undefined;
  }

  /** Maps a new chunk of at least `bytes`, aligned to `align`, and makes it the current one. */
  private newChunk(bytes: bigint, align: bigint): Region {
    const at = alignUp(freeAddressAbove(this.machine), align);
    this.region = this.machine.map(`${this.name}#${this.chunks++}`, Math.max(this.chunkBytes, Number(alignUp(bytes, BigInt(PAGE_SIZE)))), PROT_READ | PROT_EXEC, at);
    this.used = 0;
    return this.region;
  }

  private placeCompiled(compiled: CompiledImage): TextPlacement | undefined {
    const size = compiled.text.length;
    if (size === 0) return undefined;
    let region = this.region;
    let cursor = region ? alignUp(region.address + BigInt(this.used), BigInt(PAGE_SIZE)) : 0n;
    if (!region || cursor + BigInt(size) > region.address + BigInt(region.size)) {
      region = this.newChunk(BigInt(size), BigInt(PAGE_SIZE));
      cursor = region.address;
    }
    const text = relocatedText(compiled, cursor);
    if (!text) return undefined;
    // Addresses the area never handed out before: no translated code covers them. The rest of
    // the page is what the linker pads x86-64 text with (int3); fresh memory is zero otherwise.
    const at = Number(cursor - region.address);
    const end = Math.ceil((at + size) / PAGE_SIZE) * PAGE_SIZE;
    region.view.set(text, at);
    if (compiled.arch === 'x64') region.view.fill(0xcc, at + size, end);
    this.used = end;
    return { textBase: cursor, text, linked: undefined };
  }

  /** Links `image`'s ELF object into the area; undefined when it has segments the area does not take. */
  private placeLinked(name: string, image: ModuleCode, externals?: ExternalResolver): LinkedImage | undefined {
    const page = BigInt(PAGE_SIZE);
    const up = alignUp;
    let align = page;
    for (let attempt = 0; attempt < 4; attempt++) {
      const region = this.region;
      const cursor = region ? up(region.address + BigInt(this.used), align) : undefined;
      const linked = link([{ file: `${name}.o`, bytes: image.elf }], { base: cursor ?? freeAddressAbove(this.machine), ...(externals ? { externals } : {}) });
      if (linked.segments.some((s) => s.kind !== 'text' && s.kind !== 'custom')) return undefined;
      const text = linked.segments.find((s) => s.kind === 'text');
      if (!text) return undefined;
      if (linked.align > align) {
        align = linked.align;
        if (cursor !== undefined && cursor % align !== 0n) continue; // linked again at an aligned cursor
      }
      const end = text.address + text.size;
      if (region === undefined || cursor === undefined || end > region.address + BigInt(region.size)) {
        // A new chunk, aligned for the image; it is linked again there.
        this.newChunk(end - linked.base, align);
        continue;
      }
      // Addresses the area never handed out before: no translated code covers them.
      region.view.set(segmentBytes(linked, text), Number(text.address - region.address));
      this.used = Number(up(end - region.address, page));
      return linked;
    }
    throw new RuntimeError(name, 'internal: the code area could not take the image after mapping a chunk for it');
  }
}

/**
 * Links and maps `image` (into `area` when given and the image fits its rules, see CodeArea).
 * `externals` resolves symbols the image calls but does not define (foreign code calling host
 * functions by name); an unresolved one is a LoaderError listing all.
 */
export function placeModuleCode(machine: Machine, module: WasmModule, image: ModuleCode, name = `module${imageCounter++}`, externals?: ExternalResolver, area?: CodeArea): PlacedImage {
  if (image.arch !== machine.arch) throw new RuntimeError(name, `image is for ${image.arch}, the machine is ${machine.arch}`);
  let placement = area?.place(name, image, externals);
  if (!placement) {
    const linked = mapImage(machine, image, name, externals);
    const text = linked.sections.find((s) => s.name === '.text');
    if (!text) throw new RuntimeError(name, 'image has no .text section');
    placement = { textBase: text.address, text: text.bytes, linked };
  }
  return placedImage(machine, module, image, placement, name);
}

/** Links `image` at a free address and maps its segments, one region each. */
function mapImage(machine: Machine, image: ModuleCode, name: string, externals?: ExternalResolver): LinkedImage {
  const linked = link([{ file: `${name}.o`, bytes: image.elf }], { base: freeAddressAbove(machine), ...(externals ? { externals } : {}) });
  const mapped: Region[] = [];
  placeImage(linked, {
    mapRegion: (kind, address, size, perms) => {
      // Map writable first only for non-code; code is written through the host view.
      mapped.push(machine.map(`${name}:${kind}`, Number(size), protOf(perms), address));
    },
    writeBytes: (address, bytes) => {
      // Regions this placement just mapped (at addresses never mapped before) have run
      // nothing, so no translated code, block count or system-instruction hook covers them:
      // their bytes go straight into their memory. Machine.writeBytes would ask the engine
      // to drop translations over the range, which costs Unicorn about a millisecond for a
      // text segment even when there are none (a fuzz campaign places one per program).
      const region = mapped.find((r) => address >= r.address && address + BigInt(bytes.length) <= r.address + BigInt(r.size));
      if (region) region.view.set(bytes, Number(address - region.address));
      else machine.writeBytes(address, bytes);
    },
  });
  return linked;
}

function placedImage(machine: Machine, module: WasmModule, image: ModuleCode, placement: TextPlacement, name: string): PlacedImage {
  const { textBase, text, linked } = placement;
  // Compiled code: the engine counts its blocks from one scan here, not a stop per new block.
  machine.describePlacedCode(textBase, text, image.functions.map((f) => ({ offset: f.textOffset, size: f.size })));
  const functionAddresses = image.functions.map((f) => textBase + BigInt(f.textOffset));
  // The machine asks every placed module's symbolizer in turn (a store holds dozens), so an
  // address outside this module's functions costs two compares here; inside, offsets are numbers.
  const functions = image.functions;
  let lo = Infinity;
  let hi = -Infinity;
  for (const f of functions) {
    lo = Math.min(lo, f.textOffset);
    hi = Math.max(hi, f.textOffset + f.size);
  }
  const begin = functions.length ? textBase + BigInt(lo) : 0n;
  const end = functions.length ? textBase + BigInt(hi) : 0n;
  const functionAt = (pc: bigint) => {
    if (pc < begin || pc >= end) return undefined;
    const offset = Number(pc - textBase);
    for (const f of functions) if (offset >= f.textOffset && offset < f.textOffset + f.size) return { funcIndex: f.funcIndex, offset: offset - f.textOffset };
    return undefined;
  };
  const moduleName = module.names.module ?? name;
  machine.addSymbolizer((pc) => {
    const f = functionAt(pc);
    return f ? `${moduleName}!${functionDisplayName(module, f.funcIndex)}+0x${f.offset.toString(16)}` : undefined;
  });
  return { linked, textBase, text, functionAddresses, functionAt };
}
