/**
 * Test fixture: Cranelift-shaped guest frames built with GNU as, a VMRuntimeLimits struct and
 * a miniature runtime that does what the trampolines and CallThreadState do for the walker
 * (entry SP written by a guest entry trampoline, exit FP/PC written by host functions,
 * older triples saved around nested entries, the canary set at the outermost entry).
 * Tests and benchmarks only.
 */
import type { Arch } from '../../isa/arch.ts';
import { Machine, type HostCall, type Region } from '../../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { VMRuntimeLimitsLayout } from '../../compiler/vmoffsets.ts';
import { assemble } from '../../simulator/testing/asm.ts';
import { ExternRefHeap, type ExternRefHeapOptions } from '../externref.ts';
import { ActivationsTable, type ActivationsTableOptions } from '../activations.ts';
import { StackMapRegistry, stackMapBits, type StackMapLookupMode, type StackMapInput } from '../stackmap-registry.ts';
import { Collector, type CollectorOptions } from '../collector.ts';
import { callerFrameOfHostCall, readRuntimeLimits, writeRuntimeLimits, type ActivationTriple, type FrameRegisters } from '../walk.ts';

/** Frame size of `rec`: four words, FP − SP = 32. Slot 1 holds the reference. */
export const REC_WORDS = 4;
export const REC_REF_BIT = 1;
/** Words in `big`'s frame (FP − SP = 8192). */
export const BIG_WORDS = 1024;

/**
 * Functions (labels must be unique in the one snippet):
 * * entry(limits, target, a, b, c): host-to-Wasm trampoline; stores its SP in
 *   limits.last_wasm_entry_sp, then calls target(a, b, c).
 * * rec(n, refs, host): frame of 4 words: [sp+8] = refs[n], the others junk (odd, never a
 *   pointer); recurses with n−1, and at n = 0 calls host(). Two call sites.
 * * big(count, refs, host): 1024-word frame; copies refs[0..count) to [sp + 8i], calls host().
 * * leaf(host): frameless call of host with a 16-byte-aligned stack (no Wasm frame of its own).
 * The offsets table at the end gives each label's offset from `base`.
 */
const SOURCE: Record<Arch, string> = {
  x64: `base:
entry:
  push rbp
  mov rbp, rsp
  mov [rdi + ${VMRuntimeLimitsLayout.lastWasmEntrySp}], rsp
  mov rax, rsi
  mov rdi, rdx
  mov rsi, rcx
  mov rdx, r8
  call rax
  pop rbp
  ret
entry_end:
rec:
  push rbp
  mov rbp, rsp
  sub rsp, 32
  mov rax, [rsi + rdi*8]
  mov [rsp + 8], rax
  lea rax, [rdi*8 + 0x235]
  mov [rsp], rax
  mov [rsp + 16], rax
  mov [rsp + 24], rax
  test rdi, rdi
  jz 1f
  dec rdi
rec_call_rec:
  call rec
rec_ret_rec:
  jmp 2f
1:
rec_call_host:
  call rdx
rec_ret_host:
2:
  add rsp, 32
  pop rbp
  ret
rec_end:
big:
  push rbp
  mov rbp, rsp
  sub rsp, ${BIG_WORDS * 8}
  xor ecx, ecx
1:
  cmp rcx, rdi
  jae 2f
  mov rax, [rsi + rcx*8]
  mov [rsp + rcx*8], rax
  inc rcx
  jmp 1b
2:
big_call_host:
  call rdx
big_ret_host:
  add rsp, ${BIG_WORDS * 8}
  pop rbp
  ret
big_end:
  .p2align 2
offsets:
  .long entry - base, entry_end - base, rec - base, rec_call_rec - base, rec_ret_rec - base, rec_call_host - base, rec_ret_host - base, rec_end - base
  .long big - base, big_call_host - base, big_ret_host - base, big_end - base
`,
  aarch64: `base:
entry:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  mov x9, sp
  str x9, [x0, #${VMRuntimeLimitsLayout.lastWasmEntrySp}]
  mov x9, x1
  mov x0, x2
  mov x1, x3
  mov x2, x4
  blr x9
  ldp x29, x30, [sp], #16
  ret
entry_end:
rec:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  sub sp, sp, #32
  ldr x9, [x1, x0, lsl #3]
  str x9, [sp, #8]
  lsl x10, x0, #3
  add x10, x10, #0x235
  str x10, [sp]
  str x10, [sp, #16]
  str x10, [sp, #24]
  cbz x0, 1f
  sub x0, x0, #1
rec_call_rec:
  bl rec
rec_ret_rec:
  b 2f
1:
rec_call_host:
  blr x2
rec_ret_host:
2:
  add sp, sp, #32
  ldp x29, x30, [sp], #16
  ret
rec_end:
big:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  sub sp, sp, #${BIG_WORDS * 8}
  mov x3, #0
1:
  cmp x3, x0
  b.hs 2f
  ldr x4, [x1, x3, lsl #3]
  str x4, [sp, x3, lsl #3]
  add x3, x3, #1
  b 1b
2:
big_call_host:
  blr x2
big_ret_host:
  add sp, sp, #${BIG_WORDS * 8}
  ldp x29, x30, [sp], #16
  ret
big_end:
  .p2align 2
offsets:
  .long entry - base, entry_end - base, rec - base, rec_call_rec - base, rec_ret_rec - base, rec_call_host - base, rec_ret_host - base, rec_end - base
  .long big - base, big_call_host - base, big_ret_host - base, big_end - base
`,
};

const OFFSET_NAMES = [
  'entry', 'entry_end', 'rec', 'rec_call_rec', 'rec_ret_rec', 'rec_call_host', 'rec_ret_host', 'rec_end',
  'big', 'big_call_host', 'big_ret_host', 'big_end',
] as const;
export type Label = (typeof OFFSET_NAMES)[number];

const codeCache = new Map<Arch, { bytes: Uint8Array; offsets: Record<Label, number> }>();

/** Assembles the fixture code once per arch. */
export function fixtureCode(arch: Arch): { bytes: Uint8Array; offsets: Record<Label, number> } {
  let c = codeCache.get(arch);
  if (!c) {
    const bytes = assemble(arch, SOURCE[arch]);
    const tail = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4 * OFFSET_NAMES.length, 4 * OFFSET_NAMES.length);
    const offsets = Object.fromEntries(OFFSET_NAMES.map((n, i) => [n, tail.getUint32(4 * i, true)])) as Record<Label, number>;
    c = { bytes, offsets };
    codeCache.set(arch, c);
  }
  return c;
}

export interface MapOverrides {
  /** Bits of `rec`'s maps (default [1]). */
  recBits?: number[];
  /** Mapped words of `rec`'s maps (default 4). */
  recWords?: number;
  /** References `big` holds (its map marks words 0..bigCount). */
  bigCount?: number;
}

/** The module's stack maps as the compiler would describe them. */
export function fixtureStackMaps(arch: Arch, textStart: bigint, o: MapOverrides = {}) {
  const { offsets } = fixtureCode(arch);
  const recWords = o.recWords ?? REC_WORDS;
  const recBits = stackMapBits(Math.max(recWords, 1), (o.recBits ?? [REC_REF_BIT]).filter((b) => b < Math.max(recWords, 1)));
  const recMap = (call: Label, ret: Label): StackMapInput => ({
    callOffset: offsets[call] - offsets.rec, returnAddressOffset: offsets[ret] - offsets.rec, mappedWords: recWords, bits: recBits,
  });
  const bigCount = o.bigCount ?? 0;
  return {
    moduleName: 'fixture',
    textStart,
    functions: [
      {
        name: 'rec', start: BigInt(offsets.rec), length: offsets.rec_end - offsets.rec,
        maps: [recMap('rec_call_rec', 'rec_ret_rec'), recMap('rec_call_host', 'rec_ret_host')],
      },
      {
        name: 'big', start: BigInt(offsets.big), length: offsets.big_end - offsets.big,
        maps: [{
          callOffset: offsets.big_call_host - offsets.big, returnAddressOffset: offsets.big_ret_host - offsets.big,
          mappedWords: BIG_WORDS, bits: stackMapBits(BIG_WORDS, Array.from({ length: bigCount }, (_, i) => i)),
        }],
      },
    ],
  };
}

export interface FixtureOptions {
  arch: Arch;
  walk?: 'v17' | 'canary';
  registryMode?: StackMapLookupMode;
  maps?: MapOverrides;
  heap?: ExternRefHeapOptions;
  table?: ActivationsTableOptions;
  collector?: Partial<Pick<CollectorOptions, 'debugChecks' | 'conservativeCheck' | 'onCollect'>>;
}

/**
 * A machine with the fixture code, an externref heap, a table, a registry, a collector and a
 * miniature runtime.
 */
export class Fixture {
  readonly m: Machine;
  readonly arch: Arch;
  readonly text: Region;
  readonly data: Region;
  readonly limits: bigint;
  readonly heap: ExternRefHeap;
  readonly table: ActivationsTable;
  readonly registry: StackMapRegistry;
  readonly collector: Collector;
  readonly fn: Record<Label, bigint>;
  /** Saved triples of interrupted activations, oldest first (CallThreadState's chain). */
  readonly saved: ActivationTriple[] = [];
  /** Guest frames that called host functions still running, oldest first. */
  readonly hostCalls: FrameRegisters[] = [];
  canary: bigint | null = null;
  private dataNext = 0;

  private constructor(m: Machine, o: FixtureOptions) {
    this.m = m;
    this.arch = o.arch;
    const { bytes, offsets } = fixtureCode(o.arch);
    this.text = m.map('fixture-text', bytes.length, PROT_READ | PROT_EXEC);
    m.writeBytes(this.text.address, bytes);
    this.fn = Object.fromEntries(Object.entries(offsets).map(([k, v]) => [k, this.text.address + BigInt(v)])) as Record<Label, bigint>;
    this.data = m.map('fixture-data', 1 << 17, PROT_READ | PROT_WRITE);
    const limitsRegion = m.map('vmruntime-limits', VMRuntimeLimitsLayout.size, PROT_READ | PROT_WRITE);
    this.limits = limitsRegion.address;
    m.writeU64(this.limits + BigInt(VMRuntimeLimitsLayout.stackLimit), 0xffff_ffff_ffff_ffffn);
    this.heap = new ExternRefHeap(m, o.heap);
    this.table = new ActivationsTable(m, this.heap, o.table);
    this.registry = new StackMapRegistry({ mode: o.registryMode ?? 'v17' });
    this.registry.register(fixtureStackMaps(o.arch, this.text.address, o.maps));
    const walk = o.walk ?? 'v17';
    this.collector = new Collector({
      machine: m, heap: this.heap, table: this.table, registry: this.registry,
      walk: walk === 'v17'
        ? { kind: 'v17', limits: this.limits, olderActivations: () => [...this.saved].reverse() }
        : {
          kind: 'canary', canary: () => this.canary,
          start: () => this.hostCalls[this.hostCalls.length - 1],
          resume: () => this.hostCalls.slice(0, -1).reverse(),
        },
      ...o.collector,
    });
  }

  static async create(o: FixtureOptions): Promise<Fixture> {
    return new Fixture(await Machine.create({ arch: o.arch }), o);
  }

  /** Writes u64 words into the data region; returns their address. */
  words(values: readonly bigint[]): bigint {
    const at = this.data.address + BigInt(this.dataNext);
    values.forEach((v, i) => this.data.data.setBigUint64(this.dataNext + 8 * i, v, true));
    this.dataNext += 8 * values.length;
    if (this.dataNext > this.data.size) throw new RangeError('fixture data region full');
    return at;
  }

  /**
   * Calls guest `target(a, b, c)` through the entry trampoline the way the runtime enters Wasm:
   * saves the current limits triple (CallThreadState) and restores it afterwards, and sets the
   * canary at the outermost entry.
   */
  invoke(target: bigint, args: readonly bigint[]): bigint {
    const outermost = this.canary === null;
    this.saved.push(readRuntimeLimits(this.m, this.limits));
    if (outermost) this.canary = this.m.active ? this.m.sp() : this.m.stack.top;
    try {
      return this.m.call(this.fn.entry, [this.limits, target, ...args]);
    } finally {
      writeRuntimeLimits(this.m, this.limits, this.saved.pop()!);
      if (outermost) this.canary = null;
    }
  }

  /**
   * Registers a host function that Wasm calls directly: it records the exit FP/PC in
   * VMRuntimeLimits (what the Wasm-to-host trampoline does) and the caller's frame (for the
   * canary walk), then runs `fn`.
   */
  hostFunction(name: string, fn: (call: HostCall, args: bigint[]) => bigint | void): bigint {
    return this.m.addHostFunction(name, 3, (args, call) => {
      writeRuntimeLimits(this.m, this.limits, { exitFp: call.fp, exitPc: call.returnAddress });
      this.hostCalls.push(callerFrameOfHostCall(this.arch, call));
      try {
        return fn(call, args);
      } finally {
        this.hostCalls.pop();
      }
    });
  }

  /** Allocates `n` objects with values `${prefix}${i}`, puts one count of each in the table, keeps the host's. */
  rooted(n: number, prefix: string): bigint[] {
    return Array.from({ length: n }, (_, i) => {
      const r = this.heap.allocate(`${prefix}${i}`);
      this.table.insertWithoutGc(this.heap.clone(r));
      return r;
    });
  }

  /** Allocates `n` objects held only by the table. */
  garbage(n: number, prefix: string, destructor?: (v: unknown) => void): bigint[] {
    return Array.from({ length: n }, (_, i) => {
      const r = this.heap.allocate(`${prefix}${i}`, destructor);
      this.table.insertWithoutGc(r);
      return r;
    });
  }

  close(): void {
    this.m.close();
  }
}
