/**
 * The binary decoder: Wasm bytes → the module IR, checking everything the *binary format*
 * requires (LEB128 ranges, section order and sizes, UTF-8 names, matched structured control,
 * function/code and data-count agreement) and rejecting features outside the subset. Typing
 * rules and index ranges are the validator's job (validate.ts); the decoder never indexes a
 * table with an unchecked number, so any byte string ends as a module or a CompileError.
 */
import { CompileError } from './errors.ts';
import type { CompileErrorKind, CompileErrorSite } from './errors.ts';
import type {
  AbsHeapType,
  BlockType,
  CompositeType,
  ConstExpr,
  DataSegment,
  DefinedFunction,
  DefinedGlobal,
  DefinedMemory,
  DefinedTable,
  ElementMode,
  ElementSegment,
  Export,
  ExternKind,
  FieldType,
  FuncType,
  HeapType,
  GlobalType,
  Import,
  Instr,
  MemoryType,
  ModuleCounts,
  ModuleNames,
  RefType,
  ResumeHandler,
  StorageType,
  SubType,
  TableType,
  ValType,
  WasmModule,
} from './module.ts';
import { isRefType, refType } from './module.ts';
import { canonicalizeTypes } from './subtyping.ts';
import { FB_SIMPLE_OPS, UNSUPPORTED_FB_OPS, FC_SIMPLE_OPS, IMMEDIATE_OPS, MEM_OPS, SIMPLE_OPS, UNSUPPORTED_FC_OPS, UNSUPPORTED_OPS, UNSUPPORTED_PREFIXES } from './opcodes.ts';

/** wasmtime's (wasmparser's) limit on the locals of one function. */
export const MAX_LOCALS = 50_000;

/** Wasm 2.0 allows one memory: a second is invalid unless the multi-memory proposal is on. */
const SECOND_MEMORY = 'multiple memories: a module may have one memory (stackscope does not support the multi-memory proposal)';

/** Tags (import/export kind 4, section 13) belong to exception handling; without it, as in
 * Wasm 2.0, they are malformed. */
/** wasmtime v44.0.0's code translator refuses `resume_throw` and `resume_throw_ref` (they need exception handling). */
const RESUME_THROW = (op: string): string => `'${op}' is not supported: wasmtime v44.0.0 refuses it too ('resume.throw instructions not supported, yet': it needs exception handling)`;
const NO_EXCEPTIONS = 'tags need the exception-handling proposal, which stackscope does not support';
/** wasmparser's limit on the results of a function type or block type. */
export const MAX_FUNCTION_PARAMS_OR_RESULTS = 1_000;

const SECTION_NAMES: Record<number, string> = {
  0: 'custom', 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global',
  7: 'export', 8: 'start', 9: 'element', 10: 'code', 11: 'data', 12: 'data count', 13: 'tag',
};
/** Position of each non-custom section in the mandatory order (the tag section sits before globals). */
const SECTION_RANK: Record<number, number> = {
  1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13,
};

/**
 * Names are UTF-8 byte sequences kept as they are: a leading U+FEFF is part of the name (an
 * export may be called "\u{feff}" beside ""), so the decoder must not take it as a byte-order mark.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A cursor over a byte range; every read is bounds-checked against `end`. */
class Reader {
  pos: number;
  end: number;
  section: string | undefined;
  /** Extra site facts (function and instruction) while decoding a code entry. */
  site: CompileErrorSite = {};

  constructor(readonly bytes: Uint8Array, pos: number, end: number, section?: string) {
    this.pos = pos;
    this.end = end;
    this.section = section;
  }

  fail(detail: string, at: number = this.pos, kind: CompileErrorKind = 'malformed', extra: CompileErrorSite = {}): never {
    const site: CompileErrorSite = { ...this.site, offset: at, ...extra };
    throw new CompileError(kind, detail, this.section !== undefined ? { section: this.section, ...site } : site);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of ' + (this.section ? `${this.section} section` : 'input'));
    return this.bytes[this.pos++];
  }

  peek(): number {
    if (this.pos >= this.end) this.fail('unexpected end of ' + (this.section ? `${this.section} section` : 'input'));
    return this.bytes[this.pos];
  }

  u32(): number {
    const start = this.pos;
    let result = 0;
    for (let i = 0; ; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0x80) this.fail('integer representation too long', start);
        if (b & 0x70) this.fail('integer too large', start);
        return result + (b & 0x0f) * 2 ** 28;
      }
      result += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) return result;
    }
  }

  s32(): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; ; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0x80) this.fail('integer representation too long', start);
        // Bits 28..31 carry value; the three unused bits must repeat bit 31 (the sign).
        const high = b & 0x78;
        if (high !== 0 && high !== 0x78) this.fail('integer too large', start);
        return (result | ((b & 0x0f) << 28)) | 0;
      }
      result |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) {
        if (b & 0x40) result |= ~0 << shift;
        return result | 0;
      }
    }
  }

  /** Signed LEB128 of `bits` bits as a bigint (s33 block types, s64 constants). */
  signed(bits: number): bigint {
    const start = this.pos;
    const maxBytes = Math.ceil(bits / 7);
    let result = 0n;
    for (let i = 0; ; i++) {
      const b = this.u8();
      if (i === maxBytes - 1) {
        if (b & 0x80) this.fail('integer representation too long', start);
        const valueBits = bits - 7 * (maxBytes - 1);
        const signMask = (0x7f >> (valueBits - 1)) << (valueBits - 1);
        const high = b & signMask;
        if (high !== 0 && high !== signMask) this.fail('integer too large', start);
      }
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) {
        const width = BigInt(7 * (i + 1));
        return BigInt.asIntN(bits, (b & 0x40) ? result - (1n << width) : result);
      }
    }
  }

  take(n: number): Uint8Array {
    if (n > this.remaining) this.fail(`unexpected end: ${n} bytes needed, ${this.remaining} left`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  name(): string {
    const start = this.pos;
    const len = this.u32();
    const raw = this.take(len);
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail('malformed UTF-8 encoding', start);
    }
  }

  /** A vector length; each element takes at least `minSize` bytes, so bigger counts are lies. */
  count(what: string, minSize = 1): number {
    const start = this.pos;
    const n = this.u32();
    if (n * minSize > this.remaining) this.fail(`${what} count ${n} exceeds the remaining ${this.remaining} bytes`, start);
    return n;
  }

  /** A 4-byte little-endian f32 immediate, as its bit pattern (u32). */
  f32Bits(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  /** An 8-byte little-endian f64 immediate, as its bit pattern (u64). */
  f64Bits(): bigint {
    const low = BigInt(this.f32Bits());
    return (BigInt(this.f32Bits()) << 32n) | low;
  }

  valType(): ValType {
    const at = this.pos;
    return decodeValType(this, this.u8(), at);
  }

  refType(): RefType {
    const at = this.pos;
    const t = decodeValType(this, this.u8(), at);
    if (!isRefType(t)) this.fail(`expected a reference type, got ${t}`, at);
    return t;
  }

  /** A heap type: an abstract type's byte or a type index (s33). */
  heapType(): HeapType {
    const at = this.pos;
    const b = this.peek();
    const abs = ABSTRACT_HEAP_BYTES.get(b);
    if (abs !== undefined) {
      this.pos++;
      return abs;
    }
    if (b === 0x69 || b === 0x74) this.fail(`heap type 0x${b.toString(16)} (exceptions) is not supported`, at, 'unsupported');
    const ht = this.signed(33);
    if (ht < 0n) this.fail(`malformed heap type 0x${b.toString(16)}`, at);
    return Number(ht);
  }
}

/** The abstract heap types by their one-byte encoding (also the nullable shorthand's byte). */
const ABSTRACT_HEAP_BYTES = new Map<number, AbsHeapType>([
  [0x73, 'nofunc'], [0x72, 'noextern'], [0x71, 'none'], [0x70, 'func'], [0x6f, 'extern'],
  [0x6e, 'any'], [0x6d, 'eq'], [0x6c, 'i31'], [0x6b, 'struct'], [0x6a, 'array'], [0x68, 'cont'], [0x75, 'nocont'],
]);

function decodeValType(r: Reader, b: number, at: number): ValType {
  switch (b) {
    case 0x7f: return 'i32';
    case 0x7e: return 'i64';
    case 0x7d: return 'f32';
    case 0x7c: return 'f64';
    case 0x7b: return r.fail('value type v128 is not supported (SIMD)', at, 'unsupported');
    case 0x64:
    case 0x63: return refType(b === 0x63, r.heapType());
    default: {
      const abs = ABSTRACT_HEAP_BYTES.get(b);
      if (abs !== undefined) return refType(true, abs);
      if (b === 0x69 || b === 0x74) return r.fail(`reference type 0x${b.toString(16)} (exceptions) is not supported`, at, 'unsupported');
      return r.fail(`malformed value type 0x${b.toString(16)}`, at);
    }
  }
}

/** A field's storage type: a value type or a packed i8 (0x78) / i16 (0x77). */
function decodeFieldType(r: Reader): FieldType {
  const at = r.pos;
  const b = r.u8();
  const storage: StorageType = b === 0x78 ? 'i8' : b === 0x77 ? 'i16' : decodeValType(r, b, at);
  const mAt = r.pos;
  const m = r.u8();
  if (m > 1) r.fail(`malformed mutability 0x${m.toString(16)}`, mAt);
  return { storage, mutable: m === 1 };
}

/** wasmparser's limit on the fields of a struct type. */
export const MAX_STRUCT_FIELDS = 10_000;
/** wasmparser's limit on the types of a module. */
export const MAX_TYPES = 1_000_000;

function decodeCompositeType(r: Reader, form: number, at: number): CompositeType {
  switch (form) {
    case 0x60: {
      const np = r.count('parameter');
      if (np > MAX_FUNCTION_PARAMS_OR_RESULTS) r.fail(`function type has ${np} parameters (limit ${MAX_FUNCTION_PARAMS_OR_RESULTS})`, at, 'limit');
      const params: ValType[] = [];
      for (let j = 0; j < np; j++) params.push(r.valType());
      const nr = r.count('result');
      if (nr > MAX_FUNCTION_PARAMS_OR_RESULTS) r.fail(`function type has ${nr} results (limit ${MAX_FUNCTION_PARAMS_OR_RESULTS})`, at, 'limit');
      const results: ValType[] = [];
      for (let j = 0; j < nr; j++) results.push(r.valType());
      return { kind: 'func', type: { params, results } };
    }
    case 0x5f: {
      const n = r.count('field', 2);
      if (n > MAX_STRUCT_FIELDS) r.fail(`struct type has ${n} fields (limit ${MAX_STRUCT_FIELDS})`, at, 'limit');
      const fields: FieldType[] = [];
      for (let j = 0; j < n; j++) fields.push(decodeFieldType(r));
      return { kind: 'struct', fields };
    }
    case 0x5e:
      return { kind: 'array', element: decodeFieldType(r) };
    case 0x5d:
      return { kind: 'cont', funcType: r.u32() };
    default:
      return r.fail(`malformed composite type form 0x${form.toString(16)}`, at);
  }
}

/** One `subtype`: `0x50 vec(typeidx) comptype`, `0x4f vec(typeidx) comptype` (final) or a bare comptype (final, no supertypes). */
function decodeSubType(r: Reader, recGroupStart: number, recGroupSize: number): SubType {
  const at = r.pos;
  const form = r.u8();
  if (form === 0x50 || form === 0x4f) {
    const n = r.count('supertype');
    if (n > 1) r.fail(`type has ${n} supertypes (at most 1)`, at, 'validation');
    const supertypes: number[] = [];
    for (let j = 0; j < n; j++) supertypes.push(r.u32());
    const cAt = r.pos;
    const composite = decodeCompositeType(r, r.u8(), cAt);
    return { final: form === 0x4f, supertypes, composite, recGroupStart, recGroupSize, offset: at };
  }
  return { final: true, supertypes: [], composite: decodeCompositeType(r, form, at), recGroupStart, recGroupSize, offset: at };
}

/** The type section: rec groups (0x4e) and single definitions, flattened into type indices. */
function decodeTypeSection(s: Reader, typeDefs: SubType[], types: FuncType[]): void {
  const n = s.count('type');
  for (let i = 0; i < n; i++) {
    const at = s.pos;
    const size = s.peek() === 0x4e ? (s.pos++, s.count('rec group type')) : -1;
    const start = typeDefs.length;
    const groupSize = size < 0 ? 1 : size;
    if (start + groupSize > MAX_TYPES) s.fail(`more than ${MAX_TYPES} types`, at, 'limit');
    for (let k = 0; k < groupSize; k++) {
      const def = decodeSubType(s, start, groupSize);
      typeDefs.push(def);
      types.push(def.composite.kind === 'func' ? def.composite.type : NOT_A_FUNC_TYPE);
    }
  }
}

/** What `WasmModule.types` holds for a type index that is not a function type. */
const NOT_A_FUNC_TYPE: FuncType = Object.freeze({ params: Object.freeze([]), results: Object.freeze([]) });

function decodeLimits(r: Reader, what: 'table' | 'memory'): { min: number; max: number | null } {
  const at = r.pos;
  const flags = r.u8();
  if (flags > 1) {
    if (what === 'memory' && (flags === 2 || flags === 3)) r.fail('shared memories are not supported (threads)', at, 'unsupported');
    if (flags >= 4 && flags <= 7) r.fail(`64-bit ${what}s are not supported (memory64)`, at, 'unsupported');
    r.fail(`malformed ${what} limits flags 0x${flags.toString(16)}`, at);
  }
  const min = r.u32();
  const max = flags === 1 ? r.u32() : null;
  return { min, max };
}

function decodeTableType(r: Reader): TableType {
  const elemType = r.refType();
  const { min, max } = decodeLimits(r, 'table');
  return { elemType, min, max };
}

function decodeMemoryType(r: Reader): MemoryType {
  const { min, max } = decodeLimits(r, 'memory');
  return { min, max, shared: false };
}

function decodeGlobalType(r: Reader): GlobalType {
  const valType = r.valType();
  const at = r.pos;
  const m = r.u8();
  if (m > 1) r.fail(`malformed mutability 0x${m.toString(16)}`, at);
  return { valType, mutable: m === 1 };
}

/** The immediate of ref.null: a heap type, as the nullable reference type the instruction pushes. */
function decodeHeapType(r: Reader): RefType {
  return refType(true, r.heapType());
}

const EXTENDED_CONST_OPS = new Set([0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e]);
const CONST_EXPR_OPS = new Set([0x41, 0x42, 0x43, 0x44, 0xd0, 0xd2, 0x23]);

/** A constant expression: exactly one of the subset's constant instructions, then `end`. */
function decodeConstExpr(r: Reader): ConstExpr {
  const at = r.pos;
  const op = r.u8();
  let expr: ConstExpr;
  switch (op) {
    case 0x41: expr = { op: 'i32.const', value: r.s32() }; break;
    case 0x42: expr = { op: 'i64.const', value: r.signed(64) }; break;
    case 0x43: expr = { op: 'f32.const', bits: r.f32Bits() }; break;
    case 0x44: expr = { op: 'f64.const', bits: r.f64Bits() }; break;
    case 0xd0: expr = { op: 'ref.null', type: decodeHeapType(r) }; break;
    case 0xd2: expr = { op: 'ref.func', func: r.u32() }; break;
    case 0x23: expr = { op: 'global.get', global: r.u32() }; break;
    case 0x0b: return r.fail('type mismatch: empty constant expression', at, 'validation');
    default:
      return failNonConst(r, op, at);
  }
  // Anything more is either an extended constant expression (arithmetic over constants) or
  // a type error (several values); tell them apart before complaining.
  let extraValues = 0;
  let extendedAt = -1;
  for (;;) {
    const nextAt = r.pos;
    const next = r.u8();
    if (next === 0x0b) break;
    if (EXTENDED_CONST_OPS.has(next)) {
      if (extendedAt < 0) extendedAt = nextAt;
    } else if (next === 0x41) r.s32();
    else if (next === 0x42) r.signed(64);
    else if (next === 0x43) r.f32Bits();
    else if (next === 0x44) r.f64Bits();
    else if (next === 0x23) r.u32();
    else if (next === 0xd2) r.u32();
    else if (next === 0xd0) decodeHeapType(r);
    else failNonConst(r, next, nextAt);
    if (CONST_EXPR_OPS.has(next)) extraValues++;
  }
  if (extendedAt >= 0) failNonConst(r, r.bytes[extendedAt], extendedAt);
  if (extraValues > 0) r.fail('type mismatch: constant expression leaves more than one value', at, 'validation');
  return expr;
}

function failNonConst(r: Reader, op: number, at: number): never {
  if (EXTENDED_CONST_OPS.has(op)) {
    const name = SIMPLE_OPS.get(op)?.name ?? `0x${op.toString(16)}`;
    r.fail(`extended constant expressions are not supported ('${name}')`, at, 'unsupported', { instr: name });
  }
  const unsupported = UNSUPPORTED_OPS.get(op);
  if (unsupported !== undefined) r.fail(`'${unsupported}' is not supported`, at, 'unsupported', { instr: unsupported });
  if (UNSUPPORTED_PREFIXES.has(op)) r.fail(`${UNSUPPORTED_PREFIXES.get(op)} instructions are not supported`, at, 'unsupported');
  const known = SIMPLE_OPS.get(op)?.name ?? MEM_OPS.get(op)?.name;
  if (known !== undefined || KNOWN_OTHER_OPS.has(op)) {
    r.fail(`constant expression required, found '${known ?? KNOWN_OTHER_OPS.get(op)}'`, at, 'validation');
  }
  return r.fail(`illegal opcode 0x${op.toString(16)} in constant expression`, at);
}

/** Single-byte opcodes with immediates, by name (for 'constant expression required' errors). */
const KNOWN_OTHER_OPS = new Map<number, string>([
  ...IMMEDIATE_OPS.filter((o) => o.opcode.length === 1).map((o): [number, string] => [o.opcode[0], o.name]),
  [0xfc, '0xfc prefix'],
]);

function decodeBlockType(r: Reader): BlockType {
  const at = r.pos;
  const b = r.peek();
  if (b === 0x40) {
    r.pos++;
    return { kind: 'empty' };
  }
  // A negative one-byte s33 is a value type; a non-negative s33 is a type index.
  if ((b & 0xc0) === 0x40) {
    r.pos++;
    return { kind: 'value', type: decodeValType(r, b, at) };
  }
  const index = r.signed(33);
  if (index < 0n) r.fail(`malformed block type`, at);
  return { kind: 'typeIndex', index: Number(index) };
}

/**
 * The memory immediate of memory.size/grow/fill/copy/init. Without the multi-memory proposal
 * (not enabled here) Wasm 2.0 encodes it as one reserved byte that must be 0x00: neither another
 * value nor a longer LEB128 spelling of zero (`80 00`) is well-formed.
 */
function memoryIndexImmediate(r: Reader, instr: string): number {
  const at = r.pos;
  const b = r.u8();
  if (b !== 0x00) {
    const spelled = (b & 0x80) !== 0 ? 'a multi-byte LEB128' : `0x${b.toString(16).padStart(2, '0')}`;
    r.fail(`zero byte expected: '${instr}' has a reserved memory byte that must be the single byte 0x00, found ${spelled} (multi-memory is not enabled)`, at, 'malformed', { instr });
  }
  return 0;
}

/** Decodes one function body's instructions, matching structured control as it goes. */
function decodeBody(r: Reader, funcIndex: number, types: readonly FuncType[]): Instr[] {
  const body: Instr[] = [];
  const open: number[] = []; // instruction indices of enclosing block/loop/if
  // One site object per body, updated per instruction (Reader.fail copies it).
  const site = { funcIndex, instrIndex: 0 };
  r.site = site;
  for (;;) {
    const at = r.pos;
    site.instrIndex = body.length;
    if (r.pos >= r.end) r.fail('unexpected end of function body (missing end)');
    const op = r.u8();
    const simple = SIMPLE_OPS.get(op);
    if (simple !== undefined) {
      body.push({ op: simple.name, offset: at });
      continue;
    }
    const mem = MEM_OPS.get(op);
    if (mem !== undefined) {
      const alignAt = r.pos;
      const align = r.u32();
      // Bit 6 of the flags announces a memory index (multi-memory); without that proposal, as
      // in Wasm 2.0, the flags are malformed.
      if (align & 0x40) r.fail(`malformed memop flags 0x${align.toString(16)} in '${mem.name}' (a memory index needs multiple memories, which stackscope does not support)`, alignAt, 'malformed', { instr: mem.name });
      const offset = r.u32();
      body.push({ op: mem.name, memarg: { align, offset }, memory: 0, offset: at });
      continue;
    }
    switch (op) {
      case 0x02:
      case 0x03:
      case 0x04: {
        const blockType = decodeBlockType(r);
        const type: FuncType =
          blockType.kind === 'empty' ? { params: [], results: [] }
          : blockType.kind === 'value' ? { params: [], results: [blockType.type] }
          // An out-of-range index is left empty here and rejected by the validator.
          : types[blockType.index] ?? { params: [], results: [] };
        open.push(body.length);
        const name = op === 0x02 ? 'block' : op === 0x03 ? 'loop' : 'if';
        body.push({ op: name, blockType, type, else: -1, end: -1, offset: at });
        break;
      }
      case 0x05: {
        const opener = open.length > 0 ? open[open.length - 1] : -1;
        const ifInstr = opener >= 0 ? body[opener] : undefined;
        if (ifInstr === undefined || ifInstr.op !== 'if' || ifInstr.else !== -1) r.fail(`'else' without a matching 'if'`, at, 'malformed', { instr: 'else' });
        ifInstr.else = body.length;
        body.push({ op: 'else', opener, offset: at });
        break;
      }
      case 0x0b: {
        const opener = open.pop();
        if (opener === undefined) {
          body.push({ op: 'end', opener: -1, offset: at });
          if (r.pos !== r.end) r.fail('operators remaining after the end of the function body', r.pos, 'malformed', { instrIndex: body.length });
          return body;
        }
        const openInstr = body[opener];
        if (openInstr.op === 'block' || openInstr.op === 'loop' || openInstr.op === 'if') openInstr.end = body.length;
        body.push({ op: 'end', opener, offset: at });
        break;
      }
      case 0x0c: body.push({ op: 'br', depth: r.u32(), offset: at }); break;
      case 0x0d: body.push({ op: 'br_if', depth: r.u32(), offset: at }); break;
      case 0x0e: {
        const n = r.count('br_table target');
        const depths: number[] = new Array(n);
        for (let i = 0; i < n; i++) depths[i] = r.u32();
        body.push({ op: 'br_table', depths, defaultDepth: r.u32(), offset: at });
        break;
      }
      case 0x10: body.push({ op: 'call', func: r.u32(), offset: at }); break;
      case 0x11: {
        const typeIndex = r.u32();
        body.push({ op: 'call_indirect', typeIndex, table: r.u32(), offset: at });
        break;
      }
      case 0x12: body.push({ op: 'return_call', func: r.u32(), offset: at }); break;
      case 0x13: {
        const typeIndex = r.u32();
        body.push({ op: 'return_call_indirect', typeIndex, table: r.u32(), offset: at });
        break;
      }
      case 0x1a: body.push({ op: 'drop', type: null, offset: at }); break;
      case 0x1b: body.push({ op: 'select', typed: false, type: null, offset: at }); break;
      case 0x1c: {
        const n = r.count('select type');
        if (n !== 1) r.fail(`typed select must have exactly one result type, has ${n}`, at, 'validation', { instr: 'select' });
        body.push({ op: 'select', typed: true, type: r.valType(), offset: at });
        break;
      }
      case 0x20: body.push({ op: 'local.get', local: r.u32(), offset: at }); break;
      case 0x21: body.push({ op: 'local.set', local: r.u32(), offset: at }); break;
      case 0x22: body.push({ op: 'local.tee', local: r.u32(), offset: at }); break;
      case 0x23: body.push({ op: 'global.get', global: r.u32(), offset: at }); break;
      case 0x24: body.push({ op: 'global.set', global: r.u32(), offset: at }); break;
      case 0x25: body.push({ op: 'table.get', table: r.u32(), offset: at }); break;
      case 0x26: body.push({ op: 'table.set', table: r.u32(), offset: at }); break;
      case 0x3f: body.push({ op: 'memory.size', memory: memoryIndexImmediate(r, 'memory.size'), offset: at }); break;
      case 0x40: body.push({ op: 'memory.grow', memory: memoryIndexImmediate(r, 'memory.grow'), offset: at }); break;
      case 0x41: body.push({ op: 'i32.const', value: r.s32(), offset: at }); break;
      case 0x42: body.push({ op: 'i64.const', value: r.signed(64), offset: at }); break;
      case 0x43: body.push({ op: 'f32.const', bits: r.f32Bits(), offset: at }); break;
      case 0x44: body.push({ op: 'f64.const', bits: r.f64Bits(), offset: at }); break;
      case 0xd0: body.push({ op: 'ref.null', type: decodeHeapType(r), offset: at }); break;
      case 0xd2: body.push({ op: 'ref.func', func: r.u32(), offset: at }); break;
      case 0xd4: body.push({ op: 'ref.as_non_null', type: null, offset: at }); break;
      case 0xfc: decodeFcInstr(r, body, at); break;
      case 0xfb: decodeFbInstr(r, body, at); break;
      case 0xe0: body.push({ op: 'cont.new', typeIndex: r.u32(), offset: at }); break;
      case 0xe1: body.push({ op: 'cont.bind', typeIndex: r.u32(), resultType: r.u32(), offset: at }); break;
      case 0xe2: body.push({ op: 'suspend', tag: r.u32(), offset: at }); break;
      case 0xe4: r.fail(RESUME_THROW('resume_throw'), at, 'unsupported', { instr: 'resume_throw' }); break;
      case 0xe5: r.fail(RESUME_THROW('resume_throw_ref'), at, 'unsupported', { instr: 'resume_throw_ref' }); break;
      // The proposal's current opcode (0xe5 until resume_throw_ref took it), as wasmparser and Binaryen read it.
      case 0xe6: body.push({ op: 'switch', typeIndex: r.u32(), tag: r.u32(), offset: at }); break;
      case 0xe3: {
        const typeIndex = r.u32();
        const n = r.count('handler', 2);
        const handlers: ResumeHandler[] = [];
        for (let j = 0; j < n; j++) {
          const hAt = r.pos;
          const kind = r.u8();
          if (kind === 0x00) handlers.push({ tag: r.u32(), depth: r.u32() });
          else if (kind === 0x01) handlers.push({ tag: r.u32(), depth: 'switch' });
          else r.fail(`malformed resume handler 0x${kind.toString(16)}`, hAt);
        }
        body.push({ op: 'resume', typeIndex, handlers, offset: at });
        break;
      }
      default: {
        const unsupported = UNSUPPORTED_OPS.get(op);
        if (unsupported !== undefined) r.fail(`'${unsupported}' is not supported`, at, 'unsupported', { instr: unsupported });
        const feature = UNSUPPORTED_PREFIXES.get(op);
        if (feature !== undefined) {
          const sub = r.u32();
          r.fail(`${feature} instruction 0x${op.toString(16)} ${sub} is not supported`, at, 'unsupported', { instr: `0x${op.toString(16)} ${sub}` });
        }
        r.fail(`illegal opcode 0x${op.toString(16)}`, at);
      }
    }
  }
}

function decodeFcInstr(r: Reader, body: Instr[], at: number): void {
  const subAt = r.pos;
  const sub = r.u32();
  const saturating = FC_SIMPLE_OPS.get(sub);
  if (saturating !== undefined) {
    body.push({ op: saturating.name, offset: at });
    return;
  }
  switch (sub) {
    case 8: {
      const data = r.u32();
      body.push({ op: 'memory.init', data, memory: memoryIndexImmediate(r, 'memory.init'), offset: at });
      return;
    }
    case 9: body.push({ op: 'data.drop', data: r.u32(), offset: at }); return;
    case 10: {
      const dstMemory = memoryIndexImmediate(r, 'memory.copy');
      body.push({ op: 'memory.copy', dstMemory, srcMemory: memoryIndexImmediate(r, 'memory.copy'), offset: at });
      return;
    }
    case 11: body.push({ op: 'memory.fill', memory: memoryIndexImmediate(r, 'memory.fill'), offset: at }); return;
    case 12: {
      const elem = r.u32();
      body.push({ op: 'table.init', elem, table: r.u32(), offset: at });
      return;
    }
    case 13: body.push({ op: 'elem.drop', elem: r.u32(), offset: at }); return;
    case 14: {
      const dstTable = r.u32();
      body.push({ op: 'table.copy', dstTable, srcTable: r.u32(), offset: at });
      return;
    }
    case 15: body.push({ op: 'table.grow', table: r.u32(), offset: at }); return;
    case 16: body.push({ op: 'table.size', table: r.u32(), offset: at }); return;
    case 17: body.push({ op: 'table.fill', table: r.u32(), offset: at }); return;
    default: {
      const name = UNSUPPORTED_FC_OPS.get(sub);
      if (name !== undefined) r.fail(`'${name}' is not supported`, at, 'unsupported', { instr: name });
      r.fail(`illegal opcode 0xfc ${sub}`, subAt);
    }
  }
}

/** The GC proposal's 0xfb-prefixed instructions of the subset; the others are named as unsupported. */
function decodeFbInstr(r: Reader, body: Instr[], at: number): void {
  const subAt = r.pos;
  const sub = r.u32();
  const simple = FB_SIMPLE_OPS.get(sub);
  if (simple !== undefined) {
    body.push({ op: simple.name, offset: at });
    return;
  }
  switch (sub) {
    case 0: body.push({ op: 'struct.new', typeIndex: r.u32(), offset: at }); return;
    case 1: body.push({ op: 'struct.new_default', typeIndex: r.u32(), offset: at }); return;
    case 2:
    case 3:
    case 4:
    case 5: {
      const op = (['struct.get', 'struct.get_s', 'struct.get_u', 'struct.set'] as const)[sub - 2];
      const typeIndex = r.u32();
      body.push({ op, typeIndex, field: r.u32(), offset: at });
      return;
    }
    case 6: body.push({ op: 'array.new', typeIndex: r.u32(), offset: at }); return;
    case 7: body.push({ op: 'array.new_default', typeIndex: r.u32(), offset: at }); return;
    case 8: {
      const typeIndex = r.u32();
      body.push({ op: 'array.new_fixed', typeIndex, length: r.u32(), offset: at });
      return;
    }
    case 11: body.push({ op: 'array.get', typeIndex: r.u32(), offset: at }); return;
    case 12: body.push({ op: 'array.get_s', typeIndex: r.u32(), offset: at }); return;
    case 13: body.push({ op: 'array.get_u', typeIndex: r.u32(), offset: at }); return;
    case 14: body.push({ op: 'array.set', typeIndex: r.u32(), offset: at }); return;
    case 20:
    case 21:
    case 22:
    case 23: {
      const type = refType(sub === 21 || sub === 23, r.heapType());
      body.push({ op: sub <= 21 ? 'ref.test' : 'ref.cast', type, offset: at });
      return;
    }
    default: {
      const name = UNSUPPORTED_FB_OPS.get(sub);
      if (name !== undefined) r.fail(`'${name}' is not supported`, at, 'unsupported', { instr: name });
      r.fail(`illegal opcode 0xfb ${sub}`, subAt);
    }
  }
}

function decodeNameSection(r: Reader, names: ModuleNames): void {
  let lastId = -1;
  while (r.pos < r.end) {
    const id = r.u8();
    const size = r.u32();
    const end = r.pos + size;
    if (end > r.end) r.fail('name subsection extends past the section');
    if (id <= lastId) r.fail('name subsections out of order');
    lastId = id;
    const sub: Reader = new Reader(r.bytes, r.pos, end, 'name');
    if (id === 0) {
      names.module = sub.name();
    } else if (id === 1) {
      const n = sub.count('function name', 2);
      for (let i = 0; i < n; i++) {
        const index = sub.u32();
        names.functions.set(index, sub.name());
      }
    } else if (id === 2) {
      const n = sub.count('local name map', 2);
      for (let i = 0; i < n; i++) {
        const func = sub.u32();
        const map = new Map<number, string>();
        const m = sub.count('local name', 2);
        for (let j = 0; j < m; j++) {
          const index = sub.u32();
          map.set(index, sub.name());
        }
        names.locals.set(func, map);
      }
    }
    r.pos = end;
  }
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * The 8-byte preamble: the magic `\0asm`, then the version. Empty input and a header cut short
 * are named as such, so a zero-byte or truncated file does not read as a wrong magic.
 */
function checkHeader(r: Reader, bytes: Uint8Array): void {
  if (bytes.length === 0) r.fail('empty input: a Wasm binary starts with the magic header \\0asm and a version (8 bytes)', 0);
  const magicSeen = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < magicSeen; i++) {
    if (bytes[i] !== MAGIC[i]) r.fail('magic header not detected (expected \\0asm)', 0);
  }
  if (bytes.length < 8) r.fail(`unexpected end: the module header needs 8 bytes (magic \\0asm and version), found ${bytes.length}`, bytes.length);
}

/** Decodes a binary module without validating it (see validate.ts for that). */
export function decodeModule(bytes: Uint8Array): WasmModule {
  const r: Reader = new Reader(bytes, 0, bytes.length);
  checkHeader(r, bytes);
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (version === 0x0001000d) r.fail('components are not supported (only core modules)', 4, 'unsupported');
  if (version !== 1) r.fail(`unknown binary version 0x${(version >>> 0).toString(16)}`, 4);
  r.pos = 8;

  const types: FuncType[] = [];
  const typeDefs: SubType[] = [];
  const imports: Import[] = [];
  const funcTypeIndices: number[] = [];
  const tableTypes: TableType[] = [];
  const memoryTypes: MemoryType[] = [];
  const globalTypes: GlobalType[] = [];
  const definedFuncTypes: number[] = [];
  const tables: DefinedTable[] = [];
  const memories: DefinedMemory[] = [];
  const globals: DefinedGlobal[] = [];
  const exports: Export[] = [];
  const elements: ElementSegment[] = [];
  const datas: DataSegment[] = [];
  const tags: { typeIndex: number; offset: number }[] = [];
  const functions: DefinedFunction[] = [];
  const names: ModuleNames = { module: null, functions: new Map(), locals: new Map() };
  let start: number | null = null;
  let dataCount: number | null = null;
  let sawCode = false;
  let sawData = false;
  let lastRank = 0;
  let numImportedFunctions = 0;
  /** The first tag (section, import or export): malformed unless the module switches stacks. */
  let tagUse: { detail: string; at: number; section: string } | undefined;

  while (r.pos < r.end) {
    r.section = undefined;
    const idAt = r.pos;
    const id = r.u8();
    const sectionName = SECTION_NAMES[id];
    if (sectionName === undefined) r.fail(`malformed section id ${id}`, idAt);
    const size = r.u32();
    const bodyStart = r.pos;
    if (size > r.remaining) r.fail(`${sectionName} section size ${size} exceeds the remaining ${r.remaining} bytes`, idAt);
    const s: Reader = new Reader(bytes, bodyStart, bodyStart + size, sectionName);
    r.pos = bodyStart + size;
    if (id !== 0) {
      const rank = SECTION_RANK[id];
      if (rank <= lastRank) s.fail(`${sectionName} section out of order or duplicated`, idAt);
      lastRank = rank;
    }

    switch (id) {
      case 0: {
        const name = s.name();
        if (name === 'name') {
          // Custom sections cannot change a module's meaning, so a broken name section is ignored.
          const partial: ModuleNames = { module: null, functions: new Map(), locals: new Map() };
          try {
            decodeNameSection(new Reader(bytes, s.pos, s.end, 'name'), partial);
            names.module = partial.module;
            for (const [k, v] of partial.functions) names.functions.set(k, v);
            for (const [k, v] of partial.locals) names.locals.set(k, v);
          } catch (e) {
            if (!(e instanceof CompileError)) throw e;
          }
        }
        s.pos = s.end;
        break;
      }
      case 1:
        decodeTypeSection(s, typeDefs, types);
        break;
      case 2: {
        const n = s.count('import', 3);
        for (let i = 0; i < n; i++) {
          const at = s.pos;
          const module = s.name();
          const name = s.name();
          const kindAt = s.pos;
          const kind = s.u8();
          switch (kind) {
            case 0x00: {
              const typeIndex = s.u32();
              imports.push({ module, name, kind: 'func', typeIndex, index: funcTypeIndices.length, offset: at });
              funcTypeIndices.push(typeIndex);
              numImportedFunctions++;
              break;
            }
            case 0x01: {
              const type = decodeTableType(s);
              imports.push({ module, name, kind: 'table', type, index: tableTypes.length, offset: at });
              tableTypes.push(type);
              break;
            }
            case 0x02: {
              if (memoryTypes.length > 0) s.fail(SECOND_MEMORY, kindAt, 'validation');
              const type = decodeMemoryType(s);
              imports.push({ module, name, kind: 'memory', type, index: memoryTypes.length, offset: at });
              memoryTypes.push(type);
              break;
            }
            case 0x03: {
              const type = decodeGlobalType(s);
              imports.push({ module, name, kind: 'global', type, index: globalTypes.length, offset: at });
              globalTypes.push(type);
              break;
            }
            case 0x04: {
              // As the tag section: a tag means something only to a module that switches stacks.
              tagUse ??= { detail: `malformed import kind 0x4: ${NO_EXCEPTIONS}`, at: kindAt, section: 'import' };
              const attrAt = s.pos;
              const attribute = s.u8();
              if (attribute !== 0) s.fail(`malformed tag attribute 0x${attribute.toString(16)}`, attrAt);
              const typeIndex = s.u32();
              imports.push({ module, name, kind: 'tag', typeIndex, index: tags.length, offset: at });
              tags.push({ typeIndex, offset: at });
              break;
            }
            default:
              return s.fail(`malformed import kind 0x${kind.toString(16)}`, kindAt);
          }
        }
        break;
      }
      case 3: {
        const n = s.count('function');
        for (let i = 0; i < n; i++) {
          const typeIndex = s.u32();
          definedFuncTypes.push(typeIndex);
          funcTypeIndices.push(typeIndex);
        }
        break;
      }
      case 4: {
        const n = s.count('table', 3);
        for (let i = 0; i < n; i++) {
          if (s.peek() === 0x40) s.fail('tables with initializer expressions are not supported (function references)', s.pos, 'unsupported');
          const type = decodeTableType(s);
          tables.push({ index: tableTypes.length, definedIndex: tables.length, type });
          tableTypes.push(type);
        }
        break;
      }
      case 5: {
        const n = s.count('memory', 2);
        for (let i = 0; i < n; i++) {
          if (memoryTypes.length > 0) s.fail(SECOND_MEMORY, s.pos, 'validation');
          const type = decodeMemoryType(s);
          memories.push({ index: memoryTypes.length, definedIndex: memories.length, type });
          memoryTypes.push(type);
        }
        break;
      }
      case 13: {
        // Wasm 2.0 has no tags; stack switching gives them a meaning, so a module that switches
        // stacks may have a tag section (its tags are tags of suspend and resume).
        tagUse ??= { detail: `malformed section id 13: ${NO_EXCEPTIONS}`, at: idAt, section: 'tag' };
        const n = s.count('tag', 2);
        for (let i = 0; i < n; i++) {
          const at = s.pos;
          const attribute = s.u8();
          if (attribute !== 0) s.fail(`malformed tag attribute 0x${attribute.toString(16)}`, at);
          tags.push({ typeIndex: s.u32(), offset: at });
        }
        break;
      }
      case 6: {
        const n = s.count('global', 4);
        for (let i = 0; i < n; i++) {
          const type = decodeGlobalType(s);
          const init = decodeConstExpr(s);
          globals.push({ index: globalTypes.length, definedIndex: globals.length, type, init });
          globalTypes.push(type);
        }
        break;
      }
      case 7: {
        const n = s.count('export', 3);
        for (let i = 0; i < n; i++) {
          const name = s.name();
          const kindAt = s.pos;
          const kindByte = s.u8();
          const kinds: ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];
          const kind = kinds[kindByte];
          if (kind === undefined) s.fail(`malformed export kind 0x${kindByte.toString(16)}`, kindAt);
          if (kind === 'tag') tagUse ??= { detail: `malformed export kind 0x4: ${NO_EXCEPTIONS}`, at: kindAt, section: 'export' };
          exports.push({ name, kind, index: s.u32() });
        }
        break;
      }
      case 8:
        start = s.u32();
        break;
      case 9: {
        const n = s.count('element segment');
        for (let i = 0; i < n; i++) elements.push(decodeElementSegment(s, elements.length));
        break;
      }
      case 12:
        dataCount = s.u32();
        break;
      case 10: {
        sawCode = true;
        const n = s.count('function body');
        if (n !== definedFuncTypes.length) s.fail(`function and code section have inconsistent lengths (${definedFuncTypes.length} vs ${n})`, bodyStart);
        for (let i = 0; i < n; i++) {
          const at = s.pos;
          const funcIndex = numImportedFunctions + i;
          const size = s.u32();
          if (size > s.remaining) s.fail(`function body size ${size} exceeds the section`, at, 'malformed', { funcIndex });
          const fr: Reader = new Reader(bytes, s.pos, s.pos + size, 'code');
          s.pos += size;
          fr.site = { funcIndex };
          const groups = fr.count('local group', 2);
          // All groups are read before the total is judged: past 2^32 - 1 locals the binary is
          // malformed (the spec's rule), below that a total past MAX_LOCALS is stackscope's limit.
          const declared: { count: number; type: ValType }[] = [];
          let total = 0;
          let firstGroupAt = fr.pos;
          for (let g = 0; g < groups; g++) {
            if (g === 0) firstGroupAt = fr.pos;
            const count = fr.u32();
            total += count;
            declared.push({ count, type: fr.valType() });
          }
          if (total > 0xffffffff) fr.fail(`too many locals (${total}, more than 2^32 - 1)`, firstGroupAt, 'malformed');
          if (total > MAX_LOCALS) fr.fail(`too many locals (limit ${MAX_LOCALS})`, firstGroupAt, 'limit');
          const locals: ValType[] = [];
          for (const { count, type } of declared) for (let k = 0; k < count; k++) locals.push(type);
          const typeIndex = definedFuncTypes[i];
          const body = decodeBody(fr, funcIndex, types);
          functions.push({
            index: funcIndex,
            definedIndex: i,
            typeIndex,
            // Resolved by the validator once the type index is known to be in range.
            type: types[typeIndex] ?? { params: [], results: [] },
            locals,
            body,
            offset: at,
            end: fr.end,
            maxStackHeight: 0,
          });
        }
        break;
      }
      case 11: {
        sawData = true;
        const n = s.count('data segment');
        if (dataCount !== null && n !== dataCount) s.fail(`data count section says ${dataCount} segments, data section has ${n}`, bodyStart);
        for (let i = 0; i < n; i++) {
          const at = s.pos;
          const flagsAt = s.pos;
          const flags = s.u32();
          let mode: DataSegment['mode'];
          if (flags === 0) mode = { kind: 'active', memory: 0, offsetExpr: decodeConstExpr(s) };
          else if (flags === 1) mode = { kind: 'passive' };
          else if (flags === 2) {
            const memory = s.u32();
            mode = { kind: 'active', memory, offsetExpr: decodeConstExpr(s) };
          } else s.fail(`malformed data segment flags ${flags}`, flagsAt);
          const len = s.u32();
          datas.push({ index: datas.length, mode, bytes: s.take(len).slice(), offset: at });
        }
        break;
      }
    }
    if (s.pos !== s.end) s.fail(`${sectionName} section size mismatch: ${s.end - s.pos} unread bytes`, s.pos);
  }
  r.section = undefined;
  // Tags are stack switching's when the module switches stacks (a continuation type, or a
  // suspend, which needs none) or defines tags for other modules (a tag export). A module that
  // only imports a tag has no use for it: as in Wasm 2.0, that is malformed.
  if (tagUse !== undefined && !exports.some((e) => e.kind === 'tag') && !typeDefs.some((d) => d.composite.kind === 'cont') && !functions.some((f) => f.body.some((i) => i.op === 'suspend'))) {
    throw new CompileError('malformed', tagUse.detail, { section: tagUse.section, offset: tagUse.at });
  }
  if (!sawCode && definedFuncTypes.length > 0) r.fail(`function section declares ${definedFuncTypes.length} functions but there is no code section`, bytes.length);
  if (!sawData && dataCount !== null && dataCount !== 0) r.fail(`data count section says ${dataCount} segments but there is no data section`, bytes.length);

  const counts: Omit<ModuleCounts, 'numEscapedFunctions'> = {
    numImportedFunctions,
    numImportedTables: tableTypes.length - tables.length,
    numImportedMemories: memoryTypes.length - memories.length,
    numImportedGlobals: globalTypes.length - globals.length,
    numDefinedFunctions: definedFuncTypes.length,
    numDefinedTables: tables.length,
    numDefinedMemories: memories.length,
    numOwnedMemories: memories.filter((m) => !m.type.shared).length,
    numDefinedGlobals: globals.length,
  };
  const { escapedFunctions, escapedIndex } = computeEscapedFunctions(globals, exports, start, elements);
  const canonicalTypeIndices = canonicalizeTypes(typeDefs);
  return {
    types, typeDefs, imports, functions, tables, memories, globals, exports, start, elements, datas, dataCount, names, ...(tags.length ? { tags } : {}),
    funcTypeIndices, tableTypes, memoryTypes, globalTypes, canonicalTypeIndices,
    counts: { ...counts, numEscapedFunctions: escapedFunctions.length },
    escapedFunctions, escapedIndex,
  };
}

function decodeElementSegment(s: Reader, index: number): ElementSegment {
  const at = s.pos;
  const flags = s.u32();
  if (flags > 7) s.fail(`malformed element segment flags ${flags}`, at);
  const passiveOrDeclarative = (flags & 1) !== 0;
  const explicitTable = (flags & 2) !== 0;
  const usesExpressions = (flags & 4) !== 0;
  let mode: ElementMode;
  if (!passiveOrDeclarative) {
    const table = explicitTable ? s.u32() : 0;
    mode = { kind: 'active', table, offsetExpr: decodeConstExpr(s) };
  } else {
    mode = explicitTable ? { kind: 'declarative' } : { kind: 'passive' };
  }
  let elemType: RefType = 'funcref';
  // Forms 0 and 4 have an implicit funcref type; the others name an elemkind or a reftype.
  if (flags !== 0 && flags !== 4) {
    if (usesExpressions) elemType = s.refType();
    else {
      const kindAt = s.pos;
      const kind = s.u8();
      if (kind !== 0x00) s.fail(`malformed element kind 0x${kind.toString(16)}`, kindAt);
    }
  }
  const n = s.count('element');
  const items: ConstExpr[] = [];
  for (let i = 0; i < n; i++) {
    if (!usesExpressions) {
      items.push({ op: 'ref.func', func: s.u32() });
      continue;
    }
    const itemAt = s.pos;
    const item = decodeConstExpr(s);
    if (item.op !== 'ref.func' && item.op !== 'ref.null' && item.op !== 'global.get') s.fail(`type mismatch: element item '${item.op}' is not a reference`, itemAt, 'validation', { instr: item.op });
    items.push(item);
  }
  return { index, mode, elemType, items, offset: at };
}

/** wasmtime v17's escape order (see `WasmModule.escapedFunctions`). */
export function computeEscapedFunctions(
  globals: readonly DefinedGlobal[],
  exports: readonly Export[],
  start: number | null,
  elements: readonly ElementSegment[],
): { escapedFunctions: number[]; escapedIndex: Map<number, number> } {
  const escapedFunctions: number[] = [];
  const escapedIndex = new Map<number, number>();
  const flag = (func: number): void => {
    if (escapedIndex.has(func)) return;
    escapedIndex.set(func, escapedFunctions.length);
    escapedFunctions.push(func);
  };
  for (const g of globals) if (g.init.op === 'ref.func') flag(g.init.func);
  for (const e of exports) if (e.kind === 'func') flag(e.index);
  if (start !== null) flag(start);
  for (const seg of elements) for (const item of seg.items) if (item.op === 'ref.func') flag(item.func);
  return { escapedFunctions, escapedIndex };
}
