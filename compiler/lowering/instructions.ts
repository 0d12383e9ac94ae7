/**
 * Per-opcode lowering of everything that is neither control flow nor a Wasm call: constants,
 * locals, globals, numeric operators, memory accesses and the bulk and table instructions
 * (with the externref read and write barriers), each as MacroAssembler instructions over the
 * value locations.
 */
import { CompileError } from '../frontend/errors.ts';
import { mutated } from '../mutants.ts';
import {
  functionDisplayName,
  localType,
  isFloatType,
  valueBytes,
  type DefinedFunction,
  type FloatOp,
  type Instr,
  type LoadOp,
  type SimpleOp,
  type StoreOp,
  type ValType,
} from '../frontend/module.ts';
import { IMM_BINOPS, type BinOp, type Cond, type FBinOp, type FCond, type FUnOp, type ImmBinOp, type Loc, type UnOp } from '../codegen/common.ts';
import { FC_SIMPLE_OPS, SIMPLE_OPS } from '../frontend/opcodes.ts';
import type { Lowering } from './context.ts';
import { funcrefTableElement, globalLocation, heapBase, memoryDefinition, tableDefinition, tableElementAddress } from './environment.ts';
import { imm, valueArg, type BlockValues } from './values.ts';

const BINOPS: ReadonlyMap<string, BinOp> = new Map(
  (['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr', 'div_s', 'div_u', 'rem_s', 'rem_u'] as const).map(
    (op) => [op, op],
  ),
);
const COMPARES: ReadonlyMap<string, Cond> = new Map(
  (['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'] as const).map((c) => [c, c]),
);
const UNOPS: Readonly<Record<string, UnOp>> = {
  clz: 'clz', ctz: 'ctz', popcnt: 'popcnt', eqz: 'eqz', extend8_s: 'extend8_s', extend16_s: 'extend16_s',
  extend32_s: 'extend32_s',
};

const LOADS: Readonly<Record<LoadOp, { size: 1 | 2 | 4 | 8; signed: boolean; type: ValType }>> = {
  'i32.load': { size: 4, signed: false, type: 'i32' },
  'i64.load': { size: 8, signed: false, type: 'i64' },
  'i32.load8_s': { size: 1, signed: true, type: 'i32' },
  'i32.load8_u': { size: 1, signed: false, type: 'i32' },
  'i32.load16_s': { size: 2, signed: true, type: 'i32' },
  'i32.load16_u': { size: 2, signed: false, type: 'i32' },
  'i64.load8_s': { size: 1, signed: true, type: 'i64' },
  'i64.load8_u': { size: 1, signed: false, type: 'i64' },
  'i64.load16_s': { size: 2, signed: true, type: 'i64' },
  'i64.load16_u': { size: 2, signed: false, type: 'i64' },
  'i64.load32_s': { size: 4, signed: true, type: 'i64' },
  'i64.load32_u': { size: 4, signed: false, type: 'i64' },
  // Floats are their bits: loaded and stored as integers of their width.
  'f32.load': { size: 4, signed: false, type: 'f32' },
  'f64.load': { size: 8, signed: false, type: 'f64' },
};
const STORES: Readonly<Record<StoreOp, { size: 1 | 2 | 4 | 8; wide: boolean }>> = {
  'i32.store': { size: 4, wide: false },
  'i64.store': { size: 8, wide: true },
  'i32.store8': { size: 1, wide: false },
  'i32.store16': { size: 2, wide: false },
  'i64.store8': { size: 1, wide: true },
  'i64.store16': { size: 2, wide: true },
  'i64.store32': { size: 4, wide: true },
  'f32.store': { size: 4, wide: false },
  'f64.store': { size: 8, wide: true },
};

/**
 * Whether `fn` accesses linear memory often enough to keep the memory's base in a register for
 * the whole function: an access inside a loop, or more than one access.
 */
export function accessesMemoryRepeatedly(fn: DefinedFunction): boolean {
  let accesses = 0;
  let loops = 0;
  const open: string[] = [];
  for (const instr of fn.body) {
    if (instr.dead) continue;
    if (instr.op === 'block' || instr.op === 'loop' || instr.op === 'if') {
      open.push(instr.op);
      if (instr.op === 'loop') loops++;
    } else if (instr.op === 'end') {
      if (open.pop() === 'loop') loops--;
    } else if (instr.op in LOADS || instr.op in STORES) {
      if (loops > 0 || ++accesses > 1) return true;
    }
  }
  return false;
}

/** Whether a memory access's index at `addr` was just written zero-extended (Lowering.zeroExtended). */
function indexZeroExtended(cx: Lowering, addr: Loc): boolean {
  const z = cx.zeroExtended;
  return z !== undefined && z.instrIndex === cx.instrIndex - 1 && z.loc === addr;
}

/** An instruction the code generator does not lower, as a CompileError at its place. */
function unsupported(cx: Lowering, instr: Instr): never {
  throw new CompileError('unsupported', `'${instr.op}' is not supported by the code generator`, {
    funcIndex: cx.fn.index,
    funcName: functionDisplayName(cx.module, cx.fn.index),
    instrIndex: cx.instrIndex,
    instr: instr.op,
    offset: instr.offset,
  });
}

/** Lowers one instruction that is neither control flow nor a Wasm call. */
export function lowerInstruction(cx: Lowering, instr: Instr): void {
  if (cx.era.lowerInstruction?.(cx, instr)) return;
  const target = resultTarget(cx, instr);
  if (target !== undefined) cx.values.resultInto(target);
  lowerOperator(cx, instr);
  if (target !== undefined) cx.values.resultInto(undefined);
}

/**
 * With registers, where the result of `instr` is to be computed (for the operators whose one
 * result is their last push: numeric operators, constants, loads, `select`, `global.get`):
 * into the local the next instruction (`local.set`, `local.tee`) writes, or into the result of
 * the block the next instruction (`else`, `end`) closes, when the block has one result.
 */
function resultTarget(cx: Lowering, instr: Instr): { local: number } | { block: BlockValues } | undefined {
  if (!cx.values.movesAtJoins) return undefined;
  const op = instr.op;
  const numeric = op.startsWith('i32.') || op.startsWith('i64.') || op.startsWith('f32.') || op.startsWith('f64.');
  if (!numeric && op !== 'select' && op !== 'global.get') return undefined;
  const next = cx.fn.body[cx.instrIndex + 1];
  if (next === undefined || next.dead) return undefined;
  if (next.op === 'local.set' || next.op === 'local.tee') return { local: next.local };
  const frame = cx.ctrl[cx.ctrl.length - 1];
  if ((next.op === 'end' || next.op === 'else') && (frame.kind === 'block' || frame.kind === 'if') && frame.results.length === 1) return { block: frame.values };
  return undefined;
}

function lowerOperator(cx: Lowering, instr: Instr): void {
  const { m, module, offsets, fn } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'nop':
      break;
    case 'unreachable':
      m.trap('UnreachableCodeReached');
      break;
    case 'drop':
      v.discard();
      break;
    case 'select': {
      const fused = cx.fusedCompare;
      cx.fusedCompare = undefined;
      if (fused !== undefined) {
        // The comparison before this select was fused into it: its operands are on top.
        const y = fused.imm === undefined ? v.pop() : undefined;
        const x = v.pop();
        const b = v.pop();
        const a = v.pop();
        const t = v.types[v.h];
        m.selectCompare(v.push(instr.type ?? t), a, b, { cond: fused.cond, wide: fused.wide, x, ...(y === undefined ? { imm: fused.imm } : { y }) });
        break;
      }
      const c = v.pop();
      const b = v.pop();
      const a = v.pop();
      const t = v.types[v.h];
      m.select(v.push(instr.type ?? t), a, b, c);
      break;
    }
    case 'local.get': {
      const move = v.getLocal(instr.local, localType(fn, instr.local)!);
      if (move) m.copySlot(move.dst, move.src);
      break;
    }
    case 'local.set':
    case 'local.tee':
      for (const { dst, src } of v.setLocal(instr.local, instr.op === 'local.tee')) m.copySlot(dst, src);
      break;
    case 'global.get': {
      const t = module.globalTypes[instr.global].valType;
      if (t === 'externref') {
        cx.calls.libcall('externref_global_get', [imm(instr.global)], v.h);
        m.storeReturn(v.push(t));
      } else {
        const loc = globalLocation(cx, instr.global);
        m.load('R0', loc.reg, loc.disp, valueBytes(t));
        m.storeSlot(v.push(t), 'R0');
      }
      break;
    }
    case 'global.set': {
      const t = module.globalTypes[instr.global].valType;
      const value = v.pop();
      if (t === 'externref') {
        cx.calls.libcall('externref_global_set', [imm(instr.global), valueArg(value, true)], v.h);
      } else {
        m.loadSlot('R0', value, true);
        const loc = globalLocation(cx, instr.global);
        m.store(loc.reg, loc.disp, 'R0', valueBytes(t));
      }
      break;
    }
    case 'i32.const':
      if (!v.pushConst('i32', BigInt(instr.value >>> 0))) m.storeSlotImm(v.push('i32'), BigInt(instr.value >>> 0));
      break;
    case 'i64.const':
      if (!v.pushConst('i64', instr.value)) m.storeSlotImm(v.push('i64'), instr.value);
      break;
    case 'f32.const':
      m.storeSlotImm(v.push('f32'), BigInt(instr.bits));
      break;
    case 'f64.const':
      m.storeSlotImm(v.push('f64'), instr.bits);
      break;
    case 'ref.null':
      m.storeSlotImm(v.push(instr.type), 0n);
      break;
    case 'ref.is_null': {
      const a = v.pop();
      m.unop('eqz', true, v.push('i32'), a);
      break;
    }
    case 'ref.func':
      cx.calls.libcall('ref_func', [imm(instr.func)], v.h);
      m.storeReturn(v.push('funcref'));
      break;
    case 'table.get': {
      const elemType = module.tableTypes[instr.table].elemType;
      const index = v.pop();
      if (elemType === 'funcref') {
        funcrefTableElement(cx, instr.table, index);
        m.storeSlot(v.push('funcref'), 'R2');
        break;
      }
      // externref read barrier: hold the element alive in the activations table.
      tableElementAddress(cx, instr.table, index);
      m.load('R0', 'R0', 0, 8);
      const result = v.push('externref');
      m.storeSlot(result, 'R0');
      const done = m.newLabel();
      const slow = m.newLabel();
      m.branchCmp('eq', true, 'R0', 0, done);
      m.load('R1', 'vmctx', offsets.vmctxExternrefActivationsTable(), 8);
      m.load('R0', 'R1', offsets.vmExternRefActivationTableNext(), 8);
      m.load('R2', 'R1', offsets.vmExternRefActivationTableEnd(), 8);
      m.branchCmp('eq', true, 'R0', 'R2', slow);
      m.loadSlot('R2', result, true);
      m.addToMemory('R2', 1);
      m.store('R0', 0, 'R2', 8);
      m.addImm('R0', 'R0', 8);
      m.store('R1', offsets.vmExternRefActivationTableNext(), 'R0', 8);
      m.jump(done);
      m.bind(slow);
      // The element is live across this call (it is the result), so its slot is in the map.
      cx.calls.libcall('activations_table_insert_with_gc', [valueArg(result, true)], v.h);
      m.bind(done);
      break;
    }
    case 'table.set': {
      const elemType = module.tableTypes[instr.table].elemType;
      const value = v.pop();
      const index = v.pop();
      tableElementAddress(cx, instr.table, index);
      m.loadSlot('R1', value, true);
      if (elemType === 'funcref') {
        m.orImm('R1', 'R1', 1n);
        m.store('R0', 0, 'R1', 8);
        break;
      }
      // externref write barrier: count the new reference before dropping the old one.
      const checkOld = m.newLabel();
      const done = m.newLabel();
      const drop = m.newLabel();
      m.branchCmp('eq', true, 'R1', 0, checkOld);
      if (!mutated('table-set-no-incref')) m.addToMemory('R1', 1);
      m.bind(checkOld);
      m.load('R2', 'R0', 0, 8);
      m.store('R0', 0, 'R1', 8);
      m.branchCmp('eq', true, 'R2', 0, done);
      if (!mutated('table-set-no-decref')) m.addToMemory('R2', -1, drop);
      m.jump(done);
      m.bind(drop);
      cx.calls.libcall('drop_externref', [{ kind: 'reg', reg: 'R2' }], v.h);
      m.bind(done);
      break;
    }
    case 'table.size': {
      const def = tableDefinition(cx, instr.table);
      m.load('R0', def.reg, def.length, 4);
      m.storeSlot(v.push('i32'), 'R0');
      break;
    }
    case 'table.grow': {
      const elemType = module.tableTypes[instr.table].elemType;
      const delta = v.pop();
      const init = v.pop();
      cx.calls.libcall(elemType === 'funcref' ? 'table_grow_func_ref' : 'table_grow_externref', [imm(instr.table), valueArg(delta, false), valueArg(init, true)], v.h);
      m.storeReturn(v.push('i32'));
      break;
    }
    case 'table.fill': {
      const elemType = module.tableTypes[instr.table].elemType;
      const len = v.pop();
      const value = v.pop();
      const dst = v.pop();
      cx.calls.libcall(elemType === 'funcref' ? 'table_fill_func_ref' : 'table_fill_externref', [imm(instr.table), valueArg(dst, false), valueArg(value, true), valueArg(len, false)], v.h);
      break;
    }
    case 'table.copy': {
      const len = v.pop();
      const src = v.pop();
      const dst = v.pop();
      cx.calls.libcall('table_copy', [imm(instr.dstTable), imm(instr.srcTable), valueArg(dst, false), valueArg(src, false), valueArg(len, false)], v.h);
      break;
    }
    case 'table.init': {
      const len = v.pop();
      const src = v.pop();
      const dst = v.pop();
      cx.calls.libcall('table_init', [imm(instr.table), imm(instr.elem), valueArg(dst, false), valueArg(src, false), valueArg(len, false)], v.h);
      break;
    }
    case 'elem.drop':
      cx.calls.libcall('elem_drop', [imm(instr.elem)], v.h);
      break;
    case 'memory.size': {
      const def = memoryDefinition(cx, instr.memory);
      m.load('R0', def.reg, def.length, 8);
      m.shrImm('R0', 16);
      m.storeSlot(v.push('i32'), 'R0');
      break;
    }
    case 'memory.grow': {
      const delta = v.pop();
      cx.calls.libcall('memory32_grow', [valueArg(delta, false), imm(instr.memory)], v.h);
      m.storeReturn(v.push('i32'));
      break;
    }
    case 'memory.fill': {
      const len = v.pop();
      const value = v.pop();
      const dst = v.pop();
      cx.calls.libcall('memory_fill', [imm(instr.memory), valueArg(dst, false), valueArg(value, false), valueArg(len, false)], v.h);
      break;
    }
    case 'memory.copy': {
      const len = v.pop();
      const src = v.pop();
      const dst = v.pop();
      cx.calls.libcall('memory_copy', [imm(instr.dstMemory), valueArg(dst, false), imm(instr.srcMemory), valueArg(src, false), valueArg(len, false)], v.h);
      break;
    }
    case 'memory.init': {
      const len = v.pop();
      const src = v.pop();
      const dst = v.pop();
      cx.calls.libcall('memory_init', [imm(instr.memory), imm(instr.data), valueArg(dst, false), valueArg(src, false), valueArg(len, false)], v.h);
      break;
    }
    case 'data.drop':
      cx.calls.libcall('data_drop', [imm(instr.data)], v.h);
      break;
    default: {
      const op = instr.op;
      if (op in LOADS) {
        const l = LOADS[op as LoadOp];
        const memarg = (instr as { memarg: { offset: number } }).memarg;
        if ((op === 'i32.load' || op === 'i64.load') && binopFollows(cx, l.type)) {
          // (The address is only looked at when the instruction before it may have extended it.)
          const indexExtended = cx.zeroExtended?.instrIndex === cx.instrIndex - 1 && indexZeroExtended(cx, v.peek(v.h - 1));
          cx.fusedLoad = { memory: (instr as { memory: number }).memory, offset: memarg.offset, size: l.size as 4 | 8, indexExtended };
          break;
        }
        const addr = v.pop();
        const base = heapBase(cx, (instr as { memory: number }).memory, addr, memarg.offset, l.size);
        m.heapLoad(v.push(l.type), base, addr, memarg.offset, l.size, l.signed, indexZeroExtended(cx, addr));
        break;
      }
      if (op in STORES) {
        const s = STORES[op as StoreOp];
        const value = v.pop();
        const addr = v.pop();
        const memarg = (instr as { memarg: { offset: number } }).memarg;
        const base = heapBase(cx, (instr as { memory: number }).memory, addr, memarg.offset, s.size);
        m.heapStore(base, addr, memarg.offset, value, s.size, indexZeroExtended(cx, addr));
        break;
      }
      if (!emitNumeric(cx, op as SimpleOp)) unsupported(cx, instr);
    }
  }
}

/**
 * With registers, whether the next instruction is a branch on this one's i32 result (`if`,
 * `br_if`), or (`orSelect`) a `select` whose condition it is.
 */
/** The integer binops x64 can give a memory operand (Cranelift's x64 lowering sinks a load into them). */
const MEMORY_OPERAND_BINOPS = new Set(['add', 'sub', 'and', 'or', 'xor', 'mul']);

/**
 * Whether the value a full-width load pushes is only the second operand of the next
 * instruction, an integer binop of type `ty` that takes a memory operand: x64, registers.
 */
function binopFollows(cx: Lowering, ty: ValType): boolean {
  const next = cx.fn.body[cx.instrIndex + 1];
  if (!cx.values.movesAtJoins || cx.m.arch !== 'x64' || next === undefined || next.dead) return false;
  const dot = next.op.indexOf('.');
  return next.op.slice(0, dot) === ty && MEMORY_OPERAND_BINOPS.has(next.op.slice(dot + 1));
}

function branchFollows(cx: Lowering, orSelect = false): boolean {
  const next = cx.fn.body[cx.instrIndex + 1];
  return cx.values.movesAtJoins && next !== undefined && !next.dead && (next.op === 'if' || next.op === 'br_if' || (orSelect && next.op === 'select'));
}

/** With registers, whether the next instruction is an add of type `ty` (this one's result is its operand b). */
function addFollows(cx: Lowering, ty: string): boolean {
  const next = cx.fn.body[cx.instrIndex + 1];
  return cx.values.movesAtJoins && next !== undefined && !next.dead && next.op === `${ty}.add`;
}

/** With registers, whether the next instruction is a direct `call` (this one's result is then its last argument). */
function argFollows(cx: Lowering): boolean {
  const next = cx.fn.body[cx.instrIndex + 1];
  return cx.values.movesAtJoins && next !== undefined && !next.dead && next.op === 'call' && cx.module.types[cx.module.funcTypeIndices[next.func]].params.length > 0;
}

const COMMUTATIVE: ReadonlySet<string> = new Set(['add', 'mul', 'and', 'or', 'xor']);
/** The condition with its operands swapped: a < b ⇔ b > a. */
const SWAPPED: Readonly<Record<Cond, Cond>> = {
  eq: 'eq', ne: 'ne', lt_s: 'gt_s', gt_s: 'lt_s', lt_u: 'gt_u', gt_u: 'lt_u', le_s: 'ge_s', ge_s: 'le_s', le_u: 'ge_u', ge_u: 'le_u',
};

/**
 * Integer operators with a constant operand (registers: `pushConst` left the constant as an
 * entry): the constant b (or a, for commutative operators and comparisons) becomes an
 * immediate, `0 - x` a negation, and a left shift by a constant that feeds an add is fused
 * into it. False when no constant applies.
 */
function emitWithConstant(cx: Lowering, ty: 'i32' | 'i64', name: string): boolean {
  const { m } = cx;
  const v = cx.values;
  const wide = ty === 'i64';
  const bin = BINOPS.get(name);
  if (bin !== undefined && IMM_BINOPS.has(bin)) {
    if (bin === 'shl' && v.constantAt(v.h - 1) !== undefined && addFollows(cx, ty)) {
      const count = Number(BigInt.asUintN(64, v.constantAt(v.h - 1)!) & (wide ? 63n : 31n));
      if (count <= 3 || m.arch === 'aarch64') {
        v.takeConstant(v.h - 1);
        cx.fusedShift = count;
        return true;
      }
    }
    let k = v.takeConstant(v.h - 1);
    if (k === undefined && COMMUTATIVE.has(bin)) k = v.takeConstant(v.h - 2);
    if (k !== undefined && bin === 'and' && branchFollows(cx)) {
      // An and only a branch looks at: test the bits (x64 `test`, AArch64 `tst`).
      cx.fusedCompare = { cond: 'ne', wide, imm: k, test: true };
      return true;
    }
    if (k !== undefined && (bin === 'add' || bin === 'sub')) {
      // An add whose result is only the last argument of the next call: into its register there.
      const addend = BigInt.asIntN(wide ? 64 : 32, bin === 'sub' ? -k : k);
      if (addend >= -0xfffn && addend <= 0xfffn && argFollows(cx)) {
        cx.fusedArg = addend;
        return true;
      }
    }
    if (k !== undefined) {
      const a = v.pop();
      m.binopImm(bin as ImmBinOp, wide, v.push(ty), a, k);
      return true;
    }
    if (bin === 'sub' && v.constantAt(v.h - 2) === 0n) {
      v.takeConstant(v.h - 2);
      const a = v.pop();
      m.unop('neg', wide, v.push(ty), a);
      return true;
    }
    return false;
  }
  const cmp = COMPARES.get(name) ?? (name === 'eqz' ? 'eq' : undefined);
  if (cmp === undefined) return false;
  let cond = cmp;
  let k = name === 'eqz' ? 0n : v.takeConstant(v.h - 1);
  if (k === undefined) {
    k = v.takeConstant(v.h - 2);
    if (k === undefined) return false;
    cond = SWAPPED[cmp];
  }
  if (branchFollows(cx, true)) {
    cx.fusedCompare = { cond, wide, imm: k };
    return true;
  }
  if (name === 'eqz') return false;
  const a = v.pop();
  m.compareImm(cond, wide, v.push('i32'), a, k);
  return true;
}

/** Numeric operators (`i32.add`, `i64.eqz`, conversions); false when `op` is none of them. */
function emitNumeric(cx: Lowering, op: SimpleOp): boolean {
  const { m } = cx;
  const v = cx.values;
  if (FLOAT_OPS.has(op)) {
    emitFloat(cx, op as FloatOp);
    return true;
  }
  const dot = op.indexOf('.');
  if (dot < 0) return false;
  const ty = op.slice(0, dot) as 'i32' | 'i64';
  const name = op.slice(dot + 1);
  const wide = ty === 'i64';
  const bin = BINOPS.get(name);
  const load = cx.fusedLoad;
  cx.fusedLoad = undefined;
  if (load !== undefined) {
    // The load before this binop was fused into it: its address is on top.
    const index = v.pop();
    const a = v.pop();
    const base = heapBase(cx, load.memory, index, load.offset, load.size);
    m.heapBinop(bin!, wide, v.push(ty), a, base, index, load.offset, load.indexExtended);
    return true;
  }
  const shift = cx.fusedShift;
  cx.fusedShift = undefined;
  if (shift !== undefined) {
    // The shift before this add was fused into it: its operand is on top.
    const b = v.pop();
    const a = v.pop();
    const dst = v.push(ty);
    m.addShifted(wide, dst, a, b, shift);
    // 32-bit operations: the result's upper half is zero (x64), an address's index as it is.
    if (!wide) cx.zeroExtended = { loc: dst, instrIndex: cx.instrIndex };
    return true;
  }
  if (v.movesAtJoins && emitWithConstant(cx, ty, name)) return true;
  if (bin !== undefined) {
    const b = v.pop();
    const a = v.pop();
    m.binop(bin, wide, v.push(ty), a, b);
    return true;
  }
  const cmp = COMPARES.get(name);
  if (cmp !== undefined) {
    if (branchFollows(cx, true)) {
      cx.fusedCompare = { cond: cmp, wide };
      return true;
    }
    const b = v.pop();
    const a = v.pop();
    m.compare(cmp, wide, v.push('i32'), a, b);
    return true;
  }
  const un = UNOPS[name];
  if (un !== undefined) {
    const a = v.pop();
    m.unop(un, wide, v.push(un === 'eqz' ? 'i32' : ty), a);
    return true;
  }
  switch (op) {
    case 'i32.wrap_i64': {
      // The location keeps all 64 bits; i32 readers only look at the low half.
      v.retypeTop('i32');
      return true;
    }
    case 'i64.extend_i32_s':
    case 'i64.extend_i32_u': {
      const a = v.pop();
      m.unop(op === 'i64.extend_i32_s' ? 'extend_i32_s' : 'extend_i32_u', true, v.push('i64'), a);
      return true;
    }
    default:
      return false;
  }
}

const FBINOPS: ReadonlySet<string> = new Set<FBinOp>(['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign']);
const FUNOPS: ReadonlySet<string> = new Set<FUnOp>(['abs', 'neg', 'sqrt', 'ceil', 'floor', 'trunc', 'nearest']);
const FCONDS: ReadonlySet<string> = new Set<FCond>(['eq', 'ne', 'lt', 'gt', 'le', 'ge']);

/** Every float operator and conversion (operators with an f32/f64 operand or result), from the opcode tables. */
const FLOAT_OPS: ReadonlySet<string> = new Set(
  [...SIMPLE_OPS.values(), ...FC_SIMPLE_OPS.values()].filter((o) => [...o.params, ...o.results].some(isFloatType)).map((o) => o.name),
);

/** Float operators, conversions and reinterpretations (`f64.add`, `i32.trunc_sat_f32_u`, …). */
function emitFloat(cx: Lowering, op: FloatOp): void {
  const { m } = cx;
  const v = cx.values;
  const [ty, name] = op.split('.') as [string, string];
  const double = ty === 'f64';
  if (FBINOPS.has(name)) {
    const b = v.pop();
    const a = v.pop();
    m.fbinop(name as FBinOp, double, v.push(ty as ValType), a, b);
    return;
  }
  if (FUNOPS.has(name)) {
    const a = v.pop();
    m.funop(name as FUnOp, double, v.push(ty as ValType), a);
    return;
  }
  if (FCONDS.has(name)) {
    const b = v.pop();
    const a = v.pop();
    m.fcompare(name as FCond, double, v.push('i32'), a, b);
    return;
  }
  // Conversions: `<to>.<what>_<from>[_s|_u]`.
  const parts = name.split('_');
  const to = ty as ValType;
  const a = v.pop();
  const dst = v.push(to);
  if (parts[0] === 'reinterpret') {
    // The same bits as a value of the other class (a general register ↔ float register move
    // with linear-scan, as Cranelift's bitcast; a slot copy with none).
    m.copySlot(dst, a);
    return;
  }
  switch (parts[0]) {
    case 'promote': m.fconvert({ kind: 'promote' }, dst, a); return;
    case 'demote': m.fconvert({ kind: 'demote' }, dst, a); return;
    case 'convert': m.fconvert({ kind: 'convert', double, wide: parts[1] === 'i64', signed: parts[2] === 's' }, dst, a); return;
    case 'trunc': {
      const saturating = parts[1] === 'sat';
      const from = saturating ? parts[2] : parts[1];
      const signed = parts[saturating ? 3 : 2] === 's';
      m.fconvert({ kind: 'trunc', double: from === 'f64', wide: to === 'i64', signed, saturating }, dst, a);
      return;
    }
  }
  throw new Error(`emitFloat: no lowering for '${op}'`);
}
