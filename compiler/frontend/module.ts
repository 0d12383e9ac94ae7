/**
 * The front end's output: a decoded, validated WebAssembly module in the subset stackscope
 * compiles. Index spaces follow the spec (imports first, then definitions), so a function,
 * table, memory or global index from an instruction can be used directly in the `*Types`
 * arrays below. Everything here is plain data; the code generator only reads it.
 */

export type IntType = 'i32' | 'i64';
export type FloatType = 'f32' | 'f64';
export type NumType = IntType | FloatType;
/**
 * The abstract heap types (function references, GC and reference types proposals). A concrete
 * heap type is a type index (a number). The list is meant to grow (the stack-switching
 * proposal's `cont`/`nocont`): every table keyed by it is a `Record<AbsHeapType, …>`, so the
 * compiler names each place a new one must be handled.
 */
export type AbsHeapType = 'func' | 'nofunc' | 'extern' | 'noextern' | 'any' | 'eq' | 'i31' | 'struct' | 'array' | 'none' | 'cont' | 'nocont';
export type HeapType = AbsHeapType | number;

/**
 * A reference type, spelled canonically so that two equal types are equal strings: a nullable
 * abstract type by its shorthand (`funcref`, `externref`, `anyref`, `eqref`, `i31ref`,
 * `structref`, `arrayref`, `nullref`, `nullfuncref`, `nullexternref`), anything else in the
 * general form with the type index as a number (`(ref any)`, `(ref null 3)`, `(ref 3)`). Build
 * them with `refType(nullable, heap)`, take them apart with `refTypeParts`. Concrete types are
 * compared through `WasmModule.canonicalTypeIndices` (iso-recursive equality), see subtyping.ts.
 */
export type RefType =
  | 'funcref' | 'externref' | 'anyref' | 'eqref' | 'i31ref' | 'structref' | 'arrayref'
  | 'nullref' | 'nullfuncref' | 'nullexternref' | 'contref' | 'nullcontref'
  | `(ref ${AbsHeapType})` | `(ref null ${number})` | `(ref ${number})`;
/** The value types of the subset; v128 is rejected as 'unsupported' when decoded. */
export type ValType = NumType | RefType;

const SHORTHAND: Record<AbsHeapType, RefType> = {
  func: 'funcref', nofunc: 'nullfuncref', extern: 'externref', noextern: 'nullexternref', any: 'anyref',
  eq: 'eqref', i31: 'i31ref', struct: 'structref', array: 'arrayref', none: 'nullref', cont: 'contref', nocont: 'nullcontref',
};
const SHORTHAND_HEAP = new Map<string, AbsHeapType>(Object.entries(SHORTHAND).map(([h, t]) => [t, h as AbsHeapType]));

/** The canonical spelling of `(ref null? heap)`. */
export function refType(nullable: boolean, heap: HeapType): RefType {
  if (typeof heap === 'number') return nullable ? `(ref null ${heap})` : `(ref ${heap})`;
  return nullable ? SHORTHAND[heap] : `(ref ${heap})`;
}

/** The parts of a reference type. */
export function refTypeParts(t: RefType): { readonly nullable: boolean; readonly heap: HeapType } {
  const short = SHORTHAND_HEAP.get(t);
  if (short !== undefined) return { nullable: true, heap: short };
  const m = /^\(ref (null )?(.+)\)$/.exec(t);
  if (m === null) throw new RangeError(`not a reference type: ${t}`);
  const heap = /^[0-9]+$/.test(m[2]) ? Number(m[2]) : (m[2] as AbsHeapType);
  return { nullable: m[1] !== undefined, heap };
}

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** A struct field's or array element's type: a value type or a packed integer. */
export type StorageType = ValType | 'i8' | 'i16';
export interface FieldType {
  readonly storage: StorageType;
  readonly mutable: boolean;
}

/**
 * The composite type of a type definition. New kinds (the stack-switching proposal's
 * `{ kind: 'cont'; funcType: number }`) are added here; every switch over `kind` must then
 * handle them (decode, validate, canonical keys, print).
 */
export type CompositeType =
  | { readonly kind: 'func'; readonly type: FuncType }
  | { readonly kind: 'struct'; readonly fields: readonly FieldType[] }
  | { readonly kind: 'array'; readonly element: FieldType }
  /** The stack-switching proposal's continuation type `cont $ft` (a function type index). */
  | { readonly kind: 'cont'; readonly funcType: number };

/** One type definition: `(sub final? (supertype)* composite)` inside a rec group. */
export interface SubType {
  readonly final: boolean;
  /** At most one supertype (GC MVP), always a smaller type index. */
  readonly supertypes: readonly number[];
  readonly composite: CompositeType;
  /** The rec group: its first type index and its number of types (1 for a plain definition). */
  readonly recGroupStart: number;
  readonly recGroupSize: number;
  /** Byte offset of the definition in the type section. */
  readonly offset: number;
}

export interface TableType {
  readonly elemType: RefType;
  readonly min: number;
  readonly max: number | null;
}

/** Limits in 64 KiB pages. `shared` memories are rejected (threads), so it is always false today. */
export interface MemoryType {
  readonly min: number;
  readonly max: number | null;
  readonly shared: boolean;
}

export interface GlobalType {
  readonly valType: ValType;
  readonly mutable: boolean;
}

/** Constant expressions of the subset (initializers and segment offsets/items). */
export type ConstExpr =
  | { readonly op: 'i32.const'; readonly value: number }
  | { readonly op: 'i64.const'; readonly value: bigint }
  /** Float constants keep their exact bit pattern (NaN payloads included): f32 as a u32. */
  | { readonly op: 'f32.const'; readonly bits: number }
  | { readonly op: 'f64.const'; readonly bits: bigint }
  | { readonly op: 'ref.null'; readonly type: RefType }
  | { readonly op: 'ref.func'; readonly func: number }
  /** Only imported, immutable globals may be read (MVP const-expression rule). */
  | { readonly op: 'global.get'; readonly global: number };

interface ImportBase {
  readonly module: string;
  readonly name: string;
  /** Index in the import's own index space (the n-th imported function is function n). */
  readonly index: number;
  /** Byte offset of the import entry. */
  readonly offset: number;
}
export type Import =
  | (ImportBase & { readonly kind: 'func'; readonly typeIndex: number })
  | (ImportBase & { readonly kind: 'table'; readonly type: TableType })
  | (ImportBase & { readonly kind: 'memory'; readonly type: MemoryType })
  | (ImportBase & { readonly kind: 'global'; readonly type: GlobalType })
  /** A tag (stack switching; import kind 4, attribute 0) of function type `typeIndex`. */
  | (ImportBase & { readonly kind: 'tag'; readonly typeIndex: number });

/** `tag` (kind 4) only in modules that switch stacks (they have continuation types). */
export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

export interface Export {
  readonly name: string;
  readonly kind: ExternKind;
  readonly index: number;
}

/** `empty` = [] → []; `value` = [] → [t]; `typeIndex` = a function type from the type section. */
export type BlockType =
  | { readonly kind: 'empty' }
  | { readonly kind: 'value'; readonly type: ValType }
  | { readonly kind: 'typeIndex'; readonly index: number };

export interface MemArg {
  /** log2 of the alignment hint; validation guarantees 2^align ≤ the access width. */
  readonly align: number;
  /** The static offset added to the dynamic address (u32). */
  readonly offset: number;
}

/** Instructions without immediates (numeric ops and a few control/reference ops). */
export type SimpleOp =
  | 'unreachable' | 'nop' | 'return' | 'ref.is_null'
  | 'i32.eqz' | 'i32.eq' | 'i32.ne' | 'i32.lt_s' | 'i32.lt_u' | 'i32.gt_s' | 'i32.gt_u'
  | 'i32.le_s' | 'i32.le_u' | 'i32.ge_s' | 'i32.ge_u'
  | 'i64.eqz' | 'i64.eq' | 'i64.ne' | 'i64.lt_s' | 'i64.lt_u' | 'i64.gt_s' | 'i64.gt_u'
  | 'i64.le_s' | 'i64.le_u' | 'i64.ge_s' | 'i64.ge_u'
  | 'i32.clz' | 'i32.ctz' | 'i32.popcnt' | 'i32.add' | 'i32.sub' | 'i32.mul' | 'i32.div_s'
  | 'i32.div_u' | 'i32.rem_s' | 'i32.rem_u' | 'i32.and' | 'i32.or' | 'i32.xor' | 'i32.shl'
  | 'i32.shr_s' | 'i32.shr_u' | 'i32.rotl' | 'i32.rotr'
  | 'i64.clz' | 'i64.ctz' | 'i64.popcnt' | 'i64.add' | 'i64.sub' | 'i64.mul' | 'i64.div_s'
  | 'i64.div_u' | 'i64.rem_s' | 'i64.rem_u' | 'i64.and' | 'i64.or' | 'i64.xor' | 'i64.shl'
  | 'i64.shr_s' | 'i64.shr_u' | 'i64.rotl' | 'i64.rotr'
  | 'i32.wrap_i64' | 'i64.extend_i32_s' | 'i64.extend_i32_u'
  | 'i32.extend8_s' | 'i32.extend16_s' | 'i64.extend8_s' | 'i64.extend16_s' | 'i64.extend32_s'
  | FloatOp | GcSimpleOp;

/** GC-proposal instructions with fixed operand and result types and no immediates. */
export type GcSimpleOp = 'ref.eq' | 'array.len' | 'ref.i31' | 'i31.get_s' | 'i31.get_u';

/** The GC proposal's struct and array instructions with a type index immediate. */
export type StructOp = 'struct.new' | 'struct.new_default';
export type StructFieldOp = 'struct.get' | 'struct.get_s' | 'struct.get_u' | 'struct.set';
export type ArrayOp = 'array.new' | 'array.new_default' | 'array.get' | 'array.get_s' | 'array.get_u' | 'array.set';

/** The float comparisons, arithmetic and conversions (including the 0xfc-prefixed saturating truncations). */
export type FloatOp =
  | `${FloatType}.${'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge'}`
  | `${FloatType}.${'abs' | 'neg' | 'ceil' | 'floor' | 'trunc' | 'nearest' | 'sqrt' | 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max' | 'copysign'}`
  | `${IntType}.trunc_${FloatType}_${'s' | 'u'}`
  | `${IntType}.trunc_sat_${FloatType}_${'s' | 'u'}`
  | `${FloatType}.convert_${IntType}_${'s' | 'u'}`
  | 'f32.demote_f64' | 'f64.promote_f32'
  | 'i32.reinterpret_f32' | 'i64.reinterpret_f64' | 'f32.reinterpret_i32' | 'f64.reinterpret_i64';

export type LoadOp =
  | 'i32.load' | 'i64.load' | 'i32.load8_s' | 'i32.load8_u' | 'i32.load16_s' | 'i32.load16_u'
  | 'i64.load8_s' | 'i64.load8_u' | 'i64.load16_s' | 'i64.load16_u' | 'i64.load32_s' | 'i64.load32_u'
  | 'f32.load' | 'f64.load';
export type StoreOp =
  | 'i32.store' | 'i64.store' | 'i32.store8' | 'i32.store16' | 'i64.store8' | 'i64.store16' | 'i64.store32'
  | 'f32.store' | 'f64.store';

/**
 * One decoded instruction. Structured control is pre-matched by the decoder: `block`/`loop`/`if`
 * know the instruction index of their `else` (or -1) and `end`; `else`/`end` know their opener
 * (-1 for the function body's final `end`). The validator fills the operand type of `drop` and
 * untyped `select` and marks statically dead code, so a single-pass code generator needs no
 * type stack of its own for those.
 */
export type InstrBody =
  | { readonly op: SimpleOp }
  | { readonly op: 'i32.const'; readonly value: number }
  | { readonly op: 'i64.const'; readonly value: bigint }
  /** Exact bit patterns (NaN payloads kept): f32 as a u32 number, f64 as a u64 bigint. */
  | { readonly op: 'f32.const'; readonly bits: number }
  | { readonly op: 'f64.const'; readonly bits: bigint }
  | { readonly op: 'local.get' | 'local.set' | 'local.tee'; readonly local: number }
  | { readonly op: 'global.get' | 'global.set'; readonly global: number }
  | {
      readonly op: 'block' | 'loop' | 'if';
      readonly blockType: BlockType;
      /** The block's type, a type index resolved (by the decoder, range-checked by the validator). */
      type: FuncType;
      else: number;
      end: number;
    }
  | { readonly op: 'else' | 'end'; opener: number }
  | { readonly op: 'br' | 'br_if'; readonly depth: number }
  | { readonly op: 'br_table'; readonly depths: readonly number[]; readonly defaultDepth: number }
  | { readonly op: 'call' | 'return_call'; readonly func: number }
  | { readonly op: 'call_indirect' | 'return_call_indirect'; readonly typeIndex: number; readonly table: number }
  /** Operand type: filled by the validator; null only in dead code where it is unknown. */
  | { readonly op: 'drop'; type: ValType | null }
  /** `typed` = the `select (result t)` form; `type` is its annotation or, untyped, inferred. */
  | { readonly op: 'select'; readonly typed: boolean; type: ValType | null }
  | { readonly op: 'ref.null'; readonly type: RefType }
  | { readonly op: 'ref.func'; readonly func: number }
  | {
      readonly op: 'table.get' | 'table.set' | 'table.size' | 'table.grow' | 'table.fill';
      readonly table: number;
    }
  | { readonly op: 'table.copy'; readonly dstTable: number; readonly srcTable: number }
  | { readonly op: 'table.init'; readonly elem: number; readonly table: number }
  | { readonly op: 'elem.drop'; readonly elem: number }
  | { readonly op: LoadOp | StoreOp; readonly memarg: MemArg; readonly memory: number }
  | { readonly op: 'memory.size' | 'memory.grow' | 'memory.fill'; readonly memory: number }
  | { readonly op: 'memory.copy'; readonly dstMemory: number; readonly srcMemory: number }
  | { readonly op: 'memory.init'; readonly data: number; readonly memory: number }
  | { readonly op: 'data.drop'; readonly data: number }
  | { readonly op: StructOp | ArrayOp; readonly typeIndex: number }
  | { readonly op: StructFieldOp; readonly typeIndex: number; readonly field: number }
  | { readonly op: 'array.new_fixed'; readonly typeIndex: number; readonly length: number }
  /** `type` is the target reference type (`ref.test (ref null $t)` → '(ref null 3)'). */
  | { readonly op: 'ref.test' | 'ref.cast'; readonly type: RefType }
  /** Operand type: filled by the validator (the result is its non-null form); null in dead code. */
  | { readonly op: 'ref.as_non_null'; type: RefType | null }
  /** Stack switching: a continuation of type `typeIndex` (a `cont $ft`) from a function reference. */
  | { readonly op: 'cont.new'; readonly typeIndex: number }
  /** Suspends to the innermost handler of `tag`. */
  | { readonly op: 'suspend'; readonly tag: number }
  /**
   * Binds the first arguments of a continuation of type `typeIndex` (a `cont $ft`), giving one of
   * type `resultType` that takes the rest.
   */
  | { readonly op: 'cont.bind'; readonly typeIndex: number; readonly resultType: number }
  /**
   * Resumes a continuation of type `typeIndex`; `(on tag depth)` handlers branch to label `depth`,
   * `(on tag switch)` handlers (depth 'switch') let a `switch` of `tag` below replace the chain.
   */
  | { readonly op: 'resume'; readonly typeIndex: number; readonly handlers: readonly ResumeHandler[] }
  /**
   * Suspends the running continuation and runs one of type `typeIndex` in its place, under the
   * innermost `(on tag switch)` handler of `tag`.
   */
  | { readonly op: 'switch'; readonly typeIndex: number; readonly tag: number };

/** One handler of a `resume`: `(on tag depth)` branches to a label, `(on tag switch)` takes `switch`es. */
export interface ResumeHandler {
  readonly tag: number;
  readonly depth: number | 'switch';
}

export type Instr = InstrBody & {
  /** Byte offset of the instruction's opcode in the module binary. */
  readonly offset: number;
  /** Set by the validator: the instruction can never execute (after br/return/unreachable). */
  dead?: boolean;
};

export type Opcode = Instr['op'];

export interface DefinedFunction {
  /** Index in the function index space (imports first). */
  readonly index: number;
  /** Index among defined functions (= index - number of imported functions). */
  readonly definedIndex: number;
  readonly typeIndex: number;
  readonly type: FuncType;
  /** Declared locals, expanded, excluding the parameters (local index = params.length + i). */
  readonly locals: readonly ValType[];
  readonly body: Instr[];
  /** Byte offset of the code entry (its size field) and the end of its body. */
  readonly offset: number;
  readonly end: number;
  /** Set by the validator: the operand stack's maximum height in this function. */
  maxStackHeight: number;
}

export interface DefinedTable {
  readonly index: number;
  readonly definedIndex: number;
  readonly type: TableType;
}

export interface DefinedMemory {
  readonly index: number;
  readonly definedIndex: number;
  readonly type: MemoryType;
}

export interface DefinedGlobal {
  readonly index: number;
  readonly definedIndex: number;
  readonly type: GlobalType;
  readonly init: ConstExpr;
}

export type ElementMode =
  | { readonly kind: 'active'; readonly table: number; readonly offsetExpr: ConstExpr }
  | { readonly kind: 'passive' }
  | { readonly kind: 'declarative' };

export interface ElementSegment {
  readonly index: number;
  readonly mode: ElementMode;
  readonly elemType: RefType;
  /** Each item is `ref.func f` or `ref.null t` (function-index forms are given as ref.func). */
  readonly items: readonly ConstExpr[];
  /** Byte offset of the segment entry. */
  readonly offset: number;
}

export type DataMode =
  | { readonly kind: 'active'; readonly memory: number; readonly offsetExpr: ConstExpr }
  | { readonly kind: 'passive' };

export interface DataSegment {
  readonly index: number;
  readonly mode: DataMode;
  readonly bytes: Uint8Array;
  readonly offset: number;
}

/** From the `name` custom section; a malformed name section is ignored (it cannot change meaning). */
export interface ModuleNames {
  module: string | null;
  readonly functions: Map<number, string>;
  /** function index → local index → name */
  readonly locals: Map<number, Map<number, string>>;
}

/**
 * The counts wasmtime v17's `VMOffsets` is built from (`ModuleInfo`/`VMOffsetsFields`).
 * `numOwnedMemories` = defined memories that are not shared.
 */
export interface ModuleCounts {
  readonly numImportedFunctions: number;
  readonly numImportedTables: number;
  readonly numImportedMemories: number;
  readonly numImportedGlobals: number;
  readonly numDefinedFunctions: number;
  readonly numDefinedTables: number;
  readonly numDefinedMemories: number;
  readonly numOwnedMemories: number;
  readonly numDefinedGlobals: number;
  readonly numEscapedFunctions: number;
}

export interface WasmModule {
  /**
   * The function type of each type index. A struct or array type index holds an empty
   * signature here that the validator never lets an instruction use as a function type
   * (it checks `typeDefs[i].composite.kind`); `typeDefs` has the full definitions.
   */
  readonly types: readonly FuncType[];
  /** Every type definition, rec groups and subtyping included. */
  readonly typeDefs: readonly SubType[];
  readonly imports: readonly Import[];
  readonly functions: readonly DefinedFunction[];
  readonly tables: readonly DefinedTable[];
  readonly memories: readonly DefinedMemory[];
  readonly globals: readonly DefinedGlobal[];
  readonly exports: readonly Export[];
  readonly start: number | null;
  readonly elements: readonly ElementSegment[];
  readonly datas: readonly DataSegment[];
  /** The data count section's value, or null when the section is absent. */
  readonly dataCount: number | null;
  /**
   * The tag index space (stack switching): the imported tags first (`numImportedTags`), then the
   * tag section's, each a function type index; absent = none.
   */
  readonly tags?: readonly { readonly typeIndex: number; readonly offset: number }[];
  readonly names: ModuleNames;

  /** Whole index spaces, imports first. */
  readonly funcTypeIndices: readonly number[];
  readonly tableTypes: readonly TableType[];
  readonly memoryTypes: readonly MemoryType[];
  readonly globalTypes: readonly GlobalType[];

  /**
   * For each type index, the first type index with a structurally equal function type, so
   * that signature checks (call_indirect) can compare one number per type, as wasmtime's
   * interned signature ids do.
   */
  readonly canonicalTypeIndices: readonly number[];

  readonly counts: ModuleCounts;
  /**
   * Functions that may be observed as a funcref and therefore get a `VMFuncRef` slot in the
   * vmctx, listed by escaped index. The order is wasmtime v17's `flag_func_escaped` order:
   * ref.func in global initializers, then exports, the start function, then element segment
   * items, each function numbered the first time it is seen. Imports are not escaped merely by
   * being imported.
   */
  readonly escapedFunctions: readonly number[];
  /** function index → escaped index (absent = not escaped). */
  readonly escapedIndex: ReadonlyMap<number, number>;
}

/** Whether `t` is a continuation reference in `module` (stack switching: `(ref null? $ct)` of a `cont` type, `contref`, `nullcontref`). */
export function isContRefType(module: Pick<WasmModule, 'typeDefs'>, t: ValType): boolean {
  if (!isRefType(t)) return false;
  const heap = refTypeParts(t).heap;
  return heap === 'cont' || heap === 'nocont' || (typeof heap === 'number' && module.typeDefs[heap]?.composite.kind === 'cont');
}

/** How many of `module.tags` are imported (they come first in the tag index space). */
export function numImportedTags(module: Pick<WasmModule, 'imports'>): number {
  let n = 0;
  for (const i of module.imports) if (i.kind === 'tag') n++;
  return n;
}

/** The type definitions of a module whose types are all plain function types (one per rec group). */
export function funcTypeDefs(types: readonly FuncType[]): SubType[] {
  return types.map((type, i) => ({ final: true, supertypes: [], composite: { kind: 'func', type }, recGroupStart: i, recGroupSize: 1, offset: 0 }));
}

/** The type of any function in the index space. */
export function funcTypeOf(module: WasmModule, funcIndex: number): FuncType {
  const typeIndex = module.funcTypeIndices[funcIndex];
  if (typeIndex === undefined) throw new RangeError(`function index ${funcIndex} out of range`);
  return module.types[typeIndex];
}

export function isImportedFunction(module: WasmModule, funcIndex: number): boolean {
  return funcIndex < module.counts.numImportedFunctions;
}

/** The name section's name, else the first export name, else `func<N>`. */
export function functionDisplayName(module: WasmModule, funcIndex: number): string {
  const named = module.names.functions.get(funcIndex);
  if (named !== undefined) return named;
  const exported = module.exports.find((e) => e.kind === 'func' && e.index === funcIndex);
  if (exported) return exported.name;
  return `func${funcIndex}`;
}

/** Type of local `index` of a defined function (parameters first, then declared locals). */
export function localType(fn: DefinedFunction, index: number): ValType | undefined {
  const params = fn.type.params;
  return index < params.length ? params[index] : fn.locals[index - params.length];
}

/** Bytes a value of type `t` occupies in a global, in memory and in ValRaw's low bytes (i32
 * and f32: 4, zero-extended to 8 in registers and slots; every other type: 8). */
export function valueBytes(t: ValType): 4 | 8 {
  return t === 'i32' || t === 'f32' ? 4 : 8;
}

export function isFloatType(t: ValType): t is FloatType {
  return t === 'f32' || t === 'f64';
}

export function isRefType(t: ValType): t is RefType {
  return !(t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64');
}

/** Value types a field holds once unpacked (i8 and i16 read as i32). */
export function unpackedType(t: StorageType): ValType {
  return t === 'i8' || t === 'i16' ? 'i32' : t;
}

/** The type a struct.new_default / array.new_default field starts with: numbers and nullable references. */
export function isDefaultable(t: StorageType): boolean {
  return !isRefType(unpackedType(t)) || refTypeParts(t as RefType).nullable;
}
