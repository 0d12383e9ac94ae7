/**
 * Placing a compiled module image into a Machine: link the ELF object at a free address, map
 * its segments with their permissions (text read+execute, never writable by the guest), and
 * name code addresses after the Wasm functions for backtraces.
 */
import { functionDisplayName, type WasmModule } from '../compiler/frontend/module.ts';
import { link, placeImage, type ExternalResolver, type LinkedImage, type Permissions } from '../loader/link.ts';
import { PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { Machine, Region } from '../simulator/machine.ts';
import { RuntimeError } from './errors.ts';
import type { ModuleCode } from './image-module.ts';

export interface PlacedImage {
  readonly linked: LinkedImage;
  /** Guest address of `.text` (function text offsets are relative to it). */
  readonly textBase: bigint;
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

/**
 * Links and maps `image`. `externals` resolves symbols the image calls but does not define
 * (foreign code calling host functions by name); an unresolved one is a LoaderError listing all.
 */
export function placeModuleCode(machine: Machine, module: WasmModule, image: ModuleCode, name = `module${imageCounter++}`, externals?: ExternalResolver): PlacedImage {
  if (image.arch !== machine.arch) throw new RuntimeError(name, `image is for ${image.arch}, the machine is ${machine.arch}`);
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
  const text = linked.sections.find((s) => s.name === '.text');
  if (!text) throw new RuntimeError(name, 'image has no .text section');
  const textBase = text.address;
  const functionAddresses = image.functions.map((f) => textBase + BigInt(f.textOffset));
  const ranges = image.functions.map((f) => ({ funcIndex: f.funcIndex, begin: textBase + BigInt(f.textOffset), end: textBase + BigInt(f.textOffset + f.size) }));
  const functionAt = (pc: bigint) => {
    for (const r of ranges) if (pc >= r.begin && pc < r.end) return { funcIndex: r.funcIndex, offset: Number(pc - r.begin) };
    return undefined;
  };
  const moduleName = module.names.module ?? name;
  machine.addSymbolizer((pc) => {
    const f = functionAt(pc);
    return f ? `${moduleName}!${functionDisplayName(module, f.funcIndex)}+0x${f.offset.toString(16)}` : undefined;
  });
  return { linked, textBase, functionAddresses, functionAt };
}
