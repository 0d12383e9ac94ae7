/**
 * v31's `DrcHeap` (seed drc-v31) over guest memory: a fixed 512 KiB GC heap region, objects
 * addressed by 32-bit VMGcRefs (byte indices into the heap; i31refs have the low bit set), DRC
 * headers written byte for byte where compiled code reads them, the free list (free-list.ts),
 * the externref host-data table (host-data.ts) and the activations table
 * (activations-table.ts), and the deferred reference-counting collection: `trace` of the
 * precise on-stack roots, then `sweep` of the bump chunk and of the old over-approximated set.
 *
 * Object layout in the heap (compiler/v31/gc-layout.ts):
 *
 *   +0   kind word: VMGcKind in the top 5 bits, the object's size in the low 27 (u32)
 *   +4   VMSharedTypeIndex (u32; 0xffffffff for externref)
 *   +8   ref_count (u64)                      <- compiled code's inc/dec barriers
 *   +16  externref: host-data id (u32) | array: length (u32) | struct: first field
 *
 * A new object's count is 1 (the reference `alloc_raw` returns). What the heap knows host-side
 * is only which indices start live objects, so a reference that points anywhere else — a
 * corrupt stack slot, a stale index — is a `DrcRefError`, never a write into the wrong object.
 *
 * Faithful to v31.0.0 in one place the issue asks more of: v31's `dec_ref_and_maybe_dealloc`
 * frees the object but does **not** decrement the references inside a struct or array (a
 * `TODO` in the seed), so their targets leak. the `refSlotsOf` option (off by default)
 * does the recursive freeing the issue describes, for heaps that know their types' layouts.
 */
import type { Machine, Region } from '../../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { StackscopeError } from '../../isa/error.ts';
import {
  GC_HEAP_CAPACITY,
  I31_DISCRIMINANT,
  NO_TYPE_INDEX,
  VMDrcArrayHeaderLayout,
  VMDrcExternRefLayout,
  VMDrcHeaderLayout,
  VMGcHeaderLayout,
  VMGcKind,
  VM_GC_KIND_UNUSED_MASK,
  drcArraySize,
  fitsInReservedBits,
  gcKindOf,
  type GcArrayLayout,
  type GcStructLayout,
  type VMGcKindName,
} from '../../compiler/v31/gc-layout.ts';
import { GcRefActivationsTable } from './activations-table.ts';
import { FreeList } from './free-list.ts';
import { mutated } from '../../compiler/mutants.ts';
import { ExternRefHostDataTable } from './host-data.ts';

/** Whether a raw VMGcRef is an i31ref (low bit set). */
export function isI31(raw: number): boolean {
  return (raw & I31_DISCRIMINANT) === I31_DISCRIMINANT;
}

/** `ref.i31`: the low 31 bits of `value`, tagged. */
export function i31Ref(value: number): number {
  return (((value << 1) | I31_DISCRIMINANT) >>> 0);
}

/** `i31.get_u` / `i31.get_s` of a tagged raw ref. */
export function i31Value(raw: number, signed: boolean): number {
  const v = raw >>> 1;
  return signed ? (v << 1) >> 1 : v;
}

/**
 * The u64 `ref_count` at +8 of a DRC header (v31 and v44 alike) as a number: exact below 2^53,
 * far beyond any count a run reaches. Counted in u32 halves (no BigInt on the hot path).
 */
export function readRefCount(data: DataView, ref: number): number {
  const at = ref + VMDrcHeaderLayout.refCount;
  return data.getUint32(at + 4, true) * 4294967296 + data.getUint32(at, true);
}

export function writeRefCount(data: DataView, ref: number, count: number): void {
  const at = ref + VMDrcHeaderLayout.refCount;
  data.setUint32(at, count >>> 0, true);
  data.setUint32(at + 4, Math.floor(count / 4294967296), true);
}

/**
 * `inc_ref` / `dec_ref` of a live object's count by `delta`; returns the new count.
 * @throws DrcRefError when the count is already 0 (the object is supposedly live).
 */
export function stepRefCount(data: DataView, ref: number, delta: 1 | -1): number {
  const count = readRefCount(data, ref);
  if (count === 0) throw new DrcRefError(ref, 'is supposedly live but its ref count is 0');
  writeRefCount(data, ref, count + delta);
  return count + delta;
}

/** A reference that does not name a live object of this heap. */
export class DrcRefError extends StackscopeError {
  override name = 'DrcRefError';
  constructor(
    readonly ref: number,
    readonly reason: string,
  ) {
    super(`VMGcRef 0x${(ref >>> 0).toString(16)}: ${reason}`);
  }
}

/** v31's `Trap::AllocationTooLarge`: an object of 2^27 bytes or more cannot record its size. */
export class AllocationTooLargeError extends StackscopeError {
  override name = 'AllocationTooLargeError';
  constructor(readonly size: number) {
    super(`GC object of ${size} bytes does not fit the 27 reserved bits of its header (allocation too large)`);
  }
}

/** What one object looks like, read from guest memory. */
export interface DrcObjectHeader {
  ref: number;
  kind: VMGcKindName;
  kindWord: number;
  typeIndex: number;
  size: number;
  refCount: bigint;
}

const NOTHING_FREED: FreedGcObject[] = Object.freeze([]) as unknown as FreedGcObject[];

/** An object a dec_ref freed. */
export interface FreedGcObject {
  ref: number;
  kind: VMGcKindName;
  size: number;
  /** The host value of a freed externref. */
  hostValue?: unknown;
}

export interface DrcHeapOptions {
  /** Heap bytes (default 512 KiB, v31's DEFAULT_GC_HEAP_CAPACITY). */
  capacity?: number;
  /** Region name prefix (default `gc-heap`). */
  name?: string;
  /** Slots of the activations table's chunk (default 1024). */
  chunkSlots?: number;
  /** Called for every object freed, in order (explain output, destructors). */
  onFree?: (freed: FreedGcObject) => void;
  /**
   * Byte offsets (from the object start) of the reference slots inside a struct or array, for
   * recursive freeing. Default none: v31.0.0 does not free through fields (see the file comment).
   */
  refSlotsOf?: (header: DrcObjectHeader, arrayLength: number | undefined) => readonly number[];
}

/** Counters for benchmarks and reports. */
export interface DrcHeapStats {
  allocations: number;
  frees: number;
  liveObjects: number;
  freeBytes: number;
}

export class DrcHeap {
  readonly machine: Machine;
  readonly region: Region;
  /** Guest address of heap index 0 (vmctx gc_heap_base). */
  readonly base: bigint;
  /** Heap bytes (vmctx gc_heap_bound). */
  readonly capacity: number;
  readonly freeList: FreeList;
  readonly hostData = new ExternRefHostDataTable();
  readonly activations: GcRefActivationsTable;
  /** `no_gc_count`: a collection inside a no-GC scope is an error. */
  noGcCount = 0;
  private readonly data: DataView;
  /** Heap index of every live object → its size. */
  private readonly live = new Map<number, number>();
  private readonly onFree: ((freed: FreedGcObject) => void) | undefined;
  private readonly refSlotsOf: DrcHeapOptions['refSlotsOf'];
  private allocations = 0;
  private frees = 0;

  constructor(machine: Machine, options: DrcHeapOptions = {}) {
    this.machine = machine;
    this.capacity = options.capacity ?? GC_HEAP_CAPACITY;
    const name = options.name ?? 'gc-heap';
    this.region = machine.map(name, this.capacity, PROT_READ | PROT_WRITE);
    this.base = this.region.address;
    this.data = this.region.data;
    this.freeList = new FreeList(this.capacity);
    this.activations = new GcRefActivationsTable(machine, { name: `${name}.activations-table`, chunkSlots: options.chunkSlots });
    this.onFree = options.onFree;
    this.refSlotsOf = options.refSlotsOf;
  }

  /** The guest address of a heap index. */
  addressOf(ref: number): bigint {
    return this.base + BigInt(ref);
  }

  /**
   * `alloc_raw`: a new object of `size` bytes with `kind` and `typeIndex`, count 1, the size in
   * the kind word's reserved bits. Undefined when the heap is full (collect and retry, or trap).
   * @throws AllocationTooLargeError (v31's trap) for 2^27 bytes or more; FreeListLayoutError for
   *   a size larger than the heap.
   */
  allocRaw(kind: VMGcKindName, typeIndex: number, size: number): number | undefined {
    if (size < VMDrcHeaderLayout.size) throw new RangeError(`GC object of ${size} bytes is smaller than its DRC header`);
    if (!fitsInReservedBits(size)) throw new AllocationTooLargeError(size);
    const index = this.freeList.alloc(size, VMDrcHeaderLayout.align);
    if (index === undefined) return undefined;
    this.data.setUint32(index + VMGcHeaderLayout.kind, (VMGcKind[kind] | size) >>> 0, true);
    this.data.setUint32(index + VMGcHeaderLayout.typeIndex, typeIndex >>> 0, true);
    this.data.setBigUint64(index + VMDrcHeaderLayout.refCount, 1n, true);
    this.live.set(index, size);
    this.allocations++;
    return index;
  }

  /** `alloc_externref`: a 24-byte object holding a new host-data id for `value`. */
  allocExternRef(value: unknown): number | undefined {
    const id = this.hostData.alloc(value);
    const ref = this.allocRaw('ExternRef', NO_TYPE_INDEX, VMDrcExternRefLayout.size);
    if (ref === undefined) {
      this.hostData.dealloc(id);
      return undefined;
    }
    this.data.setUint32(ref + VMDrcExternRefLayout.hostData, id, true);
    return ref;
  }

  /**
   * `alloc_raw` for compiled code's `gc_alloc_raw`: a struct or array of `size` bytes whose
   * bytes after the DRC header are zeroed (the free list hands out reused bytes; compiled code
   * writes the fields, an array's length and its elements after the call).
   */
  allocObject(kind: 'StructRef' | 'ArrayRef', typeIndex: number, size: number): number | undefined {
    const ref = this.allocRaw(kind, typeIndex, size);
    if (ref !== undefined) this.zero(ref + VMDrcHeaderLayout.size, size - VMDrcHeaderLayout.size);
    return ref;
  }

  /** `alloc_uninit_struct` (fields zeroed here, as the free list hands out reused bytes). */
  allocStruct(typeIndex: number, layout: GcStructLayout): number | undefined {
    const ref = this.allocRaw('StructRef', typeIndex, layout.size);
    if (ref !== undefined) this.zero(ref + VMDrcHeaderLayout.size, layout.size - VMDrcHeaderLayout.size);
    return ref;
  }

  /** `alloc_uninit_array`: the length at 16, elements zeroed. */
  allocArray(typeIndex: number, length: number, layout: GcArrayLayout): number | undefined {
    const size = drcArraySize(layout, length);
    const ref = this.allocRaw('ArrayRef', typeIndex, size);
    if (ref === undefined) return undefined;
    this.data.setUint32(ref + VMDrcArrayHeaderLayout.length, length >>> 0, true);
    this.zero(ref + layout.baseSize, size - layout.baseSize);
    return ref;
  }

  /** The header of a live object. @throws DrcRefError otherwise. */
  header(ref: number): DrcObjectHeader {
    this.check(ref);
    const kindWord = this.data.getUint32(ref + VMGcHeaderLayout.kind, true);
    const kind = gcKindOf(kindWord);
    if (kind === undefined) throw new DrcRefError(ref, `header kind word 0x${kindWord.toString(16)} is no VMGcKind`);
    return {
      ref,
      kind,
      kindWord,
      typeIndex: this.data.getUint32(ref + VMGcHeaderLayout.typeIndex, true),
      size: kindWord & VM_GC_KIND_UNUSED_MASK,
      refCount: this.data.getBigUint64(ref + VMDrcHeaderLayout.refCount, true),
    };
  }

  refCount(ref: number): bigint {
    this.check(ref);
    return this.data.getBigUint64(ref + VMDrcHeaderLayout.refCount, true);
  }

  /** `inc_ref` (i31refs have no count). @throws DrcRefError for a dead object or a zero count. */
  incRef(ref: number): void {
    if (isI31(ref)) return;
    this.check(ref);
    stepRefCount(this.data, ref, 1);
  }

  /** `dec_ref`: true when the count reached 0 (the caller frees). */
  decRef(ref: number): boolean {
    if (isI31(ref)) return false;
    this.check(ref);
    return stepRefCount(this.data, ref, -1) === 0;
  }

  private setCount(ref: number, count: number): void {
    writeRefCount(this.data, ref, count);
  }

  /**
   * `dec_ref_and_maybe_dealloc`: at zero, an externref's host data is released and the object
   * goes back to the free list (its fields' targets too, only with `refFieldsOf`). Returns the
   * objects freed, the first one first.
   */
  decRefAndMaybeDealloc(ref: number): FreedGcObject[] {
    if (!this.decRef(ref)) return NOTHING_FREED;
    const freed: FreedGcObject[] = [];
    const pending = [ref];
    this.setCount(ref, 1); // counted down again below, with the frees
    while (pending.length) {
      const r = pending.pop()!;
      if (!this.decRef(r)) continue;
      const header = this.header(r);
      const object: FreedGcObject = { ref: r, kind: header.kind, size: header.size };
      if (header.kind === 'ExternRef') object.hostValue = this.hostData.dealloc(this.data.getUint32(r + VMDrcExternRefLayout.hostData, true));
      if (this.refSlotsOf && (header.kind === 'StructRef' || header.kind === 'ArrayRef') && !mutated('v31-freed-object-fields-kept')) pending.push(...this.refsInside(r, header));
      this.dealloc(r, header.size);
      freed.push(object);
      this.onFree?.(object);
    }
    return freed;
  }

  /** The host value of an externref. */
  externRefValue(ref: number): unknown {
    const header = this.header(ref);
    if (header.kind !== 'ExternRef') throw new DrcRefError(ref, `is a ${header.kind}, not an externref`);
    return this.hostData.get(this.data.getUint32(ref + VMDrcExternRefLayout.hostData, true));
  }

  /** The u32 at byte `offset` of the heap (a field of a live object, for explanations). */
  readU32(offset: number): number {
    return this.data.getUint32(offset, true);
  }

  /** `array_len`. */
  arrayLen(ref: number): number {
    const header = this.header(ref);
    if (header.kind !== 'ArrayRef') throw new DrcRefError(ref, `is a ${header.kind}, not an array`);
    return this.data.getUint32(ref + VMDrcArrayHeaderLayout.length, true);
  }

  /** Whether `ref` starts a live object. */
  isLive(ref: number): boolean {
    return this.live.has(ref);
  }

  /** Live objects, lowest index first. */
  liveObjects(): number[] {
    return [...this.live.keys()].sort((a, b) => a - b);
  }

  stats(): DrcHeapStats {
    return { allocations: this.allocations, frees: this.frees, liveObjects: this.live.size, freeBytes: this.freeList.freeBytes() };
  }

  /**
   * `need_gc_before_entering_wasm`: whether handing `numGcRefs` references to Wasm should
   * collect first (see GcRefActivationsTable.needGcBeforeEnteringWasm for v31's units).
   */
  needGcBeforeEnteringWasm(numGcRefs: number): boolean {
    return this.activations.needGcBeforeEnteringWasm(numGcRefs);
  }

  /** `expose_gc_ref_to_wasm`: the table takes over the caller's count. */
  exposeGcRefToWasm(ref: number): void {
    this.activations.insertWithoutGc(ref);
  }

  private refsInside(ref: number, header: DrcObjectHeader): number[] {
    const length = header.kind === 'ArrayRef' ? this.data.getUint32(ref + VMDrcArrayHeaderLayout.length, true) : undefined;
    const out: number[] = [];
    for (const offset of this.refSlotsOf!(header, length)) {
      if (offset < VMDrcHeaderLayout.size || offset + 4 > header.size) throw new DrcRefError(ref, `reference slot at +${offset} lies outside the ${header.size}-byte object`);
      const raw = this.data.getUint32(ref + offset, true);
      if (raw !== 0 && !isI31(raw)) out.push(raw);
    }
    return out;
  }

  private dealloc(ref: number, size: number): void {
    this.live.delete(ref);
    this.freeList.dealloc(ref, size);
    this.frees++;
  }

  private check(ref: number): void {
    if (ref === 0) throw new DrcRefError(ref, 'is null');
    if (isI31(ref)) throw new DrcRefError(ref, 'is an i31ref, not a heap object');
    if (!this.live.has(ref)) throw new DrcRefError(ref, ref >= this.capacity ? `lies outside the ${this.capacity}-byte GC heap` : 'does not start a live object');
  }

  private zero(at: number, length: number): void {
    if (length > 0) new Uint8Array(this.data.buffer, this.data.byteOffset + at, length).fill(0);
  }
}
