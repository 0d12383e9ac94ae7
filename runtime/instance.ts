/**
 * Instance (wasmtime's `instance.rs`): a module instantiated in a store. Instantiation resolves
 * the imports, places the module's code once per store, writes the VMContext and runs the
 * segments and the start function.
 */
import { funcTypeOf, type FuncType, type ValType, type WasmModule } from '../compiler/frontend/module.ts';
import { VMHostFuncContextLayout } from '../compiler/vmoffsets.ts';
import { InstantiationError, RuntimeError, normalizeTrapCode } from './errors.ts';
import { Global, Memory, Table, registerMemory, type Extern } from './externals.ts';
import { Func, type ResultOf, type Results, type TypedFunc, type ValsOf } from './func.ts';
import type { Module } from './module.ts';
import { placeModuleCode } from './place.ts';
import { checkAddressSpace } from './memory.ts';
import { formatFuncType, funcTypeKey } from './signatures.ts';
import { storeInternals, type Store } from './store.ts';
import { checkStore, describe, type Val } from './values.ts';
import { readVMFuncRef } from './vm-structs.ts';
import {
  VMContextInstance, type DefinedFunctionCode, type ImportedFunction, type ImportedGlobal, type ImportedMemory,
  type ImportedTable,
} from './vmcontext.ts';

/** An instantiated module; its exports are Func / Global / Table / Memory handles. */
export class Instance {
  /** @internal */ readonly vm: VMContextInstance;
  /** Exports by name: functions as callable JS functions (with a `.func` property), other kinds as handles. */
  readonly exports: Readonly<Record<string, Extern | ((...args: Val[]) => Results)>>;
  private readonly externs = new Map<string, Extern>();

  private constructor(readonly store: Store, readonly module: Module, imports: readonly Extern[]) {
    const s = store;
    const wasm = module.wasm;
    if (module.engine !== s.engine) throw new InstantiationError('Instance', 'module and store belong to different engines');
    if (module.code.userStackMaps) throw new InstantiationError('Instance', 'the image was compiled for the v31 profile (it has user stack maps): load it with a v31 engine into a V31Store');
    if (imports.length !== wasm.imports.length) {
      throw new InstantiationError('Instance', `${imports.length} imports given, the module needs ${wasm.imports.length}`);
    }
    const internals = storeInternals(s);
    const resolved = resolveImports(s, wasm, imports);
    resolved.memories.forEach((mem, i) => checkAddressSpace(`import memory ${i}`, wasm.memoryTypes[i], module.code.memoryTunables, mem.memory.addressSpace));
    let placed = internals.placed.get(module);
    if (!placed) {
      placed = placeModuleCode(s.machine, wasm, module.code, module.name, undefined, internals.codeArea);
      internals.placeModule(module, placed);
      internals.traps.addSites(placed.textBase, module.code.traps.map((t) => ({ offset: t.textOffset, code: normalizeTrapCode(t.code) ?? 'UnreachableCodeReached' })));
    }
    // Entry trampolines of every function, placed together.
    const entries = internals.trampolines.entryTrampolines(wasm.functions.map((fn, i) => ({ type: fn.type, wasmCall: placed!.functionAddresses[i], name: `${module.name ?? 'module'}!${fn.index}` })));
    const code: DefinedFunctionCode[] = wasm.functions.map((_, i) => {
      const wasmCall = placed!.functionAddresses[i];
      const entry = entries[i];
      return { wasmCall, nativeCall: entry.nativeCall, arrayCall: entry.arrayCall };
    });
    // A v17 image's offsets are those of the module it was compiled from (compileModule).
    this.vm = new VMContextInstance(internals.env, wasm, code, resolved, module.code, module.image?.offsets);
    internals.instances.set(this.vm.address, this);
    for (const mem of this.vm.memories.slice(wasm.counts.numImportedMemories)) registerMemory(s, mem);
    const exports: Record<string, Extern | ((...args: Val[]) => Results)> = {};
    for (const e of wasm.exports) {
      const ext = this.externFor(e.kind, e.index);
      this.externs.set(e.name, ext);
      exports[e.name] = ext instanceof Func ? ext.toFunction() : ext;
    }
    this.exports = Object.freeze(exports);
  }

  /**
   * Instantiates `module` with `imports` in the module's import order: resolves imports, places
   * the code (once per store and module), builds the VMContext, applies segments, runs the start
   * function. Segment and start-function traps are thrown as WasmTrap.
   */
  static create(store: Store, module: Module, imports: readonly Extern[] = []): Instance {
    const inst = new Instance(store, module, imports);
    inst.vm.initializeSegments();
    if (module.wasm.start !== null) inst.func(module.wasm.start).call();
    return inst;
  }

  /** Guest address of this instance's VMContext. */
  get vmctx(): bigint {
    return this.vm.address;
  }

  getExport(name: string): Extern | undefined {
    return this.externs.get(name);
  }

  getFunc(name: string): Func {
    const e = this.externs.get(name);
    if (!(e instanceof Func)) throw new RuntimeError('Instance.getFunc', `no function export ${JSON.stringify(name)}`);
    return e;
  }

  /**
   * A function export with static types (wasmtime's `Instance::get_typed_func`):
   * `getTypedFunc<[number, number], number>('add')`, or with the Wasm types, checked against
   * the export's signature, `getTypedFunc('add', ['i32', 'i32'], ['i32'])` (see Func.typed).
   */
  getTypedFunc<const P extends readonly ValType[], const R extends readonly ValType[]>(name: string, params: P, results: R): TypedFunc<ValsOf<P>, ResultOf<R>>;
  getTypedFunc<Params extends readonly Val[] = Val[], Result extends Val = Val>(name: string): TypedFunc<Params, Result>;
  getTypedFunc(name: string, params?: readonly ValType[], results?: readonly ValType[]): TypedFunc<Val[], Results> {
    const f = this.getFunc(name);
    return params === undefined && results === undefined ? f.typed() : f.typed(params ?? [], results ?? []);
  }

  getGlobal(name: string): Global {
    const e = this.externs.get(name);
    if (!(e instanceof Global)) throw new RuntimeError('Instance.getGlobal', `no global export ${JSON.stringify(name)}`);
    return e;
  }

  getTable(name: string): Table {
    const e = this.externs.get(name);
    if (!(e instanceof Table)) throw new RuntimeError('Instance.getTable', `no table export ${JSON.stringify(name)}`);
    return e;
  }

  getMemory(name: string): Memory {
    const e = this.externs.get(name);
    if (!(e instanceof Memory)) throw new RuntimeError('Instance.getMemory', `no memory export ${JSON.stringify(name)}`);
    return e;
  }

  /** The Func of function index `funcIndex` (it must be escaped, as exports are). */
  func(funcIndex: number): Func {
    const ptr = this.vm.funcRef(funcIndex);
    const funcsByRef = storeInternals(this.store).funcsByRef;
    let f = funcsByRef.get(ptr);
    if (!f) {
      const imported = funcIndex < this.module.wasm.counts.numImportedFunctions
        ? funcsByRef.get(this.vm.imports.functions[funcIndex].vmctx + BigInt(VMHostFuncContextLayout.funcRef))
        : undefined;
      f = new Func(this.store, ptr, funcTypeOf(this.module.wasm, funcIndex), imported?.host);
      funcsByRef.set(ptr, f);
    }
    return f;
  }

  private externFor(kind: string, index: number): Extern {
    const wasm = this.module.wasm;
    switch (kind) {
      case 'func': return this.func(index);
      case 'global': return new Global(this.store, wasm.globalTypes[index], this.vm.globalAddress(index));
      case 'table': return new Table(this.store, this.vm.tables[index], this.vm.address);
      case 'memory': {
        const definedIndex = index - wasm.counts.numImportedMemories;
        return new Memory(this.store, this.vm.memories[index], this.vm.address, definedIndex);
      }
      default: throw new RuntimeError('Instance', `unknown export kind ${kind}`);
    }
  }
}

function sameType(a: FuncType, b: FuncType): boolean {
  return funcTypeKey(a) === funcTypeKey(b);
}

function resolveImports(s: Store, wasm: WasmModule, imports: readonly Extern[]) {
  const functions: ImportedFunction[] = [];
  const tables: ImportedTable[] = [];
  const memories: ImportedMemory[] = [];
  const globals: ImportedGlobal[] = [];
  wasm.imports.forEach((imp, i) => {
    const ext = imports[i];
    const where = `import ${i} (${imp.module}.${imp.name})`;
    if (ext === undefined || ext === null) throw new InstantiationError(where, 'missing');
    checkStore(s, (ext as { store: Store }).store, where);
    switch (imp.kind) {
      case 'func': {
        if (!(ext instanceof Func)) throw new InstantiationError(where, `expected a function, got ${describe(ext)}`);
        const want = wasm.types[imp.typeIndex];
        if (!sameType(ext.type, want)) {
          throw new InstantiationError(where, `function type ${formatFuncType(ext.type)} does not match ${formatFuncType(want)}`);
        }
        const { wasmCall, nativeCall, arrayCall, vmctx } = readVMFuncRef(s.machine, ext.funcRefPointer);
        functions.push({ wasmCall, nativeCall, arrayCall, vmctx, typeId: storeInternals(s).signatures.idOf(want) });
        break;
      }
      case 'table': {
        if (!(ext instanceof Table)) throw new InstantiationError(where, `expected a table, got ${describe(ext)}`);
        if (imp.type.max !== null && (ext.table.maximum === null || ext.table.maximum > imp.type.max)) {
          throw new InstantiationError(where, `table maximum ${ext.table.maximum ?? 'none'} exceeds the import's ${imp.type.max}`);
        }
        tables.push({ table: ext.table, vmctx: ext.ownerVmctx });
        break;
      }
      case 'memory': {
        if (!(ext instanceof Memory)) throw new InstantiationError(where, `expected a memory, got ${describe(ext)}`);
        if (imp.type.max !== null && (ext.memory.type.max === null || ext.memory.type.max > imp.type.max)) {
          throw new InstantiationError(where, `memory maximum ${ext.memory.type.max ?? 'none'} exceeds the import's ${imp.type.max}`);
        }
        memories.push({ memory: ext.memory, vmctx: ext.ownerVmctx, index: ext.definedIndex });
        break;
      }
      case 'global': {
        if (!(ext instanceof Global)) throw new InstantiationError(where, `expected a global, got ${describe(ext)}`);
        globals.push({ address: ext.address, type: ext.type });
        break;
      }
    }
  });
  return { functions, tables, memories, globals };
}
