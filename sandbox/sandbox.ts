import type { Arch } from '../isa/arch.ts';
import { hex } from '../isa/error.ts';
import { LoaderError, readElf } from '../loader/index.ts';
import type { LinkedImage } from '../loader/link.ts';
import { loadObjects, type HostBinding, type LoadedProgram } from '../loader/sandbox.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { Machine, type CallOptions, type SyscallHandler } from '../simulator/machine.ts';
import type { CycleOptions } from '../simulator/timing/cycles.ts';
import { marshal, parseSignature, resultRegisters, unmarshalResult, type CValue, type ResultType, type Scratch, type Signature } from './abi.ts';
import { selectObjects } from './archive.ts';
import { CfiUnwinder } from './eh-frame.ts';
import { bindHost, type HostFunctionSpec } from './host.ts';
import { cRuntime } from './libc.ts';
import { GuestAccess, GuestHeap, SandboxMemoryError } from './memory.ts';
import { GuestExit, syscallHandlerFor, type SyscallPolicy } from './syscalls.ts';

/** An object file or `ar` archive. */
export interface SandboxInput {
  readonly file: string;
  readonly bytes: Uint8Array;
}

export interface SandboxOptions {
  /** Host functions by symbol name; they win over the C runtime's, objects' definitions win over both. */
  host?: Record<string, HostFunctionSpec>;
  /** Bind the minimal C runtime (sandbox/libc.ts) to names the objects leave undefined. Default true. */
  runtime?: boolean;
  /** `deny` (default: every system call traps), `linux-min`, or a handler. */
  syscalls?: SyscallPolicy | SyscallHandler;
  /** Instructions per call (null: none). Default 2^32. */
  budget?: bigint | null;
  /** Wall-clock ms per call (null: none). Default 10 s. */
  timeoutMs?: number | null;
  /** Guest heap bytes (malloc and the allocate helper). Default 16 MiB. */
  heapSize?: number;
  /** Guest stack bytes. Default 1 MiB. */
  stackSize?: number;
  /** rdtsc / cntvct_el0: `virtual` (default, from the instruction count) or `real`. */
  clock?: 'virtual' | 'real';
  cycles?: CycleOptions;
}

/** What one call returned. */
export interface CallOutcome {
  /** The typed result (undefined for void, or when the guest exited). */
  readonly value: CValue | undefined;
  readonly type: ResultType;
  /** Guest instructions the call executed (host work charged to the budget included). */
  readonly instructions: bigint;
  /** Bytes the call printed (puts, printf, putchar, write to fd 1/2). */
  readonly output: Uint8Array;
  /** `output` decoded as UTF-8. */
  readonly stdout: string;
  /** Set when the guest exited through `exit`/`exit_group` (syscalls: 'linux-min'). */
  readonly exit?: number;
}

/** The stack-protector canary: a fixed value (runs replay), its low byte zero as glibc's is. */
export const STACK_CANARY = 0x5d3ca9e17b204f00n;
/** Unicorn's id of the x86-64 FS base register (the canary is read from fs:0x28). */
const X64_FS_BASE = 250;

const dec = new TextDecoder();
const NO_ARGS: readonly CValue[] = Object.freeze([]);
const NO_OPTIONS: CallOptions = Object.freeze({});
const NO_OUTPUT = new Uint8Array(0);

/**
 * ELF objects and archives linked into a fresh Machine, with a guest heap, a minimal C runtime,
 * host functions with C signatures, system-call policy and CFI-based backtraces. Nothing the
 * objects contain runs on the host: they see only their own image, the heap, the stack and
 * the gateway's stubs (docs/sandbox.md, docs/sandbox-guarantees.md).
 */
export class Sandbox {
  readonly arch: Arch;
  readonly machine: Machine;
  readonly program: LoadedProgram;
  readonly heap: GuestHeap;
  readonly memory: GuestAccess;
  /** The objects linked, archive members as `lib.a(member.o)`. */
  readonly objects: readonly string[];
  /** Frames the `.eh_frame` sections describe. */
  readonly cfiEntries: number;
  private chunks: Uint8Array[] = [];
  private readonly signatures = new Map<string, Signature>();
  /** The machine's stack minus 512 bytes at the top: a process's first frame has its
   * arguments and environment above it, so a small overrun there hits the caller's data (as
   * natively) rather than the end of the mapping. */
  private readonly entryStack;
  /** The options of an outermost call made without options: the entry stack. */
  private readonly entryOptions: CallOptions;
  /** Heap blocks marshalling took for the calls in progress (released as each returns). */
  private readonly scratch: bigint[] = [];
  private readonly scratchMemory: Scratch = {
    allocate: (size, align) => {
      const p = this.allocate(size, align);
      this.scratch.push(p);
      return p;
    },
    write: (address, bytes) => this.machine.writeBytes(address, bytes),
  };

  private constructor(arch: Arch, machine: Machine, program: LoadedProgram, heap: GuestHeap, memory: GuestAccess, objects: string[], cfiEntries: number, chunks: Uint8Array[]) {
    this.arch = arch;
    this.machine = machine;
    this.program = program;
    this.heap = heap;
    this.memory = memory;
    this.objects = objects;
    this.cfiEntries = cfiEntries;
    this.chunks = chunks;
    this.entryStack = { ...machine.stack, top: machine.stack.top - 512n };
    this.entryOptions = { stack: this.entryStack };
  }

  /** Loads objects and archives (archive members pulled as ld would) into a new sandbox. */
  static async load(inputs: readonly SandboxInput[], options: SandboxOptions = {}): Promise<Sandbox> {
    if (inputs.length === 0) throw new LoaderError('unresolved-symbols', '<none>', 'no objects to load');
    const objects = selectObjects(inputs);
    if (objects.length === 0) throw new LoaderError('unresolved-symbols', inputs.map((i) => i.file).join(', '), 'no object to link (archives alone pull no members)');
    const arches = new Set(objects.map((o) => readElf(o.bytes, o.file).arch));
    if (arches.size !== 1) throw new LoaderError('machine-mismatch', objects.map((o) => o.file).join(', '), `objects are for different architectures (${[...arches].join(', ')})`);
    const [arch] = arches;
    const machine = await Machine.create({ arch, budget: options.budget, timeoutMs: options.timeoutMs, stackSize: options.stackSize, clock: options.clock, ...(options.cycles ? { cycles: options.cycles } : {}) });
    try {
      const memory = new GuestAccess(machine);
      const heap = new GuestHeap(machine, options.heapSize ?? 16 << 20);
      const chunks: Uint8Array[] = [];
      const output = (bytes: Uint8Array) => {
        chunks.push(bytes.slice());
      };
      // The canary word: fs:0x28 on x86-64, the __stack_chk_guard symbol on AArch64.
      // One page of runtime data: the canary (fs:0x28 on x86-64, __stack_chk_guard on AArch64),
      // the stdout/stderr pointers and the two FILE objects they point to.
      const tls = machine.map('sandbox.tls', 0x1000, PROT_READ | PROT_WRITE);
      machine.writeU64(tls.address + 0x28n, STACK_CANARY);
      if (arch === 'x64') machine.engine.regWrite(X64_FS_BASE, tls.address);
      const streams = [tls.address + 0x100n, tls.address + 0x200n];
      machine.writeU64(tls.address + 0x40n, streams[0]);
      machine.writeU64(tls.address + 0x48n, streams[1]);
      const data = new Map([['__stack_chk_guard', tls.address + 0x28n], ['stdout', tls.address + 0x40n], ['stderr', tls.address + 0x48n]]);
      const specs: Record<string, HostFunctionSpec> = { ...(options.runtime === false ? {} : cRuntime(streams)), ...(options.host ?? {}) };
      const env = { machine, memory, heap, output };
      const bindings = new Map<string, HostBinding>();
      for (const [name, spec] of Object.entries(specs)) bindings.set(name, bindHost(arch, name, spec, env));
      const program = loadObjects(machine, objects, {
        hostFunctions: bindings,
        dataSymbols: options.runtime === false ? undefined : data,
      });
      const policy = options.syscalls ?? 'deny';
      machine.setSyscallHandler(syscallHandlerFor(policy, memory, (_fd, bytes) => output(bytes)));
      const ehFrames = program.image.sections.filter((s) => s.name === '.eh_frame' && !s.nobits);
      const cfi = new CfiUnwinder(arch, ehFrames);
      if (cfi.size > 0) machine.addUnwinder(cfi.unwinder);
      return new Sandbox(arch, machine, program, heap, memory, objects.map((o) => o.file), cfi.size, chunks);
    } catch (e) {
      machine.close();
      throw e;
    }
  }

  get image(): LinkedImage {
    return this.program.image;
  }

  /** Guest address of a symbol. */
  address(name: string): bigint {
    return this.program.address(name);
  }

  /**
   * Calls a function by name with a C signature (`'f64(f64,i32)'`, or parsed); without one,
   * every argument and the result are i64. Throws GuestTrap when the guest traps (the
   * captured output stays readable in `output`).
   */
  call(name: string, signature?: string | Signature, args: readonly CValue[] = NO_ARGS, options: CallOptions = NO_OPTIONS): CallOutcome {
    const sig: Signature = typeof signature === 'string' ? this.parsed(signature) : signature ?? { result: 'i64', params: args.map(() => 'i64' as const) };
    const target = this.address(name);
    this.chunks.length = 0;
    // A host function may call in again: this call releases only the blocks it took.
    const scratch = this.scratch;
    const firstScratch = scratch.length;
    try {
      const { frame, sret } = marshal(this.arch, sig, args, this.scratchMemory);
      const active = this.machine.active;
      const callOptions = active || options.stack ? options : options === NO_OPTIONS ? this.entryOptions : { ...options, stack: this.entryStack };
      const regs = this.machine.callWith(target, frame, callOptions, resultRegisters(this.arch, sig.result));
      const value = unmarshalResult(this.arch, sig.result, regs, sret, this.readMemory);
      return this.outcome(value, sig.result);
    } catch (e) {
      if (e instanceof GuestExit) return { ...this.outcome(undefined, sig.result), exit: e.status };
      throw e;
    } finally {
      while (scratch.length > firstScratch) this.heap.release(scratch.pop()!);
    }
  }

  private readonly readMemory = (address: bigint, length: number): Uint8Array => this.machine.readBytes(address, length);

  private parsed(text: string): Signature {
    let sig = this.signatures.get(text);
    if (!sig) {
      sig = parseSignature(text);
      if (this.signatures.size < 1024) this.signatures.set(text, sig);
    }
    return sig;
  }

  private outcome(value: CValue | undefined, type: ResultType): CallOutcome {
    const output = this.output;
    return { value, type, instructions: this.machine.instructionsExecuted(), output, stdout: output.length ? dec.decode(output) : '' };
  }

  /** What the current or last call printed. */
  get output(): Uint8Array {
    if (this.chunks.length === 0) return NO_OUTPUT;
    if (this.chunks.length === 1) return this.chunks[0];
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  // ---- guest memory helpers ---------------------------------------------------------------

  /** Allocates zeroed guest heap memory (the same heap as the guest's malloc). */
  allocate(size: number, align = 16): bigint {
    const p = this.heap.allocate(size, align);
    if (p === undefined) throw new SandboxMemoryError(`guest heap full: cannot allocate ${size} bytes (heap ${this.heap.region.size} bytes, ${this.heap.used} in use)`);
    this.machine.writeBytes(p, new Uint8Array(Math.max(size, 1)));
    return p;
  }

  free(address: bigint): void {
    if (!this.heap.release(address)) throw new SandboxMemoryError(`free(${hex(address)}): not a live heap block`);
  }

  /** Copies bytes into a new heap block; returns its address. */
  allocateBytes(bytes: Uint8Array): bigint {
    const p = this.allocate(bytes.length);
    this.write(p, bytes);
    return p;
  }

  /** A NUL-terminated UTF-8 copy of `text` on the heap. */
  allocateCString(text: string): bigint {
    const bytes = new TextEncoder().encode(text);
    const p = this.allocate(bytes.length + 1);
    this.write(p, bytes);
    return p;
  }

  write(address: bigint, bytes: Uint8Array): void {
    this.checkHostAccess(address, bytes.length, PROT_WRITE);
    this.machine.writeBytes(address, bytes);
  }

  read(address: bigint, length: number): Uint8Array {
    this.checkHostAccess(address, length, PROT_READ);
    return this.machine.readBytes(address, length);
  }

  /** The NUL-terminated string at `address` (UTF-8), at most `max` bytes. */
  readCString(address: bigint, max = 1 << 20): string {
    const bytes: number[] = [];
    for (let i = 0; i < max; i++) {
      const [b] = this.read(address + BigInt(i), 1);
      if (b === 0) break;
      bytes.push(b);
    }
    return dec.decode(Uint8Array.from(bytes));
  }

  private checkHostAccess(address: bigint, length: number, perms: number): void {
    const bad = this.memory.fault(address, BigInt(length), perms);
    if (bad) throw new SandboxMemoryError(`${perms & PROT_WRITE ? 'write' : 'read'} of ${length} bytes at ${hex(address)}: ${bad.kind} at ${hex(bad.address)}`);
  }

  close(): void {
    this.machine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
