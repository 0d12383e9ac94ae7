/**
 * Disassembly of x86-64 and AArch64 machine code through Capstone 5.0
 * (`@alexaltea/capstone-js` 5.0.9, an Emscripten wasm32 build).
 *
 * The package's JavaScript wrapper is bypassed for everything but loading: its `insn.detail`
 * parser uses Capstone 4 struct offsets and returns garbage, and its per-call mallocs and
 * `ccall` marshalling cost most of the time. This module calls the exported C functions
 * directly and reads the wasm heap itself, using the Capstone 5.0 wasm32 layouts written down
 * below (pointers, `size_t` and enums are 4 bytes; `int64_t`/`double` are 8-byte aligned).
 *
 * Capstone is loaded by the first `createDisassembler` (synchronously, ≈ 50 ms, once per
 * process), not at import; every call here is synchronous.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type MCapstone from '@alexaltea/capstone-js';
import type { CapstoneModule, WasmInstanceLike } from '@alexaltea/capstone-js';
import type { Arch } from './arch.ts';
import { StackscopeError, hex } from './error.ts';

/** Bad input to the disassembler, or a Capstone runtime that does not behave as pinned. */
export class DisasmError extends StackscopeError {
  override name = 'DisasmError';
  constructor(
    readonly arch: Arch | undefined,
    /** Guest address the failing request started at, when there was one. */
    readonly address: bigint | undefined,
    readonly reason: string,
  ) {
    super(`disassembler${arch ? ` (${arch})` : ''}${address === undefined ? '' : ` at ${hex(address)}`}: ${reason}`);
  }
}

export type OperandAccess = 'none' | 'read' | 'write' | 'readwrite';

/** A memory operand. x64: `segment:[base + index*scale + disp]`; AArch64: `[base, index, #disp]`. */
export interface MemoryRef {
  base?: string;
  index?: string;
  /** x64 only: the SIB scale (1, 2, 4, 8). AArch64 scales the index with the operand's `shift`/`extend`. */
  scale?: number;
  disp: bigint;
  /** x64 only: an explicit segment override (`fs`, `gs`, ...). */
  segment?: string;
}

export type Aarch64Shift = 'lsl' | 'msl' | 'lsr' | 'asr' | 'ror';
export type Aarch64Extend = 'uxtb' | 'uxth' | 'uxtw' | 'uxtx' | 'sxtb' | 'sxth' | 'sxtw' | 'sxtx';

interface OperandCommon {
  access: OperandAccess;
  /** x64 only: operand size in bytes. */
  size?: number;
  /** AArch64 only: a shifted register, or a shifted index of a memory operand. */
  shift?: { kind: Aarch64Shift; amount: number };
  /** AArch64 only: an extended register, or the extension of a memory operand's index. */
  extend?: Aarch64Extend;
  /** AArch64 only: the lane index of a vector element operand (`v0.s[1]` → 1). */
  vectorIndex?: number;
  /** AArch64 only: vector arrangement (`16b`, `4s`, `2d`, ...). */
  arrangement?: string;
}

/**
 * One explicit operand. AArch64 operands Capstone gives as enum values (system registers of
 * mrs/msr, pstate fields, barrier and prefetch operations, sys ops, svcr, SME tiles) come as
 * `system` with the raw Capstone enum value.
 */
export type Operand =
  | (OperandCommon & { type: 'reg'; reg: string })
  | (OperandCommon & { type: 'imm'; imm: bigint })
  | (OperandCommon & { type: 'mem'; mem: MemoryRef })
  | (OperandCommon & { type: 'fp'; fp: number })
  | (OperandCommon & { type: 'system'; kind: Aarch64SystemOperandKind; value: number });

export type Aarch64SystemOperandKind = 'mrs' | 'msr' | 'pstate' | 'sys' | 'svcr' | 'prefetch' | 'barrier' | 'sme_index';

/** Encoding facts Capstone records for an x86-64 instruction. */
export interface X64Detail {
  /** [rep/repne/lock, segment, operand-size, address-size]; 0 when absent. */
  prefix: number[];
  /** 1–4 opcode bytes, trailing zeros when shorter. */
  opcode: number[];
  rex: number;
  addrSize: number;
  modrm: number;
  sib: number;
  disp: bigint;
  /** X86_EFLAGS_* bits (or FPU flags for x87 instructions) the instruction touches. */
  eflags: bigint;
  /** Byte offsets within the instruction (0 = absent) and sizes of its parts. */
  encoding: { modrmOffset: number; dispOffset: number; dispSize: number; immOffset: number; immSize: number };
}

export interface Aarch64Detail {
  /** Condition of `b.cond`, `csel`, `ccmp`, ... (`eq`, `ne`, ...); absent when unconditional. */
  cc?: string;
  updateFlags: boolean;
  writeback: boolean;
  postIndex: boolean;
}

export interface InsnDetail {
  /** Registers the instruction reads implicitly (not named by an operand), e.g. `rsp` for `push`. */
  regsRead: string[];
  /** Registers the instruction writes implicitly, e.g. `rflags` for `add`, `nzcv` for `cmp`. */
  regsWrite: string[];
  /** Every register read, implicit or explicit (Capstone's `cs_regs_access`). */
  allRegsRead: string[];
  /** Every register written, implicit or explicit (Capstone's `cs_regs_access`). */
  allRegsWrite: string[];
  /** Capstone group names: `jump`, `call`, `ret`, `int`, `branch_relative`, `sse2`, ... */
  groups: string[];
  operands: Operand[];
  x64?: X64Detail;
  aarch64?: Aarch64Detail;
}

export interface Insn {
  address: bigint;
  size: number;
  bytes: Uint8Array;
  mnemonic: string;
  opStr: string;
  /** `mnemonic opStr`, or just the mnemonic when there are no operands. */
  text: string;
  /** Capstone instruction id (`X86_INS_*` / `ARM64_INS_*`); 0 for undecodable bytes. */
  id: number;
  /**
   * Set on a pseudo-instruction covering bytes Capstone could not decode, in the spirit of
   * objdump's `(bad)`: one `.byte 0xNN` on x64, one `.inst 0xNNNNNNNN` word on AArch64 (or a
   * `.byte` list for a trailing fragment shorter than 4 bytes). Decoding resumes after it.
   */
  invalid?: true;
  /** Present when `detail: true` was asked for (and never on `invalid` pseudo-instructions). */
  detail?: InsnDetail;
}

export interface DisasmOptions {
  /** Stop after this many instructions (pseudo-instructions count); default: until the bytes end. */
  count?: number;
  /** Decode operands, registers and groups (≈ 2–3× slower). */
  detail?: boolean;
}

/** The compact result of the fast path: parallel arrays, one entry per decoded instruction. */
export interface ScanResult {
  count: number;
  /** Offset of each instruction from the start of the scanned bytes. */
  offsets: Uint32Array;
  sizes: Uint8Array;
  /** Capstone instruction ids; `insnName(id)` gives the base mnemonic. */
  ids: Uint16Array;
  /** Address of the first undecodable instruction when the scan stopped before the end. */
  invalidAt?: bigint;
}

// ---------------------------------------------------------------------------------------------
// Capstone 5.0 wasm32 layouts.
//
// The package's parser reads these with Capstone 4 offsets. Capstone 5 grew
// `cs_detail.regs_read` from 12 to 20 entries and added `cs_detail.writeback`, which moves
// regs_write, groups and the whole arch union; inside the union `cs_arm64` gained
// `post_index` and `cs_arm64_op` swapped `vess` for `svcr`. The offsets below follow
// include/capstone/{capstone,x86,arm64}.h of Capstone 5.0.x under wasm32 alignment rules and
// are checked against instructions with known operands in disasm.test.ts.

/** cs_insn: 240 bytes. */
const INSN_ID = 0; // u32
const INSN_ADDRESS = 8; // u64
const INSN_SIZE = 16; // u16
const INSN_MNEMONIC = 42; // char[32]
const INSN_OP_STR = 74; // char[160]
const INSN_DETAIL = 236; // cs_detail *
const MNEMONIC_CAPACITY = 32;
const OP_STR_CAPACITY = 160;

/** cs_detail: implicit registers, groups, then the per-arch union at 96 (8-aligned after writeback). */
const DETAIL_REGS_READ = 0; // u16[20]
const DETAIL_REGS_READ_COUNT = 40; // u8
const DETAIL_REGS_WRITE = 42; // u16[20]
const DETAIL_REGS_WRITE_COUNT = 82; // u8
const DETAIL_GROUPS = 83; // u8[8]
const DETAIL_GROUPS_COUNT = 91; // u8
const DETAIL_ARCH = 96;
const MAX_IMPLICIT_REGS = 20;
const MAX_GROUPS = 8;

/**
 * cs_x86 (relative to DETAIL_ARCH): prefix[4]@0, opcode[4]@4, rex@8, addr_size@9, modrm@10,
 * sib@11, disp i64@16, sib_index@24, sib_scale i8@28, sib_base@32, xop_cc@36, sse_cc@40,
 * avx_cc@44, avx_sae@48, avx_rm@52, eflags/fpu_flags u64@56, op_count@64, operands[8]@72,
 * encoding@456.
 */
const X86_PREFIX = 0;
const X86_OPCODE = 4;
const X86_REX = 8;
const X86_ADDR_SIZE = 9;
const X86_MODRM = 10;
const X86_SIB = 11;
const X86_DISP = 16;
const X86_EFLAGS = 56;
const X86_OP_COUNT = 64;
const X86_OPERANDS = 72;
const X86_ENCODING = 456; // modrm_offset, disp_offset, disp_size, imm_offset, imm_size (u8 each)
/**
 * cs_x86_op, 48 bytes: type@0, union@8 { reg u32 | imm i64 | mem { segment@8, base@12,
 * index@16, scale i32@20, disp i64@24 } }, size u8@32, access u8@33, avx_bcast@36,
 * avx_zero_opmask@40.
 */
const X86_OP_STRIDE = 48;
const X86_OP_TYPE = 0;
const X86_OP_VALUE = 8;
const X86_OP_MEM_SEGMENT = 8;
const X86_OP_MEM_BASE = 12;
const X86_OP_MEM_INDEX = 16;
const X86_OP_MEM_SCALE = 20;
const X86_OP_MEM_DISP = 24;
const X86_OP_SIZE = 32;
const X86_OP_ACCESS = 33;

/** cs_arm64 (relative to DETAIL_ARCH): cc i32@0, update_flags@4, writeback@5, post_index@6, op_count@7, operands[8]@8. */
const A64_CC = 0;
const A64_UPDATE_FLAGS = 4;
const A64_WRITEBACK = 5;
const A64_POST_INDEX = 6;
const A64_OP_COUNT = 7;
const A64_OPERANDS = 8;
/**
 * cs_arm64_op, 56 bytes: vector_index i32@0, vas@4, shift.type@8, shift.value@12, ext@16,
 * type@20, svcr@24, union@32 { reg u32 | imm i64 | fp f64 | mem { base@32, index@36,
 * disp i32@40 } | enum values u32 }, access u8@48.
 */
const A64_OP_STRIDE = 56;
const A64_OP_VECTOR_INDEX = 0;
const A64_OP_VAS = 4;
const A64_OP_SHIFT_TYPE = 8;
const A64_OP_SHIFT_VALUE = 12;
const A64_OP_EXT = 16;
const A64_OP_TYPE = 20;
const A64_OP_VALUE = 32;
const A64_OP_MEM_BASE = 32;
const A64_OP_MEM_INDEX = 36;
const A64_OP_MEM_DISP = 40;
const A64_OP_ACCESS = 48;

const MAX_OPERANDS = 8;
/** cs_regs is uint16_t[64]. */
const REGS_ACCESS_CAPACITY = 64;

// Capstone enum values (x86.h / arm64.h / capstone.h).
const OP_REG = 1;
const OP_IMM = 2;
const OP_MEM = 3;
const OP_FP = 4;
const A64_OP_CIMM = 64;
const A64_SYSTEM_KINDS: Record<number, Aarch64SystemOperandKind> = {
  65: 'mrs',
  66: 'msr',
  67: 'pstate',
  68: 'sys',
  69: 'svcr',
  70: 'prefetch',
  71: 'barrier',
  72: 'sme_index',
};
const AC_READ = 1;
const AC_WRITE = 2;
const ACCESS: readonly OperandAccess[] = ['none', 'read', 'write', 'readwrite'];
const A64_SHIFTS: readonly (Aarch64Shift | undefined)[] = [undefined, 'lsl', 'msl', 'lsr', 'asr', 'ror'];
const A64_EXTENDS: readonly (Aarch64Extend | undefined)[] = [
  undefined, 'uxtb', 'uxth', 'uxtw', 'uxtx', 'sxtb', 'sxth', 'sxtw', 'sxtx',
];
const A64_ARRANGEMENTS: readonly (string | undefined)[] = [
  undefined, '16b', '8b', '4b', '1b', '8h', '4h', '2h', '1h', '4s', '2s', '1s', '2d', '1d', '1q',
];
/**
 * The generic groups (ids below 128) under one spelling for both architectures; Capstone's own
 * names differ per arch (AArch64 calls the return group `return`, x86 `ret`).
 */
const GENERIC_GROUPS: readonly (string | undefined)[] = [
  undefined, 'jump', 'call', 'ret', 'int', 'iret', 'privilege', 'branch_relative',
];
/** Capstone names x29/x30 `fp`/`lr` in detail (but not in op_str); stackscope uses x29/x30 everywhere. */
const A64_REG_RENAMES: Record<string, string> = { fp: 'x29', lr: 'x30' };
/**
 * Capstone 5 decodes these as adds/subs/ands with a hidden zero-register destination and shifts
 * the access flags onto the printed operands, so the first source comes out "written" and is
 * missing from the registers read. All their operands are read; the only write is NZCV.
 */
const A64_COMPARE_ALIASES = new Set(['cmp', 'cmn', 'tst']);
const A64_CONDITIONS: readonly (string | undefined)[] = [
  undefined, 'eq', 'ne', 'hs', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le', 'al', 'nv',
];

// ---------------------------------------------------------------------------------------------
// Loading. Emscripten's own loader hides the wasm memory (only `ccall`/`getValue` are exported),
// so the module is instantiated through the `instantiateWasm` hook to keep the memory object.
// Nothing is loaded at import: the first createDisassembler() compiles and instantiates the
// wasm synchronously (≈ 50 ms, once per process), so programs that never disassemble never pay
// for it. capstone-js is required through createRequire from this file, which a consumer's
// bundler leaves alone: it is found in node_modules like koffi (docs/packaging.md).

/** The part of the WebAssembly JS API used here; the project's TypeScript libs do not declare it. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => unknown;
  Instance: new (module: unknown, imports: object) => WasmInstanceLike;
  Memory: abstract new (...args: never[]) => WasmMemory;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Capstone 5.0's C enum values (capstone.h); the package sets its copies only after an await. */
const CS_ARCH_ARM64 = 1;
const CS_ARCH_X86 = 3;
const CS_MODE_ARM = 0;
const CS_MODE_64 = 8;
const CS_OPT_DETAIL = 2;
const CS_OPT_ON = 3;
const CS_ERR_OK = 0;

/** The Emscripten module's exported C functions (set by the first loadRuntime()). */
let cs!: CapstoneModule;
let memory!: WasmMemory;

function loadRuntime(): void {
  if (cs) return;
  const require = createRequire(import.meta.url);
  let factory: typeof MCapstone;
  let compiled: unknown;
  try {
    const packageMain = require.resolve('@alexaltea/capstone-js');
    factory = require('@alexaltea/capstone-js') as typeof MCapstone;
    compiled = new wasmApi.Module(readFileSync(join(dirname(packageMain), 'capstone.wasm')));
  } catch (error) {
    throw new DisasmError(undefined, undefined, `cannot load capstone-js: ${(error as Error).message}`);
  }
  let failure: unknown;
  let hookCalled = false;
  const options: Parameters<typeof MCapstone>[0] = {
    instantiateWasm(imports, receive) {
      hookCalled = true;
      try {
        const instance = new wasmApi.Instance(compiled, imports);
        memory = Object.values(instance.exports).find((e): e is WasmMemory => e instanceof wasmApi.Memory)!;
        receive(instance, compiled);
      } catch (error) {
        failure = error;
      }
      return {};
    },
  };
  // The factory instantiates synchronously through the hook and fills `options` with the
  // exports (the promise it returns resolves to that same object, later).
  factory(options).catch(() => undefined);
  const module = options as unknown as CapstoneModule;
  if (!hookCalled || failure !== undefined || memory === undefined || typeof module._cs_open !== 'function') {
    throw new DisasmError(undefined, undefined, `cannot instantiate capstone-js: ${
      failure instanceof Error ? failure.message : !hookCalled ? 'instantiateWasm hook not called (unexpected package version)'
        : memory === undefined ? 'no wasm memory export' : 'exports not ready after instantiation (unexpected package version)'
    }`);
  }
  cs = module;
  heapU8 = new Uint8Array(memory.buffer);
  heapView = new DataView(memory.buffer);
}

/**
 * Views of the wasm heap; rebuilt whenever the heap grows (growth detaches the old buffer).
 * Only `_malloc`/`cs_malloc` grow it: cs_disasm_iter, cs_regs_access and the name lookups
 * work in preallocated memory, so the views are refreshed after allocations only.
 */
let heapU8 = new Uint8Array(0);
let heapView = new DataView(new ArrayBuffer(0));
function refreshHeapViews(): void {
  if (heapU8.buffer !== memory.buffer) {
    heapU8 = new Uint8Array(memory.buffer);
    heapView = new DataView(memory.buffer);
  }
}

function mallocOrThrow(size: number, arch: Arch, address?: bigint): number {
  const ptr = cs._malloc(size);
  refreshHeapViews();
  if (ptr === 0) throw new DisasmError(arch, address, `cannot allocate ${size} bytes in the Capstone heap`);
  return ptr;
}

/** A NUL-terminated ASCII string from the wasm heap (Capstone writes only ASCII). */
function readCString(ptr: number, capacity: number): string {
  let end = ptr;
  const limit = ptr + capacity;
  while (end < limit && heapU8[end] !== 0) end++;
  // One flat string; appending char by char would build a rope of ~30 bytes per character.
  return String.fromCharCode.apply(null, heapU8.subarray(ptr, end) as unknown as number[]);
}

const U64_LIMIT = 1n << 64n;

// ---------------------------------------------------------------------------------------------

/** Byte layout of the scratch block that carries cs_disasm_iter's in/out cursors. */
const CURSOR_CODE = 0; // const uint8_t *
const CURSOR_SIZE = 4; // size_t
const CURSOR_ADDRESS = 8; // uint64_t
const CURSOR_BYTES = 16;

/**
 * One Capstone configuration for one architecture. Obtain it with `createDisassembler`; it
 * holds two Capstone handles (details off for speed, details on for analysis) and reuses one
 * heap buffer for the code, so calls must not be interleaved (they cannot be: all synchronous).
 */
export class Disassembler {
  private readonly plainHandle: number;
  private readonly detailHandle: number;
  private readonly plainInsn: number;
  private readonly detailInsn: number;
  private readonly cursor: number;
  /** regs_access out-parameters: read u16[64]@0, write u16[64]@128, read count@256, write count@257. */
  private readonly accessScratch: number;
  private codeBuffer = 0;
  private codeCapacity = 0;
  private readonly regNames = new Map<number, string>();
  private readonly groupNames = new Map<number, string>();
  private readonly insnNames = new Map<number, string>();

  /** Use `createDisassembler(arch)`, which caches one instance per architecture. */
  constructor(readonly arch: Arch) {
    loadRuntime();
    const [csArch, csMode] = arch === 'x64' ? [CS_ARCH_X86, CS_MODE_64] : [CS_ARCH_ARM64, CS_MODE_ARM];
    this.plainHandle = this.open(csArch, csMode, false);
    this.detailHandle = this.open(csArch, csMode, true);
    this.plainInsn = cs._cs_malloc(this.plainHandle);
    this.detailInsn = cs._cs_malloc(this.detailHandle);
    refreshHeapViews();
    if (this.plainInsn === 0 || this.detailInsn === 0) throw new DisasmError(arch, undefined, 'cs_malloc failed');
    this.cursor = mallocOrThrow(CURSOR_BYTES, arch);
    this.accessScratch = mallocOrThrow(REGS_ACCESS_CAPACITY * 4 + 2, arch);
  }

  private open(csArch: number, csMode: number, detail: boolean): number {
    const handlePtr = mallocOrThrow(4, this.arch);
    const err = cs._cs_open(csArch, csMode, handlePtr);
    refreshHeapViews();
    if (err !== CS_ERR_OK) throw new DisasmError(this.arch, undefined, `cs_open failed with Capstone error ${err}`);
    const handle = heapView.getUint32(handlePtr, true);
    if (detail && cs._cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON) !== CS_ERR_OK) {
      throw new DisasmError(this.arch, undefined, 'cs_option(OPT_DETAIL) failed');
    }
    return handle;
  }

  /**
   * Decodes `bytes` as if loaded at `address`. Undecodable bytes become `invalid`
   * pseudo-instructions and decoding resumes after them, so without `count` the returned
   * instructions cover every byte, in order.
   */
  disasm(bytes: Uint8Array, address: bigint, opts: DisasmOptions = {}): Insn[] {
    const limit = this.checkRequest(bytes, address, opts.count);
    const detail = opts.detail === true;
    const handle = detail ? this.detailHandle : this.plainHandle;
    const insn = detail ? this.detailInsn : this.plainInsn;
    const insns: Insn[] = [];
    if (bytes.length === 0 || limit === 0) return insns;
    this.loadCode(bytes, address);
    const cursor = this.cursor;
    let offset = 0;
    while (offset < bytes.length && insns.length < limit) {
      if (cs._cs_disasm_iter(handle, cursor, cursor + CURSOR_SIZE, cursor + CURSOR_ADDRESS, insn)) {
        const size = heapView.getUint16(insn + INSN_SIZE, true);
        const mnemonic = readCString(insn + INSN_MNEMONIC, MNEMONIC_CAPACITY);
        const opStr = readCString(insn + INSN_OP_STR, OP_STR_CAPACITY);
        insns.push({
          address: heapView.getBigUint64(insn + INSN_ADDRESS, true),
          size,
          bytes: bytes.slice(offset, offset + size),
          mnemonic,
          opStr,
          text: opStr === '' ? mnemonic : `${mnemonic} ${opStr}`,
          id: heapView.getUint32(insn + INSN_ID, true),
          ...(detail ? { detail: this.readDetail(insn, mnemonic) } : {}),
        });
        offset += size;
      } else {
        const pseudo = this.invalidInsn(bytes, offset, address);
        insns.push(pseudo);
        offset += pseudo.size;
        this.skipCursor(pseudo.size);
      }
    }
    return insns;
  }

  /**
   * The fast path: decodes without details or strings and stops at the first undecodable
   * instruction (reported as `invalidAt`). Use `insnName(ids[i])` for a mnemonic.
   */
  scan(bytes: Uint8Array, address: bigint, opts: { count?: number } = {}): ScanResult {
    const limit = Math.min(this.checkRequest(bytes, address, opts.count), bytes.length);
    const offsets = new Uint32Array(limit);
    const sizes = new Uint8Array(limit);
    const ids = new Uint16Array(limit);
    if (limit === 0) return { count: 0, offsets, sizes, ids };
    this.loadCode(bytes, address);
    const { cursor, plainHandle: handle, plainInsn: insn } = this;
    let count = 0;
    let offset = 0;
    while (offset < bytes.length && count < limit) {
      if (!cs._cs_disasm_iter(handle, cursor, cursor + CURSOR_SIZE, cursor + CURSOR_ADDRESS, insn)) {
        return {
          count,
          offsets: offsets.subarray(0, count),
          sizes: sizes.subarray(0, count),
          ids: ids.subarray(0, count),
          invalidAt: BigInt.asUintN(64, address + BigInt(offset)),
        };
      }
      const size = heapU8[insn + INSN_SIZE]; // x86 ≤ 15, AArch64 4: the low byte is the size
      offsets[count] = offset;
      sizes[count] = size;
      ids[count] = heapView.getUint16(insn + INSN_ID, true);
      offset += size;
      count++;
    }
    return { count, offsets: offsets.subarray(0, count), sizes: sizes.subarray(0, count), ids: ids.subarray(0, count) };
  }

  /** Capstone's name for a register id (`rax`, `x29`, `nzcv`); `reg#<id>` if it has none. */
  regName(id: number): string {
    return this.cachedName(this.regNames, id, cs._cs_reg_name, 'reg');
  }

  /** Capstone's name for a group id (`jump`, `call`, `ret`, `sse2`, ...). */
  groupName(id: number): string {
    return GENERIC_GROUPS[id] ?? this.cachedName(this.groupNames, id, cs._cs_group_name, 'group');
  }

  /** Capstone's base mnemonic for an instruction id (without prefixes such as `rep`). */
  insnName(id: number): string {
    return this.cachedName(this.insnNames, id, cs._cs_insn_name, 'insn');
  }

  private cachedName(cache: Map<number, string>, id: number, lookup: (handle: number, id: number) => number, kind: string): string {
    let name = cache.get(id);
    if (name === undefined) {
      const ptr = Number.isInteger(id) && id >= 0 && id <= 0xffff ? lookup(this.plainHandle, id) : 0;
      name = ptr === 0 ? `${kind}#${id}` : readCString(ptr, 64);
      if (cache === this.regNames && this.arch === 'aarch64') name = A64_REG_RENAMES[name] ?? name;
      cache.set(id, name);
    }
    return name;
  }

  /** Validates a request and returns its instruction limit. */
  private checkRequest(bytes: Uint8Array, address: bigint, count: number | undefined): number {
    if (typeof address !== 'bigint' || address < 0n || address >= U64_LIMIT) {
      throw new DisasmError(this.arch, undefined, `address must be a bigint in [0, 2^64), got ${String(address)}`);
    }
    if (!(bytes instanceof Uint8Array)) throw new DisasmError(this.arch, address, 'code must be a Uint8Array');
    if (count === undefined) return Number.POSITIVE_INFINITY;
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new DisasmError(this.arch, address, `count must be a non-negative integer, got ${count}`);
    }
    return count;
  }

  /** Copies the code into the reused heap buffer and points the cursors at it. */
  private loadCode(bytes: Uint8Array, address: bigint): void {
    if (bytes.length > this.codeCapacity) {
      if (this.codeBuffer !== 0) cs._free(this.codeBuffer);
      this.codeBuffer = 0;
      this.codeCapacity = 0;
      const capacity = Math.max(bytes.length, 4096);
      this.codeBuffer = mallocOrThrow(capacity, this.arch, address);
      this.codeCapacity = capacity;
    }
    heapU8.set(bytes, this.codeBuffer);
    heapView.setUint32(this.cursor + CURSOR_CODE, this.codeBuffer, true);
    heapView.setUint32(this.cursor + CURSOR_SIZE, bytes.length, true);
    heapView.setBigUint64(this.cursor + CURSOR_ADDRESS, address, true);
  }

  /** cs_disasm_iter leaves the cursors alone on failure; step them over a pseudo-instruction. */
  private skipCursor(size: number): void {
    const c = this.cursor;
    heapView.setUint32(c + CURSOR_CODE, heapView.getUint32(c + CURSOR_CODE, true) + size, true);
    heapView.setUint32(c + CURSOR_SIZE, heapView.getUint32(c + CURSOR_SIZE, true) - size, true);
    heapView.setBigUint64(c + CURSOR_ADDRESS, BigInt.asUintN(64, heapView.getBigUint64(c + CURSOR_ADDRESS, true) + BigInt(size)), true);
  }

  private invalidInsn(bytes: Uint8Array, offset: number, base: bigint): Insn {
    const remaining = bytes.length - offset;
    let size: number;
    let mnemonic: string;
    let opStr: string;
    if (this.arch === 'aarch64' && remaining >= 4) {
      size = 4;
      mnemonic = '.inst';
      const word = (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
      opStr = '0x' + word.toString(16).padStart(8, '0');
    } else {
      size = this.arch === 'x64' ? 1 : remaining;
      mnemonic = '.byte';
      opStr = Array.from(bytes.subarray(offset, offset + size), (b) => '0x' + b.toString(16).padStart(2, '0')).join(', ');
    }
    return {
      address: BigInt.asUintN(64, base + BigInt(offset)),
      size,
      bytes: bytes.slice(offset, offset + size),
      mnemonic,
      opStr,
      text: `${mnemonic} ${opStr}`,
      id: 0,
      invalid: true,
    };
  }

  private readDetail(insn: number, mnemonic: string): InsnDetail {
    const d = heapView.getUint32(insn + INSN_DETAIL, true);
    const groups: string[] = [];
    const groupCount = Math.min(heapU8[d + DETAIL_GROUPS_COUNT], MAX_GROUPS);
    for (let i = 0; i < groupCount; i++) groups.push(this.groupName(heapU8[d + DETAIL_GROUPS + i]));

    const a = this.accessScratch;
    const accessOk = cs._cs_regs_access(this.detailHandle, insn, a, a + 256, a + 128, a + 257) === CS_ERR_OK;
    const detail: InsnDetail = {
      regsRead: this.regList(d + DETAIL_REGS_READ, Math.min(heapU8[d + DETAIL_REGS_READ_COUNT], MAX_IMPLICIT_REGS)),
      regsWrite: this.regList(d + DETAIL_REGS_WRITE, Math.min(heapU8[d + DETAIL_REGS_WRITE_COUNT], MAX_IMPLICIT_REGS)),
      allRegsRead: accessOk ? this.regList(a, Math.min(heapU8[a + 256], REGS_ACCESS_CAPACITY)) : [],
      allRegsWrite: accessOk ? this.regList(a + 128, Math.min(heapU8[a + 257], REGS_ACCESS_CAPACITY)) : [],
      groups,
      operands: [],
    };
    const arch = d + DETAIL_ARCH;
    if (this.arch === 'x64') {
      detail.operands = this.readX64Operands(arch);
      detail.x64 = readX64Detail(arch);
      return detail;
    }
    detail.operands = this.readAarch64Operands(arch);
    detail.aarch64 = readAarch64Detail(arch);
    if (A64_COMPARE_ALIASES.has(mnemonic)) {
      const read: string[] = [];
      for (const op of detail.operands) {
        op.access = 'read';
        if (op.type === 'reg') read.push(op.reg);
      }
      for (const reg of detail.allRegsRead) if (!read.includes(reg)) read.push(reg);
      detail.allRegsRead = read;
      detail.allRegsWrite = ['nzcv'];
    }
    return detail;
  }

  /** Register names from a u16 id array, without duplicates (Capstone lists rcx of `rep stos` twice). */
  private regList(at: number, count: number): string[] {
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const name = this.regName(heapView.getUint16(at + 2 * i, true));
      if (!names.includes(name)) names.push(name);
    }
    return names;
  }

  private optionalReg(id: number): string | undefined {
    return id === 0 ? undefined : this.regName(id);
  }

  private readX64Operands(x: number): Operand[] {
    const operands: Operand[] = [];
    const count = Math.min(heapU8[x + X86_OP_COUNT], MAX_OPERANDS);
    for (let i = 0; i < count; i++) {
      const op = x + X86_OPERANDS + i * X86_OP_STRIDE;
      const common = { access: accessOf(heapU8[op + X86_OP_ACCESS]), size: heapU8[op + X86_OP_SIZE] };
      const type = heapView.getUint32(op + X86_OP_TYPE, true);
      if (type === OP_REG) {
        operands.push({ type: 'reg', reg: this.regName(heapView.getUint32(op + X86_OP_VALUE, true)), ...common });
      } else if (type === OP_IMM) {
        operands.push({ type: 'imm', imm: heapView.getBigInt64(op + X86_OP_VALUE, true), ...common });
      } else if (type === OP_MEM) {
        const mem: MemoryRef = {
          base: this.optionalReg(heapView.getUint32(op + X86_OP_MEM_BASE, true)),
          index: this.optionalReg(heapView.getUint32(op + X86_OP_MEM_INDEX, true)),
          scale: heapView.getInt32(op + X86_OP_MEM_SCALE, true),
          disp: heapView.getBigInt64(op + X86_OP_MEM_DISP, true),
          segment: this.optionalReg(heapView.getUint32(op + X86_OP_MEM_SEGMENT, true)),
        };
        operands.push({ type: 'mem', mem: dropUndefined(mem), ...common });
      }
    }
    return operands;
  }

  private readAarch64Operands(a: number): Operand[] {
    const operands: Operand[] = [];
    const count = Math.min(heapU8[a + A64_OP_COUNT], MAX_OPERANDS);
    for (let i = 0; i < count; i++) {
      const op = a + A64_OPERANDS + i * A64_OP_STRIDE;
      const common: OperandCommon = { access: accessOf(heapU8[op + A64_OP_ACCESS]) };
      const shift = A64_SHIFTS[heapView.getUint32(op + A64_OP_SHIFT_TYPE, true)];
      if (shift !== undefined) common.shift = { kind: shift, amount: heapView.getUint32(op + A64_OP_SHIFT_VALUE, true) };
      const extend = A64_EXTENDS[heapView.getUint32(op + A64_OP_EXT, true)];
      if (extend !== undefined) common.extend = extend;
      const vectorIndex = heapView.getInt32(op + A64_OP_VECTOR_INDEX, true);
      if (vectorIndex !== -1) common.vectorIndex = vectorIndex;
      const arrangement = A64_ARRANGEMENTS[heapView.getUint32(op + A64_OP_VAS, true)];
      if (arrangement !== undefined) common.arrangement = arrangement;

      const type = heapView.getUint32(op + A64_OP_TYPE, true);
      if (type === OP_REG) {
        operands.push({ type: 'reg', reg: this.regName(heapView.getUint32(op + A64_OP_VALUE, true)), ...common });
      } else if (type === OP_IMM || type === A64_OP_CIMM) {
        operands.push({ type: 'imm', imm: heapView.getBigInt64(op + A64_OP_VALUE, true), ...common });
      } else if (type === OP_MEM) {
        const mem: MemoryRef = {
          base: this.optionalReg(heapView.getUint32(op + A64_OP_MEM_BASE, true)),
          index: this.optionalReg(heapView.getUint32(op + A64_OP_MEM_INDEX, true)),
          disp: BigInt(heapView.getInt32(op + A64_OP_MEM_DISP, true)),
        };
        operands.push({ type: 'mem', mem: dropUndefined(mem), ...common });
      } else if (type === OP_FP) {
        operands.push({ type: 'fp', fp: heapView.getFloat64(op + A64_OP_VALUE, true), ...common });
      } else if (A64_SYSTEM_KINDS[type] !== undefined) {
        operands.push({ type: 'system', kind: A64_SYSTEM_KINDS[type], value: heapView.getUint32(op + A64_OP_VALUE, true), ...common });
      }
    }
    return operands;
  }
}

function accessOf(bits: number): OperandAccess {
  return ACCESS[bits & (AC_READ | AC_WRITE)];
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

function readX64Detail(x: number): X64Detail {
  const e = x + X86_ENCODING;
  return {
    prefix: Array.from(heapU8.subarray(x + X86_PREFIX, x + X86_PREFIX + 4)),
    opcode: Array.from(heapU8.subarray(x + X86_OPCODE, x + X86_OPCODE + 4)),
    rex: heapU8[x + X86_REX],
    addrSize: heapU8[x + X86_ADDR_SIZE],
    modrm: heapU8[x + X86_MODRM],
    sib: heapU8[x + X86_SIB],
    disp: heapView.getBigInt64(x + X86_DISP, true),
    eflags: heapView.getBigUint64(x + X86_EFLAGS, true),
    encoding: {
      modrmOffset: heapU8[e],
      dispOffset: heapU8[e + 1],
      dispSize: heapU8[e + 2],
      immOffset: heapU8[e + 3],
      immSize: heapU8[e + 4],
    },
  };
}

function readAarch64Detail(a: number): Aarch64Detail {
  const cc = A64_CONDITIONS[heapView.getUint32(a + A64_CC, true)];
  return {
    ...(cc === undefined || cc === 'al' ? {} : { cc }),
    updateFlags: heapU8[a + A64_UPDATE_FLAGS] !== 0,
    writeback: heapU8[a + A64_WRITEBACK] !== 0,
    postIndex: heapU8[a + A64_POST_INDEX] !== 0,
  };
}

const disassemblers = new Map<Arch, Disassembler>();

/** The shared disassembler for `arch` (created on first use; Capstone handles are never closed). */
export function createDisassembler(arch: Arch): Disassembler {
  if (arch !== 'x64' && arch !== 'aarch64') throw new DisasmError(undefined, undefined, `unknown architecture ${String(arch)}`);
  let disassembler = disassemblers.get(arch);
  if (disassembler === undefined) {
    disassembler = new Disassembler(arch);
    disassemblers.set(arch, disassembler);
  }
  return disassembler;
}
