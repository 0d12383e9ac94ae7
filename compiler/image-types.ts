/**
 * The shapes of a compiled image as structured data (what `compileModule` returns beside the
 * ELF bytes). A module of their own so that the image's readers (listing.ts, stackmaps.ts) and
 * the compiler's entry point (index.ts, which re-exports them) do not import each other.
 */
import type { Arch } from '../isa/arch.ts';
import type { TrapCode } from '../isa/trap-codes.ts';
import type { CallSite, CompiledFunction, StackMap } from './function.ts';
import type { VMOffsets } from './vmoffsets.ts';
import type { LoweringOffsets } from './lowering/era.ts';
import type { UserStackMapRecord } from './user-stackmaps.ts';
import type { MemoryTunables } from './memory-tunables.ts';

export interface ImageFunction extends CompiledFunction {
  /** Offset of the function's first byte in `.text`. */
  readonly textOffset: number;
}

export interface ImageTrap {
  /** Offset in `.text`. */
  readonly textOffset: number;
  readonly funcIndex: number;
  readonly code: TrapCode;
}

export interface ImageStackMap extends StackMap {
  readonly funcIndex: number;
  readonly site: CallSite;
  /** Return-address offset in `.text`. */
  readonly textReturnOffset: number;
}

export interface CompiledImage {
  readonly arch: Arch;
  /** The ELF64 ET_REL object (compileModule writes it when it is first read). */
  readonly elf: Uint8Array;
  readonly text: Uint8Array;
  readonly functions: readonly ImageFunction[];
  readonly traps: readonly ImageTrap[];
  readonly stackMaps: readonly ImageStackMap[];
  /** Type index → signature index, and signature index → representative type index. */
  readonly signatureOf: readonly number[];
  readonly signatures: readonly number[];
  /** The memory tunables the code was compiled for (compiler/memory-tunables.ts). */
  readonly memoryTunables: MemoryTunables;
  /**
   * v17's VMOffsets of the module's counts: the layout of a v17 image's code. A v31 image's code
   * uses `layout` (v31's offsets) and ignores this.
   */
  readonly offsets: VMOffsets;
  /** The layout the code was compiled against (the era's; lowering/era.ts). */
  readonly layout: LoweringOffsets;
  /** v31 images: the typed user stack maps (`.stackscope.usermaps`); then `stackMaps` is empty. */
  readonly userStackMaps?: readonly UserStackMapRecord[];
}
