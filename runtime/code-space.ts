/**
 * Executable guest memory for code the runtime generates (trampolines, builtin stubs). Code is
 * written through the host view, each piece at addresses never used before; regions are
 * read+execute only, never writable by the guest.
 */
import type { AssembledCode } from '../isa/code-buffer.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import type { Machine, Region } from '../simulator/machine.ts';
import { RuntimeError } from './errors.ts';

const CHUNK = 64 * 1024;

export interface PlacedCode {
  readonly address: bigint;
  readonly size: number;
  readonly name: string;
}

export class CodeSpace {
  private region: Region | undefined;
  private used = 0;
  private chunks = 0;
  /** Every placed piece, in placement order, for symbolizing backtraces. */
  private readonly pieces: PlacedCode[] = [];
  /**
   * The pieces' bounds as numbers (guest code lies far below 2^53), in the same order, and the
   * bounds of all of them: a backtrace symbolizes each frame through every symbolizer in turn,
   * and a store places thousands of trampolines here.
   */
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private lowest = 0n;
  private highest = 0n;

  constructor(readonly machine: Machine, readonly name = 'runtime-code') {
    machine.addSymbolizer((address) => this.symbolize(address));
  }

  /** Copies position-independent (or absolutely addressed) code into guest memory. */
  place(name: string, assembled: AssembledCode): PlacedCode {
    if (assembled.relocations.length > 0) {
      throw new RuntimeError(name, `generated code has ${assembled.relocations.length} unresolved relocations`);
    }
    const size = assembled.code.length;
    const need = (size + 15) & ~15;
    if (this.region === undefined || this.used + need > this.region.size) {
      this.region = this.machine.map(`${this.name}#${this.chunks++}`, Math.max(CHUNK, need), PROT_READ | PROT_EXEC);
      this.used = 0;
    }
    const address = this.region.address + BigInt(this.used);
    this.write(address, assembled.code, [{ offset: 0, size }]);
    this.used += need;
    const piece = { address, size, name };
    this.remember(piece);
    return piece;
  }

  /**
   * Writes code at `address`, which this space never handed out before: no translated code,
   * block count or inspected site covers it (Machine.writeBytes would ask the engine to drop
   * translations there, which Unicorn takes about a tenth of a millisecond for, however small
   * the range), so the bytes go straight into the region's memory. The pieces are described to
   * the Machine, so the engine counts their blocks without a stop per new block.
   */
  private write(address: bigint, bytes: Uint8Array, pieces: ReadonlyArray<{ offset: number; size: number }>): void {
    const region = this.region!;
    region.view.set(bytes, Number(address - region.address));
    this.machine.describePlacedCode(address, bytes, pieces);
  }

  /** Places several pieces at once, side by side in one chunk, with one write. */
  placeAll(items: ReadonlyArray<{ name: string; assembled: AssembledCode }>): PlacedCode[] {
    const offsets: number[] = [];
    let size = 0;
    for (const { name, assembled } of items) {
      if (assembled.relocations.length > 0) {
        throw new RuntimeError(name, `generated code has ${assembled.relocations.length} unresolved relocations`);
      }
      offsets.push(size);
      size += (assembled.code.length + 15) & ~15;
    }
    if (size === 0) return [];
    if (this.region === undefined || this.used + size > this.region.size) {
      this.region = this.machine.map(`${this.name}#${this.chunks++}`, Math.max(CHUNK, size), PROT_READ | PROT_EXEC);
      this.used = 0;
    }
    const bytes = new Uint8Array(size);
    items.forEach(({ assembled }, i) => bytes.set(assembled.code, offsets[i]));
    const base = this.region.address + BigInt(this.used);
    this.write(base, bytes, items.map(({ assembled }, i) => ({ offset: offsets[i], size: assembled.code.length })));
    this.used += size;
    return items.map(({ name, assembled }, i) => {
      const piece = { address: base + BigInt(offsets[i]), size: assembled.code.length, name };
      this.remember(piece);
      return piece;
    });
  }

  private remember(piece: PlacedCode): void {
    const end = piece.address + BigInt(piece.size);
    if (this.pieces.length === 0 || piece.address < this.lowest) this.lowest = piece.address;
    if (this.pieces.length === 0 || end > this.highest) this.highest = end;
    this.pieces.push(piece);
    this.starts.push(Number(piece.address));
    this.ends.push(Number(end));
  }

  /** `name+0xoff` for an address inside placed code (the piece placed last, when several hold it). */
  symbolize(address: bigint): string | undefined {
    if (address < this.lowest || address >= this.highest) return undefined;
    const a = Number(address);
    const starts = this.starts;
    const ends = this.ends;
    for (let i = starts.length - 1; i >= 0; i--) {
      if (a >= starts[i] && a < ends[i]) {
        const p = this.pieces[i];
        return `${p.name}+0x${(address - p.address).toString(16)}`;
      }
    }
    return undefined;
  }

  /** The piece containing `address`, if any. */
  pieceAt(address: bigint): PlacedCode | undefined {
    return this.pieces.find((p) => address >= p.address && address < p.address + BigInt(p.size));
  }
}
