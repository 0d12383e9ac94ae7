/**
 * wasmtime v17's builtin functions (libcalls): the table both the compiler (call signatures,
 * indices baked into code) and the runtime (the VMBuiltinFunctionsArray, its stubs and the
 * implementations) read, so an index can never mean two different functions.
 *
 * Facts from wasmtime v17.0.0: crates/environ/src/builtin.rs (`foreach_builtin_function!`:
 * names, order = index, parameter and result kinds), crates/runtime/src/vmcontext.rs
 * (`define_builtin_array!`: the array is one function pointer per builtin, in that order, and the
 * native types of the kinds), crates/cranelift/src/func_environ.rs (signatures use the target's
 * default calling convention; i32 parameters and results are marked zero-extended; `vmctx` is
 * the special VMContext parameter; `reference` is r64, so it shows up in stack maps). No entry is
 * cfg-gated in v17, so all 31 slots exist in every build.
 *
 * How compiled code calls builtin `i`: load the array pointer from
 * `vmctx + VMOffsets.vmctxBuiltinFunctions()` (56), load the entry at `i * 8`, call it indirectly
 * with the platform ABI passing the caller's vmctx first.
 */
import { StackscopeError } from '../isa/error.ts';
import { POINTER_SIZE } from './vmoffsets.ts';

/**
 * Kinds of builtin parameters and results:
 * - `vmctx`: the calling instance's VMContext pointer, always the first parameter;
 * - `i32`, `i64`: passed as u32 / u64 (i32 zero-extended to the register width);
 * - `pointer`: a raw host pointer (funcref pointers, untracked externref pointers);
 * - `reference`: an externref the caller's stack map tracks (Cranelift r64).
 */
export type BuiltinKind = 'vmctx' | 'i32' | 'i64' | 'pointer' | 'reference';
export type BuiltinResultKind = Exclude<BuiltinKind, 'vmctx'>;

export interface BuiltinParam {
  readonly name: string;
  readonly kind: BuiltinKind;
}

export interface BuiltinFunction {
  /** Position in the VMBuiltinFunctionsArray (v17's BuiltinFunctionIndex). */
  readonly index: number;
  readonly name: BuiltinName;
  /** All parameters as v17 declares them, including the leading `vmctx`. */
  readonly params: readonly BuiltinParam[];
  /** null when the builtin returns nothing. */
  readonly result: BuiltinResultKind | null;
}

/** Names in index order; the position of a name is its BuiltinFunctionIndex. */
export const BUILTIN_NAMES = [
  'memory32_grow',
  'table_copy',
  'table_init',
  'elem_drop',
  'memory_copy',
  'memory_fill',
  'memory_init',
  'ref_func',
  'data_drop',
  'table_get_lazy_init_func_ref',
  'table_grow_func_ref',
  'table_grow_externref',
  'table_fill_externref',
  'table_fill_func_ref',
  'drop_externref',
  'activations_table_insert_with_gc',
  'externref_global_get',
  'externref_global_set',
  'memory_atomic_notify',
  'memory_atomic_wait32',
  'memory_atomic_wait64',
  'out_of_gas',
  'new_epoch',
  'check_malloc',
  'check_free',
  'check_load',
  'check_store',
  'malloc_start',
  'free_start',
  'update_stack_pointer',
  'update_mem_size',
] as const;

export type BuiltinName = (typeof BUILTIN_NAMES)[number];

/** v17's `builtin_functions_total_number()`. */
export const BUILTIN_FUNCTIONS_TOTAL_NUMBER = 31;

type ParamSpec = readonly [name: string, kind: Exclude<BuiltinKind, 'vmctx'>];

/** Parameters after `vmctx` and the result, per builtin, as declared in v17's builtin.rs. */
const SIGNATURES: Readonly<
  Record<BuiltinName, readonly [params: readonly ParamSpec[], result: BuiltinResultKind | null]>
> = {
  memory32_grow: [[['delta', 'i64'], ['index', 'i32']], 'pointer'],
  table_copy: [[['dst_index', 'i32'], ['src_index', 'i32'], ['dst', 'i32'], ['src', 'i32'], ['len', 'i32']], null],
  table_init: [[['table', 'i32'], ['elem', 'i32'], ['dst', 'i32'], ['src', 'i32'], ['len', 'i32']], null],
  elem_drop: [[['elem', 'i32']], null],
  memory_copy: [[['dst_index', 'i32'], ['dst', 'i64'], ['src_index', 'i32'], ['src', 'i64'], ['len', 'i64']], null],
  memory_fill: [[['memory', 'i32'], ['dst', 'i64'], ['val', 'i32'], ['len', 'i64']], null],
  memory_init: [[['memory', 'i32'], ['data', 'i32'], ['dst', 'i64'], ['src', 'i32'], ['len', 'i32']], null],
  ref_func: [[['func', 'i32']], 'pointer'],
  data_drop: [[['data', 'i32']], null],
  table_get_lazy_init_func_ref: [[['table', 'i32'], ['index', 'i32']], 'pointer'],
  table_grow_func_ref: [[['table', 'i32'], ['delta', 'i32'], ['init', 'pointer']], 'i32'],
  table_grow_externref: [[['table', 'i32'], ['delta', 'i32'], ['init', 'reference']], 'i32'],
  table_fill_externref: [[['table', 'i32'], ['dst', 'i32'], ['val', 'reference'], ['len', 'i32']], null],
  table_fill_func_ref: [[['table', 'i32'], ['dst', 'i32'], ['val', 'pointer'], ['len', 'i32']], null],
  drop_externref: [[['val', 'pointer']], null],
  activations_table_insert_with_gc: [[['val', 'reference']], null],
  externref_global_get: [[['global', 'i32']], 'reference'],
  externref_global_set: [[['global', 'i32'], ['val', 'reference']], null],
  memory_atomic_notify: [[['memory', 'i32'], ['addr', 'i64'], ['count', 'i32']], 'i32'],
  memory_atomic_wait32: [[['memory', 'i32'], ['addr', 'i64'], ['expected', 'i32'], ['timeout', 'i64']], 'i32'],
  memory_atomic_wait64: [[['memory', 'i32'], ['addr', 'i64'], ['expected', 'i64'], ['timeout', 'i64']], 'i32'],
  out_of_gas: [[], null],
  new_epoch: [[], 'i64'],
  check_malloc: [[['addr', 'i32'], ['len', 'i32']], 'i32'],
  check_free: [[['addr', 'i32']], 'i32'],
  check_load: [[['num_bytes', 'i32'], ['addr', 'i32'], ['offset', 'i32']], 'i32'],
  check_store: [[['num_bytes', 'i32'], ['addr', 'i32'], ['offset', 'i32']], 'i32'],
  malloc_start: [[], null],
  free_start: [[], null],
  update_stack_pointer: [[['value', 'i32']], null],
  update_mem_size: [[['num_bytes', 'i32']], null],
};

/** The 31 builtins; `BUILTIN_FUNCTIONS[i].index === i`. */
export const BUILTIN_FUNCTIONS: readonly BuiltinFunction[] = Object.freeze(
  BUILTIN_NAMES.map((name, index) => {
    const [params, result] = SIGNATURES[name];
    const all: BuiltinParam[] = [
      { name: 'vmctx', kind: 'vmctx' },
      ...params.map(([paramName, kind]) => ({ name: paramName, kind })),
    ];
    return Object.freeze({ index, name, params: Object.freeze(all.map((p) => Object.freeze(p))), result });
  }),
);

/** A builtin name or index that v17 does not have. */
export class BuiltinLookupError extends StackscopeError {
  override name = 'BuiltinLookupError';
  constructor(readonly requested: string | number) {
    super(`no wasmtime v17 builtin function ${typeof requested === 'string' ? `named "${requested}"` : `at index ${requested}`}`);
  }
}

const BY_NAME: ReadonlyMap<string, BuiltinFunction> = new Map(BUILTIN_FUNCTIONS.map((b) => [b.name, b]));

/** The builtin called `name` (accepts any string so CLI input can be passed straight in). */
export function builtinByName(name: string): BuiltinFunction {
  const found = BY_NAME.get(name);
  if (found === undefined) throw new BuiltinLookupError(name);
  return found;
}

export function builtinByIndex(index: number): BuiltinFunction {
  const found = Number.isInteger(index) ? BUILTIN_FUNCTIONS[index] : undefined;
  if (found === undefined) throw new BuiltinLookupError(index);
  return found;
}

/** BuiltinFunctionIndex of `name` (e.g. `builtinIndex('memory32_grow') === 0`). */
export function builtinIndex(name: BuiltinName): number {
  return builtinByName(name).index;
}

/** Byte offset of builtin `index`'s entry inside the VMBuiltinFunctionsArray. */
export function builtinArrayEntryOffset(index: number): number {
  return builtinByIndex(index).index * POINTER_SIZE;
}

/** Size in bytes of the VMBuiltinFunctionsArray (one function pointer per builtin). */
export const SIZE_OF_VM_BUILTIN_FUNCTIONS_ARRAY = BUILTIN_FUNCTIONS_TOTAL_NUMBER * POINTER_SIZE;

/**
 * Register width of a kind as passed under the platform ABI: i32 travels as a zero-extended u32
 * (32 significant bits), everything else is 64 bits wide.
 */
export function builtinKindBits(kind: BuiltinKind): 32 | 64 {
  return kind === 'i32' ? 32 : 64;
}

/** The Rust/C type v17 gives a kind in the VMBuiltinFunctionsArray entry signatures. */
export function builtinKindNativeType(kind: BuiltinKind): 'u32' | 'u64' | '*mut u8' | '*mut VMContext' {
  switch (kind) {
    case 'i32':
      return 'u32';
    case 'i64':
      return 'u64';
    case 'pointer':
    case 'reference':
      return '*mut u8';
    case 'vmctx':
      return '*mut VMContext';
  }
}

/** `name(vmctx: vmctx, p: kind, ...) -> result`, the notation of v17's builtin list. */
export function builtinSignatureText(builtin: BuiltinFunction): string {
  const params = builtin.params.map((p) => `${p.name}: ${p.kind}`).join(', ');
  return `${builtin.name}(${params})${builtin.result === null ? '' : ` -> ${builtin.result}`}`;
}
