/**
 * One instance's VMContext in guest memory, built the way wasmtime v17's `Instance::initialize_
 * vmctx` does, at the offsets `compiler/vmoffsets.ts` gives (the same ones compiled code uses):
 *
 * - header: magic "core"; the store's VMRuntimeLimits pointer; callee = null; the engine's epoch
 *   counter pointer; the store's VMExternRefActivationsTable pointer; the store "fat pointer";
 *   the builtins array pointer; the signature-ids array pointer;
 * - imports copied in as whole structs (VMFunctionImport, VMTableImport, VMMemoryImport,
 *   VMGlobalImport);
 * - defined tables (VMTableDefinition inline), memory pointers and owned VMMemoryDefinitions,
 *   defined globals (VMGlobalDefinition, initialisers evaluated);
 * - func_refs: filled lazily, as in v17. Nothing is written at instantiation; the VMFuncRef of an
 *   escaped function is written into its slot the first time something asks for it (an export,
 *   `ref.func`, a table element, a global initialiser), and rewritten identically on every later
 *   request. A slot nobody asked for stays all-zero.
 *
 * The store fat pointer: wasmtime stores a Rust `*mut dyn Store` (data pointer + vtable). Nothing
 * in guest code dereferences it, so stackscope stores the store's numeric id in the first word
 * and 0 in the second; the runtime maps a vmctx back to its store and instance itself.
 */
import type {
  ConstExpr, DataSegment, ElementSegment, FuncType, GlobalType, WasmModule,
} from '../compiler/frontend/module.ts';
import { funcTypeOf, valueBytes } from '../compiler/frontend/module.ts';
import { vmOffsetsFor } from '../compiler/index.ts';
import {
  VMCONTEXT_ALIGN, VMCONTEXT_MAGIC, VMFunctionImportLayout,
  VMMemoryImportLayout, VMOffsets, VMTableImportLayout,
} from '../compiler/vmoffsets.ts';
import type { Machine } from '../simulator/machine.ts';
import { InstantiationError, RuntimeError, WasmTrap } from './errors.ts';
import type { RuntimeHeap } from './heap.ts';
import type { VMRuntimeLimits } from './limits.ts';
import { LinearMemory, type LinearMemoryOptions } from './memory.ts';
import type { SignatureRegistry } from './signatures.ts';
import { RuntimeTable, type ExternRefCounts, type FuncRefSource } from './table.ts';
import { writeGlobalStorage, writeVMFuncRef } from './vm-structs.ts';

/** Store- and engine-wide pointers every VMContext of a store shares. */
export interface VMContextEnvironment {
  readonly machine: Machine;
  readonly heap: RuntimeHeap;
  readonly limits: VMRuntimeLimits;
  /** The engine's u64 epoch counter. */
  readonly epochAddress: bigint;
  /** The store's VMExternRefActivationsTable. */
  readonly activationsTableAddress: bigint;
  /** Written as the first word of the store fat pointer (see the file comment). */
  readonly storeId: bigint;
  /** The 31-entry VMBuiltinFunctionsArray. */
  readonly builtinsArrayAddress: bigint;
  readonly signatures: SignatureRegistry;
  /** Reference counting of externref values held by tables and globals. */
  readonly externRefs?: ExternRefCounts;
  readonly memoryOptions?: LinearMemoryOptions;
}

/** Entry points of one defined function (all three calling conventions). */
export interface DefinedFunctionCode {
  readonly wasmCall: bigint;
  readonly nativeCall: bigint;
  readonly arrayCall: bigint;
}

/** An import already resolved to the exporting side's structures. */
export interface ImportedFunction {
  readonly wasmCall: bigint;
  readonly nativeCall: bigint;
  readonly arrayCall: bigint;
  /** The callee's context: a VMContext or a host-function context. */
  readonly vmctx: bigint;
  /** The shared signature id of the function's type. */
  readonly typeId: number;
}
export interface ImportedTable {
  readonly table: RuntimeTable;
  /** The owner's vmctx (0 for a host-created table). */
  readonly vmctx: bigint;
}
export interface ImportedMemory {
  readonly memory: LinearMemory;
  readonly vmctx: bigint;
  /** DefinedMemoryIndex inside the owning instance. */
  readonly index: number;
}
export interface ImportedGlobal {
  /** The owner's VMGlobalDefinition. */
  readonly address: bigint;
  readonly type: GlobalType;
}
export interface ResolvedImports {
  readonly functions: readonly ImportedFunction[];
  readonly tables: readonly ImportedTable[];
  readonly memories: readonly ImportedMemory[];
  readonly globals: readonly ImportedGlobal[];
}

/**
 * How the `signature_ids` array is indexed. v17 indexes it by module type index; stackscope's
 * compiler deduplicates structurally equal types first and indexes by its signature index
 * (`CompiledImage.signatureOf[typeIndex]`), listing one representative type per slot.
 */
export interface SignatureSlots {
  readonly signatureOf: readonly number[];
  readonly signatures: readonly number[];
}

export const NO_IMPORTS: ResolvedImports = { functions: [], tables: [], memories: [], globals: [] };


/**
 * An instantiated VMContext and the runtime objects behind it. Index spaces are the module's
 * (imports first) for tables, memories and globals.
 */
export class VMContextInstance implements FuncRefSource {
  readonly machine: Machine;
  readonly offsets: VMOffsets;
  /** Guest address of the VMContext (what compiled code gets as vmctx). */
  readonly address: bigint;
  /** Shared signature id per module type index. */
  readonly typeIds: readonly number[];
  /** The u32 array `signature_ids` points at: shared id per signature slot. */
  readonly signatureIds: readonly number[];
  readonly signatureIdsAddress: bigint;
  readonly tables: RuntimeTable[] = [];
  readonly memories: LinearMemory[] = [];
  /** VMGlobalDefinition address per global index (imported ones point into their owner). */
  readonly globalAddresses: bigint[] = [];
  readonly droppedElements = new Set<number>();
  readonly droppedDatas = new Set<number>();

  constructor(
    readonly env: VMContextEnvironment,
    readonly module: WasmModule,
    readonly code: readonly DefinedFunctionCode[],
    readonly imports: ResolvedImports,
    signatureSlots?: SignatureSlots,
    /** The module's VMOffsets when known already (the compiler's, for a module compiled here). */
    offsets?: VMOffsets,
  ) {
    this.machine = env.machine;
    const c = module.counts;
    if (code.length !== c.numDefinedFunctions) {
      throw new InstantiationError('instance', `code for ${code.length} functions given, the module defines ${c.numDefinedFunctions}`);
    }
    checkImportCounts(module, imports);
    this.offsets = offsets ?? vmOffsetsFor(module);
    this.address = env.heap.alloc(Math.max(this.offsets.size, 16), VMCONTEXT_ALIGN);
    this.typeIds = module.types.map((t) => env.signatures.idOf(t));
    this.signatureIds = signatureSlots ? signatureSlots.signatures.map((t) => this.typeIds[t]) : this.typeIds;
    this.signatureIdsAddress = env.heap.alloc(Math.max(4 * this.signatureIds.length, 4), 16);
    this.signatureIds.forEach((id, i) => this.machine.writeU32(this.signatureIdsAddress + BigInt(4 * i), id));
    this.writeHeader();
    this.writeImports();
    this.createDefinitions();
  }

  private at(offset: number): bigint {
    return this.address + BigInt(offset);
  }

  private writeHeader(): void {
    const m = this.machine;
    const o = this.offsets;
    m.writeU32(this.at(o.vmctxMagic()), VMCONTEXT_MAGIC);
    m.writeU64(this.at(o.vmctxRuntimeLimits()), this.env.limits.address);
    m.writeU64(this.at(o.vmctxCallee()), 0n);
    m.writeU64(this.at(o.vmctxEpochPtr()), this.env.epochAddress);
    m.writeU64(this.at(o.vmctxExternrefActivationsTable()), this.env.activationsTableAddress);
    m.writeU64(this.at(o.vmctxStore()), this.env.storeId);
    m.writeU64(this.at(o.vmctxStore() + 8), 0n);
    m.writeU64(this.at(o.vmctxBuiltinFunctions()), this.env.builtinsArrayAddress);
    m.writeU64(this.at(o.vmctxSignatureIdsArray()), this.signatureIdsAddress);
  }

  private writeImports(): void {
    const m = this.machine;
    const o = this.offsets;
    this.imports.functions.forEach((f, i) => {
      const base = this.at(o.vmctxVmfunctionImport(i));
      const want = this.typeIds[this.module.funcTypeIndices[i]];
      if (f.typeId !== want) {
        throw new InstantiationError(`import function ${i}`, `signature id ${f.typeId} does not match the module's ${want}`);
      }
      m.writeU64(base + BigInt(VMFunctionImportLayout.wasmCall), f.wasmCall);
      m.writeU64(base + BigInt(VMFunctionImportLayout.nativeCall), f.nativeCall);
      m.writeU64(base + BigInt(VMFunctionImportLayout.arrayCall), f.arrayCall);
      m.writeU64(base + BigInt(VMFunctionImportLayout.vmctx), f.vmctx);
    });
    this.imports.tables.forEach((t, i) => {
      const base = this.at(o.vmctxVmtableImport(i));
      m.writeU64(base + BigInt(VMTableImportLayout.from), t.table.definitionAddress);
      m.writeU64(base + BigInt(VMTableImportLayout.vmctx), t.vmctx);
      this.tables.push(t.table);
    });
    this.imports.memories.forEach((mem, i) => {
      const base = this.at(o.vmctxVmmemoryImport(i));
      if (mem.memory.definitionAddress === undefined) throw new InstantiationError(`import memory ${i}`, 'memory has no VMMemoryDefinition');
      m.writeU64(base + BigInt(VMMemoryImportLayout.from), mem.memory.definitionAddress);
      m.writeU64(base + BigInt(VMMemoryImportLayout.vmctx), mem.vmctx);
      m.writeU32(base + BigInt(VMMemoryImportLayout.index), mem.index);
      this.memories.push(mem.memory);
    });
    this.imports.globals.forEach((g, i) => {
      m.writeU64(this.at(o.vmctxVmglobalImport(i)), g.address);
      this.globalAddresses.push(g.address);
    });
  }

  private createDefinitions(): void {
    const o = this.offsets;
    const env = this.env;
    for (const t of this.module.tables) {
      this.tables.push(RuntimeTable.create(env.machine, env.heap, t.type, env.externRefs, this.at(o.vmctxVmtableDefinition(t.definedIndex))));
    }
    let owned = 0;
    for (const mem of this.module.memories) {
      if (mem.type.shared) throw new InstantiationError(`memory ${mem.index}`, 'shared memories are not supported');
      const memory = LinearMemory.create(env.machine, mem.type, env.memoryOptions);
      const definition = this.at(o.vmctxVmmemoryDefinition(owned++));
      memory.writeDefinition(definition);
      env.machine.writeU64(this.at(o.vmctxVmmemoryPointer(mem.definedIndex)), definition);
      this.memories.push(memory);
    }
    for (const g of this.module.globals) {
      const address = this.at(o.vmctxVmglobalDefinition(g.definedIndex));
      this.globalAddresses.push(address);
      this.writeGlobal(address, g.type, this.evalConst(g.init, g.type.valType === 'externref'));
    }
  }

  /** Stores a value into a VMGlobalDefinition (low bytes; the rest zero). */
  private writeGlobal(address: bigint, type: GlobalType, value: bigint): void {
    writeGlobalStorage(this.machine, address, BigInt.asUintN(8 * valueBytes(type.valType), value));
  }

  /**
   * Evaluates a constant expression to its raw bits (i32 zero-extended, refs as pointers). An
   * externref result read from another global gains a count when `retain` is set, because the
   * caller is about to store it somewhere that owns one.
   */
  evalConst(expr: ConstExpr, retain = false): bigint {
    switch (expr.op) {
      case 'i32.const': return BigInt.asUintN(32, BigInt(expr.value));
      case 'i64.const': return BigInt.asUintN(64, expr.value);
      case 'f32.const': return BigInt(expr.bits);
      case 'f64.const': return expr.bits;
      case 'ref.null': return 0n;
      case 'ref.func': return this.funcRef(expr.func);
      case 'global.get': {
        const address = this.globalAddresses[expr.global];
        if (address === undefined) throw new InstantiationError('constant expression', `global ${expr.global} is not available`);
        const type = this.module.globalTypes[expr.global];
        const raw = valueBytes(type.valType) === 4 ? BigInt(this.machine.readU32(address)) : this.machine.readU64(address);
        if (retain && type.valType === 'externref' && raw !== 0n) this.env.externRefs?.retain(raw);
        return raw;
      }
    }
  }

  /**
   * The VMFuncRef of function `funcIndex` (v17's `get_func_ref`): written into the function's
   * func_refs slot on every request (idempotent), so slots stay untouched until needed.
   */
  funcRef(funcIndex: number): bigint {
    const escaped = this.module.escapedIndex.get(funcIndex);
    if (escaped === undefined) throw new RuntimeError(`function ${funcIndex}`, 'is not escaped, so it has no VMFuncRef slot');
    const slot = this.at(this.offsets.vmctxFuncRef(escaped));
    const m = this.machine;
    const typeId = this.typeIds[this.module.funcTypeIndices[funcIndex]];
    const nImported = this.module.counts.numImportedFunctions;
    let wasmCall: bigint, nativeCall: bigint, arrayCall: bigint, vmctx: bigint;
    if (funcIndex < nImported) {
      const f = this.imports.functions[funcIndex];
      ({ wasmCall, nativeCall, arrayCall, vmctx } = f);
    } else {
      const c = this.code[funcIndex - nImported];
      ({ wasmCall, nativeCall, arrayCall } = c);
      vmctx = this.address;
    }
    writeVMFuncRef(m, slot, { nativeCall, arrayCall, wasmCall, typeIndex: typeId, vmctx });
    return slot;
  }

  /** The type of function `funcIndex`. */
  funcType(funcIndex: number): FuncType {
    return funcTypeOf(this.module, funcIndex);
  }

  /**
   * Applies active element and data segments in module order (tables first, then memories, as
   * the spec's instantiation does), trapping on the first out-of-bounds segment, then drops the
   * active and declarative segments. Funcref items go into tables as lazy initial values.
   */
  initializeSegments(): void {
    for (const seg of this.module.elements) {
      if (seg.mode.kind === 'active') {
        const table = this.tables[seg.mode.table];
        const offset = Number(this.evalConst(seg.mode.offsetExpr));
        if (offset + seg.items.length > table.size) {
          throw new WasmTrap({ code: 'TableOutOfBounds', detail: `element segment ${seg.index} at ${offset}+${seg.items.length} of ${table.size}` });
        }
        this.writeElements(table, offset, seg, 0, seg.items.length);
      }
      if (seg.mode.kind !== 'passive') this.droppedElements.add(seg.index);
    }
    for (const seg of this.module.datas) {
      if (seg.mode.kind === 'active') {
        const memory = this.memories[seg.mode.memory];
        const offset = Number(this.evalConst(seg.mode.offsetExpr));
        memory.write(offset, seg.bytes);
        this.droppedDatas.add(seg.index);
      }
    }
  }

  /** Writes items [from, from+count) of `seg` to `table` at `dst` (bounds already checked). */
  writeElements(table: RuntimeTable, dst: number, seg: ElementSegment, from: number, count: number): void {
    for (let i = 0; i < count; i++) {
      const item = seg.items[from + i];
      if (table.elemType === 'funcref' && (item.op === 'ref.func' || item.op === 'ref.null')) {
        table.setLazy(dst + i, { source: this, funcIndex: item.op === 'ref.func' ? item.func : null });
      } else {
        table.set(dst + i, this.evalConst(item));
      }
    }
  }

  /** The element segment `index` as the `table.init` builtin sees it (empty once dropped). */
  elementSegment(index: number): ElementSegment | null {
    const seg = this.module.elements[index];
    if (seg === undefined) throw new RuntimeError('table.init', `no element segment ${index}`);
    return this.droppedElements.has(index) ? null : seg;
  }

  /** The data segment `index` as `memory.init` sees it (empty once dropped). */
  dataSegment(index: number): DataSegment | null {
    const seg = this.module.datas[index];
    if (seg === undefined) throw new RuntimeError('memory.init', `no data segment ${index}`);
    return this.droppedDatas.has(index) ? null : seg;
  }

  /** A defined or imported global's raw value (i32 zero-extended). */
  readGlobal(index: number): bigint {
    const address = this.globalAddresses[index];
    if (address === undefined) throw new RuntimeError('global', `no global ${index}`);
    return valueBytes(this.module.globalTypes[index].valType) === 4 ? BigInt(this.machine.readU32(address)) : this.machine.readU64(address);
  }

  /** Address of the VMGlobalDefinition of global `index`. */
  globalAddress(index: number): bigint {
    const address = this.globalAddresses[index];
    if (address === undefined) throw new RuntimeError('global', `no global ${index}`);
    return address;
  }
}

function checkImportCounts(module: WasmModule, imports: ResolvedImports): void {
  const c = module.counts;
  const pairs: Array<[string, number, number]> = [
    ['functions', imports.functions.length, c.numImportedFunctions],
    ['tables', imports.tables.length, c.numImportedTables],
    ['memories', imports.memories.length, c.numImportedMemories],
    ['globals', imports.globals.length, c.numImportedGlobals],
  ];
  for (const [what, got, want] of pairs) {
    if (got !== want) throw new InstantiationError('imports', `${got} ${what} given, the module imports ${want}`);
  }
  imports.globals.forEach((g, i) => {
    const want = module.globalTypes[i];
    if (g.type.valType !== want.valType || g.type.mutable !== want.mutable) {
      throw new InstantiationError(`import global ${i}`, `type ${g.type.mutable ? 'mut ' : ''}${g.type.valType} does not match ${want.mutable ? 'mut ' : ''}${want.valType}`);
    }
  });
  imports.tables.forEach((t, i) => {
    const want = module.tableTypes[i];
    if (t.table.elemType !== want.elemType || t.table.size < want.min) {
      throw new InstantiationError(`import table ${i}`, `a ${t.table.elemType} table of ${t.table.size} elements does not satisfy ${want.elemType} min ${want.min}`);
    }
  });
  imports.memories.forEach((mm, i) => {
    const want = module.memoryTypes[i];
    if (mm.memory.pages < want.min) throw new InstantiationError(`import memory ${i}`, `${mm.memory.pages} pages < minimum ${want.min}`);
  });
}
