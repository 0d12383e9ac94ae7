/**
 * Opcode tables of the binary format: which byte means which instruction, and for the
 * instructions without immediates, their operand and result types. Opcodes of features outside
 * the subset are named too, so an 'unsupported' error can say which instruction it met.
 */
import type { LoadOp, NumType, SimpleOp, StoreOp, ValType } from './module.ts';

export interface SimpleOpInfo {
  readonly name: SimpleOp;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

export interface MemOpInfo {
  readonly name: LoadOp | StoreOp;
  readonly store: boolean;
  readonly valType: NumType;
  /** Access width in bytes; the alignment immediate may not exceed log2 of it. */
  readonly width: number;
}

/** Single-byte numeric opcodes without immediates: 0x45..0xc4 (subset) plus a few others. */
export const SIMPLE_OPS = new Map<number, SimpleOpInfo>();
export const MEM_OPS = new Map<number, MemOpInfo>();
/** Single-byte opcodes of unsupported features, by name. */
export const UNSUPPORTED_OPS = new Map<number, string>();
/** 0xfc-prefixed opcodes outside the subset (none today; kept for the error path). */
export const UNSUPPORTED_FC_OPS = new Map<number, string>();
/** 0xfc-prefixed instructions without immediates: the saturating float-to-int truncations (0..7). */
export const FC_SIMPLE_OPS = new Map<number, SimpleOpInfo>();
/** 0xfb-prefixed (GC) instructions without immediates and with fixed types, by sub-opcode. */
export const FB_SIMPLE_OPS = new Map<number, SimpleOpInfo>();
/** 0xfb-prefixed (GC) instructions outside the subset, by sub-opcode. */
export const UNSUPPORTED_FB_OPS = new Map<number, string>();

const I32: readonly ValType[] = ['i32'];
const I64: readonly ValType[] = ['i64'];
const F32: readonly ValType[] = ['f32'];
const F64: readonly ValType[] = ['f64'];

function simple(op: number, name: SimpleOp, params: readonly ValType[], results: readonly ValType[]): void {
  SIMPLE_OPS.set(op, { name, params, results });
}

simple(0x00, 'unreachable', [], []);
simple(0x01, 'nop', [], []);
simple(0x0f, 'return', [], []); // operands come from the function type; the validator handles it
simple(0xd1, 'ref.is_null', [], I32); // operand is any reference type; the validator handles it
simple(0xd3, 'ref.eq', ['eqref', 'eqref'], I32);
FB_SIMPLE_OPS.set(15, { name: 'array.len', params: ['arrayref'], results: I32 });
FB_SIMPLE_OPS.set(28, { name: 'ref.i31', params: I32, results: ['(ref i31)'] });
FB_SIMPLE_OPS.set(29, { name: 'i31.get_s', params: ['i31ref'], results: I32 });
FB_SIMPLE_OPS.set(30, { name: 'i31.get_u', params: ['i31ref'], results: I32 });
for (const [sub, name] of [
  [9, 'array.new_data'], [10, 'array.new_elem'], [16, 'array.fill'], [17, 'array.copy'], [18, 'array.init_data'],
  [19, 'array.init_elem'], [24, 'br_on_cast'], [25, 'br_on_cast_fail'], [26, 'any.convert_extern'], [27, 'extern.convert_any'],
] as const) UNSUPPORTED_FB_OPS.set(sub, name);

const CMP = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'] as const;
simple(0x45, 'i32.eqz', I32, I32);
CMP.forEach((c, i) => simple(0x46 + i, `i32.${c}` as SimpleOp, ['i32', 'i32'], I32));
simple(0x50, 'i64.eqz', I64, I32);
CMP.forEach((c, i) => simple(0x51 + i, `i64.${c}` as SimpleOp, ['i64', 'i64'], I32));

const UNARY = ['clz', 'ctz', 'popcnt'] as const;
const BINARY = [
  'add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr',
] as const;
UNARY.forEach((u, i) => simple(0x67 + i, `i32.${u}` as SimpleOp, I32, I32));
BINARY.forEach((b, i) => simple(0x6a + i, `i32.${b}` as SimpleOp, ['i32', 'i32'], I32));
UNARY.forEach((u, i) => simple(0x79 + i, `i64.${u}` as SimpleOp, I64, I64));
BINARY.forEach((b, i) => simple(0x7c + i, `i64.${b}` as SimpleOp, ['i64', 'i64'], I64));

simple(0xa7, 'i32.wrap_i64', I64, I32);
simple(0xac, 'i64.extend_i32_s', I32, I64);
simple(0xad, 'i64.extend_i32_u', I32, I64);
const FCMP = ['eq', 'ne', 'lt', 'gt', 'le', 'ge'] as const;
FCMP.forEach((c, i) => simple(0x5b + i, `f32.${c}`, ['f32', 'f32'], I32));
FCMP.forEach((c, i) => simple(0x61 + i, `f64.${c}`, ['f64', 'f64'], I32));
const FUNARY = ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'] as const;
const FBINARY = ['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign'] as const;
FUNARY.forEach((u, i) => simple(0x8b + i, `f32.${u}`, F32, F32));
FBINARY.forEach((b, i) => simple(0x92 + i, `f32.${b}`, ['f32', 'f32'], F32));
FUNARY.forEach((u, i) => simple(0x99 + i, `f64.${u}`, F64, F64));
FBINARY.forEach((b, i) => simple(0xa0 + i, `f64.${b}`, ['f64', 'f64'], F64));
const CONVERSIONS: [number, SimpleOp, readonly ValType[], readonly ValType[]][] = [
  [0xa8, 'i32.trunc_f32_s', F32, I32], [0xa9, 'i32.trunc_f32_u', F32, I32],
  [0xaa, 'i32.trunc_f64_s', F64, I32], [0xab, 'i32.trunc_f64_u', F64, I32],
  [0xae, 'i64.trunc_f32_s', F32, I64], [0xaf, 'i64.trunc_f32_u', F32, I64],
  [0xb0, 'i64.trunc_f64_s', F64, I64], [0xb1, 'i64.trunc_f64_u', F64, I64],
  [0xb2, 'f32.convert_i32_s', I32, F32], [0xb3, 'f32.convert_i32_u', I32, F32],
  [0xb4, 'f32.convert_i64_s', I64, F32], [0xb5, 'f32.convert_i64_u', I64, F32],
  [0xb6, 'f32.demote_f64', F64, F32],
  [0xb7, 'f64.convert_i32_s', I32, F64], [0xb8, 'f64.convert_i32_u', I32, F64],
  [0xb9, 'f64.convert_i64_s', I64, F64], [0xba, 'f64.convert_i64_u', I64, F64],
  [0xbb, 'f64.promote_f32', F32, F64],
  [0xbc, 'i32.reinterpret_f32', F32, I32], [0xbd, 'i64.reinterpret_f64', F64, I64],
  [0xbe, 'f32.reinterpret_i32', I32, F32], [0xbf, 'f64.reinterpret_i64', I64, F64],
];
for (const [op, name, params, results] of CONVERSIONS) simple(op, name, params, results);
const SATURATING: [SimpleOp, readonly ValType[], readonly ValType[]][] = [
  ['i32.trunc_sat_f32_s', F32, I32], ['i32.trunc_sat_f32_u', F32, I32],
  ['i32.trunc_sat_f64_s', F64, I32], ['i32.trunc_sat_f64_u', F64, I32],
  ['i64.trunc_sat_f32_s', F32, I64], ['i64.trunc_sat_f32_u', F32, I64],
  ['i64.trunc_sat_f64_s', F64, I64], ['i64.trunc_sat_f64_u', F64, I64],
];
SATURATING.forEach(([name, params, results], sub) => FC_SIMPLE_OPS.set(sub, { name, params, results }));

simple(0xc0, 'i32.extend8_s', I32, I32);
simple(0xc1, 'i32.extend16_s', I32, I32);
simple(0xc2, 'i64.extend8_s', I64, I64);
simple(0xc3, 'i64.extend16_s', I64, I64);
simple(0xc4, 'i64.extend32_s', I64, I64);

function mem(op: number, name: LoadOp | StoreOp, store: boolean, valType: NumType, width: number): void {
  MEM_OPS.set(op, { name, store, valType, width });
}
mem(0x28, 'i32.load', false, 'i32', 4);
mem(0x29, 'i64.load', false, 'i64', 8);
mem(0x2a, 'f32.load', false, 'f32', 4);
mem(0x2b, 'f64.load', false, 'f64', 8);
mem(0x2c, 'i32.load8_s', false, 'i32', 1);
mem(0x2d, 'i32.load8_u', false, 'i32', 1);
mem(0x2e, 'i32.load16_s', false, 'i32', 2);
mem(0x2f, 'i32.load16_u', false, 'i32', 2);
mem(0x30, 'i64.load8_s', false, 'i64', 1);
mem(0x31, 'i64.load8_u', false, 'i64', 1);
mem(0x32, 'i64.load16_s', false, 'i64', 2);
mem(0x33, 'i64.load16_u', false, 'i64', 2);
mem(0x34, 'i64.load32_s', false, 'i64', 4);
mem(0x35, 'i64.load32_u', false, 'i64', 4);
mem(0x36, 'i32.store', true, 'i32', 4);
mem(0x37, 'i64.store', true, 'i64', 8);
mem(0x38, 'f32.store', true, 'f32', 4);
mem(0x39, 'f64.store', true, 'f64', 8);
mem(0x3a, 'i32.store8', true, 'i32', 1);
mem(0x3b, 'i32.store16', true, 'i32', 2);
mem(0x3c, 'i64.store8', true, 'i64', 1);
mem(0x3d, 'i64.store16', true, 'i64', 2);
mem(0x3e, 'i64.store32', true, 'i64', 4);

// Features outside the subset. Names as in the text format.
const unsupported: [number, string][] = [
  [0x06, 'try'], [0x07, 'catch'], [0x08, 'throw'], [0x09, 'rethrow'], [0x0a, 'throw_ref'],
  [0x14, 'call_ref'], [0x15, 'return_call_ref'],
  [0x18, 'delegate'], [0x19, 'catch_all'], [0x1f, 'try_table'],
  [0xd5, 'br_on_null'], [0xd6, 'br_on_non_null'],
  // Stack switching: cont.new (0xe0), cont.bind (0xe1), suspend (0xe2), resume (0xe3) and
  // switch (0xe6) are in the subset; resume_throw (0xe4) and resume_throw_ref (0xe5) are refused
  // by the decoder with wasmtime v44.0.0's reason.
];
for (const [op, name] of unsupported) UNSUPPORTED_OPS.set(op, name);
/** Prefix bytes of whole proposals outside the subset. */
export const UNSUPPORTED_PREFIXES = new Map<number, string>([
  [0xfd, 'SIMD'],
  [0xfe, 'threads (atomics)'],
]);

/** An instruction with immediates, which decode.ts reads in its own switch (not a table lookup). */
export interface ImmediateOpInfo {
  /** The opcode bytes: one byte, or the 0xfc prefix and its LEB128 sub-opcode. */
  readonly opcode: readonly number[];
  readonly name: string;
  /** The immediates in binary order, in the spec's notation. */
  readonly immediates: string;
  /** The instruction's type, `[params] → [results]`, in the spec's notation. */
  readonly type: string;
}

/**
 * The subset's instructions with immediates, in opcode order. decode.ts's switch must decode
 * exactly these (decode.test.ts checks it against the all-instructions module), and
 * docs/wasm-subset.md is generated from this table together with SIMPLE_OPS and MEM_OPS.
 */
export const IMMEDIATE_OPS: readonly ImmediateOpInfo[] = [
  { opcode: [0x02], name: 'block', immediates: 'blocktype', type: '[t1*] → [t2*]' },
  { opcode: [0x03], name: 'loop', immediates: 'blocktype', type: '[t1*] → [t2*]' },
  { opcode: [0x04], name: 'if', immediates: 'blocktype', type: '[t1* i32] → [t2*]' },
  { opcode: [0x05], name: 'else', immediates: '', type: '' },
  { opcode: [0x0b], name: 'end', immediates: '', type: '' },
  { opcode: [0x0c], name: 'br', immediates: 'labelidx', type: '[t1* t*] → [t2*]' },
  { opcode: [0x0d], name: 'br_if', immediates: 'labelidx', type: '[t* i32] → [t*]' },
  { opcode: [0x0e], name: 'br_table', immediates: 'vec(labelidx) labelidx', type: '[t1* t* i32] → [t2*]' },
  { opcode: [0x10], name: 'call', immediates: 'funcidx', type: '[t1*] → [t2*]' },
  { opcode: [0x11], name: 'call_indirect', immediates: 'typeidx tableidx', type: '[t1* i32] → [t2*]' },
  { opcode: [0x12], name: 'return_call', immediates: 'funcidx', type: '[t3* t1*] → [t4*]' },
  { opcode: [0x13], name: 'return_call_indirect', immediates: 'typeidx tableidx', type: '[t3* t1* i32] → [t4*]' },
  { opcode: [0x1a], name: 'drop', immediates: '', type: '[t] → []' },
  { opcode: [0x1b], name: 'select', immediates: '', type: '[t t i32] → [t] (t numeric)' },
  { opcode: [0x1c], name: 'select', immediates: 'vec(valtype) (one type)', type: '[t t i32] → [t]' },
  { opcode: [0x20], name: 'local.get', immediates: 'localidx', type: '[] → [t]' },
  { opcode: [0x21], name: 'local.set', immediates: 'localidx', type: '[t] → []' },
  { opcode: [0x22], name: 'local.tee', immediates: 'localidx', type: '[t] → [t]' },
  { opcode: [0x23], name: 'global.get', immediates: 'globalidx', type: '[] → [t]' },
  { opcode: [0x24], name: 'global.set', immediates: 'globalidx', type: '[t] → []' },
  { opcode: [0x25], name: 'table.get', immediates: 'tableidx', type: '[i32] → [t]' },
  { opcode: [0x26], name: 'table.set', immediates: 'tableidx', type: '[i32 t] → []' },
  { opcode: [0x3f], name: 'memory.size', immediates: '0x00 (reserved byte)', type: '[] → [i32]' },
  { opcode: [0x40], name: 'memory.grow', immediates: '0x00 (reserved byte)', type: '[i32] → [i32]' },
  { opcode: [0x41], name: 'i32.const', immediates: 'i32 (signed LEB128)', type: '[] → [i32]' },
  { opcode: [0x42], name: 'i64.const', immediates: 'i64 (signed LEB128)', type: '[] → [i64]' },
  { opcode: [0x43], name: 'f32.const', immediates: 'f32 (4 bytes, IEEE 754 little-endian)', type: '[] → [f32]' },
  { opcode: [0x44], name: 'f64.const', immediates: 'f64 (8 bytes, IEEE 754 little-endian)', type: '[] → [f64]' },
  { opcode: [0xd0], name: 'ref.null', immediates: 'reftype (funcref, externref)', type: '[] → [t]' },
  { opcode: [0xd2], name: 'ref.func', immediates: 'funcidx', type: '[] → [funcref]' },
  { opcode: [0xd4], name: 'ref.as_non_null', immediates: '', type: '[(ref null ht)] → [(ref ht)]' },
  { opcode: [0xfb, 0], name: 'struct.new', immediates: 'typeidx', type: '[t*] → [(ref $t)]' },
  { opcode: [0xfb, 1], name: 'struct.new_default', immediates: 'typeidx', type: '[] → [(ref $t)]' },
  { opcode: [0xfb, 2], name: 'struct.get', immediates: 'typeidx fieldidx', type: '[(ref null $t)] → [t]' },
  { opcode: [0xfb, 3], name: 'struct.get_s', immediates: 'typeidx fieldidx', type: '[(ref null $t)] → [i32] (i8/i16 field)' },
  { opcode: [0xfb, 4], name: 'struct.get_u', immediates: 'typeidx fieldidx', type: '[(ref null $t)] → [i32] (i8/i16 field)' },
  { opcode: [0xfb, 5], name: 'struct.set', immediates: 'typeidx fieldidx', type: '[(ref null $t) t] → []' },
  { opcode: [0xfb, 6], name: 'array.new', immediates: 'typeidx', type: '[t i32] → [(ref $t)]' },
  { opcode: [0xfb, 7], name: 'array.new_default', immediates: 'typeidx', type: '[i32] → [(ref $t)]' },
  { opcode: [0xfb, 8], name: 'array.new_fixed', immediates: 'typeidx u32', type: '[t^N] → [(ref $t)]' },
  { opcode: [0xfb, 11], name: 'array.get', immediates: 'typeidx', type: '[(ref null $t) i32] → [t]' },
  { opcode: [0xfb, 12], name: 'array.get_s', immediates: 'typeidx', type: '[(ref null $t) i32] → [i32] (i8/i16 elements)' },
  { opcode: [0xfb, 13], name: 'array.get_u', immediates: 'typeidx', type: '[(ref null $t) i32] → [i32] (i8/i16 elements)' },
  { opcode: [0xfb, 14], name: 'array.set', immediates: 'typeidx', type: '[(ref null $t) i32 t] → []' },
  { opcode: [0xfb, 20], name: 'ref.test', immediates: 'heaptype', type: '[rt\'] → [i32] (non-null target)' },
  { opcode: [0xfb, 21], name: 'ref.test', immediates: 'heaptype', type: '[rt\'] → [i32] (nullable target)' },
  { opcode: [0xfb, 22], name: 'ref.cast', immediates: 'heaptype', type: '[rt\'] → [(ref ht)]' },
  { opcode: [0xfb, 23], name: 'ref.cast', immediates: 'heaptype', type: '[rt\'] → [(ref null ht)]' },
  { opcode: [0xfc, 8], name: 'memory.init', immediates: 'dataidx 0x00', type: '[i32 i32 i32] → []' },
  { opcode: [0xfc, 9], name: 'data.drop', immediates: 'dataidx', type: '[] → []' },
  { opcode: [0xfc, 10], name: 'memory.copy', immediates: '0x00 0x00', type: '[i32 i32 i32] → []' },
  { opcode: [0xfc, 11], name: 'memory.fill', immediates: '0x00', type: '[i32 i32 i32] → []' },
  { opcode: [0xfc, 12], name: 'table.init', immediates: 'elemidx tableidx', type: '[i32 i32 i32] → []' },
  { opcode: [0xfc, 13], name: 'elem.drop', immediates: 'elemidx', type: '[] → []' },
  { opcode: [0xfc, 14], name: 'table.copy', immediates: 'tableidx tableidx', type: '[i32 i32 i32] → []' },
  { opcode: [0xfc, 15], name: 'table.grow', immediates: 'tableidx', type: '[t i32] → [i32]' },
  { opcode: [0xfc, 16], name: 'table.size', immediates: 'tableidx', type: '[] → [i32]' },
  { opcode: [0xfc, 17], name: 'table.fill', immediates: 'tableidx', type: '[i32 t i32] → []' },
];
