/**
 * Decoders for the custom sections of a compiled image (docs/image-format.md), so the runtime
 * can instantiate from the object alone. Every read is bounds-checked: malformed bytes give an
 * `ImageFormatError` naming the section and offset, never a crash or a hang.
 */
import { StackscopeError, hex } from '../isa/error.ts';
import type { AbsHeapType, CompositeType, ConstExpr, FieldType, StorageType, SubType, ExternKind, FuncType, GlobalType, MemoryType, RefType, TableType, ValType } from './frontend/module.ts';
import { isRefType, refType as makeRefType } from './frontend/module.ts';
import { TRAP_CODES, type TrapCode } from '../isa/trap-codes.ts';
import type { CallSiteKind } from './function.ts';
import { GC_TYPES_MAGIC, TAGS_MAGIC, HEAP_TYPE_CODES, MODULE_MAGIC, STACKMAPS_MAGIC, IMAGE_FORMAT_VERSION, VALTYPE_CODES } from './image.ts';
import { CHECKED_MEMORY_TUNABLES, type MemoryTunables } from './memory-tunables.ts';

export class ImageFormatError extends StackscopeError {
  override name = 'ImageFormatError';
  constructor(
    readonly section: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${section} at ${hex(offset)}: ${reason}`);
  }
}

/** A little-endian reader of one custom section; every failure is an ImageFormatError at its offset. */
export class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    readonly section: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(reason: string): never {
    throw new ImageFormatError(this.section, this.pos, reason);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.length) this.fail(`needs ${n} more bytes, ${this.bytes.length - this.pos} left`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A count of items at least `minItemSize` bytes each: refuses counts the bytes cannot hold. */
  count(minItemSize: number): number {
    const n = this.u32();
    if (n * minItemSize > this.bytes.length - this.pos) this.fail(`count ${n} exceeds the remaining ${this.bytes.length - this.pos} bytes`);
    return n;
  }
  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(): string {
    const n = this.count(1);
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.raw(n)); // names keep a leading U+FEFF
  }
  done(): void {
    if (this.pos !== this.bytes.length) this.fail(`${this.bytes.length - this.pos} trailing bytes`);
  }
}

const VALTYPES = new Map<number, ValType>(Object.entries(VALTYPE_CODES).map(([t, code]) => [code, t as ValType]));
const HEAP_TYPES = new Map<number, AbsHeapType>(Object.entries(HEAP_TYPE_CODES).map(([h, code]) => [code, h as AbsHeapType]));
const KINDS: readonly ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];
const CALL_KINDS: readonly CallSiteKind[] = ['call', 'call-import', 'call-indirect', 'libcall'];

/** A value type as image.ts's writeValType writes it. */
function valType(r: Reader): ValType {
  const code = r.u8();
  if (code === 0x63 || code === 0x64) {
    const form = r.u8();
    if (form === 1) return makeRefType(code === 0x63, r.u32());
    const heapCode = r.u8();
    const heap = HEAP_TYPES.get(heapCode);
    if (form !== 0 || heap === undefined) r.fail(`unknown heap type ${hex(form)} ${hex(heapCode)}`);
    return makeRefType(code === 0x63, heap);
  }
  const t = VALTYPES.get(code);
  if (t === undefined) r.fail(`unknown value type ${hex(code)}`);
  return t;
}
function refType(r: Reader): RefType {
  const t = valType(r);
  if (!isRefType(t)) r.fail(`${t} is not a reference type`);
  return t;
}
function flag(r: Reader): boolean {
  const b = r.u8();
  if (b > 1) r.fail(`flag byte ${b} is neither 0 nor 1`);
  return b === 1;
}
function limits(r: Reader): { min: number; max: number | null } {
  const min = r.u32();
  const hasMax = flag(r);
  const max = r.u32();
  return { min, max: hasMax ? max : null };
}
function constExpr(r: Reader): ConstExpr {
  const tag = r.u8();
  switch (tag) {
    case 0: return { op: 'i32.const', value: r.u32() | 0 };
    case 1: return { op: 'i64.const', value: BigInt.asIntN(64, r.u64()) };
    case 2: return { op: 'ref.null', type: refType(r) };
    case 3: return { op: 'ref.func', func: r.u32() };
    case 4: return { op: 'global.get', global: r.u32() };
    case 5: return { op: 'f32.const', bits: r.u32() };
    case 6: return { op: 'f64.const', bits: r.u64() };
    default: return r.fail(`unknown constant-expression tag ${tag}`);
  }
}

export interface ImageCounts {
  numImportedFunctions: number;
  numImportedTables: number;
  numImportedMemories: number;
  numImportedGlobals: number;
  numDefinedFunctions: number;
  numDefinedTables: number;
  numDefinedMemories: number;
  numOwnedMemories: number;
  numDefinedGlobals: number;
  numEscapedFunctions: number;
}

export type ImageImport =
  | { module: string; name: string; kind: 'func'; typeIndex: number }
  | { module: string; name: string; kind: 'table'; type: TableType }
  | { module: string; name: string; kind: 'memory'; type: MemoryType }
  | { module: string; name: string; kind: 'global'; type: GlobalType }
  | { module: string; name: string; kind: 'tag'; typeIndex: number };

export interface ImageFunctionInfo {
  funcIndex: number;
  typeIndex: number;
  textOffset: number;
  size: number;
  frameSize: number;
  name: string;
}

export type ImageElementSegment = {
  mode: { kind: 'active'; table: number; offsetExpr: ConstExpr } | { kind: 'passive' } | { kind: 'declarative' };
  elemType: RefType;
  items: ConstExpr[];
};
export type ImageDataSegment = {
  mode: { kind: 'active'; memory: number; offsetExpr: ConstExpr } | { kind: 'passive' };
  bytes: Uint8Array;
};

export interface ImageMetadata {
  arch: 'x64' | 'aarch64';
  /** The memory tunables the code was compiled for (which accesses it leaves to guard pages). */
  memoryTunables: MemoryTunables;
  counts: ImageCounts;
  types: FuncType[];
  /** Signature index → representative type index. */
  signatures: number[];
  /** Type index → signature index. */
  signatureOf: number[];
  imports: ImageImport[];
  functions: ImageFunctionInfo[];
  tables: TableType[];
  memories: MemoryType[];
  globals: { type: GlobalType; init: ConstExpr }[];
  exports: { name: string; kind: ExternKind; index: number }[];
  start: number | null;
  elements: ImageElementSegment[];
  datas: ImageDataSegment[];
  escapedFunctions: number[];
}

export function readModuleMetadata(bytes: Uint8Array): ImageMetadata {
  const r = new Reader(bytes, '.stackscope.module');
  if (r.u32() !== MODULE_MAGIC) r.fail('bad magic (expected "SSMD")');
  const version = r.u32();
  if (version !== IMAGE_FORMAT_VERSION && version !== 1) r.fail(`unsupported version ${version}`);
  const archCode = r.u32();
  if (archCode > 1) r.fail(`unknown arch code ${archCode}`);
  // Version 1 images check every access against current_length: any memory runs them.
  const memoryTunables: MemoryTunables = version === 1 ? CHECKED_MEMORY_TUNABLES : { reservation: r.u64(), guard: r.u64() };
  const c = Array.from({ length: 10 }, () => r.u32());
  const counts: ImageCounts = {
    numImportedFunctions: c[0], numImportedTables: c[1], numImportedMemories: c[2], numImportedGlobals: c[3],
    numDefinedFunctions: c[4], numDefinedTables: c[5], numDefinedMemories: c[6], numOwnedMemories: c[7],
    numDefinedGlobals: c[8], numEscapedFunctions: c[9],
  };
  const types = Array.from({ length: r.count(8) }, () => {
    const params = Array.from({ length: r.count(1) }, () => valType(r));
    const results = Array.from({ length: r.count(1) }, () => valType(r));
    return { params, results };
  });
  const signatures = Array.from({ length: r.count(4) }, () => r.u32());
  const signatureOf = types.map(() => r.u32());
  const imports = Array.from({ length: r.count(10) }, (): ImageImport => {
    const kind = KINDS[r.u8()] ?? r.fail('unknown import kind');
    const module = r.str();
    const name = r.str();
    switch (kind) {
      case 'func': return { module, name, kind, typeIndex: r.u32() };
      case 'table': { const elemType = refType(r); return { module, name, kind, type: { elemType, ...limits(r) } }; }
      case 'memory': { const l = limits(r); return { module, name, kind, type: { ...l, shared: flag(r) } }; }
      case 'global': { const valType_ = valType(r); return { module, name, kind, type: { valType: valType_, mutable: flag(r) } }; }
      case 'tag': return { module, name, kind, typeIndex: r.u32() };
    }
  });
  const functions = Array.from({ length: r.count(24) }, () => ({
    funcIndex: r.u32(), typeIndex: r.u32(), textOffset: r.u32(), size: r.u32(), frameSize: r.u32(), name: r.str(),
  }));
  const tables = Array.from({ length: r.count(10) }, () => { const elemType = refType(r); return { elemType, ...limits(r) }; });
  const memories = Array.from({ length: r.count(10) }, () => { const l = limits(r); return { ...l, shared: flag(r) }; });
  const globals = Array.from({ length: r.count(3) }, () => {
    const t = valType(r);
    const mutable = flag(r);
    return { type: { valType: t, mutable }, init: constExpr(r) };
  });
  const exports = Array.from({ length: r.count(9) }, () => {
    const name = r.str();
    const kind = KINDS[r.u8()] ?? r.fail('unknown export kind');
    return { name, kind, index: r.u32() };
  });
  const startRaw = r.u32();
  const elements = Array.from({ length: r.count(6) }, (): ImageElementSegment => {
    const mode = r.u8();
    let m: ImageElementSegment['mode'] | undefined;
    if (mode === 0) m = { kind: 'active', table: r.u32(), offsetExpr: constExpr(r) };
    else if (mode === 1) m = { kind: 'passive' };
    else if (mode === 2) m = { kind: 'declarative' };
    if (m === undefined) return r.fail(`unknown element mode ${mode}`);
    const elemType = refType(r);
    const items = Array.from({ length: r.count(2) }, () => constExpr(r));
    return { mode: m, elemType, items };
  });
  const datas = Array.from({ length: r.count(5) }, (): ImageDataSegment => {
    const mode = r.u8();
    let m: ImageDataSegment['mode'] | undefined;
    if (mode === 0) m = { kind: 'active', memory: r.u32(), offsetExpr: constExpr(r) };
    else if (mode === 1) m = { kind: 'passive' };
    if (m === undefined) return r.fail(`unknown data mode ${mode}`);
    return { mode: m, bytes: r.raw(r.count(1)) };
  });
  const escapedFunctions = Array.from({ length: r.count(4) }, () => r.u32());
  r.done();
  return {
    arch: archCode === 0 ? 'x64' : 'aarch64', memoryTunables, counts, types, signatures, signatureOf, imports, functions, tables, memories,
    globals, exports, start: startRaw === 0xffffffff ? null : startRaw, elements, datas, escapedFunctions,
  };
}

export interface StackMapRecord {
  funcIndex: number;
  /** Return address, relative to `.text`. */
  textReturnOffset: number;
  /** Return address and call instruction, relative to the function. */
  returnOffset: number;
  callOffset: number;
  kind: CallSiteKind;
  callee: number;
  mappedWords: number;
  bitmap: number[];
}

export function readStackMaps(bytes: Uint8Array): StackMapRecord[] {
  const r = new Reader(bytes, '.stackscope.stackmaps');
  if (r.u32() !== STACKMAPS_MAGIC) r.fail('bad magic (expected "SSSM")');
  const n = r.count(28);
  const out: StackMapRecord[] = [];
  for (let i = 0; i < n; i++) {
    const funcIndex = r.u32();
    const textReturnOffset = r.u32();
    const returnOffset = r.u32();
    const callOffset = r.u32();
    const kind = CALL_KINDS[r.u8()] ?? r.fail('unknown call-site kind');
    r.u8(); r.u8(); r.u8();
    const callee = r.u32();
    const mappedWords = r.u32();
    const words = Math.ceil(mappedWords / 32);
    r.need(4 * words);
    const bitmap = Array.from({ length: words }, () => r.u32());
    out.push({ funcIndex, textReturnOffset, returnOffset, callOffset, kind, callee, mappedWords, bitmap });
  }
  r.done();
  return out;
}

export interface TrapRecord {
  textOffset: number;
  code: TrapCode;
}

export function readTrapTable(bytes: Uint8Array): TrapRecord[] {
  const r = new Reader(bytes, '.stackscope.traps');
  const n = r.count(5);
  const offsets = Array.from({ length: n }, () => r.u32());
  const out = offsets.map((textOffset) => {
    const c = r.u8();
    const code = TRAP_CODES[c] ?? r.fail(`unknown trap code ${c}`);
    return { textOffset, code };
  });
  r.done();
  return out;
}

/** `.stackscope.tags` (image.ts `encodeTags`) back to the tags' function type indices. */
export function readTags(bytes: Uint8Array): { typeIndex: number; offset: number }[] {
  const r = new Reader(bytes, '.stackscope.tags');
  if (r.u32() !== TAGS_MAGIC) r.fail('bad magic (expected "SSTG")');
  const out = Array.from({ length: r.count(4) }, () => ({ typeIndex: r.u32(), offset: 0 }));
  r.done();
  return out;
}

/** `.stackscope.gctypes` (image.ts `encodeGcTypes`) back to type definitions. */
export function readGcTypes(bytes: Uint8Array): SubType[] {
  const r = new Reader(bytes, '.stackscope.gctypes');
  if (r.u32() !== GC_TYPES_MAGIC) r.fail('bad magic (expected "SSGT")');
  const n = r.count(14);
  const storage = (): StorageType => {
    const code = bytes[r.pos];
    if (code === 0x78 || code === 0x77) {
      r.u8();
      return code === 0x78 ? 'i8' : 'i16';
    }
    return valType(r);
  };
  const field = (): FieldType => ({ storage: storage(), mutable: flag(r) });
  return Array.from({ length: n }, (): SubType => {
    const final = flag(r);
    const supertypes = Array.from({ length: r.count(4) }, () => r.u32());
    const recGroupStart = r.u32();
    const recGroupSize = r.u32();
    const kind = r.u8();
    let composite: CompositeType;
    if (kind === 0) {
      const params = Array.from({ length: r.count(1) }, () => valType(r));
      const results = Array.from({ length: r.count(1) }, () => valType(r));
      composite = { kind: 'func', type: { params, results } };
    } else if (kind === 1) {
      composite = { kind: 'struct', fields: Array.from({ length: r.count(2) }, field) };
    } else if (kind === 2) {
      composite = { kind: 'array', element: field() };
    } else if (kind === 3) {
      composite = { kind: 'cont', funcType: r.u32() };
    } else {
      return r.fail(`unknown composite type kind ${kind}`);
    }
    return { final, supertypes, composite, recGroupStart, recGroupSize, offset: 0 };
  });
}
