/**
 * The v44 profile's layouts checked the way wasmtime's own offset tests check them: every helper
 * against the number wasmtime v44.0.0 (commit af382d7d94) computes, citing the file and line of
 * the helper or test, the `#[repr(C)]` structs against gcc's layout of the same C structs (a
 * second, independent oracle), and the region algorithm on hand-computed shapes and as a property.
 * "vmoffsets.rs" is crates/environ/src/vmoffsets.rs; "vmcontext.rs",
 * "stack_switching.rs" and "drc.rs" are under crates/wasmtime/src/runtime/vm/.
 */
import test from 'ava';
import fc from 'fast-check';
import { VMOffsetsCountError, VMOffsetsIndexError, VMOffsetsTooManyElementsError } from '../vmoffsets.ts';
import { cLayout } from '../v31/testing.ts';
import { V44_BUILTINS, v44BuiltinIndex } from './builtins.ts';
import {
  I31_DISCRIMINANT,
  NO_TYPE_INDEX,
  V44DrcArrayHeaderLayout,
  V44DrcExternRefLayout,
  V44DrcHeaderBits,
  V44DrcHeaderLayout,
  V44ExceptionHeaderLayout,
  V44FreeListConstants,
  V44GcHeapConstants,
  V44GcKind,
  V44_GC_KIND_MASK,
  V44_GC_KIND_UNUSED_MASK,
  drc44ArrayLayout,
  drc44StructLayout,
  v44GcKindMatches,
  v44GcKindOf,
  type V44GcKindName,
} from './gc-layout.ts';
import {
  ContinuationLaunchLayout,
  ControlContextLayout,
  ControlEffect,
  StackChainDiscriminant,
  StackState,
  VMCommonStackInformationLayout,
  VMContObjLayout,
  VMContRefLayout,
  VMContinuationStackLayout,
  VMHostArrayLayout,
  VMStackChainLayout,
  VMStackLimitsLayout,
} from './stack-switching.ts';
import {
  V44ArrayCallHostFuncContextLayout,
  V44FuncRefLayout,
  V44FunctionImportLayout,
  V44GlobalImportLayout,
  V44MemoryDefinitionLayout,
  V44MemoryImportLayout,
  V44StoreContextLayout,
  V44TableDefinitionLayout,
  V44TableImportLayout,
  V44TagDefinitionLayout,
  V44TagImportLayout,
  V44VMOffsets,
  V44_ARRAY_REGION_NAMES,
  VMCONTEXT_MAGIC,
  VM_ARRAY_CALL_HOST_FUNC_MAGIC,
  type V44OffsetsFields,
} from './vmoffsets.ts';

const ZERO: V44OffsetsFields = {
  numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0, numImportedTags: 0,
  numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numDefinedTags: 0, numEscapedFuncs: 0,
};
const ONE_OF_EACH: V44OffsetsFields = {
  numImportedFunctions: 1, numImportedTables: 1, numImportedMemories: 1, numImportedGlobals: 1, numImportedTags: 1,
  numDefinedTables: 1, numDefinedMemories: 1, numOwnedMemories: 1, numDefinedGlobals: 1, numDefinedTags: 1, numEscapedFuncs: 1,
};

test('header: vmoffsets.rs:430-477 vmctx_magic 0, store_context 8, builtins 16, epoch_ptr 24, gc_heap_data 32, type_ids 40, dynamic data 48', (t) => {
  const o = new V44VMOffsets(ZERO);
  t.is(o.vmctxMagic(), 0); // :434
  t.is(o.vmctxStoreContext(), 8); // :440 magic + ptr
  t.is(o.vmctxBuiltinFunctions(), 16); // :446
  t.is(o.vmctxEpochPtr(), 24); // :453
  t.is(o.vmctxGcHeapData(), 32); // :462
  t.is(o.vmctxTypeIdsArray(), 40); // :468
  t.is(o.vmctxDynamicDataStart(), 48); // :476
  t.is(o.size, 48, 'an empty module: the header only');
  t.is(VMCONTEXT_MAGIC, 0x6572_6f63); // vmoffsets.rs:1167 b"core"
  t.is(VM_ARRAY_CALL_HOST_FUNC_MAGIC, 0x4648_4341); // :1173 b"ACHF"
  t.deepEqual(o.regions().slice(0, 6).map((r) => r.name), ['magic', 'store_context', 'builtin_functions', 'epoch_ptr', 'gc_heap_data', 'type_ids']);
});

test('VMStoreContext: vmoffsets.rs:174-251 and vmcontext.rs:1321 field_offsets (execution_version, gc_heap, exit trampoline fp, entry sp/fp/trap handler, stack_chain at 88)', (t) => {
  const o = new V44VMOffsets(ZERO);
  t.is(o.vmstoreContextFuelConsumed(), 0); // :175
  t.is(o.vmstoreContextEpochDeadline(), 8); // :181 fuel + 8
  t.is(o.vmstoreContextExecutionVersion(), 16); // :188 epoch + 8
  t.is(o.vmstoreContextStackLimit(), 24); // :194 execution_version + 8
  t.is(o.vmstoreContextGcHeap(), 32); // :200 stack_limit + ptr
  t.is(o.vmstoreContextGcHeapBase(), 32); // :205 gc_heap + vmmemory_definition_base
  t.is(o.vmstoreContextGcHeapCurrentLength(), 40); // :212
  t.is(o.vmstoreContextLastWasmExitTrampolineFp(), 48); // :220 gc_heap + size_of_vmmemory_definition
  t.is(o.vmstoreContextLastWasmExitPc(), 56); // :225
  t.is(o.vmstoreContextLastWasmEntrySp(), 64); // :230
  t.is(o.vmstoreContextLastWasmEntryFp(), 72); // :235
  t.is(o.vmstoreContextLastWasmEntryTrapHandler(), 80); // :240
  t.is(o.vmstoreContextStackChain(), 88); // :245
  t.is(o.vmstoreContextStoreData(), 104); // :250 stack_chain + size_of_vmstack_chain
  t.is(V44StoreContextLayout.asyncGuardRange, 112); // vmcontext.rs:1225, after store_data (repr(C))
  t.is(V44StoreContextLayout.size, 128);
});

test('struct helpers: VMFuncRef (vmoffsets.rs:123-149), imports (:721-881), definitions, GC headers (:1129-1161)', (t) => {
  const o = new V44VMOffsets(ZERO);
  t.deepEqual([o.vmFuncRefArrayCall(), o.vmFuncRefWasmCall(), o.vmFuncRefTypeIndex(), o.vmFuncRefVmctx(), o.sizeOfVmFuncRef()], [0, 8, 16, 24, 32]);
  t.is(o.sizeOfVmglobalDefinition(), 16); // :155
  t.is(o.sizeOfVmtagDefinition(), 4); // :161
  t.is(o.vmarrayCallHostFuncContextFuncRef(), 8); // :283 align(4, ptr)
  t.is(o.sizeOfVmfunctionImport(), 24); // :740 3 * ptr
  t.is(o.sizeOfVmtableImport(), 24); // :775 3 * ptr (index added since v31)
  t.is(o.vmtableImportIndex(), 16); // :769
  t.is(o.sizeOfVmtableDefinition(), 16); // :801
  t.is(o.sizeOfVmmemoryImport(), 24); // :828
  t.is(o.sizeOfVmglobalImport(), 24); // :844 2 * ptr + 8 (VMGlobalKind)
  t.is(o.sizeOfVmtagImport(), 24); // :880
  t.deepEqual([o.vmtagImportVmctx(), o.vmtagImportIndex()], [8, 16]); // :867, :873
  t.is(o.sizeOfVmsharedTypeIndex(), 4); // :853
  t.deepEqual([o.vmGcHeaderKind(), o.vmGcHeaderReservedBits(), o.vmGcHeaderTy()], [0, 0, 4]); // :1130, :1137, :1143
  t.is(o.vmDrcHeaderRefCount(), 8); // :1154
  t.is(o.vmDrcHeaderNextOverApproximatedStackRoot(), 16); // :1160 ref_count + 8
});

test('regions in v44 order on a hand-computed shape (one of each, vmoffsets.rs:684-710)', (t) => {
  const o = new V44VMOffsets(ONE_OF_EACH);
  const begin = Object.fromEntries(o.regions().map((r) => [r.name, r.offset]));
  t.like(begin, {
    imported_memories: 48, // + 24
    defined_memories: 72, // + 8
    owned_memories: 80, // + 16
    imported_functions: 96, // + 24
    imported_tables: 120, // + 24
    imported_globals: 144, // + 24
    imported_tags: 168, // + 24
    defined_tables: 192, // + 16 = 208, already 16-aligned
    defined_globals: 208, // + 16
    defined_tags: 224, // + 4
    func_refs: 228, // func_refs are not realigned after the 4-byte tags
  });
  t.is(o.size, 260);
  t.deepEqual(o.paddings().map((p) => [p.after, p.offset, p.size]), [['magic', 4, 4]]);
  t.is(o.element('imported_tags', 0), 168);
  t.throws(() => o.element('func_refs', 1), { instanceOf: VMOffsetsIndexError });
  const els = o.elements();
  t.deepEqual(els.imported_globals[0].fields, { from: 144, vmctx: 152, kind: 160 });
  t.deepEqual(els.imported_tags[0].fields, { from: 168, vmctx: 176, index: 184 });
  t.deepEqual(els.func_refs[0].fields, { array_call: 228, wasm_call: 236, type_index: 244, vmctx: 252 });
  t.throws(() => o.elements(3), { instanceOf: VMOffsetsTooManyElementsError });
  // vmcontext.rs:533 check_vmglobal_begins_aligned and :831 check_vmtag_begins_aligned (empty module).
  const empty = new V44VMOffsets(ZERO);
  t.is(empty.vmctxGlobalsBegin() % 16, 0);
  t.is(empty.vmctxTagsBegin() % 16, 0);
  // One imported function: 48 + 24 = 72, padded to 80 before the globals.
  t.deepEqual(new V44VMOffsets({ ...ZERO, numImportedFunctions: 1, numDefinedGlobals: 1 }).paddings().map((p) => [p.after, p.offset, p.size]), [['magic', 4, 4], ['defined_tables', 72, 8]]);
});

test('region algorithm as a property: each region starts where the previous ends (16-aligned globals), size = count x element', (t) => {
  const count = fc.integer({ min: 0, max: 50 });
  fc.assert(
    fc.property(fc.record({
      numImportedFunctions: count, numImportedTables: count, numImportedMemories: count, numImportedGlobals: count, numImportedTags: count,
      numDefinedTables: count, numDefinedMemories: count, numOwnedMemories: count, numDefinedGlobals: count, numDefinedTags: count, numEscapedFuncs: count,
    }), (f) => {
      fc.pre(f.numOwnedMemories <= f.numDefinedMemories);
      const o = new V44VMOffsets(f);
      let next = 48;
      const sizes: Record<string, number> = {
        imported_memories: 24 * f.numImportedMemories, defined_memories: 8 * f.numDefinedMemories, owned_memories: 16 * f.numOwnedMemories,
        imported_functions: 24 * f.numImportedFunctions, imported_tables: 24 * f.numImportedTables, imported_globals: 24 * f.numImportedGlobals,
        imported_tags: 24 * f.numImportedTags, defined_tables: 16 * f.numDefinedTables, defined_globals: 16 * f.numDefinedGlobals,
        defined_tags: 4 * f.numDefinedTags, func_refs: 32 * f.numEscapedFuncs,
      };
      for (const name of V44_ARRAY_REGION_NAMES) {
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

test('bad counts are typed errors, as v44 panics on them (vmoffsets.rs:661 cadd, :666 cmul)', (t) => {
  t.throws(() => new V44VMOffsets({ ...ZERO, numImportedTags: -1 }), { instanceOf: VMOffsetsCountError });
  t.throws(() => new V44VMOffsets({ ...ZERO, numOwnedMemories: 1 }), { instanceOf: VMOffsetsCountError });
  t.throws(() => new V44VMOffsets({ ...ZERO, numEscapedFuncs: 2 ** 32 - 1 }), { message: /overflows u32/ });
});

test('stack switching: stack_switching.rs:560-690 offset tests against vmoffsets.rs:291-426', (t) => {
  // check_vm_stack_limits_offsets (:560): vmstack_limits_* (:298, :304)
  t.deepEqual(VMStackLimitsLayout, { stackLimit: 0, lastWasmEntryFp: 8, size: 16 });
  // check_vm_array_offsets (:604): vmhostarray_* (:310-327): 0, 4, 8, size 8 + ptr
  t.deepEqual(VMHostArrayLayout, { length: 0, capacity: 4, data: 8, size: 16 });
  // check_vm_common_stack_information_offsets (:574): limits 0, state 2*ptr, handlers align(state+4, ptr), first_switch after the array, size align(+4, ptr)
  t.deepEqual(VMCommonStackInformationLayout, { limits: 0, state: 16, handlers: 24, firstSwitchHandlerIndex: 40, size: 48 });
  // check_vm_contobj_offsets (:627): contref 0, revision ptr, size 16 (:367-384)
  t.deepEqual(VMContObjLayout, { contref: 0, revision: 8, size: 16 });
  // check_vm_stack_chain_offsets (:683): size_of_vmstack_chain = 2 * ptr (:291)
  t.is(VMStackChainLayout.size, 16);
  // check_vm_contref_offsets (:645): vmcontref_* (:389-426); revision is 8-aligned (:663-664)
  t.like(VMContRefLayout, { commonStackInformation: 0, parentChain: 48, lastAncestor: 64, revision: 72, stack: 80, args: 104, values: 120 });
  t.is(VMContRefLayout.revision % 8, 0);
  // VMContRef's size has no helper in v44: values + size_of_vmhostarray, already 8-aligned.
  t.is<number, number>(VMContRefLayout.size, VMContRefLayout.values + VMHostArrayLayout.size);
  // crates/environ/src/stack_switching.rs:6-44
  t.deepEqual({ ...StackChainDiscriminant }, { Absent: 0, InitialStack: 1, Continuation: 2 });
  t.deepEqual({ ...StackState }, { Fresh: 0, Running: 1, Parent: 2, Suspended: 3, Returned: 4 });
  t.deepEqual({ ...ControlEffect }, { Return: 0, Resume: 1, Suspend: 2, Switch: 3 });
  // stack/unix.rs:160-185 control_context_{instruction,frame,stack}_pointer: top - 8, - 16, - 24; :240-265 initialize
  t.deepEqual({ ...ControlContextLayout }, { pc: -8, fp: -16, sp: -24, argsCapacity: -32 });
  t.deepEqual({ ...ContinuationLaunchLayout }, { funcRef: -0x28, callerVmctx: -0x30, args: -0x38, returnValueCount: -0x40 });
  t.deepEqual({ ...VMContinuationStackLayout }, { top: 0, len: 8, allocator: 16, size: 24 }); // stack/unix.rs:77
});

test('builtins: builtin.rs foreach_builtin_function! has 58 entries, every #[cfg] entry keeps its index', (t) => {
  t.is(V44_BUILTINS.length, 58);
  t.is(v44BuiltinIndex('memory_grow'), 0, 'renamed from memory32_grow');
  t.is(v44BuiltinIndex('out_of_gas'), 15);
  t.is(v44BuiltinIndex('drop_gc_ref'), 25);
  t.is(v44BuiltinIndex('grow_gc_heap'), 26);
  t.is(v44BuiltinIndex('gc_alloc_raw'), 27);
  t.is(v44BuiltinIndex('table_fill_gc_ref'), 37);
  t.is(v44BuiltinIndex('ceil_f32'), 38);
  t.is(v44BuiltinIndex('fma_f64x2'), 49);
  t.is(v44BuiltinIndex('trap'), 50);
  t.is(v44BuiltinIndex('raise'), 51);
  t.is(v44BuiltinIndex('cont_new'), 52);
  t.is(v44BuiltinIndex('table_grow_cont_obj'), 53);
  t.is(v44BuiltinIndex('table_fill_cont_obj'), 54);
  t.is(v44BuiltinIndex('get_instance_id'), 55);
  t.is(v44BuiltinIndex('throw_ref'), 56);
  t.is(v44BuiltinIndex('breakpoint'), 57);
  t.is(v44BuiltinIndex('gc'), undefined, "v31's gc builtin is gone");
  t.deepEqual(V44_BUILTINS[52].params.map((p) => `${p.name}:${p.kind}`), ['r:pointer', 'param_count:u32', 'result_count:u32']);
  t.is(V44_BUILTINS[27].result, 'u32');
  t.deepEqual(V44_BUILTINS[53].params.map((p) => p.kind), ['u32', 'u64', 'pointer', 'size']);
  t.is(new Set(V44_BUILTINS.map((b) => b.name)).size, 58);
});

test('GC layouts: environ gc.rs:469-489 kinds (6 bits), gc/drc.rs:6-27 header, bits, array length; drc.rs:72 elements; free_list.rs:33 ALIGN', (t) => {
  t.is(V44_GC_KIND_MASK, 0xfc00_0000);
  t.is(V44_GC_KIND_UNUSED_MASK, 0x03ff_ffff);
  t.deepEqual({ ...V44GcKind }, { ExternRef: 0x4000_0000, AnyRef: 0x8000_0000, EqRef: 0xa000_0000, ArrayRef: 0xa800_0000, StructRef: 0xb000_0000, ExnRef: 0x0400_0000 });
  const all = Object.keys(V44GcKind) as V44GcKindName[];
  const subs: Record<V44GcKindName, V44GcKindName[]> = {
    ExternRef: [], AnyRef: ['EqRef', 'ArrayRef', 'StructRef'], EqRef: ['ArrayRef', 'StructRef'], ArrayRef: [], StructRef: [], ExnRef: [],
  };
  for (const sup of all) for (const k of all.filter((k) => k !== sup)) t.is(v44GcKindMatches(k, sup), subs[sup].includes(k), `${k} matches ${sup}`);
  t.is(v44GcKindOf(V44GcKind.ExnRef | V44DrcHeaderBits.mark), 'ExnRef');
  t.is(v44GcKindOf(0x0800_0000), undefined);
  t.deepEqual({ ...V44DrcHeaderLayout }, { header: 0, refCount: 8, nextOverApproximatedStackRoot: 16, objectSize: 20, size: 24, align: 8 });
  t.deepEqual({ ...V44DrcHeaderBits }, { mark: 1, inOverApproxList: 2 });
  t.is(V44DrcArrayHeaderLayout.length, 24);
  t.is(V44DrcArrayHeaderLayout.gcRefElems, 28);
  t.deepEqual([V44ExceptionHeaderLayout.tagInstance, V44ExceptionHeaderLayout.tagDefined], [24, 28]);
  t.deepEqual({ ...V44FreeListConstants }, { align: 16, firstBlock: 16 });
  t.is<number, number>(V44GcHeapConstants.pageSize, 1 << 16); // tunables.rs:287 page_size_log2 16
  t.is(I31_DISCRIMINANT, 1);
  t.is(NO_TYPE_INDEX, 0xffff_ffff);
  t.deepEqual(drc44StructLayout([]), { size: 24, align: 8, fields: [] });
  t.deepEqual(drc44StructLayout(['ref', 'i64']), { size: 40, align: 8, fields: [24, 32] });
  t.deepEqual(drc44StructLayout(['i8', 'ref']), { size: 32, align: 8, fields: [24, 28] });
  t.deepEqual(drc44ArrayLayout('ref'), { baseSize: 28, align: 8, elemSize: 4 });
  t.deepEqual(drc44ArrayLayout('i64'), { baseSize: 32, align: 8, elemSize: 8 });
});

test('C layout oracle: gcc lays out the v44 repr(C) structs as the layout tables say', (t) => {
  const expected: Record<string, number> = {
    'VMFunctionImport.size': V44FunctionImportLayout.size,
    'VMFunctionImport.array_call': V44FunctionImportLayout.arrayCall,
    'VMFunctionImport.vmctx': V44FunctionImportLayout.vmctx,
    'VMTableImport.size': V44TableImportLayout.size,
    'VMTableImport.index': V44TableImportLayout.index,
    'VMMemoryImport.size': V44MemoryImportLayout.size,
    'VMMemoryImport.index': V44MemoryImportLayout.index,
    'VMGlobalImport.size': V44GlobalImportLayout.size,
    'VMGlobalImport.vmctx': V44GlobalImportLayout.vmctx,
    'VMGlobalImport.kind': V44GlobalImportLayout.kind,
    'VMTagImport.size': V44TagImportLayout.size,
    'VMTagImport.vmctx': V44TagImportLayout.vmctx,
    'VMTagImport.index': V44TagImportLayout.index,
    'VMTableDefinition.size': V44TableDefinitionLayout.size,
    'VMTableDefinition.current_elements': V44TableDefinitionLayout.currentElements,
    'VMMemoryDefinition.size': V44MemoryDefinitionLayout.size,
    'VMTagDefinition.size': V44TagDefinitionLayout.size,
    'VMFuncRef.size': V44FuncRefLayout.size,
    'VMFuncRef.type_index': V44FuncRefLayout.typeIndex,
    'VMFuncRef.vmctx': V44FuncRefLayout.vmctx,
    'VMArrayCallHostFuncContext.size': V44ArrayCallHostFuncContextLayout.size,
    'VMArrayCallHostFuncContext.func_ref': V44ArrayCallHostFuncContextLayout.funcRef,
    'VMArrayCallHostFuncContext.host_state': V44ArrayCallHostFuncContextLayout.hostState,
    'VMStoreContext.size': V44StoreContextLayout.size,
    'VMStoreContext.execution_version': V44StoreContextLayout.executionVersion,
    'VMStoreContext.stack_limit': V44StoreContextLayout.stackLimit,
    'VMStoreContext.gc_heap': V44StoreContextLayout.gcHeap,
    'VMStoreContext.last_wasm_exit_trampoline_fp': V44StoreContextLayout.lastWasmExitTrampolineFp,
    'VMStoreContext.last_wasm_exit_pc': V44StoreContextLayout.lastWasmExitPc,
    'VMStoreContext.last_wasm_entry_sp': V44StoreContextLayout.lastWasmEntrySp,
    'VMStoreContext.last_wasm_entry_fp': V44StoreContextLayout.lastWasmEntryFp,
    'VMStoreContext.last_wasm_entry_trap_handler': V44StoreContextLayout.lastWasmEntryTrapHandler,
    'VMStoreContext.stack_chain': V44StoreContextLayout.stackChain,
    'VMStoreContext.store_data': V44StoreContextLayout.storeData,
    'VMStoreContext.async_guard_range': V44StoreContextLayout.asyncGuardRange,
    'VMStackLimits.size': VMStackLimitsLayout.size,
    'VMStackLimits.last_wasm_entry_fp': VMStackLimitsLayout.lastWasmEntryFp,
    'VMHostArray.size': VMHostArrayLayout.size,
    'VMHostArray.capacity': VMHostArrayLayout.capacity,
    'VMHostArray.data': VMHostArrayLayout.data,
    'VMCommonStackInformation.size': VMCommonStackInformationLayout.size,
    'VMCommonStackInformation.state': VMCommonStackInformationLayout.state,
    'VMCommonStackInformation.handlers': VMCommonStackInformationLayout.handlers,
    'VMCommonStackInformation.first_switch_handler_index': VMCommonStackInformationLayout.firstSwitchHandlerIndex,
    'VMContObj.size': VMContObjLayout.size,
    'VMContObj.revision': VMContObjLayout.revision,
    'VMStackChain.size': VMStackChainLayout.size,
    'VMStackChain.payload': VMStackChainLayout.payload,
    'VMContinuationStack.size': VMContinuationStackLayout.size,
    'VMContinuationStack.allocator': VMContinuationStackLayout.allocator,
    'VMContRef.size': VMContRefLayout.size,
    'VMContRef.parent_chain': VMContRefLayout.parentChain,
    'VMContRef.last_ancestor': VMContRefLayout.lastAncestor,
    'VMContRef.revision': VMContRefLayout.revision,
    'VMContRef.stack': VMContRefLayout.stack,
    'VMContRef.args': VMContRefLayout.args,
    'VMContRef.values': VMContRefLayout.values,
    'VMDrcHeader.size': V44DrcHeaderLayout.size,
    'VMDrcHeader.ref_count': V44DrcHeaderLayout.refCount,
    'VMDrcHeader.next_over_approximated_stack_root': V44DrcHeaderLayout.nextOverApproximatedStackRoot,
    'VMDrcHeader.object_size': V44DrcHeaderLayout.objectSize,
    'VMDrcArrayHeader.length': V44DrcArrayHeaderLayout.length,
    'VMDrcArrayHeader.size': V44DrcArrayHeaderLayout.gcRefElems + 4,
    'VMDrcExternRef.size': V44DrcExternRefLayout.size,
    'VMDrcExternRef.host_data': V44DrcExternRefLayout.hostData,
  };
  const c = cLayout(`
struct VMFunctionImport { void *wasm_call, *array_call, *vmctx; };
struct VMTableImport { void *from, *vmctx; uint32_t index; };
struct VMMemoryImport { void *from, *vmctx; uint32_t index; };
struct VMGlobalKind { uint32_t tag; uint32_t index; };
struct VMGlobalImport { void *from, *vmctx; struct VMGlobalKind kind; };
struct VMTagImport { void *from, *vmctx; uint32_t index; };
struct VMTableDefinition { void *base; size_t current_elements; };
struct VMMemoryDefinition { void *base; size_t current_length; };
struct VMTagDefinition { uint32_t type_index; };
struct VMFuncRef { void *array_call, *wasm_call; uint32_t type_index; void *vmctx; };
struct VMArrayCallHostFuncContext { uint32_t magic; struct VMFuncRef func_ref; fat host_state; };
struct VMStackChain { size_t discriminant; void *payload; };
struct VMStoreContext { int64_t fuel_consumed; uint64_t epoch_deadline; uint64_t execution_version; size_t stack_limit;
  struct VMMemoryDefinition gc_heap; size_t last_wasm_exit_trampoline_fp, last_wasm_exit_pc, last_wasm_entry_sp,
  last_wasm_entry_fp, last_wasm_entry_trap_handler; struct VMStackChain stack_chain; void *store_data;
  struct { void *start, *end; } async_guard_range; };
struct VMStackLimits { size_t stack_limit, last_wasm_entry_fp; };
struct VMHostArray { uint32_t length, capacity; void *data; };
struct VMCommonStackInformation { struct VMStackLimits limits; uint32_t state; struct VMHostArray handlers; uint32_t first_switch_handler_index; };
struct VMContObj { void *contref; size_t revision; };
struct VMContinuationStack { void *top; size_t len; uint8_t allocator; };
struct VMContRef { struct VMCommonStackInformation common_stack_information; struct VMStackChain parent_chain; void *last_ancestor;
  size_t revision; struct VMContinuationStack stack; struct VMHostArray args, values; };
struct VMGcHeader { uint32_t kind; uint32_t ty; };
struct VMDrcHeader { struct VMGcHeader header; uint64_t ref_count; uint32_t next_over_approximated_stack_root; uint32_t object_size; };
struct VMDrcArrayHeader { struct VMDrcHeader header; uint32_t length; };
struct VMDrcExternRef { struct VMDrcHeader header; uint32_t host_data; };`, Object.keys(expected));
  t.deepEqual(c, expected);
});
