/**
 * Test support: runs compiled images on the simulator without the runtime. Builds by hand a
 * v17 VMContext (header, VMRuntimeLimits, builtins array, signature ids, activations table,
 * defined memories, tables and globals, imported functions) around a linked image, and offers
 * builtins written in TypeScript that record every call with the caller's frame so tests can
 * check stack maps against the real stack.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Arch } from '../isa/arch.ts';
import { link, type LinkedImage } from '../loader/link.ts';
import { PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { GuestTrap } from '../simulator/trap.ts';
import { Machine, type HostCall, type HostFunction, type Region } from '../simulator/machine.ts';
import { BUILTIN_FUNCTIONS, type BuiltinName } from './builtins.ts';
import { compileModule, type CompiledImage, type ImageStackMap, type RegallocMode } from './index.ts';
import { parseWatText, loadWat, type WasmModule } from './frontend/index.ts';
import { VMCONTEXT_MAGIC, VMExternRefActivationsTableLayout, VMFuncRefLayout, VMRuntimeLimitsLayout } from './vmoffsets.ts';

export const LINK_BASE = 0x1000_0000n;
/** Shared signature id of signature index s in these tests (deliberately not s itself). */
export const sharedSignatureId = (s: number): number => 0x100 + s;

export interface BuiltinCallRecord {
  readonly name: BuiltinName;
  readonly args: readonly bigint[];
  /** FP and SP of the Wasm frame that made the call, and its return address. */
  readonly fp: bigint;
  readonly sp: bigint;
  readonly returnAddress: bigint;
  /** The externref words the stack map says are live, read from the stack at the call. */
  readonly mappedValues: readonly bigint[] | null;
}

export interface TestInstance {
  readonly machine: Machine;
  readonly module: WasmModule;
  readonly image: CompiledImage;
  readonly linked: LinkedImage;
  readonly vmctx: bigint;
  readonly memoryBase: bigint | null;
  readonly tableBases: readonly bigint[];
  readonly builtinCalls: BuiltinCallRecord[];
  /** Calls defined function `funcIndex` with (vmctx, vmctx, ...args). */
  call(funcIndex: number, args?: readonly (bigint | number)[]): bigint;
  functionAddress(funcIndex: number): bigint;
  /** Allocates a fake VMExternData (ref_count 0) in a host-visible region. */
  newExternref(): bigint;
  refCount(ref: bigint): bigint;
  /** Stack map lookup by absolute return address. */
  stackMapAt(returnAddress: bigint): ImageStackMap | undefined;
  textBase: bigint;
}

export interface TestImports {
  /** Imported function i → host implementation of (callee_vmctx, caller_vmctx, ...params). */
  readonly functions?: ReadonlyMap<number, HostFunction>;
  /** Overrides of builtins. */
  readonly builtins?: Partial<Record<BuiltinName, HostFunction>>;
  /** Stack limit to install (default: 64 KiB above the bottom of the machine's stack). */
  readonly stackLimit?: bigint;
}

let watLoaded = false;
export async function watModule(text: string): Promise<WasmModule> {
  if (!watLoaded) {
    await loadWat();
    watLoaded = true;
  }
  return parseWatText(text);
}

/** Compiles `module` for `arch` (with `regalloc`, default none), links it and builds a VMContext on a fresh machine. */
export async function instantiate(module: WasmModule, arch: Arch, imports: TestImports = {}, regalloc?: RegallocMode): Promise<TestInstance> {
  const machine = await Machine.create({ arch, timeoutMs: 20_000 });
  const image = compileModule(module, { arch, regalloc });
  return instantiateImage(machine, module, image, imports);
}

export function instantiateImage(machine: Machine, module: WasmModule, image: CompiledImage, imports: TestImports = {}): TestInstance {
  const arch = image.arch;
  const linked = link([{ file: 'module.o', bytes: image.elf }], { base: LINK_BASE });
  for (const seg of linked.segments) {
    if (seg.kind !== 'text') continue;
    const region = machine.map('text', Number(seg.size), PROT_READ | PROT_WRITE, seg.address);
    for (const sec of linked.sections) {
      if (sec.segment === 'text' && !sec.nobits) region.view.set(sec.bytes, Number(sec.address - seg.address));
    }
    machine.protect(region, PROT_READ | PROT_EXEC);
  }
  const textSection = linked.sections.find((s) => s.name === '.text');
  const textBase = textSection?.address ?? 0n;
  const functionAddress = (f: number): bigint => {
    const fn = image.functions.find((x) => x.funcIndex === f);
    if (!fn) throw new Error(`function ${f} is not defined in the module`);
    return textBase + BigInt(fn.textOffset);
  };

  const offsets = image.offsets;
  const heap = machine.map('test-heap', 1 << 20, PROT_READ | PROT_WRITE);
  let heapNext = heap.address;
  const alloc = (size: number, align = 16): bigint => {
    heapNext = (heapNext + BigInt(align - 1)) & ~BigInt(align - 1);
    const at = heapNext;
    heapNext += BigInt(size);
    if (heapNext > heap.address + BigInt(heap.size)) throw new Error('test heap exhausted');
    return at;
  };
  const vmctx = alloc(offsets.size, 16);
  const limits = alloc(VMRuntimeLimitsLayout.size);
  const stackLimit = imports.stackLimit ?? machine.stack.region.address + 0x10000n;
  machine.writeU64(limits + BigInt(VMRuntimeLimitsLayout.stackLimit), stackLimit);
  machine.writeU32(vmctx, VMCONTEXT_MAGIC);
  machine.writeU64(vmctx + BigInt(offsets.vmctxRuntimeLimits()), limits);

  // Signature ids.
  const sigArray = alloc(Math.max(4, 4 * image.signatures.length));
  image.signatures.forEach((_, s) => machine.writeU32(sigArray + BigInt(4 * s), sharedSignatureId(s)));
  machine.writeU64(vmctx + BigInt(offsets.vmctxSignatureIdsArray()), sigArray);

  // Activations table: a small chunk so tests reach both the fast path and the GC fallback.
  const activations = alloc(32);
  const chunk = alloc(8 * 4);
  machine.writeU64(activations + BigInt(VMExternRefActivationsTableLayout.next), chunk);
  machine.writeU64(activations + BigInt(VMExternRefActivationsTableLayout.end), chunk + 32n);
  machine.writeU64(vmctx + BigInt(offsets.vmctxExternrefActivationsTable()), activations);

  // Memory.
  // Memory: like the runtime's, the accessible pages at the start of an unmapped reservation and
  // guard as large as the image was compiled for (its unchecked accesses fault there), at most
  // twice the minimum (at least one page) accessible through memory.grow.
  let memoryBase: bigint | null = null;
  let memoryLimit = 0n;
  module.memories.forEach((mem, d) => {
    const pagesMax = Math.max(mem.type.min, 1) * 2;
    memoryLimit = BigInt(pagesMax) * 65536n;
    let top = 0n;
    for (const r of machine.allRegions()) if (r.address + BigInt(r.size) > top) top = r.address + BigInt(r.size);
    const base = (top + 0x2_0000n) & ~0xffffn;
    const space = image.memoryTunables.reservation + image.memoryTunables.guard;
    machine.map(`memory${d}-end`, 0x1000, PROT_NONE, base + (space > memoryLimit ? space : memoryLimit) + 0x1_0000n);
    if (mem.type.min > 0) machine.map(`memory${d}`, mem.type.min * 65536, PROT_READ | PROT_WRITE, base);
    memoryBase = base;
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmmemoryDefinitionBase(d)), base);
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmmemoryDefinitionCurrentLength(d)), BigInt(mem.type.min * 65536));
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmmemoryPointer(d)), vmctx + BigInt(offsets.vmctxVmmemoryDefinition(d)));
    for (const seg of module.datas) {
      if (seg.mode.kind === 'active' && seg.mode.offsetExpr.op === 'i32.const') {
        machine.writeBytes(base + BigInt(seg.mode.offsetExpr.value), seg.bytes);
      }
    }
  });

  // func_refs for escaped functions (filled eagerly here; v17 fills them lazily).
  const funcRefOf = (f: number): bigint => {
    const e = module.escapedIndex.get(f);
    if (e === undefined) throw new Error(`function ${f} is not escaped`);
    const at = vmctx + BigInt(offsets.vmctxFuncRef(e));
    machine.writeU64(at + BigInt(VMFuncRefLayout.wasmCall), functionAddress(f));
    machine.writeU32(at + BigInt(VMFuncRefLayout.typeIndex), sharedSignatureId(image.signatureOf[module.funcTypeIndices[f]]));
    machine.writeU64(at + BigInt(VMFuncRefLayout.vmctx), vmctx);
    return at;
  };

  // Tables: capacity 64 elements beyond the minimum; elements from active segments.
  const tableBases: bigint[] = [];
  module.tables.forEach((t, d) => {
    const base = alloc(8 * (t.type.min + 64));
    tableBases.push(base);
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmtableDefinitionBase(d)), base);
    machine.writeU32(vmctx + BigInt(offsets.vmctxVmtableDefinitionCurrentElements(d)), t.type.min);
  });
  for (const seg of module.elements) {
    if (seg.mode.kind !== 'active' || seg.mode.offsetExpr.op !== 'i32.const') continue;
    const d = seg.mode.table - module.counts.numImportedTables;
    seg.items.forEach((item, k) => {
      const at = tableBases[d] + BigInt(8 * ((seg.mode as { offsetExpr: { value: number } }).offsetExpr.value + k));
      // Initialized entries carry FUNCREF_INIT_BIT.
      if (item.op === 'ref.func') machine.writeU64(at, funcRefOf(item.func) | 1n);
    });
  }

  // Globals.
  module.globals.forEach((g, d) => {
    const at = vmctx + BigInt(offsets.vmctxVmglobalDefinition(d));
    if (g.init.op === 'i32.const') machine.writeU32(at, g.init.value);
    else if (g.init.op === 'i64.const') machine.writeU64(at, g.init.value);
    else if (g.init.op === 'ref.func') machine.writeU64(at, funcRefOf(g.init.func));
  });

  // Externref objects and builtins.
  const externs = machine.map('test-externrefs', 1 << 16, PROT_READ | PROT_WRITE);
  let externNext = externs.address;
  const builtinCalls: BuiltinCallRecord[] = [];
  const externrefGlobals = new Map<number, bigint>();
  let instance: TestInstance;
  const frameOf = (call: HostCall): { fp: bigint; sp: bigint } => ({
    fp: call.fp,
    sp: arch === 'x64' ? call.sp + 8n : call.sp,
  });
  const defaults: Partial<Record<BuiltinName, HostFunction>> = {
    memory32_grow: ([, delta]) => {
      const d = module.memories.length > 0 ? 0 : -1;
      if (d < 0 || memoryBase === null) return -1n;
      const lenAt = vmctx + BigInt(offsets.vmctxVmmemoryDefinitionCurrentLength(d));
      const old = machine.readU64(lenAt);
      const next = old + BigInt.asUintN(32, delta) * 65536n;
      if (next > memoryLimit) return 0xffffffffn;
      if (next > old) machine.map(`memory${d}@${old / 65536n}`, Number(next - old), PROT_READ | PROT_WRITE, memoryBase + old);
      machine.writeU64(lenAt, next);
      return old / 65536n;
    },
    table_get_lazy_init_func_ref: ([, table, index]) => {
      const d = Number(table) - module.counts.numImportedTables;
      const at = tableBases[d] + 8n * index;
      const raw = machine.readU64(at);
      return raw & ~1n;
    },
    ref_func: ([, func]) => funcRefOf(Number(func)),
    externref_global_get: ([, g]) => externrefGlobals.get(Number(g)) ?? 0n,
    externref_global_set: ([, g, v]) => {
      externrefGlobals.set(Number(g), v);
    },
    activations_table_insert_with_gc: ([, ref]) => {
      machine.writeU64(ref, machine.readU64(ref) + 1n);
    },
    drop_externref: () => undefined,
    memory_fill: ([, , dst, value, len]) => {
      if (memoryBase !== null) machine.writeBytes(memoryBase + dst, new Uint8Array(Number(len)).fill(Number(value & 0xffn)));
    },
    memory_copy: ([, , dst, , src, len]) => {
      if (memoryBase !== null) machine.writeBytes(memoryBase + dst, machine.readBytes(memoryBase + src, Number(len)));
    },
    table_copy: () => undefined,
    table_init: () => undefined,
    elem_drop: () => undefined,
    memory_init: () => undefined,
    data_drop: () => undefined,
    table_grow_externref: ([, table, delta, init]) => growTable(Number(table), delta, init),
    table_grow_func_ref: ([, table, delta, init]) => growTable(Number(table), delta, init === 0n ? 0n : init | 1n),
    table_fill_externref: ([, table, dst, value, len]) => fillTable(Number(table), dst, value, len),
    table_fill_func_ref: ([, table, dst, value, len]) => fillTable(Number(table), dst, value | 1n, len),
  };
  const growTable = (table: number, delta: bigint, init: bigint): bigint => {
    const d = table - module.counts.numImportedTables;
    const lenAt = vmctx + BigInt(offsets.vmctxVmtableDefinitionCurrentElements(d));
    const old = BigInt(machine.readU32(lenAt));
    const max = BigInt(module.tables[d].type.min + 64);
    if (old + BigInt.asUintN(32, delta) > max) return 0xffffffffn;
    for (let i = 0n; i < BigInt.asUintN(32, delta); i++) machine.writeU64(tableBases[d] + 8n * (old + i), init);
    machine.writeU32(lenAt, Number(old + BigInt.asUintN(32, delta)));
    return old;
  };
  const fillTable = (table: number, dst: bigint, value: bigint, len: bigint): void => {
    const d = table - module.counts.numImportedTables;
    for (let i = 0n; i < len; i++) machine.writeU64(tableBases[d] + 8n * (dst + i), value);
  };
  const builtinsArray = alloc(8 * BUILTIN_FUNCTIONS.length);
  BUILTIN_FUNCTIONS.forEach((b, i) => {
    const name = b.name as BuiltinName;
    const impl = imports.builtins?.[name] ?? defaults[name];
    const address = machine.addHostFunction(`builtin:${name}`, b.params.length, (args, call) => {
      const { fp, sp } = frameOf(call);
      const map = instance.stackMapAt(call.returnAddress);
      const mappedValues = map === undefined ? null : liveWords(machine, fp, map);
      builtinCalls.push({ name, args, fp, sp, returnAddress: call.returnAddress, mappedValues });
      if (impl === undefined) throw new Error(`builtin ${name} called but not implemented in the test harness`);
      return impl(args, call);
    });
    machine.writeU64(builtinsArray + BigInt(8 * i), address);
  });
  machine.writeU64(vmctx + BigInt(offsets.vmctxBuiltinFunctions()), builtinsArray);

  // Imported functions.
  module.imports.forEach((imp) => {
    if (imp.kind !== 'func') return;
    const impl = imports.functions?.get(imp.index);
    const type = module.types[imp.typeIndex];
    const address = machine.addHostFunction(`import:${imp.module}.${imp.name}`, 2 + type.params.length, (args, call) => {
      if (impl === undefined) throw new Error(`import ${imp.index} called but not provided`);
      return impl(args, call);
    });
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmfunctionImportWasmCall(imp.index)), address);
    machine.writeU64(vmctx + BigInt(offsets.vmctxVmfunctionImportVmctx(imp.index)), vmctx + 0x5000n);
  });

  const byReturn = new Map<bigint, ImageStackMap>(image.stackMaps.map((s) => [textBase + BigInt(s.textReturnOffset), s]));
  instance = {
    machine,
    module,
    image,
    linked,
    vmctx,
    memoryBase,
    tableBases,
    builtinCalls,
    textBase,
    call: (f, args = []) => machine.call(functionAddress(f), [vmctx, vmctx, ...args]),
    functionAddress,
    newExternref: () => {
      const at = externNext;
      externNext += 32n;
      machine.writeU64(at, 0n);
      return at;
    },
    refCount: (ref) => machine.readU64(ref),
    stackMapAt: (ra) => byReturn.get(ra),
  };
  return instance;
}

/** The words a stack map marks, read from the frame whose FP is `fp`. */
export function liveWords(machine: Machine, fp: bigint, map: ImageStackMap): bigint[] {
  const sp = fp - BigInt(map.mappedWords * 8);
  const out: bigint[] = [];
  for (let i = 0; i < map.mappedWords; i++) {
    if ((map.bitmap[i >> 5] >>> (i & 31)) & 1) out.push(machine.readU64(sp + BigInt(8 * i)));
  }
  return out;
}

export const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
export const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

const TRAPPING_KINDS = new Set(['invalid-instruction', 'read-unmapped', 'write-unmapped', 'read-protected', 'write-protected']);

/** The trap code of the listed trap site where `e` happened (else a description of what it was). */
export function trapCodeAt(inst: TestInstance, e: GuestTrap): string {
  // A trap instruction, or an access fault (a linear-memory access left to the guard pages).
  if (!TRAPPING_KINDS.has(e.kind)) return `not a trap instruction or access fault: ${e.kind}`;
  const off = e.pc - inst.textBase;
  const site = inst.image.traps.find((tr) => BigInt(tr.textOffset) === off);
  return site?.code ?? `unlisted pc ${e.pc.toString(16)}`;
}

/**
 * A listing against its golden file (rewritten first when STACKSCOPE_UPDATE_GOLDEN=1, after a
 * deliberate change was reviewed): the first differing lines, and both line counts.
 */
export function goldenDiff(path: string, listing: string): { diff: string[]; wantLines: number; gotLines: number } {
  if (process.env.STACKSCOPE_UPDATE_GOLDEN === '1') writeFileSync(path, listing);
  const want = readFileSync(path, 'utf8').split('\n');
  const got = listing.split('\n');
  const diff = want.flatMap((line, i) => (line === got[i] ? [] : [`line ${i + 1}: want ${line}\n         got  ${got[i]}`]));
  return { diff: diff.slice(0, 5), wantLines: want.length, gotLines: got.length };
}
