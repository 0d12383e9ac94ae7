/**
 * v44's `DrcHeap` (crates/wasmtime/src/runtime/vm/gc/enabled/drc.rs of wasmtime v44.0.0) over
 * guest memory: objects addressed by 32-bit VMGcRefs (byte indices; i31refs have the low bit
 * set), 24-byte DRC headers written byte for byte where compiled code reads them, the free list
 * (ALIGN 16, gc/drc/free-list.ts in its v44 mode), the externref host-data slab, and — instead
 * of v31's activations table — the **intrusive over-approximated-stack-roots list**: a u32 head
 * cell (what vmctx `gc_heap_data` points at) and a `next_over_approximated_stack_root` link in
 * every member's header, with the "in the list" bit and the mark bit in the header's reserved
 * bits (compiler/v44/gc-layout.ts).
 *
 *   +0   kind word: VMGcKind in the top 6 bits; reserved bits: bit 0 mark, bit 1 in-list
 *   +4   VMSharedTypeIndex (u32; 0xffffffff for externref)
 *   +8   ref_count (u64)
 *   +16  next_over_approximated_stack_root (u32 VMGcRef, 0 = end of list)
 *   +20  object_size (u32)
 *   +24  externref: host-data id | array: length, GC-ref elements from 28 | struct: fields
 *
 * The heap is a memory of 64 KiB pages that starts empty and grows on demand (`grow`: v44's
 * `grow_gc_heap`, double the pages or at least what the allocation needs); its guest region is
 * mapped at the maximum size up front and `capacity` (VMStoreContext.gc_heap.current_length)
 * says how much of it is heap. Unlike v31, `dec_ref_and_maybe_dealloc` frees through struct and
 * array fields (v44's `trace_gc_ref` with the type's trace info). Host-side the heap knows only
 * which indices start live objects, so a reference to anything else is a `DrcRefError`.
 */
import type { Machine, Region } from '../../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { StackscopeError } from '../../isa/error.ts';
import { mutated } from '../../compiler/mutants.ts';
import {
  NO_TYPE_INDEX,
  V44DrcArrayHeaderLayout,
  V44DrcExternRefLayout,
  V44DrcHeaderBits,
  V44DrcHeaderLayout,
  V44GcHeapConstants,
  V44GcKind,
  V44_GC_KIND_UNUSED_MASK,
  VMGcHeaderLayout,
  drcArraySize,
  v44GcKindOf,
  type V44GcKindName,
} from '../../compiler/v44/gc-layout.ts';
import type { GcArrayLayout, GcStructLayout } from '../../compiler/v31/gc-layout.ts';
import { FreeList, type FreeListEra } from '../drc/free-list.ts';
import { DrcRefError, isI31, stepRefCount, writeRefCount } from '../drc/heap.ts';
import { ExternRefHostDataTable } from '../drc/host-data.ts';

/** v44's free list: ALIGN 16, also the smallest block; the heap grows. */
export const V44_FREE_LIST: FreeListEra = Object.freeze({ align: 16, minBlockSize: 16, growable: true });

/** How `dec_ref_and_maybe_dealloc` finds the references inside an object (v44's `TraceInfo`). */
export type TraceInfo = { kind: 'struct'; gcRefOffsets: readonly number[] } | { kind: 'array'; gcRefElems: boolean };

/** The over-approximated list is not a list: a cycle, a member without its in-list bit, a dead member. */
export class OverApproximatedListError extends StackscopeError {
  override name = 'OverApproximatedListError';
  constructor(
    readonly ref: number,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`over-approximated-stack-roots list: entry ${position} (VMGcRef 0x${(ref >>> 0).toString(16)}): ${reason}`);
  }
}

/** What one object looks like, read from guest memory. */
export interface Drc44ObjectHeader {
  ref: number;
  kind: V44GcKindName;
  kindWord: number;
  /** The kind word's 26 reserved bits. */
  reserved: number;
  marked: boolean;
  inList: boolean;
  typeIndex: number;
  refCount: bigint;
  /** `next_over_approximated_stack_root` (0 = none; stale once the object left the list). */
  next: number;
  size: number;
}

export interface Freed44Object {
  ref: number;
  kind: V44GcKindName;
  size: number;
  hostValue?: unknown;
}

export interface Drc44HeapOptions {
  /** Guest bytes reserved for the heap: its maximum size, a multiple of 64 KiB (default 4 MiB). */
  maxCapacity?: number;
  /** Pages the heap starts with (default 0, as v44's GC heap memory type). */
  initialPages?: number;
  /** Region name prefix (default `gc-heap-v44`). */
  name?: string;
  /** Called for every object freed, in order. */
  onFree?: (freed: Freed44Object) => void;
}

export interface Drc44HeapStats {
  allocations: number;
  frees: number;
  liveObjects: number;
  freeBytes: number;
  capacity: number;
  grows: number;
}

const NOTHING_FREED: Freed44Object[] = Object.freeze([]) as unknown as Freed44Object[];
const PAGE = V44GcHeapConstants.pageSize;

export class Drc44Heap {
  readonly machine: Machine;
  readonly region: Region;
  /** Guest address of heap index 0 (VMStoreContext.gc_heap.base). */
  readonly base: bigint;
  readonly maxCapacity: number;
  readonly freeList: FreeList;
  readonly hostData = new ExternRefHostDataTable();
  /** Guest address of the u32 list head (vmctx gc_heap_data points here). */
  readonly listHead: bigint;
  /** `no_gc_count`. */
  noGcCount = 0;
  private readonly data: DataView;
  private readonly headRegion: Region;
  private readonly live = new Map<number, number>();
  private readonly traceInfos = new Map<number, TraceInfo>();
  private readonly onFree: ((freed: Freed44Object) => void) | undefined;
  private allocations = 0;
  private frees = 0;
  private grows = 0;

  constructor(machine: Machine, options: Drc44HeapOptions = {}) {
    this.machine = machine;
    this.maxCapacity = options.maxCapacity ?? 4 << 20;
    if (!Number.isSafeInteger(this.maxCapacity) || this.maxCapacity <= 0 || this.maxCapacity % PAGE !== 0 || this.maxCapacity > V44GcHeapConstants.maxBytes) {
      throw new RangeError(`v44 GC heap: maximum ${this.maxCapacity} is not a positive multiple of 64 KiB up to 4 GiB`);
    }
    const initial = (options.initialPages ?? V44GcHeapConstants.minPages) * PAGE;
    if (!Number.isSafeInteger(initial) || initial < 0 || initial > this.maxCapacity) throw new RangeError(`v44 GC heap: ${options.initialPages} initial pages exceed the maximum`);
    const name = options.name ?? 'gc-heap-v44';
    this.region = machine.map(name, this.maxCapacity, PROT_READ | PROT_WRITE);
    this.base = this.region.address;
    this.data = this.region.data;
    this.headRegion = machine.map(`${name}.over-approx-head`, 8, PROT_READ | PROT_WRITE);
    this.listHead = this.headRegion.address;
    this.freeList = new FreeList(initial, V44_FREE_LIST);
    this.onFree = options.onFree;
  }

  /** VMStoreContext.gc_heap.current_length: the bytes that are heap now. */
  get capacity(): number {
    return this.freeList.capacity;
  }

  addressOf(ref: number): bigint {
    return this.base + BigInt(ref);
  }

  /**
   * v44's `grow_gc_heap`: grow by max(the current pages — doubling —, the pages `bytesNeeded`
   * takes), at most to the maximum; false when that does not fit (the store collects instead).
   */
  grow(bytesNeeded: number): boolean {
    if (!Number.isSafeInteger(bytesNeeded) || bytesNeeded <= 0) throw new RangeError(`grow: bad byte count ${bytesNeeded}`);
    const pages = this.capacity / PAGE;
    const maxPages = this.maxCapacity / PAGE;
    const delta = Math.max(Math.min(pages, maxPages - pages), Math.ceil(bytesNeeded / PAGE));
    if (pages + delta > maxPages) return false;
    this.freeList.addCapacity(delta * PAGE);
    this.grows++;
    return true;
  }

  /**
   * `alloc_raw`: a new object of `size` bytes, count 1, not in the list, `object_size` = size.
   * Undefined when no free block fits (grow or collect, then retry).
   */
  allocRaw(kind: V44GcKindName, typeIndex: number, size: number): number | undefined {
    if (!Number.isSafeInteger(size) || size < V44DrcHeaderLayout.size) throw new RangeError(`GC object of ${size} bytes is smaller than its DRC header`);
    const index = this.freeList.alloc(size, V44DrcHeaderLayout.align);
    if (index === undefined) return undefined;
    this.data.setUint32(index + VMGcHeaderLayout.kind, V44GcKind[kind], true);
    this.data.setUint32(index + VMGcHeaderLayout.typeIndex, typeIndex >>> 0, true);
    writeRefCount(this.data, index, 1);
    this.data.setUint32(index + V44DrcHeaderLayout.nextOverApproximatedStackRoot, 0, true);
    this.data.setUint32(index + V44DrcHeaderLayout.objectSize, size, true);
    this.live.set(index, size);
    this.allocations++;
    return index;
  }

  /** `alloc_externref`: a 32-byte object holding a new host-data id for `value`. */
  allocExternRef(value: unknown): number | undefined {
    const id = this.hostData.alloc(value);
    const ref = this.allocRaw('ExternRef', NO_TYPE_INDEX, V44DrcExternRefLayout.size);
    if (ref === undefined) {
      this.hostData.dealloc(id);
      return undefined;
    }
    this.data.setUint32(ref + V44DrcExternRefLayout.hostData, id, true);
    return ref;
  }

  /** `alloc_uninit_struct` (fields zeroed), recording the type's GC-ref field offsets (`ensure_trace_info`). */
  allocStruct(typeIndex: number, layout: GcStructLayout, gcRefOffsets: readonly number[] = []): number | undefined {
    this.ensureTraceInfo(typeIndex, { kind: 'struct', gcRefOffsets });
    const ref = this.allocRaw('StructRef', typeIndex, layout.size);
    if (ref !== undefined) this.zero(ref + V44DrcHeaderLayout.size, layout.size - V44DrcHeaderLayout.size);
    return ref;
  }

  /** `alloc_uninit_array`: the length at 24, elements zeroed. */
  allocArray(typeIndex: number, length: number, layout: GcArrayLayout, gcRefElems = false): number | undefined {
    this.ensureTraceInfo(typeIndex, { kind: 'array', gcRefElems });
    const size = drcArraySize(layout, length);
    const ref = this.allocRaw('ArrayRef', typeIndex, size);
    if (ref === undefined) return undefined;
    this.data.setUint32(ref + V44DrcArrayHeaderLayout.length, length >>> 0, true);
    this.zero(ref + layout.baseSize, size - layout.baseSize);
    return ref;
  }

  /** Writes a u32 reference into a struct field or array element (no barrier: tests and the host). */
  writeRefField(ref: number, offset: number, value: number): void {
    const h = this.header(ref);
    if (offset < V44DrcHeaderLayout.size || offset + 4 > h.size) throw new DrcRefError(ref, `field at +${offset} lies outside the ${h.size}-byte object`);
    this.data.setUint32(ref + offset, value >>> 0, true);
  }

  header(ref: number): Drc44ObjectHeader {
    this.check(ref);
    const kindWord = this.data.getUint32(ref + VMGcHeaderLayout.kind, true);
    const kind = v44GcKindOf(kindWord);
    if (kind === undefined) throw new DrcRefError(ref, `header kind word 0x${kindWord.toString(16)} is no VMGcKind`);
    const reserved = kindWord & V44_GC_KIND_UNUSED_MASK;
    return {
      ref,
      kind,
      kindWord,
      reserved,
      marked: (reserved & V44DrcHeaderBits.mark) !== 0,
      inList: (reserved & V44DrcHeaderBits.inOverApproxList) !== 0,
      typeIndex: this.data.getUint32(ref + VMGcHeaderLayout.typeIndex, true),
      refCount: this.data.getBigUint64(ref + V44DrcHeaderLayout.refCount, true),
      next: this.data.getUint32(ref + V44DrcHeaderLayout.nextOverApproximatedStackRoot, true),
      size: this.data.getUint32(ref + V44DrcHeaderLayout.objectSize, true),
    };
  }

  refCount(ref: number): bigint {
    this.check(ref);
    return this.data.getBigUint64(ref + V44DrcHeaderLayout.refCount, true);
  }

  /** `inc_ref` (i31refs have no count). @throws DrcRefError for a dead object or a zero count. */
  incRef(ref: number): void {
    if (isI31(ref)) return;
    this.check(ref);
    stepRefCount(this.data, ref, 1);
  }

  /** `dec_ref`: true when the count reached 0. */
  decRef(ref: number): boolean {
    if (isI31(ref)) return false;
    this.check(ref);
    return stepRefCount(this.data, ref, -1) === 0;
  }

  /**
   * `dec_ref_and_maybe_dealloc`: at zero the object's outgoing references are dec-ref'd in turn
   * (an explicit stack, as v44), an externref's host data is released, the block is freed.
   */
  decRefAndMaybeDealloc(ref: number): Freed44Object[] {
    let freed = NOTHING_FREED;
    const stack = [ref];
    while (stack.length) {
      const r = stack.pop()!;
      if (!this.decRef(r)) continue;
      const h = this.header(r);
      this.traceGcRef(r, h, stack);
      const object: Freed44Object = { ref: r, kind: h.kind, size: h.size };
      if (h.kind === 'ExternRef') object.hostValue = this.hostData.dealloc(this.data.getUint32(r + V44DrcExternRefLayout.hostData, true));
      this.live.delete(r);
      this.freeList.dealloc(r, h.size);
      this.frees++;
      if (freed === NOTHING_FREED) freed = [];
      freed.push(object);
      this.onFree?.(object);
    }
    return freed;
  }

  // --- The over-approximated-stack-roots list -----------------------------------------------

  /** The list head (0 = empty), as compiled code reads it through vmctx gc_heap_data. */
  get head(): number {
    return this.headRegion.data.getUint32(0, true);
  }

  set head(ref: number) {
    this.headRegion.data.setUint32(0, ref >>> 0, true);
  }

  isInList(ref: number): boolean {
    return (this.reservedOf(ref) & V44DrcHeaderBits.inOverApproxList) !== 0;
  }

  isMarked(ref: number): boolean {
    return (this.reservedOf(ref) & V44DrcHeaderBits.mark) !== 0;
  }

  /** Sets or clears reserved-bit flags of a live object's kind word. */
  setFlags(ref: number, bits: number, on: boolean): void {
    this.check(ref);
    const at = ref + VMGcHeaderLayout.kind;
    const word = this.data.getUint32(at, true);
    this.data.setUint32(at, (on ? word | bits : word & ~bits) >>> 0, true);
  }

  nextOf(ref: number): number {
    this.check(ref);
    return this.data.getUint32(ref + V44DrcHeaderLayout.nextOverApproximatedStackRoot, true);
  }

  setNext(ref: number, next: number): void {
    this.check(ref);
    this.data.setUint32(ref + V44DrcHeaderLayout.nextOverApproximatedStackRoot, next >>> 0, true);
  }

  /** Pushes `ref` onto the list head, setting its in-list bit; the caller's count becomes the list's. */
  private push(ref: number): void {
    this.setNext(ref, this.head);
    this.setFlags(ref, V44DrcHeaderBits.inOverApproxList, true);
    this.head = ref;
  }

  /**
   * `expose_gc_ref_to_wasm`: the host hands Wasm a ref it cloned (one count). Not in the list yet:
   * pushed, and the list owns that count. Already in the list: nothing happens — and, as in
   * v44.0.0 (the `VMGcRef` has no destructor), that clone's count is never given back.
   */
  exposeGcRefToWasm(ref: number): void {
    if (isI31(ref)) return;
    if (this.isInList(ref)) return;
    this.push(ref);
  }

  /**
   * Compiled code's DRC read barrier (`translate_read_gc_reference`): a ref loaded from a table,
   * global or object joins the list with one more count unless its in-list bit is already set.
   */
  readBarrier(ref: number): void {
    if (ref === 0 || isI31(ref)) return;
    if (this.isInList(ref)) return;
    this.push(ref);
    this.incRef(ref);
  }

  /**
   * The list, head first, checked as v44's gc_zeal integrity check does: every member live, with
   * a VMGcKind, its in-list bit and a non-zero count; no cycles or duplicates.
   * @throws OverApproximatedListError
   */
  overApproximatedList(): number[] {
    const out: number[] = [];
    // Members are 16-aligned heap indices: one byte per 16 bytes of heap records "seen".
    const seen = new Uint8Array((this.capacity >>> 4) + 1);
    const d = this.data;
    for (let r = this.head; r !== 0; ) {
      const problem = this.listMemberProblem(r, seen);
      if (problem !== undefined) throw new OverApproximatedListError(r, out.length, problem);
      seen[r >>> 4] = 1;
      out.push(r);
      r = d.getUint32(r + V44DrcHeaderLayout.nextOverApproximatedStackRoot, true);
    }
    return out;
  }

  private listMemberProblem(r: number, seen: Uint8Array): string | undefined {
    if (!this.live.has(r)) return 'is not a live object of this heap';
    if (seen[r >>> 4] === 1) return 'cycle or duplicate';
    const d = this.data;
    const word = d.getUint32(r + VMGcHeaderLayout.kind, true);
    if (v44GcKindOf(word) === undefined) return `header kind word 0x${word.toString(16)} is no VMGcKind`;
    if ((word & V44DrcHeaderBits.inOverApproxList) === 0) return 'its in-list bit is clear';
    if (d.getUint32(r + V44DrcHeaderLayout.refCount, true) === 0 && d.getUint32(r + V44DrcHeaderLayout.refCount + 4, true) === 0) return 'its ref count is 0';
    return undefined;
  }

  /**
   * The trace's step for one root: its kind word, read once, with what the debug checks need.
   * Undefined when `ref` is not a live object.
   */
  rootState(ref: number): { inList: boolean; marked: boolean; countIsZero: boolean } | undefined {
    if (!this.live.has(ref)) return undefined;
    const d = this.data;
    const word = d.getUint32(ref + VMGcHeaderLayout.kind, true);
    const at = ref + V44DrcHeaderLayout.refCount;
    return {
      inList: (word & V44DrcHeaderBits.inOverApproxList) !== 0,
      marked: (word & V44DrcHeaderBits.mark) !== 0,
      countIsZero: d.getUint32(at, true) === 0 && d.getUint32(at + 4, true) === 0,
    };
  }

  /** Unlinks `ref` (whose predecessor is `prev`, 0 for the head) and clears its in-list bit. */
  unlink(ref: number, prev: number): void {
    const next = this.nextOf(ref);
    if (!mutated('v44-in-list-bit-kept')) this.setFlags(ref, V44DrcHeaderBits.inOverApproxList, false);
    if (prev === 0) {
      if (!mutated('v44-list-head-kept')) this.head = next;
    }
    else this.setNext(prev, next);
  }

  // --- Queries ------------------------------------------------------------------------------

  externRefValue(ref: number): unknown {
    const h = this.header(ref);
    if (h.kind !== 'ExternRef') throw new DrcRefError(ref, `is a ${h.kind}, not an externref`);
    return this.hostData.get(this.data.getUint32(ref + V44DrcExternRefLayout.hostData, true));
  }

  arrayLen(ref: number): number {
    const h = this.header(ref);
    if (h.kind !== 'ArrayRef') throw new DrcRefError(ref, `is a ${h.kind}, not an array`);
    return this.data.getUint32(ref + V44DrcArrayHeaderLayout.length, true);
  }

  isLive(ref: number): boolean {
    return this.live.has(ref);
  }

  liveObjects(): number[] {
    return [...this.live.keys()].sort((a, b) => a - b);
  }

  stats(): Drc44HeapStats {
    return { allocations: this.allocations, frees: this.frees, liveObjects: this.live.size, freeBytes: this.freeList.freeBytes(), capacity: this.capacity, grows: this.grows };
  }

  private ensureTraceInfo(typeIndex: number, info: TraceInfo): void {
    const known = this.traceInfos.get(typeIndex);
    if (known === undefined) this.traceInfos.set(typeIndex, info);
    else if (JSON.stringify(known) !== JSON.stringify(info)) throw new DrcRefError(0, `type ${typeIndex} was allocated before with another layout`);
  }

  /** v44's `trace_gc_ref`: the non-null, non-i31 references inside `ref`. */
  private traceGcRef(ref: number, h: Drc44ObjectHeader, out: number[]): void {
    if (h.typeIndex === NO_TYPE_INDEX) return;
    const info = this.traceInfos.get(h.typeIndex);
    if (!info) throw new DrcRefError(ref, `no trace info for type ${h.typeIndex}`);
    const offsets = info.kind === 'struct'
      ? info.gcRefOffsets
      : info.gcRefElems
        ? Array.from({ length: this.data.getUint32(ref + V44DrcArrayHeaderLayout.length, true) }, (_, i) => V44DrcArrayHeaderLayout.gcRefElems + 4 * i)
        : [];
    for (const offset of offsets) {
      const raw = this.data.getUint32(ref + offset, true);
      if (raw !== 0 && !isI31(raw)) out.push(raw);
    }
  }

  private reservedOf(ref: number): number {
    this.check(ref);
    return this.data.getUint32(ref + VMGcHeaderLayout.kind, true) & V44_GC_KIND_UNUSED_MASK;
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
