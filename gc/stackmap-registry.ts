/**
 * Which code belongs to which module and function, and which stack map applies at a return
 * address. Two lookup semantics, selected per registry:
 *
 * * `v17` (default): find the module by PC, then the function containing the PC, then an
 *   **exact** match of the PC's offset within the function against the maps' return-address
 *   offsets. No match means the frame holds no live references at this call.
 * * `v0.22`: the seed's StackMapRegistry. Per module a sorted list of (absolute PC, map or
 *   "no map") keyed by each map's `callOffset` (the legacy backend's safepoint, which sits
 *   *before* the call), with a "no map" marker at the start of each function that would
 *   otherwise inherit its predecessor's last map; lookup takes the nearest entry at or below
 *   the PC. Module ranges are matched inclusively at the end, and registration enforces the
 *   seed's assertions (no overlap with other modules, identical re-registration only, every
 *   offset inside its function) as typed errors.
 *
 * Bit i of a map stands for the word at SP + 8·i; bits are packed in u32 words, bit i being
 * bit (i mod 32) of word (i div 32), as Cranelift's bitmap stack maps.
 */
import { hex } from '../isa/error.ts';
import { StackMapRegistryError } from './errors.ts';
import { mutated } from '../compiler/mutants.ts';

/** Entries of the registry's lookup cache (a power of two). */
const LOOKUP_CACHE_SIZE = 256;

/** One safepoint's stack map, as the compiler describes it. */
export interface StackMapInput {
  /** Offset of the instruction after the call, from the function start (v17's key). */
  returnAddressOffset: number;
  /** Offset of the call instruction (or the legacy safepoint before it); v0.22 mode's key. */
  callOffset: number;
  /** Words covered, from SP up; v17 computes SP = FP − mappedWords·8. */
  mappedWords: number;
  /** ceil(mappedWords / 32) words of bits. */
  bits: Uint32Array;
}

export interface FunctionStackMapsInput {
  name: string;
  /** Offset of the function's first byte from the module's `textStart`. */
  start: bigint;
  /** Bytes of code. */
  length: number;
  maps: StackMapInput[];
}

export interface ModuleStackMapsInput {
  moduleName: string;
  /** Guest address of the module's text (code) section. */
  textStart: bigint;
  functions: FunctionStackMapsInput[];
}

/** A map found by a lookup, with where it came from (for reports). One object per registered
 * map, shared by every lookup that finds it: treat it as read-only. */
export interface StackMapHit {
  moduleName: string;
  functionName: string;
  /** Guest address of the function's first byte. */
  functionStart: bigint;
  /** The map's key (return-address offset in v17 mode, call offset in v0.22 mode). */
  mapOffset: number;
  mappedWords: number;
  bits: Uint32Array;
  /**
   * The set bits below `mappedWords`, ascending: the word indexes the collector reads, so a
   * frame whose map marks nothing costs no bit scan. Computed at registration; a registered
   * map's bits must not change afterwards.
   */
  slots: Int32Array;
  /** Each slot's byte offset from the frame's FP (v17: SP is FP − mappedWords · 8), same order. */
  fpOffsets: Int32Array;
}

export type StackMapLookupMode = 'v17' | 'v0.22';

interface FunctionEntry {
  name: string;
  start: number;
  end: number;
  /** Sorted by returnAddressOffset. */
  byReturn: StackMapInput[];
  byReturnKeys: Int32Array;
  /** Lookup results, parallel to byReturn (v17 keys), made when first found (hitByReturn). */
  hitsByReturn: Array<StackMapHit | undefined>;
  moduleName: string;
}

interface ModuleEntry {
  name: string;
  start: number;
  /** Exclusive in v17 mode; v0.22 compares it inclusively, as the seed did. */
  end: number;
  functions: FunctionEntry[];
  functionStarts: Float64Array;
  /** v0.22 mode: sorted (absolute pc, map | null). */
  pcToMap: Array<{ pc: number; map: StackMapInput | null; fn: FunctionEntry; hit: StackMapHit | null }>;
  pcKeys: Float64Array;
  input: ModuleStackMapsInput;
}

export class StackMapRegistry {
  readonly mode: StackMapLookupMode;
  private modules: ModuleEntry[] = [];
  private lastModule: ModuleEntry | undefined;
  /**
   * Recent lookups, direct-mapped by return address: a walk meets the same few call sites
   * over and over (recursion, loops of calls), so most frames cost one compare here instead
   * of three binary searches. Emptied whenever the registered modules change.
   */
  private readonly cachePcs = new Float64Array(LOOKUP_CACHE_SIZE).fill(-1);
  private readonly cacheHits: Array<StackMapHit | undefined> = new Array(LOOKUP_CACHE_SIZE).fill(undefined);

  constructor(options: { mode?: StackMapLookupMode } = {}) {
    this.mode = options.mode ?? 'v17';
  }

  /** Registers a module's code ranges and maps. Re-registering an identical module is a no-op. */
  register(input: ModuleStackMapsInput): void {
    const entry = buildModule(input, this.mode);
    if (!entry) return; // v0.22: nothing to register when no function has a map
    const same = this.modules.find((m) => m.start === entry.start && m.end === entry.end);
    if (same) {
      if (!sameMaps(same, entry)) {
        throw new StackMapRegistryError(input.moduleName, 'conflicting-reregistration', `range ${hex(entry.start)}..${hex(entry.end)} already holds module ${same.name} with different maps`);
      }
      return;
    }
    for (const m of this.modules) {
      // v0.22 asserted strict separation (prev_end < min, next.start > max); v17 modules are
      // half-open ranges that may touch.
      const overlaps = this.mode === 'v0.22' ? entry.start <= m.end && m.start <= entry.end : entry.start < m.end && m.start < entry.end;
      if (overlaps) {
        throw new StackMapRegistryError(input.moduleName, 'overlapping-module', `range ${hex(entry.start)}..${hex(entry.end)} collides with module ${m.name} at ${hex(m.start)}..${hex(m.end)}`);
      }
    }
    this.modules.push(entry);
    this.modules.sort((a, b) => a.start - b.start);
    this.cachePcs.fill(-1);
  }

  /** Removes a module registered with this text start (when its code is unmapped). */
  unregister(textStart: bigint): boolean {
    const i = this.modules.findIndex((m) => m.input.textStart === textStart);
    if (i < 0) return false;
    if (this.lastModule === this.modules[i]) this.lastModule = undefined;
    this.modules.splice(i, 1);
    this.cachePcs.fill(-1);
    return true;
  }

  get moduleCount(): number {
    return this.modules.length;
  }

  /** What was registered, in text order (a recording of a run keeps it to replay collections). */
  registeredModules(): readonly ModuleStackMapsInput[] {
    return this.modules.map((m) => m.input);
  }

  /** The module and function containing `pc`, if any (v17's ModuleInfoLookup). */
  functionAt(pc: bigint): { moduleName: string; functionName: string; functionStart: bigint; pcOffset: number } | undefined {
    const p = Number(pc);
    const m = this.moduleAtRaw(p);
    if (!m) return undefined;
    const f = functionAtRaw(m, p);
    if (!f) return undefined;
    return { moduleName: m.name, functionName: f.name, functionStart: BigInt(f.start), pcOffset: p - f.start };
  }

  /** True when `pc` lies in a registered module (inclusive end in v0.22 mode). */
  isWasmPc(pc: bigint): boolean {
    return this.moduleAtRaw(Number(pc)) !== undefined;
  }

  /** The map for a return address, per this registry's mode. */
  lookup(pc: bigint): StackMapHit | undefined {
    return this.lookupRaw(Number(pc));
  }

  /** Number-address variant of `lookup` for the collector's hot loop. */
  lookupRaw(pc: number): StackMapHit | undefined {
    const slot = (pc ^ (pc >>> 8)) & (LOOKUP_CACHE_SIZE - 1);
    if (this.cachePcs[slot] === pc) return this.cacheHits[slot];
    const hit = this.search(pc);
    this.cachePcs[slot] = pc;
    this.cacheHits[slot] = hit;
    return hit;
  }

  private search(pc: number): StackMapHit | undefined {
    const m = this.moduleAtRaw(pc);
    if (!m) return undefined;
    if (this.mode === 'v17') {
      const f = functionAtRaw(m, pc);
      if (!f) return undefined;
      const off = pc - f.start;
      if (mutated('nearest-preceding-lookup')) return nearestPreceding(f, off);
      const i = binarySearch(f.byReturnKeys, off);
      if (i < 0) return undefined;
      return hitByReturn(f, i);
    }
    // v0.22: nearest entry at or below pc; Err(0) → none; a "no map" marker → none.
    const i = upperBound(m.pcKeys, pc) - 1;
    if (i < 0) return undefined;
    return m.pcToMap[i].hit ?? undefined;
  }

  /** The module whose range holds `pc`: the last one found, else a binary search (ranges never overlap). */
  private moduleAtRaw(pc: number): ModuleEntry | undefined {
    const inclusive = this.mode === 'v0.22';
    const last = this.lastModule;
    if (last && pc >= last.start && (pc < last.end || (inclusive && pc === last.end))) return last;
    const modules = this.modules;
    let lo = 0;
    let hi = modules.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = modules[mid];
      if (pc < m.start) hi = mid - 1;
      else if (pc < m.end || (inclusive && pc === m.end)) return (this.lastModule = m);
      else lo = mid + 1;
    }
    return undefined;
  }
}

function hit(moduleName: string, f: { name: string; start: number }, map: StackMapInput, mapOffset: number): StackMapHit {
  const words = map.mappedWords;
  let count = 0;
  for (let i = 0; i < words; i++) if (stackMapBit(map.bits, i)) count++;
  const slots = new Int32Array(count);
  const fpOffsets = new Int32Array(count);
  for (let i = 0, k = 0; i < words; i++) {
    if (!stackMapBit(map.bits, i)) continue;
    slots[k] = i;
    fpOffsets[k++] = (i - words) * 8;
  }
  return { moduleName, functionName: f.name, functionStart: BigInt(f.start), mapOffset, mappedWords: words, bits: map.bits, slots, fpOffsets };
}

/** The lookup result of `f`'s i-th map by return offset, made on first use (most maps of a
 * program's code are never looked up). */
function hitByReturn(f: FunctionEntry, i: number): StackMapHit {
  let h = f.hitsByReturn[i];
  if (h === undefined) {
    const map = f.byReturn[i];
    h = f.hitsByReturn[i] = hit(f.moduleName, f, map, map.returnAddressOffset);
  }
  return h;
}

function functionAtRaw(m: ModuleEntry, pc: number): FunctionEntry | undefined {
  const i = upperBound(m.functionStarts, pc) - 1;
  if (i < 0) return undefined;
  const f = m.functions[i];
  return pc < f.end || pc === f.end ? f : undefined; // a return address may sit just past a trailing call
}

function buildModule(input: ModuleStackMapsInput, mode: StackMapLookupMode): ModuleEntry | undefined {
  const name = input.moduleName;
  const text = Number(input.textStart);
  if (!Number.isSafeInteger(text) || text < 0) throw new StackMapRegistryError(name, 'bad-function', `text start ${hex(input.textStart)} out of range`);
  const fns: FunctionEntry[] = [];
  for (const f of input.functions) {
    const start = text + Number(f.start);
    if (f.start < 0n || !Number.isSafeInteger(start) || !Number.isInteger(f.length) || f.length < 0) {
      throw new StackMapRegistryError(name, 'bad-function', `start ${hex(f.start)} length ${f.length}`, f.name);
    }
    for (const map of f.maps) validateMap(name, f, map);
    const byReturn = [...f.maps].sort((a, b) => a.returnAddressOffset - b.returnAddressOffset);
    for (let i = 1; i < byReturn.length; i++) {
      if (byReturn[i].returnAddressOffset === byReturn[i - 1].returnAddressOffset) {
        throw new StackMapRegistryError(name, 'duplicate-offset', `two maps at return offset ${hex(byReturn[i].returnAddressOffset)}`, f.name);
      }
    }
    const byReturnKeys = new Int32Array(byReturn.length);
    byReturn.forEach((m, i) => (byReturnKeys[i] = m.returnAddressOffset));
    fns.push({ name: f.name, start, end: start + f.length, byReturn, byReturnKeys, hitsByReturn: new Array(byReturn.length), moduleName: name });
  }
  fns.sort((a, b) => a.start - b.start);
  for (let i = 1; i < fns.length; i++) {
    if (fns[i].start < fns[i - 1].end) {
      throw new StackMapRegistryError(name, 'overlapping-functions', `${fns[i].name} at ${hex(fns[i].start)} starts inside ${fns[i - 1].name} (ends ${hex(fns[i - 1].end)})`, fns[i].name);
    }
  }
  // v0.22 `register_stack_maps`: none markers between functions, keyed by call offsets (only a
  // v0.22 registry looks them up).
  const pcToMap: ModuleEntry['pcToMap'] = [];
  let lastIsNoneMarker = true;
  for (const f of mode === 'v0.22' ? fns : []) {
    const infos = [...f.byReturn].sort((a, b) => a.callOffset - b.callOffset);
    if (!lastIsNoneMarker && (infos.length === 0 || infos[0].callOffset > 0)) {
      pcToMap.push({ pc: f.start, map: null, fn: f, hit: null });
      lastIsNoneMarker = true;
    }
    for (const info of infos) {
      pcToMap.push({ pc: f.start + info.callOffset, map: info, fn: f, hit: hit(name, f, info, info.callOffset) });
      lastIsNoneMarker = false;
    }
  }
  if (mode === 'v0.22') {
    for (let i = 1; i < pcToMap.length; i++) {
      if (pcToMap[i].pc === pcToMap[i - 1].pc) {
        throw new StackMapRegistryError(name, 'duplicate-offset', `two entries at pc ${hex(pcToMap[i].pc)}`, pcToMap[i].fn.name);
      }
    }
    if (pcToMap.length === 0) return undefined;
  }
  const start = fns.length ? fns[0].start : text;
  const end = fns.length ? Math.max(...fns.map((f) => f.end)) : text;
  if (mode === 'v17' && fns.length === 0) return undefined;
  return {
    name, start, end, functions: fns, functionStarts: Float64Array.from(fns.map((f) => f.start)),
    pcToMap, pcKeys: Float64Array.from(pcToMap.map((e) => e.pc)), input,
  };
}

function validateMap(moduleName: string, f: FunctionStackMapsInput, map: StackMapInput): void {
  // (No closure for the error: this runs for every map of every instance, and under tsx each
  // closure made costs a name definition.)
  if (!Number.isInteger(map.mappedWords) || map.mappedWords < 0 || map.mappedWords > 1 << 24) {
    throw new StackMapRegistryError(moduleName, 'bad-map', `mapped words ${map.mappedWords}`, f.name);
  }
  if (!(map.bits instanceof Uint32Array) || map.bits.length < Math.ceil(map.mappedWords / 32)) {
    throw new StackMapRegistryError(moduleName, 'bad-map', `${map.mappedWords} mapped words need ${Math.ceil(map.mappedWords / 32)} bit words, got ${map.bits?.length}`, f.name);
  }
  // The seed's `assert!(code_offset < len)`; a return address may equal the length (call last).
  if (!Number.isInteger(map.callOffset) || map.callOffset < 0 || map.callOffset >= f.length) {
    throw new StackMapRegistryError(moduleName, 'offset-outside-function', `call offset ${map.callOffset} not below length ${f.length}`, f.name);
  }
  if (!Number.isInteger(map.returnAddressOffset) || map.returnAddressOffset <= 0 || map.returnAddressOffset > f.length) {
    throw new StackMapRegistryError(moduleName, 'offset-outside-function', `return offset ${map.returnAddressOffset} outside 1..${f.length}`, f.name);
  }
}

function sameMaps(a: ModuleEntry, b: ModuleEntry): boolean {
  if (a.functions.length !== b.functions.length) return false;
  for (let i = 0; i < a.functions.length; i++) {
    const fa = a.functions[i];
    const fb = b.functions[i];
    if (fa.start !== fb.start || fa.end !== fb.end || fa.byReturn.length !== fb.byReturn.length) return false;
    for (let j = 0; j < fa.byReturn.length; j++) {
      const x = fa.byReturn[j];
      const y = fb.byReturn[j];
      if (x.returnAddressOffset !== y.returnAddressOffset || x.callOffset !== y.callOffset || x.mappedWords !== y.mappedWords) return false;
      for (let k = 0; k < Math.ceil(x.mappedWords / 32); k++) if (x.bits[k] !== y.bits[k]) return false;
    }
  }
  return true;
}

/** Index of `key` in sorted `keys`, or −1. */
function binarySearch(keys: Int32Array, key: number): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = keys[mid];
    if (k === key) return mid;
    if (k < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The map with the largest key strictly below `off` (the nearest-preceding-lookup mutant only;
 * a fallback used only on a miss would change nothing, since every call site has a map). */
function nearestPreceding(f: FunctionEntry, off: number): StackMapHit | undefined {
  let best = -1;
  for (let i = 0; i < f.byReturnKeys.length && f.byReturnKeys[i] < off; i++) best = i;
  return best < 0 ? undefined : hitByReturn(f, best);
}

/** First index whose key is > `key`. */
function upperBound(keys: Float64Array, key: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Builds a bit array from set indices (for hand-written maps). */
export function stackMapBits(mappedWords: number, setBits: Iterable<number>): Uint32Array {
  const bits = new Uint32Array(Math.max(1, Math.ceil(mappedWords / 32)));
  for (const i of setBits) {
    if (!Number.isInteger(i) || i < 0 || i >= mappedWords) throw new RangeError(`stack map bit ${i} outside 0..${mappedWords - 1}`);
    bits[i >>> 5] |= 1 << (i & 31);
  }
  return bits;
}

/** Whether bit `i` of a map is set. */
export function stackMapBit(bits: Uint32Array, i: number): boolean {
  return ((bits[i >>> 5] >>> (i & 31)) & 1) === 1;
}
