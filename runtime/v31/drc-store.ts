/**
 * What the DRC-era handles (instance.ts: instances, functions, tables, globals, externrefs) and
 * builtins (builtins.ts) need of a store. Two stores are one: `V31Store` (this folder) and
 * `V44Store` (runtime/v44/). They differ in the VMContext header they write, the entry record
 * their trampolines keep, the GC heap and collector behind `cloneRef`/`dropRef`/`exposeToWasm`,
 * and how an entry into Wasm saves and restores the store's records (`enter`).
 */
import type { TaggedVmctxOffsets } from '../../compiler/v31/codegen.ts';
import type { WasmModule } from '../../compiler/frontend/module.ts';
import type { Machine } from '../../simulator/machine.ts';
import type { Engine } from '../engine.ts';
import type { RuntimeHeap } from '../heap.ts';
import type { Module } from '../module.ts';
import type { PlacedImage } from '../place.ts';
import type { SignatureRegistry } from '../signatures.ts';
import type { EntryRecord, Trampolines } from '../trampolines.ts';
import type { TrapRegistry } from '../traps.ts';
import type { V31Func, V31Instance } from './instance.ts';
import { hex } from '../../isa/error.ts';
import { RuntimeError } from '../errors.ts';
import type { UserStackMapRegistry } from '../../gc/drc/user-stackmap-registry.ts';

/**
 * Registers the user stack maps of `module`'s code, placed at `placed`, with a DRC-era store's
 * registry (a RuntimeError, naming `storeClass`, for a module compiled without them).
 */
export function registerUserStackMaps(registry: UserStackMapRegistry, module: Module, placed: PlacedImage, storeClass: string): void {
  const maps = module.code.userStackMaps;
  if (!maps) throw new RuntimeError(storeClass, `module ${module.name ?? '(unnamed)'} was not compiled for a DRC-era profile (it has no user stack maps)`);
  registry.register({
    name: module.name ?? `module@${hex(placed.textBase)}`,
    textStart: placed.textBase,
    textSize: placed.text.length,
    maps,
    functionNames: new Map(module.code.functions.map((f) => [f.funcIndex, f.name])),
  });
}

/** A VMContext layout of v31's region order with its total size (V31VMOffsets, V44VMOffsets). */
export type DrcVmctxOffsets = TaggedVmctxOffsets & { readonly size: number };

/** The era-specific side of instantiation. */
export interface DrcStoreEra {
  readonly name: 'v31' | 'v44';
  /** What the array-to-Wasm trampolines record on entry. */
  readonly entryRecord: EntryRecord;
  /** The VMContext layout of a module. */
  offsetsFor(wasm: WasmModule): DrcVmctxOffsets;
  /** Writes the VMContext header (everything before the first region) at `vmctx`. */
  writeVmctxHeader(vmctx: bigint, offsets: DrcVmctxOffsets, typeIds: bigint, wasm: WasmModule): void;
}

export interface DrcStore<T = unknown> {
  readonly era: DrcStoreEra;
  readonly engine: Engine;
  readonly machine: Machine;
  data: T | undefined;
  /** @internal */ readonly heap: RuntimeHeap;
  /** @internal */ readonly signatures: SignatureRegistry;
  /** @internal */ readonly trampolines: Trampolines;
  /** @internal */ readonly traps: TrapRegistry;
  /** @internal */ readonly instances: Map<bigint, V31Instance>;
  /** @internal */ readonly funcs: Map<bigint, V31Func>;
  /** @internal */ readonly placed: Map<Module, PlacedImage>;
  /** @internal */ readonly valRaw: { top: bigint; readonly bottom: bigint };
  /** The host value of a live externref. */
  externRefValue(raw: number): unknown;
  assertOpen(): void;
  allocExternRef(value: unknown, destructor?: (value: unknown) => void): number;
  dropRef(raw: number): void;
  cloneRef(raw: number): void;
  exposeToWasm(raw: number): void;
  collectBeforeEnteringWasm(count: number): void;
  /**
   * `gc_alloc_raw` for compiled code's structs and arrays (V31Store; a store without it traps
   * with UnsupportedBuiltin).
   */
  allocGcObject?(kindWord: number, typeId: number, size: number, align: number): number;
  enter<R>(call: () => R): R;
  funcAt(ptr: bigint): V31Func;
  placeModule(module: Module, placed: PlacedImage): void;
}
