/**
 * Validation of a decoded module: the spec's algorithm (an operand-type stack and a control
 * stack, Appendix "Validation Algorithm") for function bodies, plus the module-level rules
 * (index ranges, limits, constant expressions, declared function references, unique exports).
 * It also annotates the IR for the code generator (see `Instr` in module.ts).
 */
import { CompileError } from './errors.ts';
import type { CompileErrorKind, CompileErrorSite } from './errors.ts';
import type { ConstExpr, DefinedFunction, FieldType, FuncType, Instr, StorageType, ValType, WasmModule } from './module.ts';
import { isDefaultable, isRefType, refType, refTypeParts, unpackedType } from './module.ts';
import { isCompositeSubtype, isValSubtype, topHeapType } from './subtyping.ts';
import { FB_SIMPLE_OPS, FC_SIMPLE_OPS, MEM_OPS, SIMPLE_OPS } from './opcodes.ts';

/** 2^16 pages of 64 KiB: the 32-bit memory's maximum. */
export const MAX_MEMORY_PAGES = 65536;

type StackType = ValType | 'unknown';

interface ControlFrame {
  readonly opcode: 'function' | 'block' | 'loop' | 'if' | 'else';
  readonly startTypes: readonly ValType[];
  readonly endTypes: readonly ValType[];
  readonly height: number;
  unreachable: boolean;
  /** The frame was entered in dead code: nothing in it, including its end, can run. */
  readonly enteredDead: boolean;
}

const LOAD_STORE_NAMES = new Map<string, { store: boolean; valType: ValType; width: number }>();
for (const info of MEM_OPS.values()) LOAD_STORE_NAMES.set(info.name, info);
const SIMPLE_BY_NAME = new Map<string, { params: readonly ValType[]; results: readonly ValType[] }>();
for (const info of SIMPLE_OPS.values()) SIMPLE_BY_NAME.set(info.name, info);
for (const info of FC_SIMPLE_OPS.values()) SIMPLE_BY_NAME.set(info.name, info);
for (const info of FB_SIMPLE_OPS.values()) SIMPLE_BY_NAME.set(info.name, info);

function moduleError(kind: CompileErrorKind, detail: string, site: CompileErrorSite = {}): CompileError {
  return new CompileError(kind, detail, site);
}

/** Validates `module` in place (and annotates its instructions); throws CompileError. */
export function validateModule(module: WasmModule): void {
  const { types, counts } = module;
  const numFuncs = module.funcTypeIndices.length;
  validateTypeSection(module);
  const isFuncTypeIndex = (i: number): boolean => module.typeDefs[i]?.composite.kind === 'func';
  const checkTypes = (ts: readonly ValType[], site: CompileErrorSite): void => {
    for (const t of ts) checkValType(module, t, types.length, site);
  };

  for (const imp of module.imports) {
    const site = { section: 'import', offset: imp.offset };
    if (imp.kind === 'func' && !isFuncTypeIndex(imp.typeIndex)) {
      throw moduleError('validation', `unknown type ${imp.typeIndex} in import "${imp.module}" "${imp.name}"${imp.typeIndex < types.length ? ' (not a function type)' : ''}`, site);
    }
    if (imp.kind === 'tag' && !isFuncTypeIndex(imp.typeIndex)) {
      throw moduleError('validation', `unknown type ${imp.typeIndex} in tag import "${imp.module}" "${imp.name}"${imp.typeIndex < types.length ? ' (not a function type)' : ''}`, site);
    }
    if (imp.kind === 'table') checkTypes([imp.type.elemType], site);
    if (imp.kind === 'global') checkTypes([imp.type.valType], site);
    if (imp.kind === 'table') checkLimits(imp.type.min, imp.type.max, 'table', 2 ** 32 - 1, site);
    if (imp.kind === 'memory') checkLimits(imp.type.min, imp.type.max, 'memory', MAX_MEMORY_PAGES, site);
  }
  for (const fn of module.functions) {
    if (!isFuncTypeIndex(fn.typeIndex)) {
      throw moduleError('validation', `unknown type ${fn.typeIndex} for function ${fn.index}${fn.typeIndex < types.length ? ' (not a function type)' : ''}`, { section: 'function', funcIndex: fn.index });
    }
    checkTypes(fn.locals, { section: 'code', funcIndex: fn.index });
  }
  for (const t of module.tags ?? []) {
    if (!isFuncTypeIndex(t.typeIndex)) throw moduleError('validation', `unknown type ${t.typeIndex} for a tag${t.typeIndex < types.length ? ' (not a function type)' : ''}`, { section: 'tag', offset: t.offset });
  }
  for (const t of module.tables) checkTypes([t.type.elemType], { section: 'table' });
  for (const g of module.globals) checkTypes([g.type.valType], { section: 'global' });
  for (const t of module.tables) checkLimits(t.type.min, t.type.max, 'table', 2 ** 32 - 1, { section: 'table' });
  for (const m of module.memories) checkLimits(m.type.min, m.type.max, 'memory', MAX_MEMORY_PAGES, { section: 'memory' });

  // C.refs: functions that ref.func may name in code (spec: those referenced outside function
  // bodies and the start section).
  const declaredRefs = new Set<number>();
  const checkConst = (expr: ConstExpr, expected: ValType, site: CompileErrorSite): void => {
    let actual: ValType;
    switch (expr.op) {
      case 'i32.const': actual = 'i32'; break;
      case 'i64.const': actual = 'i64'; break;
      case 'f32.const': actual = 'f32'; break;
      case 'f64.const': actual = 'f64'; break;
      case 'ref.null': actual = expr.type; break;
      case 'ref.func':
        if (expr.func >= numFuncs) throw moduleError('validation', `unknown function ${expr.func} in constant expression`, { ...site, instr: 'ref.func' });
        declaredRefs.add(expr.func);
        actual = 'funcref';
        break;
      case 'global.get': {
        if (expr.global >= counts.numImportedGlobals) {
          throw moduleError('validation', `unknown global ${expr.global} in constant expression (only imported globals may be read)`, { ...site, instr: 'global.get' });
        }
        const g = module.globalTypes[expr.global];
        if (g.mutable) throw moduleError('validation', `constant expression reads mutable global ${expr.global}`, { ...site, instr: 'global.get' });
        actual = g.valType;
        break;
      }
    }
    if (!isValSubtype(module, actual, expected)) throw moduleError('validation', `type mismatch in constant expression: expected ${expected}, got ${actual}`, site);
  };

  for (const g of module.globals) checkConst(g.init, g.type.valType, { section: 'global' });

  const exportNames = new Set<string>();
  for (const e of module.exports) {
    if (exportNames.has(e.name)) throw moduleError('validation', `duplicate export name "${e.name}"`, { section: 'export' });
    exportNames.add(e.name);
    const limit = e.kind === 'func' ? numFuncs : e.kind === 'table' ? module.tableTypes.length
      : e.kind === 'memory' ? module.memoryTypes.length : e.kind === 'tag' ? (module.tags?.length ?? 0) : module.globalTypes.length;
    if (e.index >= limit) throw moduleError('validation', `export "${e.name}" names unknown ${e.kind} ${e.index}`, { section: 'export' });
    if (e.kind === 'func') declaredRefs.add(e.index);
  }

  if (module.start !== null) {
    if (module.start >= numFuncs) throw moduleError('validation', `unknown start function ${module.start}`, { section: 'start' });
    const t = types[module.funcTypeIndices[module.start]];
    if (t.params.length !== 0 || t.results.length !== 0) {
      throw moduleError('validation', `start function ${module.start} must have type [] -> []`, { section: 'start', funcIndex: module.start });
    }
  }

  for (const seg of module.elements) {
    const site = { section: 'element', offset: seg.offset };
    if (seg.mode.kind === 'active') {
      const table = module.tableTypes[seg.mode.table];
      if (table === undefined) throw moduleError('validation', `element segment ${seg.index} names unknown table ${seg.mode.table}`, site);
      checkTypes([seg.elemType], site);
      if (!isValSubtype(module, seg.elemType, table.elemType)) {
        throw moduleError('validation', `type mismatch: element segment ${seg.index} of ${seg.elemType} for table ${seg.mode.table} of ${table.elemType}`, site);
      }
      checkConst(seg.mode.offsetExpr, 'i32', site);
    }
    for (const item of seg.items) checkConst(item, seg.elemType, site);
  }

  for (const d of module.datas) {
    if (d.mode.kind === 'active') {
      const site = { section: 'data', offset: d.offset };
      if (d.mode.memory >= module.memoryTypes.length) throw moduleError('validation', `data segment ${d.index} names unknown memory ${d.mode.memory}`, site);
      checkConst(d.mode.offsetExpr, 'i32', site);
    }
  }

  const validateFunction = functionValidator(module, declaredRefs);
  for (const fn of module.functions) validateFunction(fn);
}

/**
 * The type section's rules (GC proposal): a concrete heap type inside a definition names a type
 * of its own or an earlier rec group; a declared supertype is an earlier, non-final type of the
 * same kind that the definition's composite type is a subtype of.
 */
function validateTypeSection(module: WasmModule): void {
  const defs = module.typeDefs;
  defs.forEach((def, i) => {
    const site: CompileErrorSite = { section: 'type', offset: def.offset };
    const limit = def.recGroupStart + def.recGroupSize;
    const c = def.composite;
    if (c.kind === 'cont' && (c.funcType >= limit || defs[c.funcType]?.composite.kind !== 'func')) {
      throw moduleError('validation', `type ${i}: cont type names type ${c.funcType}, which is not a function type defined before it`, site);
    }
    const storages: StorageType[] = c.kind === 'func' ? [...c.type.params, ...c.type.results]
      : c.kind === 'struct' ? c.fields.map((f) => f.storage) : c.kind === 'cont' ? [] : [c.element.storage];
    for (const t of storages) if (t !== 'i8' && t !== 'i16') checkValType(module, t, limit, site);
    for (const sup of def.supertypes) {
      const supDef = sup < i ? defs[sup] : undefined;
      if (supDef === undefined) throw moduleError('validation', `type ${i}: supertype ${sup} must be a type defined before it`, site);
      if (supDef.final) throw moduleError('validation', `type ${i}: supertype ${sup} is final (sub final cannot be extended)`, site);
      if (!isCompositeSubtype(module, c, supDef.composite)) {
        throw moduleError('validation', `type ${i}: ${c.kind} type does not match its supertype ${sup} (${supDef.composite.kind}): sub type mismatch`, site);
      }
    }
  });
}

/** A value type's concrete heap type must name one of the first `limit` types. */
function checkValType(module: WasmModule, t: ValType, limit: number, site: CompileErrorSite): void {
  if (!isRefType(t)) return;
  const { heap } = refTypeParts(t);
  if (typeof heap === 'number' && heap >= limit) {
    throw moduleError('validation', `unknown type ${heap} in ${t}${heap < module.types.length ? ' (a later rec group)' : ''}`, site);
  }
}

function checkLimits(min: number, max: number | null, what: string, bound: number, site: CompileErrorSite): void {
  if (min > bound) throw moduleError('validation', `${what} minimum ${min} exceeds ${bound}`, site);
  if (max !== null && max > bound) throw moduleError('validation', `${what} maximum ${max} exceeds ${bound}`, site);
  if (max !== null && max < min) throw moduleError('validation', `${what} maximum ${max} is below its minimum ${min}`, site);
}

function typesToString(ts: readonly StackType[]): string {
  return `[${ts.join(' ')}]`;
}

/**
 * The spec's validation algorithm over one function body, for the bodies of `module`: its
 * helpers are made once per module, not once per function (they close over the state of the
 * body being validated, which each call resets).
 */
function functionValidator(module: WasmModule, declaredRefs: ReadonlySet<number>): (fn: DefinedFunction) => void {
  const { types } = module;
  const numFuncs = module.funcTypeIndices.length;
  let fn: DefinedFunction;
  let funcName: string | undefined;
  let params: readonly ValType[];
  let numLocals: number;
  const vals: StackType[] = [];
  const ctrls: ControlFrame[] = [];
  let maxHeight: number;
  let index: number;
  let instr: Instr;

  const fail: (detail: string) => never = (detail) => {
    const site: CompileErrorSite = { funcIndex: fn.index, instrIndex: index, instr: instr.op, offset: instr.offset, section: 'code' };
    throw new CompileError('validation', detail, funcName !== undefined ? { ...site, funcName } : site);
  };

  const push = (t: StackType): void => {
    vals.push(t);
    if (vals.length > maxHeight) maxHeight = vals.length;
  };
  const popAny = (): StackType => {
    const frame = ctrls[ctrls.length - 1];
    if (vals.length === frame.height) {
      if (frame.unreachable) return 'unknown';
      fail(`type mismatch in ${instr.op}: operand stack is empty`);
    }
    return vals.pop()!;
  };
  const pop = (expected: StackType): StackType => {
    const actual = popAny();
    if (actual !== expected && actual !== 'unknown' && expected !== 'unknown' && !isValSubtype(module, actual, expected)) {
      fail(`type mismatch in ${instr.op}: expected ${expected}, got ${actual}`);
    }
    return actual;
  };
  const popVals = (ts: readonly ValType[]): void => {
    for (let i = ts.length - 1; i >= 0; i--) pop(ts[i]);
  };
  /** Room for `n` more values above the stack's current height (temporaries of the code generator). */
  const reserve = (n: number): void => {
    if (vals.length + n > maxHeight) maxHeight = vals.length + n;
  };
  const pushVals = (ts: readonly StackType[]): void => {
    for (const t of ts) push(t);
  };
  const pushCtrl = (opcode: ControlFrame['opcode'], startTypes: readonly ValType[], endTypes: readonly ValType[], enteredDead: boolean): void => {
    ctrls.push({ opcode, startTypes, endTypes, height: vals.length, unreachable: false, enteredDead });
    pushVals(startTypes);
  };
  const popCtrl = (): ControlFrame => {
    const frame = ctrls[ctrls.length - 1];
    popVals(frame.endTypes);
    if (vals.length !== frame.height) {
      fail(`type mismatch at ${instr.op}: ${vals.length - frame.height} extra value(s) left on the stack, block type ${typesToString(frame.endTypes)}`);
    }
    ctrls.pop();
    return frame;
  };
  const labelTypes = (frame: ControlFrame): readonly ValType[] => (frame.opcode === 'loop' ? frame.startTypes : frame.endTypes);
  const setUnreachable = (): void => {
    const frame = ctrls[ctrls.length - 1];
    vals.length = frame.height;
    frame.unreachable = true;
  };
  const label = (depth: number): ControlFrame => {
    if (depth >= ctrls.length) fail(`unknown label: branch depth ${depth} exceeds the ${ctrls.length} enclosing block(s)`);
    return ctrls[ctrls.length - 1 - depth];
  };
  const local = (i: number): ValType => {
    if (i >= numLocals) fail(`unknown local ${i} (function has ${numLocals})`);
    return i < params.length ? params[i] : fn.locals[i - params.length];
  };
  const global = (i: number): { valType: ValType; mutable: boolean } => {
    const g = module.globalTypes[i];
    if (g === undefined) fail(`unknown global ${i}`);
    return g;
  };
  const table = (i: number): { elemType: ValType } => {
    const t = module.tableTypes[i];
    if (t === undefined) fail(`unknown table ${i}`);
    return t;
  };
  const memory = (i: number): void => {
    if (i >= module.memoryTypes.length) fail(`unknown memory ${i}`);
  };
  const elem = (i: number): ValType => {
    const e = module.elements[i];
    if (e === undefined) fail(`unknown element segment ${i}`);
    return e.elemType;
  };
  const data = (i: number): void => {
    if (module.dataCount === null) fail(`${instr.op} requires a data count section`);
    if (i >= module.dataCount) fail(`unknown data segment ${i}`);
  };
  const funcType = (typeIndex: number): FuncType => {
    const t = types[typeIndex];
    if (t === undefined) fail(`unknown type ${typeIndex}`);
    if (module.typeDefs[typeIndex].composite.kind !== 'func') fail(`type ${typeIndex} is a ${module.typeDefs[typeIndex].composite.kind} type, not a function type`);
    return t;
  };
  /** The function type of continuation type `typeIndex`. */
  const contFuncType = (typeIndex: number): FuncType => {
    const c = module.typeDefs[typeIndex]?.composite;
    if (c === undefined) fail(`unknown type ${typeIndex}`);
    if (c.kind !== 'cont') fail(`type ${typeIndex} is a ${c.kind} type, not a continuation type`);
    return types[c.funcType];
  };
  const tagType = (tag: number): FuncType => {
    const t = module.tags?.[tag];
    if (t === undefined) fail(`unknown tag ${tag}`);
    return funcType(t.typeIndex);
  };
  const sameTypes = (a: readonly ValType[], b: readonly ValType[]): boolean => a.length === b.length && a.every((x, j) => isValSubtype(module, x, b[j]) && isValSubtype(module, b[j], x));
  const valType = (t: ValType): ValType => {
    if (isRefType(t)) {
      const { heap } = refTypeParts(t);
      if (typeof heap === 'number' && heap >= types.length) fail(`unknown type ${heap} in ${t}`);
    }
    return t;
  };

  const structFields = (typeIndex: number): readonly FieldType[] => {
    const def = module.typeDefs[typeIndex];
    if (def === undefined) fail(`unknown type ${typeIndex}`);
    if (def.composite.kind !== 'struct') fail(`type ${typeIndex} is a ${def.composite.kind} type, not a struct type`);
    return def.composite.fields;
  };
  const arrayElement = (typeIndex: number): FieldType => {
    const def = module.typeDefs[typeIndex];
    if (def === undefined) fail(`unknown type ${typeIndex}`);
    if (def.composite.kind !== 'array') fail(`type ${typeIndex} is a ${def.composite.kind} type, not an array type`);
    return def.composite.element;
  };
  const packed = (t: StorageType): boolean => t === 'i8' || t === 'i16';
  /** The value a get leaves: `_s`/`_u` only for packed fields, the plain form only for the others. */
  const getResult = (op: string, f: FieldType): ValType => {
    const signed = op.endsWith('_s') || op.endsWith('_u');
    if (signed !== packed(f.storage)) fail(signed ? `${op} of a ${f.storage} field (only i8 and i16 fields are read with _s/_u)` : `${op} of a packed ${f.storage} field: use ${op}_s or ${op}_u`);
    return unpackedType(f.storage);
  };
  /** A ref.test/ref.cast operand: any reference in the target's hierarchy (its top, nullable). */
  const popCastOperand = (target: ValType): ValType | 'unknown' => {
    const { heap } = refTypeParts(target as ReturnType<typeof refType>);
    const top = refType(true, topHeapType(module, heap));
    return pop(top);
  };

  return (body: DefinedFunction): void => {
    fn = body;
    funcName = module.names.functions.get(fn.index);
    params = fn.type.params;
    numLocals = params.length + fn.locals.length;
    vals.length = 0;
    ctrls.length = 0;
    maxHeight = 0;
    index = 0;
    instr = fn.body[0];
    pushCtrl('function', [], fn.type.results, false);
    for (index = 0; index < fn.body.length; index++) {
      instr = fn.body[index];
      const frame = ctrls[ctrls.length - 1];
      if (frame === undefined) fail('instruction after the end of the function');
      const dead = frame.unreachable || frame.enteredDead;
      if (dead && instr.op !== 'else' && instr.op !== 'end') instr.dead = true;
      switch (instr.op) {
        case 'unreachable':
          setUnreachable();
          break;
        case 'nop':
          break;
        case 'return':
          popVals(fn.type.results);
          setUnreachable();
          break;
        case 'ref.is_null': {
          const t = popAny();
          if (t !== 'unknown' && !isRefType(t)) fail(`type mismatch in ref.is_null: expected a reference, got ${t}`);
          push('i32');
          break;
        }
        case 'i32.const': push('i32'); break;
        case 'i64.const': push('i64'); break;
        case 'f32.const': push('f32'); break;
        case 'f64.const': push('f64'); break;
        case 'local.get': push(local(instr.local)); break;
        case 'local.set': pop(local(instr.local)); break;
        case 'local.tee': {
          const t = local(instr.local);
          pop(t);
          push(t);
          break;
        }
        case 'global.get': push(global(instr.global).valType); break;
        case 'global.set': {
          const g = global(instr.global);
          if (!g.mutable) fail(`global ${instr.global} is immutable`);
          pop(g.valType);
          break;
        }
        case 'block':
        case 'loop':
        case 'if': {
          const bt = instr.blockType;
          if (bt.kind === 'typeIndex') instr.type = funcType(bt.index);
          else if (bt.kind === 'value') valType(bt.type);
          if (instr.op === 'if') pop('i32');
          popVals(instr.type.params);
          pushCtrl(instr.op, instr.type.params, instr.type.results, dead);
          break;
        }
        case 'else': {
          const f = popCtrl();
          if (f.opcode !== 'if') fail(`'else' does not belong to an 'if'`);
          if (f.enteredDead) instr.dead = true;
          pushCtrl('else', f.startTypes, f.endTypes, f.enteredDead);
          break;
        }
        case 'end': {
          const f = popCtrl();
          if (f.enteredDead) instr.dead = true;
          if (f.opcode === 'if' && typesToString(f.startTypes) !== typesToString(f.endTypes)) {
            fail(`type mismatch: 'if' without 'else' must have matching parameter and result types, has ${typesToString(f.startTypes)} -> ${typesToString(f.endTypes)}`);
          }
          pushVals(f.endTypes);
          break;
        }
        case 'br': {
          popVals(labelTypes(label(instr.depth)));
          setUnreachable();
          break;
        }
        case 'br_if': {
          pop('i32');
          const ts = labelTypes(label(instr.depth));
          popVals(ts);
          pushVals(ts);
          break;
        }
        case 'br_table': {
          pop('i32');
          const defaultTypes = labelTypes(label(instr.defaultDepth));
          const arity = defaultTypes.length;
          for (const depth of instr.depths) {
            const ts = labelTypes(label(depth));
            if (ts.length !== arity) fail(`type mismatch in br_table: target ${depth} has arity ${ts.length}, default target has ${arity}`);
            // Pop and push back so each target's types are checked against the same operands.
            const popped: StackType[] = [];
            for (let i = ts.length - 1; i >= 0; i--) popped.unshift(pop(ts[i]));
            pushVals(popped);
          }
          popVals(defaultTypes);
          setUnreachable();
          break;
        }
        case 'call': {
          if (instr.func >= numFuncs) fail(`unknown function ${instr.func}`);
          const t = types[module.funcTypeIndices[instr.func]];
          popVals(t.params);
          pushVals(t.results);
          break;
        }
        case 'call_indirect': {
          const tt = table(instr.table);
          if (!isValSubtype(module, tt.elemType, 'funcref')) fail(`call_indirect through table ${instr.table} of ${tt.elemType} (needs funcref)`);
          const t = funcType(instr.typeIndex);
          pop('i32');
          popVals(t.params);
          pushVals(t.results);
          break;
        }
        // The tail-call proposal: the callee's results must be the function's own results (the
        // callee returns to this function's caller); the rest of the block is unreachable.
        case 'return_call':
        case 'return_call_indirect': {
          let t: FuncType;
          if ('func' in instr) {
            if (instr.func >= numFuncs) fail(`unknown function ${instr.func}`);
            t = types[module.funcTypeIndices[instr.func]];
          } else {
            const tt = table(instr.table);
            if (!isValSubtype(module, tt.elemType, 'funcref')) fail(`return_call_indirect through table ${instr.table} of ${tt.elemType} (needs funcref)`);
            t = funcType(instr.typeIndex);
          }
          const own = fn.type.results;
          if (t.results.length !== own.length || t.results.some((r, k) => !isValSubtype(module, r, own[k]))) {
            fail(`type mismatch in ${instr.op}: the callee returns [${t.results.join(' ')}], the function returns [${own.join(' ')}]`);
          }
          if (instr.op === 'return_call_indirect') pop('i32');
          popVals(t.params);
          setUnreachable();
          break;
        }
        case 'drop': {
          const t = popAny();
          instr.type = t === 'unknown' ? null : t;
          break;
        }
        case 'select': {
          pop('i32');
          if (instr.typed) {
            const t = valType(instr.type!);
            pop(t);
            pop(t);
            push(t);
            break;
          }
          const t1 = popAny();
          const t2 = popAny();
          if ((t1 !== 'unknown' && isRefType(t1)) || (t2 !== 'unknown' && isRefType(t2))) fail(`type mismatch in select: untyped select of a reference needs 'select (result t)'`);
          if (t1 !== t2 && t1 !== 'unknown' && t2 !== 'unknown') fail(`type mismatch in select: operands ${t2} and ${t1} differ`);
          const t = t1 === 'unknown' ? t2 : t1;
          instr.type = t === 'unknown' ? null : t;
          push(t);
          break;
        }
        case 'ref.null': push(valType(instr.type)); break;
        case 'ref.func':
          if (instr.func >= numFuncs) fail(`unknown function ${instr.func}`);
          if (!declaredRefs.has(instr.func)) fail(`undeclared function reference: ref.func ${instr.func} needs the function in an element segment, export or global initializer`);
          push('funcref');
          break;
        case 'table.get': {
          const t = table(instr.table);
          pop('i32');
          push(t.elemType);
          break;
        }
        case 'table.set': {
          const t = table(instr.table);
          pop(t.elemType);
          pop('i32');
          break;
        }
        case 'table.size':
          table(instr.table);
          push('i32');
          break;
        case 'table.grow': {
          const t = table(instr.table);
          pop('i32');
          pop(t.elemType);
          push('i32');
          break;
        }
        case 'table.fill': {
          const t = table(instr.table);
          pop('i32');
          pop(t.elemType);
          pop('i32');
          break;
        }
        case 'table.copy': {
          const dst = table(instr.dstTable);
          const src = table(instr.srcTable);
          if (!isValSubtype(module, src.elemType, dst.elemType)) fail(`type mismatch in table.copy: ${src.elemType} table into ${dst.elemType} table`);
          pop('i32');
          pop('i32');
          pop('i32');
          break;
        }
        case 'table.init': {
          const t = table(instr.table);
          const e = elem(instr.elem);
          if (!isValSubtype(module, e, t.elemType)) fail(`type mismatch in table.init: ${e} segment into ${t.elemType} table`);
          pop('i32');
          pop('i32');
          pop('i32');
          break;
        }
        case 'elem.drop':
          elem(instr.elem);
          break;
        case 'memory.size':
          memory(instr.memory);
          push('i32');
          break;
        case 'memory.grow':
          memory(instr.memory);
          pop('i32');
          push('i32');
          break;
        case 'memory.fill':
          memory(instr.memory);
          pop('i32');
          pop('i32');
          pop('i32');
          break;
        case 'memory.copy':
          memory(instr.dstMemory);
          memory(instr.srcMemory);
          pop('i32');
          pop('i32');
          pop('i32');
          break;
        case 'memory.init':
          memory(instr.memory);
          data(instr.data);
          pop('i32');
          pop('i32');
          pop('i32');
          break;
        case 'data.drop':
          data(instr.data);
          break;
        case 'ref.as_non_null': {
          const t = popAny();
          if (t !== 'unknown' && !isRefType(t)) fail(`type mismatch in ref.as_non_null: expected a reference, got ${t}`);
          instr.type = t === 'unknown' ? null : t;
          push(t === 'unknown' ? 'unknown' : refType(false, refTypeParts(t).heap));
          break;
        }
        case 'struct.new':
        case 'struct.new_default': {
          const fields = structFields(instr.typeIndex);
          if (instr.op === 'struct.new') popVals(fields.map((f) => unpackedType(f.storage)));
          else for (const f of fields) if (!isDefaultable(f.storage)) fail(`struct.new_default of type ${instr.typeIndex}: field of type ${f.storage} has no default value`);
          push(refType(false, instr.typeIndex));
          break;
        }
        case 'struct.get':
        case 'struct.get_s':
        case 'struct.get_u':
        case 'struct.set': {
          const fields = structFields(instr.typeIndex);
          const f = fields[instr.field];
          if (f === undefined) fail(`unknown field ${instr.field} of struct type ${instr.typeIndex} (${fields.length} fields)`);
          if (instr.op === 'struct.set') {
            if (!f.mutable) fail(`struct.set of immutable field ${instr.field} of type ${instr.typeIndex}`);
            pop(unpackedType(f.storage));
            pop(refType(true, instr.typeIndex));
          } else {
            const t = getResult(instr.op, f);
            pop(refType(true, instr.typeIndex));
            push(t);
          }
          break;
        }
        case 'array.new':
        case 'array.new_default':
        case 'array.new_fixed': {
          const e = arrayElement(instr.typeIndex);
          if (instr.op === 'array.new_fixed') {
            for (let k = 0; k < instr.length; k++) pop(unpackedType(e.storage));
          } else {
            pop('i32');
            if (instr.op === 'array.new') pop(unpackedType(e.storage));
            else if (!isDefaultable(e.storage)) fail(`array.new_default of type ${instr.typeIndex}: elements of type ${e.storage} have no default value`);
          }
          push(refType(false, instr.typeIndex));
          break;
        }
        case 'array.get':
        case 'array.get_s':
        case 'array.get_u': {
          const t = getResult(instr.op, arrayElement(instr.typeIndex));
          pop('i32');
          pop(refType(true, instr.typeIndex));
          push(t);
          break;
        }
        case 'array.set': {
          const e = arrayElement(instr.typeIndex);
          if (!e.mutable) fail(`array.set of the immutable array type ${instr.typeIndex}`);
          pop(unpackedType(e.storage));
          pop('i32');
          pop(refType(true, instr.typeIndex));
          break;
        }
        case 'ref.test':
          valType(instr.type);
          popCastOperand(instr.type);
          push('i32');
          break;
        case 'ref.cast':
          valType(instr.type);
          popCastOperand(instr.type);
          push(instr.type);
          break;
        case 'cont.new': {
          contFuncType(instr.typeIndex);
          pop('funcref');
          push(`(ref ${instr.typeIndex})`);
          break;
        }
        case 'suspend': {
          const t = tagType(instr.tag);
          popVals(t.params);
          // The code generator keeps the switch's control context and control effect on the operand stack.
          reserve(1);
          pushVals(t.results);
          break;
        }
        case 'cont.bind': {
          // cont.bind $ct1 $ct2: $ct1 = cont [t1* t2*] -> [t3*], $ct2 = cont [t2*] -> [t3*].
          const from = contFuncType(instr.typeIndex);
          const to = contFuncType(instr.resultType);
          const bound = from.params.length - to.params.length;
          const rest = from.params.slice(Math.max(bound, 0));
          if (bound < 0 || !to.params.every((p, j) => isValSubtype(module, p, rest[j])) || !sameTypes(from.results, to.results)) {
            fail(`type mismatch in cont.bind: type ${instr.resultType} ([${to.params.join(' ')}] -> [${to.results.join(' ')}]) is not type ${instr.typeIndex} ([${from.params.join(' ')}] -> [${from.results.join(' ')}]) with its first arguments bound`);
          }
          pop(`(ref null ${instr.typeIndex})`);
          popVals(from.params.slice(0, bound));
          push(`(ref ${instr.resultType})`);
          break;
        }
        case 'switch': {
          // switch $ct1 $e: $ct1 = cont [t1* (ref null? $ct2)] -> [te*], $ct2 = cont [t2*] -> [te*],
          // $e = [] -> [te*]; pops t1* and the $ct1, pushes t2*.
          const ft = contFuncType(instr.typeIndex);
          const t = tagType(instr.tag);
          const last = ft.params[ft.params.length - 1];
          const heap = last !== undefined && isRefType(last) ? refTypeParts(last).heap : undefined;
          if (typeof heap !== 'number' || module.typeDefs[heap]?.composite.kind !== 'cont') {
            fail(`type mismatch in switch: the last parameter of continuation type ${instr.typeIndex} must be a continuation reference, got [${ft.params.join(' ')}]`);
          }
          const back = contFuncType(heap);
          if (t.params.length !== 0 || !sameTypes(t.results, ft.results) || !sameTypes(back.results, ft.results)) {
            fail(`type mismatch in switch: tag ${instr.tag} ([${t.params.join(' ')}] -> [${t.results.join(' ')}]) and the continuation types ${instr.typeIndex} and ${heap} must all return [${ft.results.join(' ')}] (the tag taking nothing)`);
          }
          pop(`(ref null ${instr.typeIndex})`);
          popVals(ft.params.slice(0, -1));
          // The code generator keeps the switch's control context on the operand stack.
          reserve(1);
          pushVals(back.params);
          break;
        }
        case 'resume': {
          const ft = contFuncType(instr.typeIndex);
          for (const h of instr.handlers) {
            const t = tagType(h.tag);
            if (h.depth === 'switch') {
              // A switch tag takes nothing; what it returns is what the resumed chain returns.
              if (t.params.length !== 0 || !sameTypes(t.results, ft.results)) {
                fail(`type mismatch in resume: handler (on ${h.tag} switch) needs a tag of [] -> [${ft.results.join(' ')}], got [${t.params.join(' ')}] -> [${t.results.join(' ')}]`);
              }
              continue;
            }
            const want = labelTypes(label(h.depth));
            const last = want[want.length - 1];
            const heap = last !== undefined && isRefType(last) ? refTypeParts(last).heap : undefined;
            const ok = want.length === t.params.length + 1 && t.params.every((p, j) => isValSubtype(module, p, want[j]))
              && typeof heap === 'number' && module.typeDefs[heap]?.composite.kind === 'cont'
              && sameTypes(contFuncType(heap).params, t.results) && sameTypes(contFuncType(heap).results, ft.results);
            if (!ok) fail(`type mismatch in resume: handler (on ${h.tag} ${h.depth}) needs a label of [${[...t.params, `(ref $cont [${t.results.join(' ')}] -> [${ft.results.join(' ')}])`].join(' ')}], got [${want.join(' ')}]`);
          }
          pop(`(ref null ${instr.typeIndex})`);
          popVals(ft.params);
          // The code generator keeps the handler's number on the operand stack under a handler's values.
          reserve(1 + Math.max(1, ...instr.handlers.map((h) => (h.depth === 'switch' ? 0 : labelTypes(label(h.depth)).length))));
          pushVals(ft.results);
          break;
        }
        default: {
          const memInfo = LOAD_STORE_NAMES.get(instr.op);
          if (memInfo !== undefined && 'memarg' in instr) {
            memory(instr.memory);
            if (2 ** instr.memarg.align > memInfo.width) fail(`alignment 2^${instr.memarg.align} exceeds the natural alignment ${memInfo.width} of ${instr.op}`);
            if (memInfo.store) {
              pop(memInfo.valType);
              pop('i32');
            } else {
              pop('i32');
              push(memInfo.valType);
            }
            break;
          }
          const sig = SIMPLE_BY_NAME.get(instr.op);
          if (sig === undefined) fail(`internal: no validation rule for ${instr.op}`);
          popVals(sig.params);
          pushVals(sig.results);
        }
      }
    }
    if (ctrls.length !== 0) {
      index = fn.body.length - 1;
      fail('function body ends inside a block');
    }
    fn.maxStackHeight = maxHeight;
  };
}
