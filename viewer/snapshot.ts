/**
 * The collector's world as data, and back.
 *
 * `captureGcState` copies, right before a collection starts, everything gc/'s collector reads:
 * the used part of the guest stack, the VMRuntimeLimits words and the saved activations, the
 * activations table's region and its over-approximated set, every live externref (address,
 * count, host value as text) and the registered stack maps. The result is plain JSON.
 *
 * `replayGc` rebuilds that world on a `SnapshotMachine` (guest memory as plain byte arrays at the
 * recorded addresses) with gc/'s own ExternRefHeap, ActivationsTable, StackMapRegistry and
 * Collector, optionally with edited stack maps (a flipped bit, another frame size), and runs the
 * collection again. This module imports no emulator code, so the page bundles it and the
 * collector's decisions in the browser are made by the same TypeScript as in the simulator.
 */
import type { Arch } from '../isa/arch.ts';
import { StackscopeError, hex } from '../isa/error.ts';
import { VMExternDataLayout, VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';
import { ActivationsTable } from '../gc/activations.ts';
import { Collector, describeValue, type ConservativeCheck, type GcReason } from '../gc/collector.ts';
import { GcError } from '../gc/errors.ts';
import { explanationToJson } from '../gc/explain.ts';
import { EXTERN_DATA_OFFSET, ExternRefHeap } from '../gc/externref.ts';
import { StackMapRegistry, type ModuleStackMapsInput, type StackMapLookupMode } from '../gc/stackmap-registry.ts';
import type { Machine, Region, Stack } from '../simulator/machine.ts';

/** A snapshot cannot be taken or replayed (what and why). */
export class SnapshotError extends StackscopeError {
  override name = 'SnapshotError';
  constructor(readonly what: string, reason: string) {
    super(`${what}: ${reason}`);
  }
}

export interface SnapshotRegion {
  name: string;
  address: string;
  /** base64 of the region's bytes. */
  bytes: string;
}

export interface SnapshotStackMaps {
  moduleName: string;
  textStart: string;
  functions: Array<{
    name: string;
    /** Offset of the function from textStart. */
    start: number;
    length: number;
    maps: Array<{ returnAddressOffset: number; callOffset: number; mappedWords: number; bits: number[] }>;
  }>;
}

/** Everything one collection reads, as JSON (addresses as 0x-hex strings). */
export interface GcSnapshot {
  arch: Arch;
  reason: GcReason;
  debugChecks: boolean;
  conservativeCheck: ConservativeCheck;
  /** The v17 walk's inputs; a canary-walk collection is recorded but not replayable. */
  walk: { kind: 'v17'; limits: string; older: Array<{ exitPc: string; exitFp: string; entrySp: string }> } | { kind: 'canary' };
  /** Guest memory outside the externref heap: the stack's used part, the limits, the table. */
  regions: SnapshotRegion[];
  heap: {
    arenas: Array<{ name: string; address: string; size: number }>;
    objects: Array<{ ref: string; count: number; value: string }>;
  };
  table: { region: string; chunkSlots: number; overApproximated: string[] };
  registryMode: StackMapLookupMode;
  /** The registered maps, or 'run' in a record whose run keeps them once (ArchRun.stackMaps). */
  stackMaps: SnapshotStackMaps[] | 'run';
}

/** The snapshot with its maps filled in from the run's shared copy. */
export function withRunStackMaps(s: GcSnapshot, runMaps: SnapshotStackMaps[]): GcSnapshot {
  return s.stackMaps === 'run' ? { ...s, stackMaps: runMaps } : s;
}

/** Bytes below the live SP kept with the stack (the host-call frames below the youngest Wasm frame). */
const BELOW_SP = 512;

/** Copies what `collector` is about to read. Call right before `collector.collect`. */
export function captureGcState(collector: Collector, reason: GcReason): GcSnapshot {
  const machine = collector.machine;
  const regions: SnapshotRegion[] = [];
  const stack = machine.stack;
  const low = maxBig(stack.region.address, ((machine.sp() - BigInt(BELOW_SP)) & ~15n));
  regions.push({ name: stack.region.name, address: hex(low), bytes: toBase64(machine.readBytes(low, Number(stack.top - low))) });
  const table = collector.table;
  regions.push({ name: table.region.name, address: hex(table.region.address), bytes: toBase64(table.region.view) });
  let walk: GcSnapshot['walk'] = { kind: 'canary' };
  if (collector.walk.kind === 'v17') {
    const limits = collector.walk.limits;
    regions.push({ name: 'vm-runtime-limits', address: hex(limits), bytes: toBase64(machine.readBytes(limits, VMRuntimeLimitsLayout.size)) });
    walk = {
      kind: 'v17', limits: hex(limits),
      older: (collector.walk.olderActivations?.() ?? []).map((a) => ({ exitPc: hex(a.exitPc), exitFp: hex(a.exitFp), entrySp: hex(a.entrySp) })),
    };
  }
  const heap = collector.heap;
  return {
    arch: machine.arch, reason, debugChecks: collector.debugChecks, conservativeCheck: collector.conservativeCheck, walk, regions,
    heap: {
      arenas: heap.heap.arenas.map((a) => ({ name: a.region.name, address: hex(a.region.address), size: a.region.size })),
      objects: heap.liveRefs().map((r) => ({ ref: hex(r), count: heap.readCount(Number(r)), value: describeValue(heap.hostValueRaw(Number(r))) })),
    },
    table: { region: table.region.name, chunkSlots: table.chunkCapacity, overApproximated: [...table.overApproximated].map((r) => hex(r)) },
    registryMode: collector.registry.mode,
    stackMaps: collector.registry.registeredModules().map((m) => ({
      moduleName: m.moduleName, textStart: hex(m.textStart),
      functions: m.functions.map((f) => ({
        name: f.name, start: Number(f.start), length: f.length,
        maps: f.maps.map((x) => ({ returnAddressOffset: x.returnAddressOffset, callOffset: x.callOffset, mappedWords: x.mappedWords, bits: [...x.bits] })),
      })),
    })),
  };
}

/** One stack map replaced for a replay: the map keyed by `returnAddress` (absolute). */
export interface MapEdit {
  returnAddress: string;
  mappedWords: number;
  /** Bits, the SP word first ('0101…'), `mappedWords` long. */
  bits: string;
}

export interface ReplayOutcome {
  /** The collection finished: its explanation as JSON (gc/explain.ts's explanationToJson). */
  explanation?: ReturnType<typeof explanationToJson>;
  /** Roots and freed objects, as addresses. */
  roots: string[];
  freed: string[];
  /** The collection stopped with a typed error (a debug check, an unreadable word). */
  error?: { name: string; message: string };
}

/**
 * Runs the collection recorded in `s` again on the recorded memory, with gc/'s collector,
 * after applying `edits` to the stack maps.
 */
export function replayGc(s: GcSnapshot, edits: readonly MapEdit[] = []): ReplayOutcome {
  if (s.walk.kind !== 'v17') throw new SnapshotError('replay', 'only collections with the v17 walk can be replayed');
  if (s.stackMaps === 'run') throw new SnapshotError('replay', "the snapshot's maps are kept by its run: withRunStackMaps(snapshot, run.stackMaps)");
  const maps = s.stackMaps;
  const machine = new SnapshotMachine(s.arch, s.regions, s.heap.arenas, [s.table.region]);
  const heap = new ExternRefHeap(machine.asMachine());
  rebuildObjects(heap, s);
  const tableRegion = machine.pending(s.table.region);
  const table = new ActivationsTable(machine.asMachine(), heap, { name: s.table.region, chunkSlots: s.table.chunkSlots });
  tableRegion.restore();
  for (const r of s.table.overApproximated) table.overApproximated.add(Number(r));
  const registry = new StackMapRegistry({ mode: s.registryMode });
  for (const m of maps) registry.register(applyEdits(m, edits));
  const older = s.walk.older.map((a) => ({ exitPc: BigInt(a.exitPc), exitFp: BigInt(a.exitFp), entrySp: BigInt(a.entrySp) }));
  const collector = new Collector({
    machine: machine.asMachine(), heap, table, registry, debugChecks: s.debugChecks, conservativeCheck: s.conservativeCheck,
    walk: { kind: 'v17', limits: BigInt(s.walk.limits), olderActivations: () => older },
  });
  try {
    const report = collector.collect({ reason: s.reason, explain: true });
    const e = report.explanation!;
    return {
      explanation: explanationToJson({ ...e, summary: { ...e.summary, durationMs: 0 } }),
      roots: e.roots.map((r) => hex(r.ref)), freed: e.freed.map((f) => hex(f.ref)),
    };
  } catch (error) {
    if (error instanceof GcError || error instanceof StackscopeError) return { roots: [], freed: [], error: { name: error.name, message: error.message } };
    throw error;
  }
}

function applyEdits(m: SnapshotStackMaps, edits: readonly MapEdit[]): ModuleStackMapsInput {
  const textStart = BigInt(m.textStart);
  return {
    moduleName: m.moduleName, textStart,
    functions: m.functions.map((f) => ({
      name: f.name, start: BigInt(f.start), length: f.length,
      maps: f.maps.map((x) => {
        const edit = edits.find((e) => BigInt(e.returnAddress) === textStart + BigInt(f.start + x.returnAddressOffset));
        if (!edit) return { ...x, bits: Uint32Array.from(x.bits) };
        if (!Number.isInteger(edit.mappedWords) || edit.mappedWords < 0 || edit.mappedWords > 1 << 16 || edit.bits.length !== edit.mappedWords || /[^01]/.test(edit.bits)) {
          throw new SnapshotError(`edit of the map at ${edit.returnAddress}`, `${edit.mappedWords} words with bits '${edit.bits}'`);
        }
        const bits = new Uint32Array(Math.ceil(edit.mappedWords / 32));
        for (let i = 0; i < edit.bits.length; i++) if (edit.bits[i] === '1') bits[i >>> 5] |= 1 << (i & 31);
        return { ...x, mappedWords: edit.mappedWords, bits };
      }),
    })),
  };
}

/**
 * Puts every recorded object back at its recorded address with gc/'s own allocator: the heap
 * hands out blocks in address order from one free block, so filler blocks cover each gap and
 * are freed once every object is placed. Counts are then written as recorded.
 */
function rebuildObjects(heap: ExternRefHeap, s: GcSnapshot): void {
  const objects = [...s.heap.objects].sort((a, b) => (BigInt(a.ref) < BigInt(b.ref) ? -1 : 1));
  const fillers: number[] = [];
  for (const o of objects) {
    const allocation = Number(BigInt(o.ref)) - EXTERN_DATA_OFFSET;
    const stats = heap.heap.stats();
    const next = nextFreeStart(heap);
    if (next === undefined || allocation < next || stats.arenas > 1) {
      throw new SnapshotError('replay', `cannot place externref ${o.ref} back at its address (heap of ${stats.arenas} arenas)`);
    }
    if (allocation > next) fillers.push(heap.heap.alloc(allocation - next));
    const ref = heap.allocate(o.value);
    if (ref !== BigInt(o.ref)) throw new SnapshotError('replay', `externref ${o.ref} came back at ${hex(ref)}`);
    const countAddress = ref + BigInt(VMExternDataLayout.refCount);
    const region = heap.heap.arenaOf(Number(ref))!.region;
    region.data.setBigUint64(Number(countAddress - region.address), BigInt(o.count), true);
  }
  for (const f of fillers) heap.heap.free(f);
}

/** Start of the heap's only free block (the tail of its arena), or undefined before the first arena. */
function nextFreeStart(heap: ExternRefHeap): number | undefined {
  const free = heap.heap.freeBlocks();
  return free.length === 1 ? free[0][0] : undefined;
}

/**
 * Guest memory without an emulator: the recorded regions at their recorded addresses, plus
 * the regions gc/'s constructors map by name (the externref heap's arenas, the activations
 * table), placed where the recorded run had them.
 */
export class SnapshotMachine {
  readonly regions: Region[] = [];
  private readonly byName = new Map<string, { address: bigint; size: number; bytes: Uint8Array | undefined }>();

  constructor(
    readonly arch: Arch,
    recorded: readonly SnapshotRegion[],
    arenas: ReadonlyArray<{ name: string; address: string; size: number }>,
    /** Recorded regions a gc/ constructor maps itself (the activations table). */
    mappedLater: readonly string[],
  ) {
    for (const r of recorded) {
      const bytes = fromBase64(r.bytes);
      this.byName.set(r.name, { address: BigInt(r.address), size: bytes.length, bytes });
    }
    for (const a of arenas) this.byName.set(a.name, { address: BigInt(a.address), size: a.size, bytes: undefined });
    // Regions no constructor maps are present from the start.
    for (const r of recorded) if (!mappedLater.includes(r.name)) this.mapRecorded(r.name);
  }

  /** This object where gc/ wants a Machine (it uses only the members below). */
  asMachine(): Machine {
    return this as unknown as Machine;
  }

  /** A recorded region a constructor is going to map; `restore()` puts its bytes back afterwards. */
  pending(name: string): { restore(): void } {
    const want = this.byName.get(name);
    if (!want?.bytes) throw new SnapshotError('replay', `no recorded region ${name}`);
    return {
      restore: () => {
        const r = this.regions.find((x) => x.name === name);
        if (!r) throw new SnapshotError('replay', `region ${name} was never mapped`);
        r.view.set(want.bytes!.subarray(0, r.size));
      },
    };
  }

  map(name: string, size: number, perms: number): Region {
    const want = this.byName.get(name);
    if (!want) throw new SnapshotError('replay', `no recorded region ${name}`);
    if (size > want.size) throw new SnapshotError('replay', `region ${name}: ${size} bytes asked, ${want.size} recorded`);
    return this.mapRecorded(name, perms);
  }

  private mapRecorded(name: string, perms = 3): Region {
    const want = this.byName.get(name)!;
    const view = new Uint8Array(want.size);
    if (want.bytes) view.set(want.bytes);
    const region: Region = { name, address: want.address, size: want.size, perms, view, data: new DataView(view.buffer) };
    this.regions.push(region);
    this.regions.sort((a, b) => (a.address < b.address ? -1 : 1));
    return region;
  }

  /**
   * The recorded part of the guest stack as the Machine's `stack` (gc/'s v17 walk reads the
   * frames in place in its region). The Machine's stack is the region named 'stack'.
   */
  get stack(): Pick<Stack, 'region' | 'top'> {
    const region = this.regionByName('stack');
    if (!region) throw new SnapshotError('replay', 'no recorded stack region');
    return { region, top: region.address + BigInt(region.size) };
  }

  regionAt(address: bigint): Region | undefined {
    return this.regions.find((r) => address >= r.address && address < r.address + BigInt(r.size));
  }

  regionByName(name: string): Region | undefined {
    return this.regions.find((r) => r.name === name);
  }

  readU64(address: bigint): bigint {
    const { region, offset } = this.locate(address);
    return region.data.getBigUint64(offset, true);
  }

  writeU64(address: bigint, value: bigint): void {
    const { region, offset } = this.locate(address);
    region.data.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }

  private locate(address: bigint): { region: Region; offset: number } {
    const region = this.regionAt(address);
    const offset = region ? Number(address - region.address) : 0;
    if (!region || offset + 8 > region.size) throw new SnapshotError(`read of ${hex(address)}`, 'outside the recorded memory');
    return { region, offset };
  }
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** base64 of bytes (btoa exists in Node 20 and in every browser). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
