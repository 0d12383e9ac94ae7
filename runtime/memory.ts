/**
 * Linear memories in guest memory, laid out like wasmtime's static memories: a reservation of
 * address space (the era's: 4 GiB on a 64-bit host, whatever the declared maximum), of which
 * only the accessible part is mapped, followed by an unmapped guard region (v17: 2 GiB; v31 and
 * later: 32 MiB). Compiled code leaves most bounds checks to that layout
 * (compiler/memory-tunables.ts): an access past `current_length` lands in unmapped space and
 * faults at the access's trap site, which the runtime reports as MemoryOutOfBounds. Unmapped
 * address space costs nothing in the emulator. Growing maps more pages in place: the base never
 * moves, so compiled code may cache it.
 */
import type { MemoryType } from '../compiler/frontend/module.ts';
import { VMMemoryDefinitionLayout } from '../compiler/vmoffsets.ts';
import { PAGE_SIZE, PROT_NONE, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { Machine } from '../simulator/machine.ts';
import { RuntimeError, WasmTrap } from './errors.ts';
import { tunablesHonoured, type MemoryTunables } from '../compiler/memory-tunables.ts';

export const WASM_PAGE_SIZE = 0x1_0000;
/** 2^16 pages = 4 GiB, the largest 32-bit memory. */
export const MAX_WASM32_PAGES = 0x1_0000;
/** wasmtime's default static-memory guard on 64-bit hosts. */
export const DEFAULT_GUARD_BYTES = 2n << 30n;

export interface LinearMemoryOptions {
  /** Unmapped bytes after the reservation (default 2 GiB). */
  guardBytes?: bigint;
  /** Address space reserved for the memory, in pages, whatever the type's maximum says (default
   * 65536, i.e. 4 GiB; only touched pages cost host memory). Growth stops at it. */
  reservationPages?: number;
  /** Most pages that may ever be accessible (mapped with host memory behind them), like a
   * wasmtime ResourceLimiter; growth beyond fails with −1. Default 4096 (256 MiB). */
  maxAccessiblePages?: number;
}

export const DEFAULT_MAX_ACCESSIBLE_PAGES = 4096;

/** The address space a memory made with `options` has: reservation and guard, in bytes. */
export function addressSpaceOf(options: LinearMemoryOptions = {}): { reservation: bigint; guard: bigint } {
  const pages = Math.min(options.reservationPages ?? MAX_WASM32_PAGES, MAX_WASM32_PAGES);
  return { reservation: BigInt(pages) * BigInt(WASM_PAGE_SIZE), guard: options.guardBytes ?? DEFAULT_GUARD_BYTES };
}

/** Code compiled for tunables that a memory's address space cannot honour (docs/image-format.md). */
export class MemoryReservationError extends RuntimeError {
  override name = 'MemoryReservationError';
}

/**
 * Throws MemoryReservationError unless a memory of `type` with `space` can run code compiled for
 * `tunables`: the code leaves accesses up to reservation + guard to faults.
 */
export function checkAddressSpace(where: string, type: MemoryType, tunables: MemoryTunables, space: { reservation: bigint; guard: bigint }): void {
  if (tunablesHonoured(type, tunables, space)) return;
  throw new MemoryReservationError(where,
    `the code was compiled for a ${tunables.reservation}-byte reservation and a ${tunables.guard}-byte guard, ` +
    `the memory has ${space.reservation} and ${space.guard}: accesses it leaves to guard pages would reach mapped memory ` +
    '(compile with the engine that runs it, or give the engine a reservation and guard at least as large)');
}

let memoryCounter = 0;

export class LinearMemory {
  /** Guest address of byte 0. */
  readonly base: bigint;
  /** Pages the reservation can hold; growth beyond fails (returns −1). */
  readonly reservedPages: number;
  readonly guardBytes: bigint;
  /** The resource limit on accessible pages (see LinearMemoryOptions.maxAccessiblePages). */
  readonly maxAccessiblePages: number;
  private pagesNow: number;
  /** Where this memory's VMMemoryDefinition lives (an owned slot of the defining vmctx, or a
   * standalone block for host-created memories); growth keeps its current_length in step. */
  definitionAddress: bigint | undefined;
  readonly name: string;

  private constructor(readonly machine: Machine, readonly type: MemoryType, options: LinearMemoryOptions) {
    this.name = `memory${memoryCounter++}`;
    this.reservedPages = Math.min(options.reservationPages ?? MAX_WASM32_PAGES, MAX_WASM32_PAGES);
    this.maxAccessiblePages = options.maxAccessiblePages ?? DEFAULT_MAX_ACCESSIBLE_PAGES;
    if (type.min > this.maxAccessiblePages) {
      throw new RuntimeError(this.name, `minimum of ${type.min} pages exceeds the limit of ${this.maxAccessiblePages} accessible pages`);
    }
    if (type.min > this.reservedPages) {
      throw new RuntimeError(this.name, `minimum of ${type.min} pages exceeds the reservation of ${this.reservedPages} pages`);
    }
    this.guardBytes = options.guardBytes ?? DEFAULT_GUARD_BYTES;
    const reservation = BigInt(this.reservedPages) * BigInt(WASM_PAGE_SIZE);
    // Place the reservation above every mapped region, then map a one-page PROT_NONE marker
    // past the guard: the Machine allocates new regions after the highest one, so the marker
    // keeps them out of the reservation and the guard, which stay unmapped on purpose.
    let top = 0n;
    for (const r of machine.allRegions()) top = r.address + BigInt(r.size) > top ? r.address + BigInt(r.size) : top;
    const align = BigInt(WASM_PAGE_SIZE);
    this.base = (top + BigInt(PAGE_SIZE) + align - 1n) & ~(align - 1n);
    machine.map(`${this.name}-end`, PAGE_SIZE, PROT_NONE, this.base + reservation + this.guardBytes);
    this.pagesNow = 0;
    if (type.min > 0) this.mapPages(0, type.min);
    this.pagesNow = type.min;
    this.definitionAddress = undefined;
  }

  static create(machine: Machine, type: MemoryType, options: LinearMemoryOptions = {}): LinearMemory {
    return new LinearMemory(machine, type, options);
  }

  get pages(): number {
    return this.pagesNow;
  }

  get byteLength(): number {
    return this.pagesNow * WASM_PAGE_SIZE;
  }

  private mapPages(fromPage: number, count: number): void {
    this.machine.map(`${this.name}@${fromPage}`, count * WASM_PAGE_SIZE, PROT_READ | PROT_WRITE,
      this.base + BigInt(fromPage) * BigInt(WASM_PAGE_SIZE));
  }

  /** Writes base and current_length into the VMMemoryDefinition at `address` and remembers it. */
  writeDefinition(address: bigint): void {
    this.definitionAddress = address;
    this.machine.writeU64(address + BigInt(VMMemoryDefinitionLayout.base), this.base);
    this.machine.writeU64(address + BigInt(VMMemoryDefinitionLayout.currentLength), BigInt(this.byteLength));
  }

  /** The address space reserved for the memory and its guard, in bytes. */
  get addressSpace(): { reservation: bigint; guard: bigint } {
    return { reservation: BigInt(this.reservedPages) * BigInt(WASM_PAGE_SIZE), guard: this.guardBytes };
  }

  /** memory.grow: the old size in pages, or −1 when the maximum or the reservation forbids. */
  grow(deltaPages: bigint | number): number {
    const delta = BigInt(deltaPages);
    if (delta < 0n) return -1;
    const old = this.pagesNow;
    const wanted = BigInt(old) + delta;
    if (wanted > BigInt(this.type.max ?? MAX_WASM32_PAGES) || wanted > BigInt(this.reservedPages) || wanted > BigInt(this.maxAccessiblePages)) return -1;
    if (delta === 0n) return old;
    this.mapPages(old, Number(delta));
    this.pagesNow = Number(wanted);
    if (this.definitionAddress !== undefined) {
      this.machine.writeU64(this.definitionAddress + BigInt(VMMemoryDefinitionLayout.currentLength), BigInt(this.byteLength));
    }
    return old;
  }

  /** Traps with MemoryOutOfBounds unless [offset, offset+length) is inside the memory. */
  checkRange(offset: bigint | number, length: bigint | number): void {
    const o = BigInt(offset);
    const l = BigInt(length);
    if (o < 0n || l < 0n || o + l > BigInt(this.byteLength)) {
      throw new WasmTrap({ code: 'MemoryOutOfBounds', detail: `${this.name}: [${o}, ${o + l}) outside ${this.byteLength} bytes` });
    }
  }

  /** Copies bytes out; the range may span several growth mappings. */
  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const out = new Uint8Array(length);
    this.forEachPiece(offset, length, (view, at, len, done) => out.set(view.subarray(at, at + len), done));
    return out;
  }

  write(offset: number, bytes: Uint8Array): void {
    this.checkRange(offset, bytes.length);
    this.forEachPiece(offset, bytes.length, (view, at, len, done) => view.set(bytes.subarray(done, done + len), at));
  }

  fill(offset: number, value: number, length: number): void {
    this.checkRange(offset, length);
    this.forEachPiece(offset, length, (view, at, len) => view.fill(value & 0xff, at, at + len));
  }

  /** memory.copy from `src` (this memory or another) into this one, both ranges checked first. */
  copyFrom(src: LinearMemory, dst: bigint, from: bigint, length: bigint): void {
    this.checkRange(dst, length);
    src.checkRange(from, length);
    if (length === 0n) return;
    if (src === this) this.copyWithin(Number(dst), Number(from), Number(length));
    else this.write(Number(dst), src.read(Number(from), Number(length)));
  }

  /** memmove semantics (overlapping ranges are fine). */
  copyWithin(dst: number, src: number, length: number): void {
    this.checkRange(dst, length);
    this.checkRange(src, length);
    if (length === 0) return;
    this.write(dst, this.read(src, length));
  }

  private forEachPiece(offset: number, length: number, f: (view: Uint8Array, at: number, len: number, done: number) => void): void {
    let done = 0;
    while (done < length) {
      const address = this.base + BigInt(offset + done);
      const region = this.machine.regionAt(address);
      if (!region) throw new RuntimeError(this.name, `accessible byte ${offset + done} is not mapped`);
      const at = Number(address - region.address);
      const len = Math.min(length - done, region.size - at);
      f(region.view, at, len, done);
      done += len;
    }
  }
}
