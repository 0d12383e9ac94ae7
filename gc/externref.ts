/**
 * Externref objects in guest memory, laid out byte for byte as wasmtime v17's
 * `VMExternRef::new_with` lays them out, so compiled code can change reference counts with a
 * plain add at offset 0 of the pointer it holds.
 *
 * One allocation per object (see `VMExternDataLayout` in compiler/vmoffsets.ts):
 *
 *   allocation + 0   value block: the host value's id (u64). The JS value itself lives in a
 *                    host map keyed by that id; the guest only ever sees the id.
 *   allocation + 8   VMExternData            <- the externref pointer points here
 *                      +0  ref_count   (usize)
 *                      +8  value_ptr.data   = allocation + 0 (points back at the value)
 *                      +16 value_ptr.vtable = this heap's vtable block
 *
 * v17 rounds the value size up to VMExternData's alignment (8) and puts VMExternData right
 * after it, so with an 8-byte value the allocation is 32 bytes. The vtable block mimics a
 * Rust `dyn Any` vtable (drop_in_place, size, align, type_id): drop_in_place and type_id are 0
 * because dropping and type checks happen on the host side; size and align describe the id.
 *
 * Ownership follows VMExternRef: `allocate` returns a pointer owning one count, `clone` adds
 * one, `drop` gives one back; at zero the object's destructor runs (it may call back into
 * guest code through the Machine) and then the block is freed. The host reads and writes the
 * count in guest memory, never a shadow copy, because compiled code changes it directly.
 *
 * Liveness, which the collector asks for every root, is a byte per 8-byte granule of each arena
 * (bit 0 set at a live object's externref pointer), so the answer costs the same however many
 * objects live; the host values sit in a map beside it. The byte's other seven bits are marks
 * that sets of objects claim (`claimMark`): the activations table's sets keep their membership
 * there (gc/ref-set.ts), so checking a root's liveness, its table membership and whether the
 * collection has already seen it reads one byte instead of three hash tables.
 */
import type { Machine } from '../simulator/machine.ts';
import { VMExternDataLayout } from '../compiler/vmoffsets.ts';
import { DestructorError, ExternRefError } from './errors.ts';
import { GuestHeap, type GuestHeapOptions } from './guest-heap.ts';
import { mutated } from '../compiler/mutants.ts';
import { wordsOf } from './walk.ts';

/** Bytes of the value block: the u64 host-value id, already a multiple of VMExternData's alignment. */
export const VALUE_BLOCK_SIZE = 8;
/** Whole allocation of one externref object. */
export const EXTERNREF_ALLOCATION_SIZE = VALUE_BLOCK_SIZE + VMExternDataLayout.size;
/** Distance from the allocation start to the VMExternData (= the externref pointer). */
export const EXTERN_DATA_OFFSET = VALUE_BLOCK_SIZE;
/** Written over the id and value pointer of a freed object so stale pointers are recognisable. */
export const FREED_POISON = 0xdeadbeef_deadbeefn;


/** `ExternRefHeap.claimRaw`'s answers. */
export const CLAIM_NEW = 0;
export const CLAIM_UNMARKED = 1;
export const CLAIM_DEAD = 2;
export const CLAIM_HELD = 3;

export type ExternRefDestructor = (value: unknown, ref: bigint) => void;

export interface ExternRefHeapOptions extends GuestHeapOptions {
  /** Runs for every object whose count reaches zero, after its own destructor. */
  onDestroy?: ExternRefDestructor;
  /** Overwrite freed objects with FREED_POISON (default true). */
  poisonFreed?: boolean;
}

/** Where each part of one object lives (guest addresses). */
export interface ExternRefLayout {
  allocation: bigint;
  valueBlock: bigint;
  externData: bigint;
  refCount: bigint;
  valuePtr: bigint;
  vtable: bigint;
  hostValueId: bigint;
}

interface LiveObject {
  id: number;
  value: unknown;
  destructor: ExternRefDestructor | undefined;
}

export class ExternRefHeap {
  readonly machine: Machine;
  readonly heap: GuestHeap;
  /** Address of the shared `dyn Any`-style vtable block. */
  readonly vtable: bigint;
  private readonly live = new Map<number, LiveObject>();
  private nextId = 1;
  private readonly onDestroy: ExternRefDestructor | undefined;
  private readonly poisonFreed: boolean;
  private curBase = 0;
  private curEnd = 0;
  private curData: DataView | undefined;
  /** The current arena as little-endian 32-bit words (undefined on a big-endian host): counts
   * change with a typed-array load and store instead of DataView calls. */
  private curWords: Uint32Array | null = null;
  private curLive: Uint8Array | undefined;
  /** Per arena (by index), its `curWords` view (null when the host cannot have one). */
  private readonly arenaWords: Array<Uint32Array | null> = [];
  /** Per arena (by index), one byte per 8-byte granule: bit 0 live, bits 1–7 set marks. */
  private readonly liveFlags: Uint8Array[] = [];
  /** Arenas whose flag bytes exist, in the order they were made, and who wants to hear of new ones. */
  private readonly flagArenas: Array<{ base: number; end: number; flags: Uint8Array }> = [];
  private readonly flagListeners: Array<(base: number, end: number, flags: Uint8Array) => void> = [];
  /** Mark bits not claimed by a set. */
  private freeMarks = 0xfe;
  private freedCount = 0;

  constructor(machine: Machine, options: ExternRefHeapOptions = {}) {
    this.machine = machine;
    this.heap = new GuestHeap(machine, { name: 'externref-heap', ...options });
    this.onDestroy = options.onDestroy;
    this.poisonFreed = options.poisonFreed ?? true;
    const vt = this.heap.alloc(32);
    const { data, offset } = this.at(vt);
    data.setBigUint64(offset, 0n, true); // drop_in_place: host-side
    data.setBigUint64(offset + 8, BigInt(VALUE_BLOCK_SIZE), true); // size_of value
    data.setBigUint64(offset + 16, 8n, true); // align_of value
    data.setBigUint64(offset + 24, 0n, true); // type_id: host-side
    this.vtable = BigInt(vt);
  }

  /** Number of live objects. */
  get liveCount(): number {
    return this.live.size;
  }

  /** Objects freed since this heap was created. */
  get freedTotal(): number {
    return this.freedCount;
  }

  /** Wraps a host value in a new externref object; the returned pointer owns one count. */
  allocate(value: unknown, destructor?: ExternRefDestructor): bigint {
    const allocation = this.heap.alloc(EXTERNREF_ALLOCATION_SIZE);
    const id = this.nextId++;
    const { data, offset } = this.at(allocation);
    data.setBigUint64(offset, BigInt(id), true);
    const ed = offset + EXTERN_DATA_OFFSET;
    data.setBigUint64(ed + VMExternDataLayout.refCount, 1n, true);
    data.setBigUint64(ed + VMExternDataLayout.valuePtr, BigInt(allocation), true);
    data.setBigUint64(ed + VMExternDataLayout.valuePtr + 8, this.vtable, true);
    const ref = allocation + EXTERN_DATA_OFFSET;
    this.live.set(ref, { id, value, destructor });
    this.curLive![(ref - this.curBase) >>> 3] = 1; // live, in no set (stale marks of a freed object go)
    return BigInt(ref);
  }

  /** VMExternRef::clone / clone_from_raw: one more count; returns the same pointer. */
  clone(ref: bigint): bigint {
    this.cloneRaw(this.checked('clone', ref));
    return ref;
  }

  /** Drops one count; at zero runs the destructors and frees the object. True when freed. */
  drop(ref: bigint): boolean {
    return this.dropRaw(this.checked('drop', ref));
  }

  /**
   * v17's drop_externref libcall: compiled code already brought ref_count to 0 in guest
   * memory and asks the host to run the destructor and free the object.
   */
  dropAndDealloc(ref: bigint): void {
    const r = this.checked('dropAndDealloc', ref);
    const count = this.readCount(r);
    if (count !== 0) throw new ExternRefError('dropAndDealloc', ref, 'refcount-overflow', `ref_count is ${count}, not 0`);
    this.destroy(r);
  }

  /**
   * Destroys every object still live, whatever its count (what a closing store holds through
   * tables, globals, the activations table and host handles): each destructor runs once, then
   * the object is freed. Objects a destructor allocates are destroyed too (for 16 rounds). Throws one
   * DestructorError naming every destructor that threw, after all have run.
   */
  destroyAll(): void {
    const failures: Array<{ address: bigint; error: unknown }> = [];
    // Bounded: a destructor that allocates on every run must not keep the store from closing.
    for (let round = 0; round < 16 && this.live.size > 0; round++) {
      for (const ref of [...this.live.keys()]) {
        if (!this.live.has(ref)) continue; // a destructor destroyed it already
        try {
          this.destroy(ref);
        } catch (error) {
          if (error instanceof DestructorError) failures.push(...error.failures);
          else throw error;
        }
      }
    }
    if (failures.length) throw new DestructorError(failures);
  }

  /** The count as stored in guest memory (what compiled code sees). */
  strongCount(ref: bigint): number {
    return this.readCount(this.checked('strongCount', ref));
  }

  /** The host value, found the way v17 derefs: through value_ptr, then the id in the value block. */
  value(ref: bigint): unknown {
    const r = this.checked('value', ref);
    const obj = this.live.get(r)!;
    const { data, offset } = this.at(r);
    const valuePtr = data.getBigUint64(offset + VMExternDataLayout.valuePtr, true);
    if (valuePtr !== BigInt(r - EXTERN_DATA_OFFSET)) {
      throw new ExternRefError('value', ref, 'corrupt-value-ptr', `value_ptr is ${valuePtr.toString(16)}`);
    }
    const v = this.at(Number(valuePtr));
    const id = v.data.getBigUint64(v.offset, true);
    if (id !== BigInt(obj.id)) throw new ExternRefError('value', ref, 'unknown-value-id', `id ${id} in the value block, ${obj.id} expected`);
    return obj.value;
  }

  isLive(ref: bigint): boolean {
    return ref >= 0n && ref < 2n ** 53n && this.live.has(Number(ref));
  }

  /** Live externref pointers, in allocation order. */
  liveRefs(): bigint[] {
    return [...this.live.keys()].map((r) => BigInt(r));
  }

  layout(ref: bigint): ExternRefLayout {
    const r = this.checked('layout', ref);
    const allocation = BigInt(r - EXTERN_DATA_OFFSET);
    return {
      allocation, valueBlock: allocation, externData: ref,
      refCount: ref + BigInt(VMExternDataLayout.refCount), valuePtr: ref + BigInt(VMExternDataLayout.valuePtr),
      vtable: this.vtable, hostValueId: BigInt(this.live.get(r)!.id),
    };
  }

  // ---- number-based fast paths for the collector and the activations table ----------------

  isLiveRaw(ref: number): boolean {
    return (this.flagsRaw(ref) & 1) !== 0;
  }

  /** A mark bit for one set's membership, or undefined when all seven are claimed. */
  claimMark(): number | undefined {
    if (this.freeMarks === 0) return undefined;
    const mark = this.freeMarks & -this.freeMarks;
    this.freeMarks &= ~mark;
    return mark;
  }

  /** Gives a mark back; its set must have cleared it from every object first. */
  releaseMark(mark: number): void {
    this.freeMarks |= mark;
  }

  /** Whether `ref` is an object pointer (live, or freed while a set still listed it) carrying `mark`. */
  hasMark(ref: number, mark: number): boolean {
    return (this.flagsRaw(ref) & mark) !== 0;
  }

  /** Sets `mark` on a live object; false when it was already set. */
  setMark(ref: number, mark: number): boolean {
    const offset = this.locate(ref);
    const flags = this.curLive!;
    const g = offset >>> 3;
    if ((flags[g] & mark) !== 0) return false;
    flags[g] |= mark;
    return true;
  }

  /** Clears `mark` where `ref` points into the heap (a no-op elsewhere). */
  clearMark(ref: number, mark: number): void {
    if (this.flagsRaw(ref) & mark) this.curLive![(ref - this.curBase) >>> 3] &= ~mark;
  }

  /**
   * The flag byte of an object pointer (bit 0 live, then the sets' marks); 0 for anything that
   * cannot be one (outside the heap, unaligned). One read answers every question the collector
   * asks about a root.
   */
  flagsRaw(ref: number): number {
    if (!(ref >= this.curBase && ref + 8 <= this.curEnd) && !this.enter(ref)) return 0;
    const offset = ref - this.curBase;
    if ((offset & 7) !== 0 || offset !== Math.floor(offset)) return 0;
    return this.curLive![offset >>> 3];
  }

  /**
   * The collector's step for one root, in one pass over its flag byte: the object must carry
   * one of the `required` marks (0: no requirement; else CLAIM_UNMARKED) and be live (else
   * CLAIM_DEAD); if it carries `mark` already, CLAIM_HELD; else it gets `mark` and one more
   * count (clone_from_raw), CLAIM_NEW. What a RefSet's `has` and the heap's `isLiveRaw`,
   * `cloneRaw` and `setMark` would do one call each, for sets that keep all their members as marks.
   */
  claimRaw(ref: number, required: number, mark: number): number {
    if (!(ref >= this.curBase && ref + 8 <= this.curEnd) && !this.enter(ref)) return required === 0 ? CLAIM_DEAD : CLAIM_UNMARKED;
    const offset = ref - this.curBase;
    if ((offset & 7) !== 0 || offset !== Math.floor(offset)) return required === 0 ? CLAIM_DEAD : CLAIM_UNMARKED;
    const flags = this.curLive!;
    const g = offset >>> 3;
    const f = flags[g];
    if (required !== 0 && (f & required) === 0) return CLAIM_UNMARKED;
    if ((f & 1) === 0) return CLAIM_DEAD;
    if ((f & mark) !== 0) return CLAIM_HELD;
    flags[g] = f | mark;
    const words = this.curWords;
    const lo = words === null ? 0xffff_ffff : words[offset >>> 2];
    if (lo !== 0xffff_ffff) words![offset >>> 2] = lo + 1;
    else this.cloneRaw(ref); // a carry into the high half, or no word view
    return CLAIM_NEW;
  }

  /**
   * The sweep's step for a set member whose count stays above zero, in one pass: clears
   * `mark` and gives back one count, when the object's count's low half is above 1 (true).
   * Otherwise it changes nothing and returns false, and the caller takes the general path
   * (`clearMark`, then `dropRaw`, which may free the object), with the same result.
   */
  releaseRaw(ref: number, mark: number): boolean {
    if (!(ref >= this.curBase && ref + 8 <= this.curEnd) && !this.enter(ref)) return false;
    const offset = ref - this.curBase;
    const words = this.curWords;
    if ((offset & 7) !== 0 || offset !== Math.floor(offset) || words === null) return false;
    const i = offset >>> 2;
    const lo = words[i];
    if (!(lo > 1)) return false;
    words[i] = lo - 1;
    this.curLive![offset >>> 3] &= ~mark;
    return true;
  }

  /** Host value without the guest-memory cross-check (for reports of objects being freed). */
  hostValueRaw(ref: number): unknown {
    return this.live.get(ref)?.value;
  }

  cloneRaw(ref: number): void {
    const offset = this.locate(ref);
    const words = this.curWords;
    if (words !== null && (offset & 3) === 0) {
      const i = offset >>> 2;
      const lo = words[i];
      if (lo !== 0xffff_ffff) words[i] = lo + 1;
      else {
        words[i] = 0;
        words[i + 1] = words[i + 1] + 1;
      }
      return;
    }
    const data = this.curData!;
    const lo = data.getUint32(offset, true) + 1;
    if (lo > 0xffff_ffff) {
      data.setUint32(offset, 0, true);
      data.setUint32(offset + 4, data.getUint32(offset + 4, true) + 1, true);
    } else {
      data.setUint32(offset, lo, true);
    }
  }

  /** Drops one count of a known-live object; true when it was freed. */
  dropRaw(ref: number): boolean {
    const offset = this.locate(ref);
    const words = this.curWords;
    if (words !== null && (offset & 3) === 0) {
      const i = offset >>> 2;
      const lo = words[i];
      if (lo > 1) {
        words[i] = lo - 1;
        return false;
      }
    }
    const data = this.curData!;
    const lo = data.getUint32(offset, true);
    const hi = data.getUint32(offset + 4, true);
    if (lo === 0 && hi === 0) throw new ExternRefError('drop', BigInt(ref), 'refcount-underflow');
    if (lo === 0) {
      data.setUint32(offset, 0xffff_ffff, true);
      data.setUint32(offset + 4, hi - 1, true);
      return false;
    }
    data.setUint32(offset, lo - 1, true);
    if (lo !== 1 || hi !== 0) return false;
    this.destroy(ref);
    return true;
  }

  readCount(ref: number): number {
    const offset = this.locate(ref);
    const data = this.curData!;
    return data.getUint32(offset + 4, true) * 2 ** 32 + data.getUint32(offset, true);
  }

  private destroy(ref: number): void {
    const obj = this.live.get(ref)!;
    this.live.delete(ref);
    this.locate(ref);
    this.curLive![(ref - this.curBase) >>> 3] &= ~1; // marks stay until their sets clear them
    this.freedCount++;
    const failures: Array<{ address: bigint; error: unknown }> = [];
    try {
      if (obj.destructor) obj.destructor(obj.value, BigInt(ref));
      if (obj.destructor && mutated('destructor-twice')) obj.destructor(obj.value, BigInt(ref));
    } catch (error) {
      failures.push({ address: BigInt(ref), error });
    }
    try {
      if (this.onDestroy) this.onDestroy(obj.value, BigInt(ref));
    } catch (error) {
      failures.push({ address: BigInt(ref), error });
    }
    const allocation = ref - EXTERN_DATA_OFFSET;
    if (this.poisonFreed) {
      const { data, offset } = this.at(allocation);
      data.setBigUint64(offset, FREED_POISON, true);
      data.setBigUint64(offset + EXTERN_DATA_OFFSET + VMExternDataLayout.valuePtr, FREED_POISON, true);
      data.setBigUint64(offset + EXTERN_DATA_OFFSET + VMExternDataLayout.valuePtr + 8, FREED_POISON, true);
    }
    this.heap.free(allocation);
    if (failures.length) throw new DestructorError(failures);
  }

  private checked(operation: string, ref: bigint): number {
    if (ref === 0n) throw new ExternRefError(operation, ref, 'null');
    if (!this.isLive(ref)) throw new ExternRefError(operation, ref, 'not-live');
    return Number(ref);
  }

  private at(address: number): { data: DataView; offset: number } {
    const offset = this.locate(address);
    return { data: this.curData!, offset };
  }

  /** Offset of `address` in its arena, whose view becomes `curData` (no allocation: hot path). */
  private locate(address: number): number {
    if ((address < this.curBase || address + 8 > this.curEnd) && !this.enter(address)) {
      throw new ExternRefError('access', BigInt(address), 'not-live', 'outside the externref heap');
    }
    return address - this.curBase;
  }

  /** Makes the arena holding the 8 bytes at `address` the current one; false when none does. */
  private enter(address: number): boolean {
    const arena = this.heap.arenaOf(address);
    if (!arena || address + 8 > arena.end) return false;
    this.curBase = arena.base;
    this.curEnd = arena.end;
    this.curData = arena.region.data;
    this.curWords = this.arenaWords[arena.index] ??= wordsOf(arena.region) ?? null;
    this.curLive = this.liveFlags[arena.index] ?? this.newFlags(arena.index, arena.base, arena.end);
    return true;
  }

  /** An arena's flag bytes, in an ArrayBuffer of their own (its memory does not move, so native
   * code may read it: see `onFlagArena`). */
  private newFlags(index: number, base: number, end: number): Uint8Array {
    const flags = new Uint8Array(new ArrayBuffer(Math.ceil((end - base) / 8)));
    this.liveFlags[index] = flags;
    this.flagArenas.push({ base, end, flags });
    for (const listener of this.flagListeners) listener(base, end, flags);
    return flags;
  }

  /**
   * Calls `listener` with the guest range and flag bytes (one per 8-byte granule: bit 0 live,
   * bits 1–7 the sets' marks) of every arena that has them, now and as new ones come: the
   * engine reads them to answer the activations table's no-op insertions itself.
   */
  onFlagArena(listener: (base: number, end: number, flags: Uint8Array) => void): void {
    this.flagListeners.push(listener);
    for (const a of this.flagArenas) listener(a.base, a.end, a.flags);
  }
}
