/**
 * The GC proposal's instructions in v31 code: structs and arrays in the DRC heap, i31refs,
 * `ref.eq`, `ref.as_non_null`, `ref.test` and `ref.cast`. Facts from wasmtime v31.0.0:
 *
 * - **Allocation** (crates/cranelift/src/gc/enabled/drc.rs `emit_gc_raw_alloc`, `alloc_struct`,
 *   `alloc_array`): a call of the `gc_alloc_raw(vmctx, kind, module_interned_type_index, size,
 *   align)` builtin, whose result (a u64 holding the VMGcRef) is already in the activations table
 *   with count 1 (`expose_gc_ref_to_wasm`). Then the fields (or the array length at 16 and the
 *   elements) are written at heap base + ref + the offsets of v31's `GcLayout`
 *   (compiler/v31/gc-layout.ts). A reference field gets the initialisation barrier
 *   (`translate_init_gc_reference`: count + 1 unless null or i31, then a plain store). The
 *   operands stay on the operand stack across the call, so a collection inside `gc_alloc_raw`
 *   (heap full) sees them in the call's user stack map.
 * - **Array size** (crates/cranelift/src/gc/enabled.rs `emit_array_size`): length × element size
 *   + base size in 64 bits; high bits set is `AllocationTooLarge`. `array.new_default` leaves the
 *   elements to `gc_alloc_raw`, which hands out zeroed bytes here (v31 fills them with the
 *   default value; the bytes are the same).
 * - **Field access** (`translate_struct_get/set`, `array_elem_addr`, `translate_array_len`):
 *   null check (`NullReference`), the array bound `index < length` (`ArrayOutOfBounds`), then
 *   the field. Reading a reference field is the DRC read barrier, writing one the write
 *   barrier (barriers.ts), as for tables and globals. Like the rest of the v31 code generator,
 *   no bounds check against `gc_heap_bound` (see codegen.ts).
 * - **i31** (`I31_DISCRIMINANT`): `ref.i31` is `(x << 1) | 1`; `i31.get_s/u` shift right by one
 *   after a null check.
 * - **ref.test / ref.cast** (`translate_ref_test`; `ref.cast` traps with `CastFailure` when the
 *   test fails): bottom and top types test only nullness; `i31` the low bit; `eq`, `struct`,
 *   `array` the VMGcKind in the header (`(kind & expected) == expected`); a concrete type
 *   compares the header's VMSharedTypeIndex with the module's `type_ids` entry and, when they
 *   differ, calls the `is_subtype` builtin.
 *
 * Values: every reference of the any and extern hierarchies is a 32-bit VMGcRef in its slot
 * (the lowering sees them all as `externref`, see `eraseGcRefTypes`), traced by the user stack
 * maps like externrefs. Fields holding function references are outside the subset (v31 keeps
 * them in a side table): a CompileError.
 */
import type { Loc, Operand, VReg } from '../codegen/common.ts';
import { CompileError } from '../frontend/errors.ts';
import type {
  DefinedFunction, FieldType, FuncType, Instr, RefType, StorageType, SubType, ValType, WasmModule,
} from '../frontend/module.ts';
import { isRefType, refTypeParts, unpackedType } from '../frontend/module.ts';
import { topHeapType } from '../frontend/subtyping.ts';
import { GC_OPS } from '../frontend/gc-use.ts';
import { mutated } from '../mutants.ts';
import type { Lowering } from '../lowering/context.ts';
import { imm, valueArg } from '../lowering/values.ts';
import { branchIfNullOrI31, refCountAddress, writeBarrier, type DrcBarriers, type Scratch } from './codegen.ts';
import {
  VMDrcArrayHeaderLayout, VMGcHeaderLayout, VMGcKind, drcArrayLayout, drcStructLayout, gcStorageSize,
  type GcArrayLayout, type GcStorageType, type GcStructLayout,
} from './gc-layout.ts';

/** The most scratch values one GC instruction pushes (ref.test of a concrete type: result, actual, expected). */
const GC_SCRATCH_VALUES = 3;

/** How the lowering types every reference of the any and extern hierarchies. */
const GC_REF: ValType = 'externref';

/** The type the lowering gives a value: GC references are `externref`, function references `funcref`. */
export function erasedType(module: Pick<WasmModule, 'typeDefs' | 'canonicalTypeIndices'>, t: ValType): ValType {
  if (!isRefType(t)) return t;
  return topHeapType(module, refTypeParts(t).heap) === 'func' ? 'funcref' : GC_REF;
}

/**
 * The module as the shared lowering sees it: every value type erased (`erasedType`), so that
 * stack maps, liveness, register allocation and the barriers treat all GC references as the
 * 32-bit VMGcRefs they are. Type definitions, immediates and `ref.test`/`ref.cast` targets keep
 * their real types; the image's metadata is written from the original module.
 */
export function eraseGcRefTypes(module: WasmModule): WasmModule {
  const e = (t: ValType): ValType => erasedType(module, t);
  const ft = (t: FuncType): FuncType => ({ params: t.params.map(e), results: t.results.map(e) });
  const types = module.types.map(ft);
  const instr = (i: Instr): Instr => {
    switch (i.op) {
      case 'block':
      case 'loop':
      case 'if':
        return { ...i, type: ft(i.type) };
      case 'drop':
      case 'select':
        return { ...i, type: i.type === null ? null : e(i.type) };
      case 'ref.null':
        return { ...i, type: e(i.type) as RefType };
      default:
        return i;
    }
  };
  const functions = module.functions.map((fn): DefinedFunction => ({
    ...fn, type: types[fn.typeIndex], locals: fn.locals.map(e), body: fn.body.map(instr),
    // The scratch values GC instructions push above their operands need slots of their own.
    maxStackHeight: fn.maxStackHeight + (fn.body.some((i) => GC_OPS.has(i.op)) ? GC_SCRATCH_VALUES : 0),
  }));
  return {
    ...module, types, functions,
    globalTypes: module.globalTypes.map((g) => ({ ...g, valType: e(g.valType) })),
    globals: module.globals.map((g) => ({ ...g, type: { ...g.type, valType: e(g.type.valType) } })),
  };
}

function unsupported(cx: Lowering, instr: Instr, detail: string): never {
  throw new CompileError('unsupported', `'${instr.op}': ${detail}`, { funcIndex: cx.fn.index, instrIndex: cx.instrIndex, instr: instr.op, offset: instr.offset });
}

/** A field's storage in v31's GC heap; function references are outside the subset. */
function storageOf(cx: Lowering, instr: Instr, t: StorageType): GcStorageType {
  if (t === 'i8' || t === 'i16' || t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64') return t;
  if (erasedType(cx.module, t) === 'funcref') unsupported(cx, instr, `fields of type ${t} (function references in GC objects) are not supported`);
  return 'ref';
}

function typeDef(cx: Lowering, typeIndex: number): SubType {
  return cx.module.typeDefs[typeIndex];
}

function structInfo(cx: Lowering, instr: Instr, typeIndex: number): { fields: readonly FieldType[]; storages: GcStorageType[]; layout: GcStructLayout } {
  const c = typeDef(cx, typeIndex).composite;
  if (c.kind !== 'struct') throw new CompileError('validation', `type ${typeIndex} is not a struct type`, {});
  const storages = c.fields.map((f) => storageOf(cx, instr, f.storage));
  return { fields: c.fields, storages, layout: drcStructLayout(storages) };
}

function arrayInfo(cx: Lowering, instr: Instr, typeIndex: number): { element: FieldType; storage: GcStorageType; layout: GcArrayLayout } {
  const c = typeDef(cx, typeIndex).composite;
  if (c.kind !== 'array') throw new CompileError('validation', `type ${typeIndex} is not an array type`, {});
  const storage = storageOf(cx, instr, c.element.storage);
  return { element: c.element, storage, layout: drcArrayLayout(storage) };
}

/** The value a field of `storage` is read as (packed fields as i32). */
function valueTypeOf(storage: GcStorageType): ValType {
  if (storage === 'ref') return GC_REF;
  if (storage === 'v128') throw new RangeError('v128 fields are outside the subset');
  return unpackedType(storage);
}

const accessSize = (s: GcStorageType): 1 | 2 | 4 | 8 => gcStorageSize(s) as 1 | 2 | 4 | 8;
const isWide = (s: GcStorageType): boolean => s === 'i64' || s === 'f64';

/** `dst` ← the guest address of the object `ref` names (heap base + ref); clobbers `tmp`. */
function objectAddress(cx: Lowering, b: DrcBarriers, dst: VReg, ref: Loc, tmp: VReg): void {
  const { m } = cx;
  m.loadSlot(dst, ref, false);
  b.loadHeapBase(cx, tmp);
  m.addReg(dst, dst, tmp);
}

/** `r` ← `r` × `size` (a power of two ≤ 8) by doubling. */
function scale(cx: Lowering, r: VReg, size: number): void {
  for (let s = size; s > 1; s >>= 1) cx.m.addReg(r, r, r);
}

/** Loads the ref at `ref` into R0 and traps with NullReference when it is null. */
function nullCheck(cx: Lowering, ref: Loc): void {
  cx.m.loadSlot('R0', ref, false);
  cx.m.trapIf('eq', false, 'R0', 0, 'NullReference');
}

/**
 * Writes `value` (null: the field's default, zero) into the fresh object at `obj`, at byte
 * `offset`: v31's `init_field` with the initialisation barrier for references.
 */
function initField(cx: Lowering, b: DrcBarriers, obj: Loc, offset: number, storage: GcStorageType, value: Loc | null): void {
  const { m } = cx;
  if (storage === 'ref' && value !== null) {
    const store = m.newLabel();
    m.loadSlot('R1', value, false);
    branchIfNullOrI31(cx, 'R1', 'R2', store);
    if (!mutated('v31-init-field-no-incref')) {
      refCountAddress(cx, b, 'R2', 'R1');
      m.load('R0', 'R2', 0, 8);
      m.addImm('R0', 'R0', 1);
      m.store('R2', 0, 'R0', 8);
    }
    m.bind(store);
  }
  objectAddress(cx, b, 'R0', obj, 'R2');
  if (value === null) m.movImm('R1', 0n);
  else m.loadSlot('R1', value, isWide(storage));
  m.store('R0', offset, 'R1', accessSize(storage));
}

/** Calls `gc_alloc_raw` with every operand still on the stack (a collection sees them); the new ref goes to a scratch value. */
function allocate(cx: Lowering, b: DrcBarriers, kind: 'StructRef' | 'ArrayRef', typeIndex: number, size: Operand, align: number, liveHeight: number): Loc {
  b.libcall(cx, 'gc_alloc_raw', [imm(VMGcKind[kind]), imm(typeIndex), size, imm(align)], liveHeight);
  const obj = cx.values.pushScratch(GC_REF);
  cx.m.storeReturn(obj);
  return obj;
}

/** Replaces the top `below` entries under the scratch object with the object itself. */
function finishAllocation(cx: Lowering, below: number): void {
  const v = cx.values;
  const obj = v.pop();
  for (let k = 0; k < below; k++) v.discard();
  cx.m.copySlot(v.push(GC_REF), obj);
}

/** R0 ← address of element `index` of the array at `ref` (minus the base size), after the null and bounds checks. */
function arrayElementAddress(cx: Lowering, b: DrcBarriers, ref: Loc, index: Loc, elemSize: number): void {
  const { m } = cx;
  nullCheck(cx, ref);
  b.loadHeapBase(cx, 'R2');
  m.addReg('R0', 'R0', 'R2');
  m.load('R1', 'R0', VMDrcArrayHeaderLayout.length, 4);
  m.loadSlot('R2', index, false);
  m.trapIf('ge_u', false, 'R2', 'R1', 'ArrayOutOfBounds');
  scale(cx, 'R2', elemSize);
  m.addReg('R0', 'R0', 'R2');
}

/** Reads a field at [R0 + offset] into a new value (sign-extending for `_s`), with the read barrier for references. */
function readField(cx: Lowering, b: DrcBarriers, storage: GcStorageType, offset: number, signed: boolean): void {
  const { m } = cx;
  m.load('R0', 'R0', offset, accessSize(storage), signed);
  const result = cx.values.push(valueTypeOf(storage));
  m.storeSlot(result, 'R0');
  if (storage === 'ref') b.readBarrier(cx, result);
}

/** How a header's kind word is tested for an abstract heap type: shifted right by the first number, equal to the second. */
const KIND_OF: Readonly<Record<string, readonly [number, number]>> = {
  eq: [29, VMGcKind.EqRef >>> 29], struct: [27, VMGcKind.StructRef >>> 27], array: [27, VMGcKind.ArrayRef >>> 27],
};

/** `ref.test`'s result into the scratch i32 at `res` for the ref at `val` (v31's `translate_ref_test`). */
function refTest(cx: Lowering, b: DrcBarriers, instr: Instr, target: RefType, val: Loc, res: Loc): void {
  const { m, module } = cx;
  const v = cx.values;
  const { nullable, heap } = refTypeParts(target);
  const top = topHeapType(module, heap);
  const isBottom = heap === 'none' || heap === 'nofunc' || heap === 'noextern';
  const isTop = heap === 'any' || heap === 'func' || heap === 'extern';
  if (isBottom || isTop) {
    // Only nullness matters: bottom types hold only null, top types everything.
    if (isBottom && !nullable) m.storeSlotImm(res, 0n);
    else if (isTop && nullable) m.storeSlotImm(res, 1n);
    else {
      m.unop('eqz', true, res, val);
      if (isTop) m.binopImm('xor', false, res, res, 1n);
    }
    return;
  }
  if (top === 'func') unsupported(cx, instr, `testing or casting to ${target} (concrete function types) is not supported`);
  const done = m.newLabel();
  m.storeSlotImm(res, nullable ? 1n : 0n);
  m.loadSlot('R0', val, false);
  m.branchCmp('eq', false, 'R0', 0, done);
  // Non-null: an i31ref passes a test for any, eq or i31 only.
  m.andImm('R1', 'R0', 1n);
  m.storeSlotImm(res, heap === 'i31' || heap === 'eq' ? 1n : 0n);
  m.branchCmp('ne', false, 'R1', 0, done);
  if (heap === 'i31') {
    m.storeSlotImm(res, 0n);
    m.bind(done);
    return;
  }
  b.loadHeapBase(cx, 'R2');
  m.addReg('R0', 'R0', 'R2');
  if (typeof heap !== 'number') {
    // `VMGcKind::matches` ((kind & expected) == expected) over the kinds that exist: eq is
    // 0b101xx (eq, array, struct), struct and array have no subkinds.
    const [shift, kind] = KIND_OF[heap];
    m.load('R1', 'R0', VMGcHeaderLayout.kind, 4);
    m.shrImm('R1', shift);
    m.storeSlotImm(res, 0n);
    m.branchCmp('ne', false, 'R1', kind, done);
    m.storeSlotImm(res, 1n);
    m.bind(done);
    return;
  }
  // A concrete type: the header's VMSharedTypeIndex against the module's type_ids entry.
  m.load('R1', 'R0', VMGcHeaderLayout.typeIndex, 4);
  m.load('R2', 'vmctx', cx.offsets.vmctxSignatureIdsArray(), 8);
  m.load('R2', 'R2', 4 * cx.signatureOf[heap], 4);
  m.storeSlotImm(res, 1n);
  m.branchCmp('eq', false, 'R1', 'R2', done);
  const actual = v.pushScratch('i32');
  m.storeSlot(actual, 'R1');
  const expected = v.pushScratch('i32');
  m.storeSlot(expected, 'R2');
  b.libcall(cx, 'is_subtype', [valueArg(actual, false), valueArg(expected, false)], v.h - 2);
  v.discard();
  v.discard();
  m.storeReturn(res);
  m.bind(done);
}

/** Lowers a GC instruction; false for any other. */
export function lowerGcInstruction(cx: Lowering, b: DrcBarriers, instr: Instr): boolean {
  const { m } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'struct.new':
    case 'struct.new_default': {
      const { storages, layout } = structInfo(cx, instr, instr.typeIndex);
      const n = instr.op === 'struct.new' ? storages.length : 0;
      const base = v.h - n;
      const obj = allocate(cx, b, 'StructRef', instr.typeIndex, imm(layout.size), layout.align, v.h);
      storages.forEach((s, i) => initField(cx, b, obj, layout.fields[i], s, n > 0 ? v.peek(base + i) : null));
      finishAllocation(cx, n);
      return true;
    }
    case 'array.new':
    case 'array.new_default': {
      const { storage, layout } = arrayInfo(cx, instr, instr.typeIndex);
      const len = v.peek(v.h - 1);
      const elem = instr.op === 'array.new' ? v.peek(v.h - 2) : null;
      // size = len × elem_size + base_size in 64 bits; anything past 32 bits cannot be allocated.
      m.loadSlot('R0', len, false);
      scale(cx, 'R0', layout.elemSize);
      m.addImm('R0', 'R0', layout.baseSize);
      m.addImm('R1', 'R0', 0);
      m.shrImm('R1', 32);
      m.trapIf('ne', true, 'R1', 0, 'AllocationTooLarge');
      const size = v.pushScratch('i32');
      m.storeSlot(size, 'R0');
      const obj = allocate(cx, b, 'ArrayRef', instr.typeIndex, valueArg(size, false), layout.align, v.h - 1);
      objectAddress(cx, b, 'R0', obj, 'R2');
      m.loadSlot('R1', len, false);
      m.store('R0', VMDrcArrayHeaderLayout.length, 'R1', 4);
      if (elem !== null) fillArray(cx, b, obj, len, elem, storage, layout);
      // Stack: [elem] len size obj.
      const o = v.pop();
      v.discard();
      v.discard();
      if (elem !== null) v.discard();
      m.copySlot(v.push(GC_REF), o);
      return true;
    }
    case 'array.new_fixed': {
      const { storage, layout } = arrayInfo(cx, instr, instr.typeIndex);
      const n = instr.length;
      const base = v.h - n;
      const obj = allocate(cx, b, 'ArrayRef', instr.typeIndex, imm(layout.baseSize + n * layout.elemSize), layout.align, v.h);
      objectAddress(cx, b, 'R0', obj, 'R2');
      m.movImm('R1', BigInt(n));
      m.store('R0', VMDrcArrayHeaderLayout.length, 'R1', 4);
      for (let k = 0; k < n; k++) initField(cx, b, obj, layout.baseSize + k * layout.elemSize, storage, v.peek(base + k));
      finishAllocation(cx, n);
      return true;
    }
    case 'struct.get':
    case 'struct.get_s':
    case 'struct.get_u': {
      const { storages, layout } = structInfo(cx, instr, instr.typeIndex);
      const ref = v.pop();
      nullCheck(cx, ref);
      b.loadHeapBase(cx, 'R2');
      m.addReg('R0', 'R0', 'R2');
      readField(cx, b, storages[instr.field], layout.fields[instr.field], instr.op === 'struct.get_s');
      return true;
    }
    case 'struct.set': {
      const { storages, layout } = structInfo(cx, instr, instr.typeIndex);
      const storage = storages[instr.field];
      const offset = layout.fields[instr.field];
      const value = v.pop();
      const ref = v.pop();
      nullCheck(cx, ref);
      if (storage === 'ref') {
        writeBarrier(cx, b, value, () => {
          objectAddress(cx, b, 'R0', ref, 'R2');
          return { base: 'R0', disp: offset };
        });
      } else {
        objectAddress(cx, b, 'R0', ref, 'R2');
        m.loadSlot('R1', value, isWide(storage));
        m.store('R0', offset, 'R1', accessSize(storage));
      }
      return true;
    }
    case 'array.get':
    case 'array.get_s':
    case 'array.get_u': {
      const { storage, layout } = arrayInfo(cx, instr, instr.typeIndex);
      const index = v.pop();
      const ref = v.pop();
      arrayElementAddress(cx, b, ref, index, layout.elemSize);
      readField(cx, b, storage, layout.baseSize, instr.op === 'array.get_s');
      return true;
    }
    case 'array.set': {
      const { storage, layout } = arrayInfo(cx, instr, instr.typeIndex);
      const value = v.pop();
      const index = v.pop();
      const ref = v.pop();
      arrayElementAddress(cx, b, ref, index, layout.elemSize);
      if (storage === 'ref') {
        writeBarrier(cx, b, value, () => {
          arrayElementAddress(cx, b, ref, index, layout.elemSize);
          return { base: 'R0', disp: layout.baseSize };
        });
      } else {
        m.loadSlot('R1', value, isWide(storage));
        m.store('R0', layout.baseSize, 'R1', accessSize(storage));
      }
      return true;
    }
    case 'array.len': {
      const ref = v.pop();
      nullCheck(cx, ref);
      b.loadHeapBase(cx, 'R2');
      m.addReg('R0', 'R0', 'R2');
      m.load('R0', 'R0', VMDrcArrayHeaderLayout.length, 4);
      m.storeSlot(v.push('i32'), 'R0');
      return true;
    }
    case 'ref.i31': {
      const a = v.pop();
      // (x << 1) | 1 in 32 bits: drop bit 31 first, so the shifted value stays below 2^32.
      m.loadSlot('R0', a, false);
      m.andImm('R0', 'R0', 0x7fff_ffffn);
      m.addReg('R0', 'R0', 'R0');
      m.orImm('R0', 'R0', 1n);
      m.storeSlot(v.push(GC_REF), 'R0');
      return true;
    }
    case 'i31.get_s':
    case 'i31.get_u': {
      const a = v.pop();
      nullCheck(cx, a);
      m.shrImm('R0', 1);
      if (instr.op === 'i31.get_s') {
        const positive = m.newLabel();
        m.andImm('R1', 'R0', 0x4000_0000n);
        m.branchCmp('eq', true, 'R1', 0, positive);
        m.addImm('R0', 'R0', 0x8000_0000); // bit 31 is clear: the add sets it
        m.bind(positive);
      }
      m.storeSlot(v.push('i32'), 'R0');
      return true;
    }
    case 'ref.eq': {
      const b = v.pop();
      const a = v.pop();
      m.compare('eq', false, v.push('i32'), a, b);
      return true;
    }
    case 'ref.as_non_null': {
      const a = v.pop();
      const t = instr.type === null ? GC_REF : erasedType(cx.module, instr.type);
      m.loadSlot('R0', a, t === 'funcref');
      m.trapIf('eq', t === 'funcref', 'R0', 0, 'NullReference');
      m.copySlot(v.push(t), a);
      return true;
    }
    case 'ref.test':
    case 'ref.cast': {
      const val = v.peek(v.h - 1);
      const res = v.pushScratch('i32');
      refTest(cx, b, instr, instr.type, val, res);
      const r = v.pop();
      if (instr.op === 'ref.test') {
        v.discard();
        m.copySlot(v.push('i32'), r);
      } else {
        m.loadSlot('R0', r, false);
        m.trapIf('eq', false, 'R0', 0, 'CastFailure');
        v.retypeTop(erasedType(cx.module, instr.type));
      }
      return true;
    }
    default:
      return false;
  }
}

/** `array.new`'s elements: the element's count goes up by the length at once, then a store loop. */
function fillArray(cx: Lowering, b: DrcBarriers, obj: Loc, len: Loc, elem: Loc, storage: GcStorageType, layout: GcArrayLayout): void {
  const { m } = cx;
  if (storage === 'ref') {
    const counted = m.newLabel();
    m.loadSlot('R1', elem, false);
    branchIfNullOrI31(cx, 'R1', 'R2', counted);
    refCountAddress(cx, b, 'R2', 'R1');
    m.load('R0', 'R2', 0, 8);
    m.loadSlot('R1', len, false);
    m.addReg('R0', 'R0', 'R1');
    m.store('R2', 0, 'R0', 8);
    m.bind(counted);
  }
  const loop = m.newLabel();
  const done = m.newLabel();
  objectAddress(cx, b, 'R0', obj, 'R2');
  m.addImm('R0', 'R0', layout.baseSize);
  m.loadSlot('R1', len, false);
  scale(cx, 'R1', layout.elemSize);
  m.addReg('R1', 'R1', 'R0');
  m.loadSlot('R2', elem, isWide(storage));
  m.bind(loop);
  m.branchCmp('ge_u', true, 'R0', 'R1', done);
  m.store('R0', 0, 'R2', accessSize(storage));
  m.addImm('R0', 'R0', layout.elemSize);
  m.jump(loop);
  m.bind(done);
}
