/**
 * The v31 profile's layouts checked the way wasmtime's own offset tests check them: every helper
 * against the number wasmtime v31.0.0 computes (crates/environ/src/vmoffsets.rs, cited per test),
 * the `#[repr(C)]` structs against gcc's layout of the same C structs, and the region algorithm
 * on hand-computed shapes and as a property.
 */
import test from 'ava';
import fc from 'fast-check';
import { VMOffsetsCountError, VMOffsetsIndexError, VMOffsetsTooManyElementsError } from '../vmoffsets.ts';
import { V31_BUILTINS, v31BuiltinIndex } from './builtins.ts';
import { cLayout } from './testing.ts';
import {
  V31ArrayCallHostFuncContextLayout,
  V31FuncRefLayout,
  V31FunctionImportLayout,
  V31GlobalImportLayout,
  V31MemoryDefinitionLayout,
  V31MemoryImportLayout,
  V31TableDefinitionLayout,
  V31TableImportLayout,
  V31TagDefinitionLayout,
  V31TagImportLayout,
  V31VMOffsets,
  V31_ARRAY_REGION_NAMES,
  VMCONTEXT_MAGIC,
  VMStoreContextLayout,
  VM_ARRAY_CALL_HOST_FUNC_MAGIC,
  type V31OffsetsFields,
} from './vmoffsets.ts';

const ZERO: V31OffsetsFields = {
  numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0, numImportedTags: 0,
  numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numDefinedTags: 0, numEscapedFuncs: 0,
};
const ONE_OF_EACH: V31OffsetsFields = {
  numImportedFunctions: 1, numImportedTables: 1, numImportedMemories: 1, numImportedGlobals: 1, numImportedTags: 1,
  numDefinedTables: 1, numDefinedMemories: 1, numOwnedMemories: 1, numDefinedGlobals: 1, numDefinedTags: 1, numEscapedFuncs: 1,
};

test('header: PtrSize::vmctx_* of v31.0.0 (magic 0, then nine pointers, dynamic data at 80)', (t) => {
  const o = new V31VMOffsets(ZERO);
  t.is(o.vmctxMagic(), 0);
  t.is(o.vmctxStoreContext(), 8); // vmctx_runtime_limits = magic + ptr
  t.is(o.vmctxBuiltinFunctions(), 16);
  t.is(o.vmctxCallee(), 24);
  t.is(o.vmctxEpochPtr(), 32);
  t.is(o.vmctxGcHeapBase(), 40);
  t.is(o.vmctxGcHeapBound(), 48);
  t.is(o.vmctxGcHeapData(), 56);
  t.is(o.vmctxTypeIdsArray(), 64);
  t.is(o.vmctxStackChain(), 72);
  t.is(o.vmctxDynamicDataStart(), 80);
  t.is(o.size, 80, 'an empty module: the header only (80 is already 16-aligned)');
  t.is(VMCONTEXT_MAGIC, 0x6572_6f63);
  t.is(VM_ARRAY_CALL_HOST_FUNC_MAGIC, 0x4648_4341);
});

test('struct helpers of v31.0.0: VMStoreContext, VMFuncRef, imports, definitions, DRC', (t) => {
  const o = new V31VMOffsets(ZERO);
  // vmstore_context_*: fuel 0, epoch +8, stack limit +8, then pointer-sized fields.
  t.deepEqual([o.vmstoreContextFuelConsumed(), o.vmstoreContextEpochDeadline(), o.vmstoreContextStackLimit(), o.vmstoreContextLastWasmExitFp(), o.vmstoreContextLastWasmExitPc(), o.vmstoreContextLastWasmEntryFp()], [0, 8, 16, 24, 32, 40]);
  t.is(VMStoreContextLayout.size, 48);
  // vm_func_ref_*: 0, 1, 2, 3 pointers; size 4 pointers.
  t.deepEqual([o.vmFuncRefArrayCall(), o.vmFuncRefWasmCall(), o.vmFuncRefTypeIndex(), o.vmFuncRefVmctx(), o.sizeOfVmFuncRef()], [0, 8, 16, 24, 32]);
  t.is(o.sizeOfVmglobalDefinition(), 16);
  t.is(o.sizeOfVmtagDefinition(), 4);
  t.is(o.vmarrayCallHostFuncContextFuncRef(), 8);
  t.is(o.sizeOfVmfunctionImport(), 24); // 3 * ptr
  t.is(o.sizeOfVmtableImport(), 16);
  t.is(o.sizeOfVmtableDefinition(), 16);
  t.is(o.sizeOfVmtableDefinitionCurrentElements(), 8); // pointer_size: a usize since v31's era
  t.is(o.sizeOfVmmemoryImport(), 24);
  t.is(o.sizeOfVmglobalImport(), 8);
  t.is(o.sizeOfVmtagImport(), 8);
  t.is(o.sizeOfVmsharedTypeIndex(), 4);
  t.is(o.vmDrcHeaderRefCount(), 8);
  t.is(o.vmGcRefActivationTableNext(), 0);
  t.is(o.vmGcRefActivationTableEnd(), 8);
});

test('regions in v31 order on a hand-computed shape (one of each): func_refs follow tags unaligned', (t) => {
  const o = new V31VMOffsets(ONE_OF_EACH);
  const begin = Object.fromEntries(o.regions().map((r) => [r.name, r.offset]));
  t.like(begin, {
    imported_memories: 80, // 80 + 24
    defined_memories: 104, // + 8
    owned_memories: 112, // + 16
    imported_functions: 128, // + 24
    imported_tables: 152, // + 16
    imported_globals: 168, // + 8
    imported_tags: 176, // + 8
    defined_tables: 184, // + 16 = 200, aligned to 16 = 208
    defined_globals: 208, // + 16
    defined_tags: 224, // + 4
    func_refs: 228, // v31 does not align func_refs after the 4-byte tags
  });
  t.is(o.size, 260);
  t.deepEqual(o.paddings().map((p) => [p.after, p.offset, p.size]), [['magic', 4, 4], ['defined_tables', 200, 8]]);
  t.is(o.element('func_refs', 0), 228);
  t.is(o.element('imported_functions', 0), 128);
  t.throws(() => o.element('func_refs', 1), { instanceOf: VMOffsetsIndexError });
  const els = o.elements();
  t.deepEqual(els.imported_functions[0].fields, { wasm_call: 128, array_call: 136, vmctx: 144 });
  t.deepEqual(els.func_refs[0].fields, { array_call: 228, wasm_call: 236, type_index: 244, vmctx: 252 });
  t.deepEqual(els.defined_tables[0].fields, { base: 184, current_elements: 192 });
  t.throws(() => o.elements(3), { instanceOf: VMOffsetsTooManyElementsError });
});

test('region algorithm as a property: each region starts where the previous ends (16-aligned globals), size = count x element', (t) => {
  const count = fc.integer({ min: 0, max: 50 });
  fc.assert(
    fc.property(fc.record({
      numImportedFunctions: count, numImportedTables: count, numImportedMemories: count, numImportedGlobals: count, numImportedTags: count,
      numDefinedTables: count, numDefinedMemories: count, numOwnedMemories: count, numDefinedGlobals: count, numDefinedTags: count, numEscapedFuncs: count,
    }), (f) => {
      fc.pre(f.numOwnedMemories <= f.numDefinedMemories);
      const o = new V31VMOffsets(f);
      let next = 80;
      const sizes: Record<string, number> = {
        imported_memories: 24 * f.numImportedMemories, defined_memories: 8 * f.numDefinedMemories, owned_memories: 16 * f.numOwnedMemories,
        imported_functions: 24 * f.numImportedFunctions, imported_tables: 16 * f.numImportedTables, imported_globals: 8 * f.numImportedGlobals,
        imported_tags: 8 * f.numImportedTags, defined_tables: 16 * f.numDefinedTables, defined_globals: 16 * f.numDefinedGlobals,
        defined_tags: 4 * f.numDefinedTags, func_refs: 32 * f.numEscapedFuncs,
      };
      for (const name of V31_ARRAY_REGION_NAMES) {
        if (name === 'defined_globals') next = Math.ceil(next / 16) * 16;
        const r = o.region(name);
        if (r.offset !== next || r.size !== sizes[name]) return false;
        next += r.size;
      }
      return o.size === next && o.vmctxGlobalsBegin() % 16 === 0;
    }),
  );
  t.pass();
});

test('bad counts are typed errors, as v31 panics on them', (t) => {
  t.throws(() => new V31VMOffsets({ ...ZERO, numDefinedTags: -1 }), { instanceOf: VMOffsetsCountError });
  t.throws(() => new V31VMOffsets({ ...ZERO, numOwnedMemories: 1 }), { instanceOf: VMOffsetsCountError });
  t.throws(() => new V31VMOffsets({ ...ZERO, numEscapedFuncs: 2 ** 32 - 1 }), { message: /overflows u32/ });
});

test('builtins: v31.0.0 foreach_builtin_function! has 40 entries, cfg-gated ones keep their index', (t) => {
  t.is(V31_BUILTINS.length, 40);
  t.is(v31BuiltinIndex('memory32_grow'), 0);
  t.is(v31BuiltinIndex('out_of_gas'), 15);
  t.is(v31BuiltinIndex('new_epoch'), 16);
  t.is(v31BuiltinIndex('drop_gc_ref'), 25);
  t.is(v31BuiltinIndex('gc'), 26);
  t.is(v31BuiltinIndex('gc_alloc_raw'), 27);
  t.is(v31BuiltinIndex('table_fill_gc_ref'), 37);
  t.is(v31BuiltinIndex('raise'), 39);
  t.is(v31BuiltinIndex('activations_table_insert_with_gc'), undefined, 'the v17 externref builtins are gone');
  t.deepEqual(V31_BUILTINS[27].params.map((p) => `${p.name}:${p.kind}`), ['kind:u32', 'module_interned_type_index:u32', 'size:u32', 'align:u32']);
  t.is(V31_BUILTINS[27].result, 'u64');
  t.is(V31_BUILTINS[25].cfg, 'feature = gc-drc');
});

test('C layout oracle: gcc lays out the v31 repr(C) structs as the layout tables say', (t) => {
  const expected: Record<string, number> = {
    'VMFunctionImport.size': V31FunctionImportLayout.size,
    'VMFunctionImport.wasm_call': V31FunctionImportLayout.wasmCall,
    'VMFunctionImport.array_call': V31FunctionImportLayout.arrayCall,
    'VMFunctionImport.vmctx': V31FunctionImportLayout.vmctx,
    'VMTableImport.size': V31TableImportLayout.size,
    'VMTableImport.vmctx': V31TableImportLayout.vmctx,
    'VMMemoryImport.size': V31MemoryImportLayout.size,
    'VMMemoryImport.index': V31MemoryImportLayout.index,
    'VMGlobalImport.size': V31GlobalImportLayout.size,
    'VMTagImport.size': V31TagImportLayout.size,
    'VMTableDefinition.size': V31TableDefinitionLayout.size,
    'VMTableDefinition.current_elements': V31TableDefinitionLayout.currentElements,
    'VMMemoryDefinition.size': V31MemoryDefinitionLayout.size,
    'VMMemoryDefinition.current_length': V31MemoryDefinitionLayout.currentLength,
    'VMTagDefinition.size': V31TagDefinitionLayout.size,
    'VMFuncRef.size': V31FuncRefLayout.size,
    'VMFuncRef.array_call': V31FuncRefLayout.arrayCall,
    'VMFuncRef.wasm_call': V31FuncRefLayout.wasmCall,
    'VMFuncRef.type_index': V31FuncRefLayout.typeIndex,
    'VMFuncRef.vmctx': V31FuncRefLayout.vmctx,
    'VMStoreContext.size': VMStoreContextLayout.size,
    'VMStoreContext.fuel_consumed': VMStoreContextLayout.fuelConsumed,
    'VMStoreContext.epoch_deadline': VMStoreContextLayout.epochDeadline,
    'VMStoreContext.stack_limit': VMStoreContextLayout.stackLimit,
    'VMStoreContext.last_wasm_exit_fp': VMStoreContextLayout.lastWasmExitFp,
    'VMStoreContext.last_wasm_exit_pc': VMStoreContextLayout.lastWasmExitPc,
    'VMStoreContext.last_wasm_entry_fp': VMStoreContextLayout.lastWasmEntryFp,
    'VMArrayCallHostFuncContext.size': V31ArrayCallHostFuncContextLayout.size,
    'VMArrayCallHostFuncContext.func_ref': V31ArrayCallHostFuncContextLayout.funcRef,
    'VMArrayCallHostFuncContext.host_state': V31ArrayCallHostFuncContextLayout.hostState,
  };
  const c = cLayout(`
struct VMFunctionImport { void *wasm_call, *array_call, *vmctx; };
struct VMTableImport { void *from, *vmctx; };
struct VMMemoryImport { void *from, *vmctx; uint32_t index; };
struct VMGlobalImport { void *from; };
struct VMTagImport { void *from; };
struct VMTableDefinition { void *base; size_t current_elements; };
struct VMMemoryDefinition { void *base; size_t current_length; };
struct VMTagDefinition { uint32_t type_index; };
struct VMFuncRef { void *array_call, *wasm_call; uint32_t type_index; void *vmctx; };
struct VMStoreContext { int64_t fuel_consumed; uint64_t epoch_deadline; size_t stack_limit;
  size_t last_wasm_exit_fp, last_wasm_exit_pc, last_wasm_entry_fp; };
struct VMArrayCallHostFuncContext { uint32_t magic; struct VMFuncRef func_ref; fat host_state; };`, Object.keys(expected));
  t.deepEqual(c, expected);
});
