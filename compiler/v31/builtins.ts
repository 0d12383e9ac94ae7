/**
 * wasmtime v31's builtin functions (libcalls), index = position: the VMBuiltinFunctionsArray of
 * the v31 profile.
 *
 * Facts from wasmtime v31.0.0: crates/environ/src/builtin.rs (`foreach_builtin_function!`: names,
 * order, parameter and result kinds; some entries carry a `#[cfg]`), and
 * crates/wasmtime/src/runtime/vm/vmcontext.rs (`define_builtin_array!` declares one function
 * pointer per entry whatever its `#[cfg]`, and a const assertion checks the array is
 * `size_of::<usize>() * BuiltinFunctionIndex::len()` bytes), so all 40 slots exist in every build
 * and an index never depends on cargo features. Compared with v17: the externref-specific
 * builtins are gone (drop_externref, activations_table_insert_with_gc, externref_global_get/set,
 * table_grow/fill_externref) in favour of drop_gc_ref, gc, gc_alloc_raw and the GC-proposal
 * helpers; most results became a trap sentinel (`bool` false or a negative value means "trap").
 */

/** Parameter and result kinds as v31 spells them; `vmctx` is always the first parameter. */
export type V31BuiltinKind = 'vmctx' | 'u8' | 'u32' | 'u64' | 'bool' | 'pointer';

export interface V31Builtin {
  /** Position in the VMBuiltinFunctionsArray (v31's BuiltinFunctionIndex). */
  readonly index: number;
  readonly name: string;
  /** Parameters after the leading vmctx. */
  readonly params: readonly { readonly name: string; readonly kind: V31BuiltinKind }[];
  readonly result: V31BuiltinKind | null;
  /** The entry's `#[cfg]` in wasmtime (it only decides whether the slot's function is real). */
  readonly cfg: string | null;
}

type Row = readonly [string, readonly (readonly [string, V31BuiltinKind])[], V31BuiltinKind | null, string | null];

const ROWS: readonly Row[] = [
  ['memory32_grow', [['delta', 'u64'], ['index', 'u32']], 'pointer', null],
  ['table_copy', [['dst_index', 'u32'], ['src_index', 'u32'], ['dst', 'u64'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['table_init', [['table', 'u32'], ['elem', 'u32'], ['dst', 'u64'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['elem_drop', [['elem', 'u32']], null, null],
  ['memory_copy', [['dst_index', 'u32'], ['dst', 'u64'], ['src_index', 'u32'], ['src', 'u64'], ['len', 'u64']], 'bool', null],
  ['memory_fill', [['memory', 'u32'], ['dst', 'u64'], ['val', 'u32'], ['len', 'u64']], 'bool', null],
  ['memory_init', [['memory', 'u32'], ['data', 'u32'], ['dst', 'u64'], ['src', 'u32'], ['len', 'u32']], 'bool', null],
  ['ref_func', [['func', 'u32']], 'pointer', null],
  ['data_drop', [['data', 'u32']], null, null],
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
  ['gc', [['root', 'u32']], 'u64', 'feature = gc-drc'],
  ['gc_alloc_raw', [['kind', 'u32'], ['module_interned_type_index', 'u32'], ['size', 'u32'], ['align', 'u32']], 'u64', 'feature = gc-drc'],
  ['intern_func_ref_for_gc_heap', [['func_ref', 'pointer']], 'u64', 'feature = gc'],
  ['get_interned_func_ref', [['func_ref_id', 'u32'], ['module_interned_type_index', 'u32']], 'pointer', 'feature = gc'],
  ['array_new_data', [['array_interned_type_index', 'u32'], ['data_index', 'u32'], ['data_offset', 'u32'], ['len', 'u32']], 'u64', 'feature = gc'],
  ['array_new_elem', [['array_interned_type_index', 'u32'], ['elem_index', 'u32'], ['elem_offset', 'u32'], ['len', 'u32']], 'u64', 'feature = gc'],
  ['array_copy', [['dst_array', 'u32'], ['dst_index', 'u32'], ['src_array', 'u32'], ['src_index', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['array_init_data', [['array_interned_type_index', 'u32'], ['array', 'u32'], ['dst_index', 'u32'], ['data_index', 'u32'], ['data_offset', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['array_init_elem', [['array_interned_type_index', 'u32'], ['array', 'u32'], ['dst', 'u32'], ['elem_index', 'u32'], ['src', 'u32'], ['len', 'u32']], 'bool', 'feature = gc'],
  ['is_subtype', [['actual_engine_type', 'u32'], ['expected_engine_type', 'u32']], 'u32', 'feature = gc'],
  ['table_grow_gc_ref', [['table', 'u32'], ['delta', 'u64'], ['init', 'u32']], 'pointer', 'feature = gc'],
  ['table_fill_gc_ref', [['table', 'u32'], ['dst', 'u64'], ['val', 'u32'], ['len', 'u64']], 'bool', 'feature = gc'],
  ['trap', [['code', 'u8']], null, null],
  ['raise', [], null, null],
];

/** The 40 v31 builtins in index order. */
export const V31_BUILTINS: readonly V31Builtin[] = Object.freeze(
  ROWS.map(([name, params, result, cfg], index) =>
    Object.freeze({ index, name, params: Object.freeze(params.map(([n, kind]) => Object.freeze({ name: n, kind }))), result, cfg }),
  ),
);

/** The index of a v31 builtin by name, or undefined. */
export function v31BuiltinIndex(name: string): number | undefined {
  const i = V31_BUILTINS.findIndex((b) => b.name === name);
  return i < 0 ? undefined : i;
}
