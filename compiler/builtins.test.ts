/**
 * The builtin table against wasmtime v17.0.0 crates/environ/src/builtin.rs
 * (`foreach_builtin_function!`). The expected list below is v17's declarations in v17's own
 * notation, one per builtin, in index order; it was compared line by line with the tagged
 * source when this test was written.
 */
import test from 'ava';
import {
  BUILTIN_FUNCTIONS,
  BUILTIN_FUNCTIONS_TOTAL_NUMBER,
  BUILTIN_NAMES,
  BuiltinLookupError,
  SIZE_OF_VM_BUILTIN_FUNCTIONS_ARRAY,
  builtinArrayEntryOffset,
  builtinByIndex,
  builtinByName,
  builtinIndex,
  builtinKindBits,
  builtinKindNativeType,
  builtinSignatureText,
} from './builtins.ts';
import { StackscopeError } from '../isa/error.ts';

const V17_DECLARATIONS = [
  'memory32_grow(vmctx: vmctx, delta: i64, index: i32) -> pointer',
  'table_copy(vmctx: vmctx, dst_index: i32, src_index: i32, dst: i32, src: i32, len: i32)',
  'table_init(vmctx: vmctx, table: i32, elem: i32, dst: i32, src: i32, len: i32)',
  'elem_drop(vmctx: vmctx, elem: i32)',
  'memory_copy(vmctx: vmctx, dst_index: i32, dst: i64, src_index: i32, src: i64, len: i64)',
  'memory_fill(vmctx: vmctx, memory: i32, dst: i64, val: i32, len: i64)',
  'memory_init(vmctx: vmctx, memory: i32, data: i32, dst: i64, src: i32, len: i32)',
  'ref_func(vmctx: vmctx, func: i32) -> pointer',
  'data_drop(vmctx: vmctx, data: i32)',
  'table_get_lazy_init_func_ref(vmctx: vmctx, table: i32, index: i32) -> pointer',
  'table_grow_func_ref(vmctx: vmctx, table: i32, delta: i32, init: pointer) -> i32',
  'table_grow_externref(vmctx: vmctx, table: i32, delta: i32, init: reference) -> i32',
  'table_fill_externref(vmctx: vmctx, table: i32, dst: i32, val: reference, len: i32)',
  'table_fill_func_ref(vmctx: vmctx, table: i32, dst: i32, val: pointer, len: i32)',
  'drop_externref(vmctx: vmctx, val: pointer)',
  'activations_table_insert_with_gc(vmctx: vmctx, val: reference)',
  'externref_global_get(vmctx: vmctx, global: i32) -> reference',
  'externref_global_set(vmctx: vmctx, global: i32, val: reference)',
  'memory_atomic_notify(vmctx: vmctx, memory: i32, addr: i64, count: i32) -> i32',
  'memory_atomic_wait32(vmctx: vmctx, memory: i32, addr: i64, expected: i32, timeout: i64) -> i32',
  'memory_atomic_wait64(vmctx: vmctx, memory: i32, addr: i64, expected: i64, timeout: i64) -> i32',
  'out_of_gas(vmctx: vmctx)',
  'new_epoch(vmctx: vmctx) -> i64',
  'check_malloc(vmctx: vmctx, addr: i32, len: i32) -> i32',
  'check_free(vmctx: vmctx, addr: i32) -> i32',
  'check_load(vmctx: vmctx, num_bytes: i32, addr: i32, offset: i32) -> i32',
  'check_store(vmctx: vmctx, num_bytes: i32, addr: i32, offset: i32) -> i32',
  'malloc_start(vmctx: vmctx)',
  'free_start(vmctx: vmctx)',
  'update_stack_pointer(vmctx: vmctx, value: i32)',
  'update_mem_size(vmctx: vmctx, num_bytes: i32)',
];

test('31 builtins, index = position, exactly v17 declarations', (t) => {
  t.is(BUILTIN_FUNCTIONS_TOTAL_NUMBER, 31);
  t.is(BUILTIN_FUNCTIONS.length, 31);
  t.is(BUILTIN_NAMES.length, 31);
  t.deepEqual(BUILTIN_FUNCTIONS.map(builtinSignatureText), V17_DECLARATIONS);
  BUILTIN_FUNCTIONS.forEach((b, i) => {
    t.is(b.index, i);
    t.is(b.name, BUILTIN_NAMES[i]);
  });
  t.is(new Set(BUILTIN_NAMES).size, 31);
});

test('vmctx is the first parameter of every builtin and appears nowhere else', (t) => {
  for (const b of BUILTIN_FUNCTIONS) {
    t.deepEqual(b.params[0], { name: 'vmctx', kind: 'vmctx' });
    t.false(b.params.slice(1).some((p) => p.kind === 'vmctx'), b.name);
  }
});

test('indices other layers rely on', (t) => {
  t.is(builtinIndex('memory32_grow'), 0);
  t.is(builtinIndex('ref_func'), 7);
  t.is(builtinIndex('table_grow_externref'), 11);
  t.is(builtinIndex('drop_externref'), 14);
  t.is(builtinIndex('activations_table_insert_with_gc'), 15);
  t.is(builtinIndex('externref_global_get'), 16);
  t.is(builtinIndex('out_of_gas'), 21);
  t.is(builtinIndex('new_epoch'), 22);
  t.is(builtinIndex('update_mem_size'), 30);
});

test('GC-visible references: only the builtins v17 declares with `reference`', (t) => {
  const withReference = BUILTIN_FUNCTIONS.filter(
    (b) => b.result === 'reference' || b.params.some((p) => p.kind === 'reference'),
  ).map((b) => b.name);
  t.deepEqual(withReference, [
    'table_grow_externref',
    'table_fill_externref',
    'activations_table_insert_with_gc',
    'externref_global_get',
    'externref_global_set',
  ]);
  // drop_externref takes a raw pointer: the ref is already dead to the stack maps.
  t.is(builtinByName('drop_externref').params[1]!.kind, 'pointer');
});

test('array entry offsets and array size (one pointer per builtin)', (t) => {
  t.is(builtinArrayEntryOffset(0), 0);
  t.is(builtinArrayEntryOffset(15), 120);
  t.is(builtinArrayEntryOffset(30), 240);
  t.is(SIZE_OF_VM_BUILTIN_FUNCTIONS_ARRAY, 248);
  t.throws(() => builtinArrayEntryOffset(31), { instanceOf: BuiltinLookupError });
});

test('lookups by name and index; unknown ones throw BuiltinLookupError', (t) => {
  t.is(builtinByName('memory_fill').index, 5);
  t.is(builtinByIndex(9).name, 'table_get_lazy_init_func_ref');
  for (const bad of [-1, 31, 1.5, Number.NaN]) {
    const err = t.throws(() => builtinByIndex(bad), { instanceOf: BuiltinLookupError });
    t.is(err?.requested, bad);
  }
  const err = t.throws(() => builtinByName('memory_grow'), { instanceOf: BuiltinLookupError });
  t.is(err?.requested, 'memory_grow');
  t.true(err instanceof StackscopeError);
  t.throws(() => builtinByName('toString'), { instanceOf: BuiltinLookupError });
});

test('kind widths and native types (vmcontext.rs define_builtin_array @ty)', (t) => {
  t.is(builtinKindBits('i32'), 32);
  t.is(builtinKindBits('i64'), 64);
  t.is(builtinKindBits('pointer'), 64);
  t.is(builtinKindBits('reference'), 64);
  t.is(builtinKindBits('vmctx'), 64);
  t.is(builtinKindNativeType('i32'), 'u32');
  t.is(builtinKindNativeType('i64'), 'u64');
  t.is(builtinKindNativeType('pointer'), '*mut u8');
  t.is(builtinKindNativeType('reference'), '*mut u8');
  t.is(builtinKindNativeType('vmctx'), '*mut VMContext');
});

test('the table is immutable', (t) => {
  t.true(Object.isFrozen(BUILTIN_FUNCTIONS));
  t.true(Object.isFrozen(BUILTIN_FUNCTIONS[0]));
  t.true(Object.isFrozen(BUILTIN_FUNCTIONS[0]!.params));
  t.true(Object.isFrozen(BUILTIN_FUNCTIONS[0]!.params[0]));
});
