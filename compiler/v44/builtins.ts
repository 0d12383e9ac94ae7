/**
 * wasmtime v44's builtin functions (libcalls), index = position: the VMBuiltinFunctionsArray of
 * the v44 profile.
 *
 * Facts from wasmtime v44.0.0: crates/environ/src/builtin.rs (`foreach_builtin_function!`: names,
 * order, parameter and result kinds, `#[cfg]`s; `declare_builtin_index_constructors!` numbers
 * every entry whatever its `#[cfg]`, so an index never depends on cargo features) and
 * crates/wasmtime/src/runtime/vm/vmcontext.rs (`define_builtin_array!`, with a const assertion that
 * the array is `size_of::<usize>() * BuiltinFunctionIndex::len()` bytes). Compared with v31: `gc`
 * is gone (a DRC allocation that does not fit grows the heap or collects inside `gc_alloc_raw`,
 * which now returns a u32), `grow_gc_heap` (null collector), the float and SIMD fallbacks,
 * `cont_new` and the continuation-table builtins, `get_instance_id`, `throw_ref` and `breakpoint`
 * are new. 58 entries.
 */

/** Parameter and result kinds as v44 spells them; `vmctx` is always the first parameter. */
export type V44BuiltinKind = 'vmctx' | 'u8' | 'u32' | 'u64' | 'f32' | 'f64' | 'i8x16' | 'f32x4' | 'f64x2' | 'bool' | 'pointer' | 'size';

export interface V44Builtin {
  /** Position in the VMBuiltinFunctionsArray (v44's BuiltinFunctionIndex). */
  readonly index: number;
  readonly name: string;
  /** Parameters after the leading vmctx. */
  readonly params: readonly { readonly name: string; readonly kind: V44BuiltinKind }[];
  readonly result: V44BuiltinKind | null;
  /** The entry's `#[cfg]` in wasmtime (it only decides whether the slot's function is real). */
  readonly cfg: string | null;
}

type Row = readonly [string, readonly (readonly [string, V44BuiltinKind])[], V44BuiltinKind | null, string | null];

const FLOAT_UNARY = (name: string, ty: 'f32' | 'f64'): Row => [name, [['x', ty]], ty, null];

const ROWS: readonly Row[] = [
  ['memory_grow', [['delta', 'u64'], ['index', 'u32']], 'pointer', null],
  ['table_copy', [['dst_index', 'u32'], ['src_index', 'u32'], ['dst', 'u64'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['table_init', [['table', 'u32'], ['elem', 'u32'], ['dst', 'u64'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['elem_drop', [['elem', 'u32']], 'bool', null],
  ['memory_copy', [['dst_index', 'u32'], ['dst', 'u64'], ['src_index', 'u32'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['memory_fill', [['memory', 'u32'], ['dst', 'u64'], ['val', 'u32'], ['len', 'u64']], 'bool', null],
  ['memory_init', [['memory', 'u32'], ['data', 'u32'], ['dst', 'u64'], ['src', 'u32'], ['len', 'u32']], 'bool', null],
  ['ref_func', [['func', 'u32']], 'pointer', null],
  ['data_drop', [['data', 'u32']], 'bool', null],
  ['table_get_lazy_init_func_ref', [['table', 'u32'], ['index', 'u64']], 'pointer', null],
  ['table_grow_func_ref', [['table', 'u32'], ['delta', 'u64'], ['init', 'pointer']], 'pointer', null],
  ['table_fill_func_ref', [['table', 'u32'], ['dst', 'u64'], ['val', 'pointer'], ['len', 'u64']], 'bool', null],
  ['memory_atomic_notify', [['memory', 'u32'], ['addr', 'u64'], ['count', 'u32']], 'u64', 'feature = threads'],
  ['memory_atomic_wait32', [['memory', 'u32'], ['addr', 'u64'], ['expected', 'u32'], ['timeout', 'u64']], 'u64', 'feature = threads'],
  ['memory_atomic_wait64', [['memory', 'u32'], ['addr', 'u64'], ['expected', 'u64'], ['timeout', 'u64']], 'u64', 'feature = threads'],
  ['out_of_gas', [], 'bool', null],
  ['new_epoch', [], 'u64', 'target_has_atomic = 64'],
  ['check_malloc', [['addr', 'u32'], ['len', 'u32']], 'bool', 'feature = wmemcheck'],
  ['check_free', [['addr', 'u32']], 'bool', 'feature = wmemcheck'],
  ['check_load', [['num_bytes', 'u32'], ['addr', 'u32'], ['offset', 'u32']], 'bool', 'feature = wmemcheck'],
  ['check_store', [['num_bytes', 'u32'], ['addr', 'u32'], ['offset', 'u32']], 'bool', 'feature = wmemcheck'],
  ['malloc_start', [], null, 'feature = wmemcheck'],
  ['free_start', [], null, 'feature = wmemcheck'],
  ['update_stack_pointer', [['value', 'u32']], null, 'feature = wmemcheck'],
  ['update_mem_size', [['num_bytes', 'u32']], null, 'feature = wmemcheck'],
  ['drop_gc_ref', [['val', 'u32']], null, 'feature = gc-drc'],
  ['grow_gc_heap', [['bytes_needed', 'u64']], 'bool', 'feature = gc-null'],
  ['gc_alloc_raw', [['kind', 'u32'], ['module_interned_type_index', 'u32'], ['size', 'u32'], ['align', 'u32']], 'u32', 'feature = gc-drc'],
  ['intern_func_ref_for_gc_heap', [['func_ref', 'pointer']], 'u64', 'feature = gc'],
  ['get_interned_func_ref', [['func_ref_id', 'u32'], ['module_interned_type_index', 'u32']], 'pointer', 'feature = gc'],
  ['array_new_data', [['array_interned_type_index', 'u32'], ['data_index', 'u32'], ['data_offset', 'u32'], ['len', 'u32']], 'u32', 'feature = gc'],
  ['array_new_elem', [['array_interned_type_index', 'u32'], ['elem_index', 'u32'], ['elem_offset', 'u32'], ['len', 'u32']], 'u32', 'feature = gc'],
  ['array_copy', [['dst_array', 'u32'], ['dst_index', 'u32'], ['src_array', 'u32'], ['src_index', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['array_init_data', [['array_interned_type_index', 'u32'], ['array', 'u32'], ['dst_index', 'u32'], ['data_index', 'u32'], ['data_offset', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['array_init_elem', [['array_interned_type_index', 'u32'], ['array', 'u32'], ['dst', 'u32'], ['elem_index', 'u32'], ['src', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['is_subtype', [['actual_engine_type', 'u32'], ['expected_engine_type', 'u32']], 'u32', 'feature = gc'],
  ['table_grow_gc_ref', [['table', 'u32'], ['delta', 'u64'], ['init', 'u32']], 'pointer', 'feature = gc'],
  ['table_fill_gc_ref', [['table', 'u32'], ['dst', 'u64'], ['val', 'u32'], ['len', 'u64']], 'bool', 'feature = gc'],
  FLOAT_UNARY('ceil_f32', 'f32'),
  FLOAT_UNARY('ceil_f64', 'f64'),
  FLOAT_UNARY('floor_f32', 'f32'),
  FLOAT_UNARY('floor_f64', 'f64'),
  FLOAT_UNARY('trunc_f32', 'f32'),
  FLOAT_UNARY('trunc_f64', 'f64'),
  FLOAT_UNARY('nearest_f32', 'f32'),
  FLOAT_UNARY('nearest_f64', 'f64'),
  ['i8x16_swizzle', [['a', 'i8x16'], ['b', 'i8x16']], 'i8x16', null],
  ['i8x16_shuffle', [['a', 'i8x16'], ['b', 'i8x16'], ['c', 'i8x16']], 'i8x16', null],
  ['fma_f32x4', [['x', 'f32x4'], ['y', 'f32x4'], ['z', 'f32x4']], 'f32x4', null],
  ['fma_f64x2', [['x', 'f64x2'], ['y', 'f64x2'], ['z', 'f64x2']], 'f64x2', null],
  ['trap', [['code', 'u8']], null, null],
  ['raise', [], null, null],
  ['cont_new', [['r', 'pointer'], ['param_count', 'u32'], ['result_count', 'u32']], 'pointer', 'feature = stack-switching'],
  ['table_grow_cont_obj', [['table', 'u32'], ['delta', 'u64'], ['init_contref', 'pointer'], ['init_revision', 'size']], 'pointer', 'feature = stack-switching'],
  ['table_fill_cont_obj', [['table', 'u32'], ['dst', 'u64'], ['value_contref', 'pointer'], ['value_revision', 'size'], ['len', 'u64']], 'bool', 'feature = stack-switching'],
  ['get_instance_id', [], 'u32', 'feature = gc'],
  ['throw_ref', [['exnref', 'u32']], 'bool', 'feature = gc'],
  ['breakpoint', [], 'bool', null],
];

/** The 58 v44 builtins in index order. */
export const V44_BUILTINS: readonly V44Builtin[] = Object.freeze(
  ROWS.map(([name, params, result, cfg], index) =>
    Object.freeze({ index, name, params: Object.freeze(params.map(([n, kind]) => Object.freeze({ name: n, kind }))), result, cfg }),
  ),
);

/**
 * stackscope's extension of the v44 builtins array, after v44's 58 entries: the stack-switching
 * bookkeeping that v44 emits inline around Cranelift's `stack_switch`, here host functions the
 * compiled code calls, and the switch itself (`stackscope_switch`, guest code placed by the
 * store). runtime/v44/continuations.ts implements them and says why.
 */
const EXTENSION_ROWS: readonly Row[] = [
  ['stackscope_cont_new', [['func_ref', 'pointer'], ['cont_type_index', 'u32']], 'pointer', 'stackscope'],
  ['stackscope_payload_set', [['index', 'u32'], ['value', 'u64']], null, 'stackscope'],
  ['stackscope_resume_handler', [['index', 'u32'], ['tag', 'u32']], null, 'stackscope'],
  ['stackscope_resume', [['cont_obj', 'pointer'], ['handler_count', 'u32'], ['suspend_handler_count', 'u32'], ['arg_count', 'u32']], 'pointer', 'stackscope'],
  ['stackscope_suspend', [['tag', 'u32'], ['payload_count', 'u32']], 'pointer', 'stackscope'],
  ['stackscope_switch', [['control_context', 'pointer'], ['payload', 'u64']], 'u64', 'stackscope'],
  ['stackscope_resumed', [['control_effect', 'u64']], 'u32', 'stackscope'],
  ['stackscope_payload_get', [['index', 'u32']], 'u64', 'stackscope'],
  ['stackscope_cont_bind', [['cont_obj', 'pointer'], ['arg_count', 'u32']], 'pointer', 'stackscope'],
  ['stackscope_switch_to', [['cont_obj', 'pointer'], ['tag', 'u32'], ['arg_count', 'u32'], ['result_count', 'u32']], 'pointer', 'stackscope'],
  // Continuation tables and globals: v44 loads and stores their 16-byte VMContObj inline; a
  // stackscope continuation value is a cell pointer, so these convert (continuations.ts).
  ['stackscope_table_get_cont', [['table', 'u32'], ['index', 'u64']], 'pointer', 'stackscope'],
  ['stackscope_table_set_cont', [['table', 'u32'], ['index', 'u64'], ['cont_obj', 'pointer']], null, 'stackscope'],
  ['stackscope_table_grow_cont', [['table', 'u32'], ['delta', 'u64'], ['init_cont_obj', 'pointer']], 'pointer', 'stackscope'],
  ['stackscope_table_fill_cont', [['table', 'u32'], ['dst', 'u64'], ['cont_obj', 'pointer'], ['len', 'u64']], null, 'stackscope'],
  ['stackscope_global_get_cont', [['global', 'u32']], 'pointer', 'stackscope'],
  ['stackscope_global_set_cont', [['global', 'u32'], ['cont_obj', 'pointer']], null, 'stackscope'],
];

/** The extension entries, indices 58 onwards. */
export const V44_EXTENSION_BUILTINS: readonly V44Builtin[] = Object.freeze(
  EXTENSION_ROWS.map(([name, params, result, cfg], k) =>
    Object.freeze({ index: ROWS.length + k, name, params: Object.freeze(params.map(([n, kind]) => Object.freeze({ name: n, kind }))), result, cfg }),
  ),
);

/** The index of a v44 builtin (or a stackscope extension entry) by name, or undefined. */
export function v44BuiltinIndex(name: string): number | undefined {
  const i = V44_BUILTINS.findIndex((b) => b.name === name);
  if (i >= 0) return i;
  return V44_EXTENSION_BUILTINS.find((b) => b.name === name)?.index;
}
