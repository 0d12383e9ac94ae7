/**
 * One v44 collection as a store runs it (wasmtime v44's `Store::gc` → `trace_wasm_stack_roots`
 * and `trace_wasm_continuation_roots` → `DrcCollection`): walk every frame of every live stack
 * (walk.ts), read each frame's user stack map (v31's reader: the format did not change), and run
 * the trace and sweep of collector.ts over the roots found. With `explain` it also records what
 * a reader needs to follow it — every stack with its kind, role and state, every frame with the
 * stack it lies on and its typed entries, the over-approximated list before and after, every
 * object freed — and `renderDrc44Explanation` / `drc44ExplanationToJson` draw it.
 *
 * `allocWithRetry` is v44's allocation policy around it (`retry_after_gc` →
 * `grow_or_collect_gc_heap`): when an allocation does not fit, grow the heap; only when growing
 * fails, collect; then try once more.
 */
import type { Machine } from '../../simulator/machine.ts';
import { hex } from '../../isa/error.ts';
import { MemoryReader } from '../walk.ts';
import type { DrcCollectOptions, DrcRoot } from '../drc/collector.ts';
import { isI31 } from '../drc/heap.ts';
import { scanV31Frame, V31StackWalkError } from '../drc/walk.ts';
import type { UserStackMapRegistry } from '../drc/user-stackmap-registry.ts';
import { collectDrc44, type Drc44CollectionReport } from './collector.ts';
import type { Drc44Heap, Freed44Object } from './heap.ts';
import { describeStack, V44StackWalkError, walkV44, type V44Activation, type V44SavedActivation, type V44Stack, type V44StackWalkFailure } from './walk.ts';

export interface V44CollectorOptions {
  machine: Machine;
  heap: Drc44Heap;
  registry: UserStackMapRegistry;
  /** Guest address of the store's VMStoreContext. */
  storeContext: bigint;
  /** The saved activations of interrupted entries, youngest first. */
  olderActivations?: () => readonly V44SavedActivation[];
  /** Every VMContRef the store allocated (wasmtime's `StoreOpaque::continuations`). */
  continuations?: () => readonly bigint[];
}

export interface Explained44Target {
  kind: string;
  typeIndex: number;
  size: number;
  refCount: bigint;
  inList: boolean;
  hostValue?: unknown;
}

export interface Explained44Entry {
  type: 'i32';
  offset: number;
  slot: bigint;
  raw: number;
  target: 'null' | 'i31' | Explained44Target;
}

export interface Explained44Frame {
  stack: number;
  activation: number;
  index: number;
  pc: bigint;
  fp: bigint;
  functionName?: string;
  moduleName?: string;
  frameSize?: number;
  sp?: bigint;
  entries: Explained44Entry[];
}

export interface Drc44Explanation {
  arch: string;
  heap: { base: bigint; capacity: number; liveBefore: number; liveAfter: number; freeBytesAfter: number };
  stacks: V44Stack[];
  activations: V44Activation[];
  frames: Explained44Frame[];
  listBefore: number[];
  listAfter: number[];
  report: Drc44CollectionReport;
}

export class V44Collector {
  constructor(private readonly o: V44CollectorOptions) {}

  /** Runs one collection; `explain` adds the account of it. */
  collect(options: DrcCollectOptions & { explain?: boolean } = {}): { report: Drc44CollectionReport; explanation?: Drc44Explanation } {
    const { machine, heap, registry } = this.o;
    const reader = new MemoryReader(machine);
    const walk = walkV44(machine, { storeContext: this.o.storeContext, olderActivations: this.o.olderActivations?.(), continuations: this.o.continuations?.() }, reader);
    const scanned = walk.frames.map((f) => {
      try {
        return { frame: f, scan: scanV31Frame(machine, f, registry, reader) };
      } catch (e) {
        if (!(e instanceof V31StackWalkError)) throw e;
        const a = walk.activations[f.activation];
        throw new V44StackWalkError(e.failure as V44StackWalkFailure, `stack ${f.stack}`, BigInt(f.fp), e.message.replace(/^v31 stack walk: /, ''), { activation: f.activation, index: f.index, pc: BigInt(f.pc), fp: BigInt(f.fp), entryFp: a.entryFp });
      }
    });
    const roots: DrcRoot[] = [];
    for (const { frame, scan } of scanned) {
      if (!scan.entries.length) continue;
      const label = `${scan.functionName} on stack #${frame.stack}`;
      for (const e of scan.entries) if (e.raw !== 0) roots.push({ raw: e.raw, slot: e.slot, frame: label });
    }
    if (!options.explain) return { report: collectDrc44(heap, roots, options) };
    const describe = (raw: number): Explained44Entry['target'] => {
      if (raw === 0) return 'null';
      if (isI31(raw)) return 'i31';
      if (!heap.isLive(raw)) return { kind: 'NOT A LIVE OBJECT', typeIndex: 0, size: 0, refCount: 0n, inList: false };
      const h = heap.header(raw);
      return { kind: h.kind, typeIndex: h.typeIndex, size: h.size, refCount: h.refCount, inList: h.inList, ...(h.kind === 'ExternRef' ? { hostValue: heap.externRefValue(raw) } : {}) };
    };
    const frames: Explained44Frame[] = scanned.map(({ frame, scan }) => ({
      stack: frame.stack,
      activation: frame.activation,
      index: frame.index,
      pc: BigInt(frame.pc),
      fp: BigInt(frame.fp),
      ...(scan.map ? { functionName: scan.functionName, moduleName: scan.map.module.name, frameSize: scan.map.map.frameSize, sp: BigInt(scan.sp!) } : {}),
      entries: scan.entries.map((e) => ({ type: e.type, offset: e.offset, slot: BigInt(e.slot), raw: e.raw, target: describe(e.raw) })),
    }));
    const liveBefore = heap.liveObjects().length;
    const report = collectDrc44(heap, roots, options);
    return {
      report,
      explanation: {
        arch: machine.arch,
        heap: { base: heap.base, capacity: heap.capacity, liveBefore, liveAfter: heap.liveObjects().length, freeBytesAfter: heap.freeList.freeBytes() },
        stacks: walk.stacks,
        activations: walk.activations,
        frames,
        listBefore: report.listBefore,
        listAfter: heap.overApproximatedList(),
        report,
      },
    };
  }

  /**
   * v44's allocation policy: `alloc()`; if it does not fit, grow the heap by `bytesNeeded` (at
   * least), else collect; then `alloc()` once more. Undefined when even that fails (v44 traps).
   */
  allocWithRetry(alloc: () => number | undefined, bytesNeeded: number, options: DrcCollectOptions = {}): { ref: number | undefined; grew: boolean; collected?: Drc44CollectionReport } {
    const first = alloc();
    if (first !== undefined) return { ref: first, grew: false };
    if (this.o.heap.grow(bytesNeeded)) return { ref: alloc(), grew: true };
    const { report } = this.collect(options);
    return { ref: alloc(), grew: false, collected: report };
  }
}

const ref = (raw: number) => `0x${(raw >>> 0).toString(16)}`;

function targetText(t: Explained44Entry['target']): string {
  if (t === 'null' || t === 'i31') return t;
  return `${t.kind} type ${t.typeIndex === 0xffff_ffff ? 'none' : t.typeIndex}, ${t.size} bytes, count ${t.refCount}${t.inList ? ', in list' : ''}${t.hostValue !== undefined ? `, host value ${JSON.stringify(t.hostValue)}` : ''}`;
}

/** The explanation as text: heap, stacks, frames grouped by the stack they lie on, the list, frees. */
export function renderDrc44Explanation(e: Drc44Explanation): string {
  const r = e.report;
  const out = [
    `DRC collection on ${e.arch} (wasmtime v44): ${e.stacks.length} stacks, ${e.frames.length} frames, ${r.preciseRoots.length} precise roots` +
      `${r.i31Roots ? ` (+${r.i31Roots} i31)` : ''}, ${r.freed.length} freed; heap at ${hex(e.heap.base)} (${e.heap.capacity} bytes), ` +
      `${e.heap.liveBefore} live objects before, ${e.heap.liveAfter} after, ${e.heap.freeBytesAfter} bytes free`,
  ];
  out.push('', 'Stacks:');
  if (!e.stacks.length) out.push('  (no Wasm on any stack)');
  for (const s of e.stacks) {
    out.push(`  ${describeStack(s)}${s.top !== undefined ? `  stack ${hex(s.top - s.len!)}..${hex(s.top)}` : ''}`);
    for (const [i, a] of e.activations.entries()) {
      if (a.stack !== s.index) continue;
      out.push(`    activation ${i}: youngest pc ${hex(a.exitPc)} fp ${hex(a.exitFp)}, entry fp ${hex(a.entryFp)}`);
      const frames = e.frames.filter((f) => f.activation === i);
      if (!frames.length) out.push('      (no Wasm frames)');
      for (const f of frames) {
        out.push(`      f${f.index}  ${f.functionName ?? '<no map>'}${f.moduleName ? ` [${f.moduleName}]` : ''}  pc ${hex(f.pc)}  fp ${hex(f.fp)}` +
          (f.sp !== undefined ? `  sp ${hex(f.sp)}  frame ${f.frameSize} bytes` : ''));
        if (f.sp === undefined) {
          out.push('          (no user stack map at this return address: no live references)');
          continue;
        }
        for (const en of f.entries) out.push(`          sp+${String(en.offset).padEnd(4)} ${en.type}  @ ${hex(en.slot)}  = ${ref(en.raw).padEnd(10)}  ${targetText(en.target)}`);
      }
    }
  }
  out.push('', `Over-approximated list before: [${e.listBefore.map(ref).join(' -> ')}]`);
  out.push(`Precise roots (marked): {${r.preciseRoots.map(ref).join(', ')}}; kept [${r.kept.map(ref).join(', ')}], unlinked [${r.unlinked.map(ref).join(', ')}]`);
  out.push(`Over-approximated list after:  [${e.listAfter.map(ref).join(' -> ')}]`);
  out.push('', r.freed.length ? 'Freed:' : 'Freed: nothing');
  for (const f of r.freed) out.push(`  ${ref(f.ref)}  ${f.kind}, ${f.size} bytes${f.hostValue !== undefined ? `, host value ${JSON.stringify(f.hostValue)}` : ''}`);
  return out.join('\n');
}

const h = (v: bigint | number) => hex(v);

/** The explanation as JSON-ready data (addresses and refs as 0x-hex strings, counts as strings). */
export function drc44ExplanationToJson(e: Drc44Explanation): unknown {
  const target = (t: Explained44Entry['target']) => (typeof t === 'string' ? t : { ...t, refCount: String(t.refCount), hostValue: t.hostValue === undefined ? undefined : String(t.hostValue) });
  const freed = (f: Freed44Object) => ({ ref: ref(f.ref), kind: f.kind, size: f.size, hostValue: f.hostValue === undefined ? undefined : String(f.hostValue) });
  return {
    arch: e.arch,
    heap: { ...e.heap, base: h(e.heap.base) },
    stacks: e.stacks.map((s) => ({ ...s, address: h(s.address), top: s.top === undefined ? undefined : h(s.top), len: s.len === undefined ? undefined : Number(s.len), description: describeStack(s) })),
    activations: e.activations.map((a) => ({ stack: a.stack, exitPc: h(a.exitPc), exitFp: h(a.exitFp), entryFp: h(a.entryFp) })),
    frames: e.frames.map((f) => ({
      ...f, pc: h(f.pc), fp: h(f.fp), sp: f.sp === undefined ? undefined : h(f.sp),
      entries: f.entries.map((en) => ({ ...en, slot: h(en.slot), raw: ref(en.raw), target: target(en.target) })),
    })),
    listBefore: e.listBefore.map(ref),
    listAfter: e.listAfter.map(ref),
    report: {
      preciseRoots: e.report.preciseRoots.map(ref), i31Roots: e.report.i31Roots, listBefore: e.report.listBefore.map(ref),
      kept: e.report.kept.map(ref), unlinked: e.report.unlinked.map(ref), freed: e.report.freed.map(freed),
    },
  };
}
