import type { Arch } from '../isa/arch.ts';
import { StackscopeError, hex } from '../isa/error.ts';
import { SYSCALL_ABIS, abiOf, type Abi, type SyscallConvention } from '../isa/abi.ts';
import { cpuOf, type Cpu } from '../isa/cpu.ts';
import {
  PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, permsToString,
  type CallRegisters, type CpuEngine, type EngineStop, type HookHandle, type InsertionAnswer, type MemoryFaultKind,
} from './engine.ts';
import { ENGINE_ABORTED, openUnicorn } from './unicorn.ts';
import { createDisassembler, type Disassembler } from '../isa/disasm.ts';
import { x64ScanBlock } from '../isa/x64/length.ts';
import { attachToJSON } from '../isa/json.ts';
import { GuestTrap, type BacktraceFrame, type FrameMethod, type TrapKind } from './trap.ts';
import { PLACED_SP_ACCESS, placedCodeFlags, systemInstructions, type SystemInstruction } from './system.ts';
import type { CycleCounter, CycleOptions, CycleReport, ReportOptions } from './timing/cycles.ts';

/** A misuse of the Machine API by the host program (not a guest fault). */
export class MachineError extends StackscopeError {
  override name = 'MachineError';
  constructor(message: string, readonly address?: bigint) {
    super(address === undefined ? message : `${message} (at ${hex(address)})`);
  }
}

/** A budget is a positive instruction count and a timeout a positive, finite number of ms
 * (null: none). A negative one would otherwise reach the native counter as a huge unsigned
 * limit, or a deadline already past. */
function checkLimits(budget: bigint | null, timeoutMs: number | null): void {
  if (budget !== null && (typeof budget !== 'bigint' || budget <= 0n)) {
    throw new MachineError(`budget must be a positive bigint or null (got ${String(budget)})`);
  }
  if (timeoutMs !== null && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new MachineError(`timeoutMs must be a positive finite number or null (got ${String(timeoutMs)})`);
  }
}

export interface Region {
  readonly name: string;
  readonly address: bigint;
  readonly size: number;
  perms: number;
  /** Host view of the region's bytes; the guest sees writes through it immediately. */
  readonly view: Uint8Array;
  readonly data: DataView;
}

export interface Stack {
  readonly region: Region;
  /** One past the highest stack byte; stacks grow down from here. */
  readonly top: bigint;
  /** The unmapped guard range right below the stack. */
  readonly guardBase: bigint;
  readonly guardSize: number;
}

/** What a host function learns about the call that reached it. */
export interface HostCall {
  readonly machine: Machine;
  readonly name: string;
  /** PC of the guest instruction that called the host function (the `call`/`bl` before the
   * return address; the stub itself when that is not a call, e.g. after a tail jump). */
  readonly callSite: bigint;
  /** Guest stack pointer at the call (x86-64: pointing at the return address). */
  readonly sp: bigint;
  /** Guest frame pointer of the caller. */
  readonly fp: bigint;
  /** Where the guest continues after the host function returns. */
  readonly returnAddress: bigint;
}

/**
 * The HostCall the gateway hands a host function: the return address is read, and the call
 * site found, when first asked for (most host calls need neither).
 */
class GatewayCall implements HostCall {
  private ret: bigint | undefined;
  private site: bigint | undefined;

  constructor(readonly machine: Machine, readonly name: string, readonly sp: bigint, readonly fp: bigint, private readonly lr: bigint, private readonly stub: bigint) {}

  get returnAddress(): bigint {
    return (this.ret ??= this.machine.hostReturnAddress(this.sp, this.lr));
  }

  get callSite(): bigint {
    return (this.site ??= this.machine.callSiteBefore(this.returnAddress, this.stub));
  }
}

/** A TypeScript function callable from guest code. Arguments and result are raw 64-bit
 * integer registers (per System V / AAPCS64); a void result leaves the result register 0. */
export type HostFunction = (args: bigint[], call: HostCall) => bigint | number | boolean | void;

export interface HostFunctionInfo {
  readonly name: string;
  readonly address: bigint;
  readonly arity: number;
}

/**
 * Round trips between the host and the engine, counted for every Machine of the process (a
 * campaign makes many; benches and profiles read the totals): `runs` engine runs started by a
 * call's run loop (the call itself, each resumption after a host function or a system
 * instruction), `calls` guest calls (`nested`: from inside a host function), host function
 * calls by name. Counting is one increment per event.
 */
export interface RoundTripCounts {
  runs: number;
  calls: number;
  nested: number;
  /** Host function calls the engine answered itself, without a round trip (`Machine.answerInsertions`;
   * they are in `hostCalls` too). */
  nativeAnswers: number;
  readonly hostCalls: Map<string, { calls: number }>;
}

export const roundTripCounts: RoundTripCounts = { runs: 0, calls: 0, nested: 0, nativeAnswers: 0, hostCalls: new Map() };

/** A registered host function with its entry in `roundTripCounts.hostCalls`. */
type RegisteredHost = HostFunctionInfo & { fn: HostFunction; counter: { calls: number } };

/** The host function whose no-op calls the engine answers itself, and the engine's answer state. */
type AnsweredHost = { answer: InsertionAnswer; host: RegisteredHost };

/** Host calls counted under `name` (one record per name, shared by every machine). */
function hostCallCounter(name: string): { calls: number } {
  let c = roundTripCounts.hostCalls.get(name);
  if (!c) roundTripCounts.hostCalls.set(name, (c = { calls: 0 }));
  return c;
}

export interface MachineOptions {
  arch: Arch;
  /** Instructions one outermost call may execute; null disables the budget. Default 2^32. */
  budget?: bigint | null;
  /** Wall-clock limit of one outermost call, in ms; null disables it. Default 10 s. */
  timeoutMs?: number | null;
  /** Exact PCs for faulting memory accesses (free with the native helper, docs/engine.md). Default true. */
  exactFaultPc?: boolean;
  /** Size of the default stack in bytes. Default 1 MiB, with a 64 KiB guard below it. */
  stackSize?: number;
  /** An engine to use instead of native Unicorn (it must match `arch`). */
  engine?: CpuEngine;
  /**
   * Cycle model (simulator/timing, docs/cycle-model.md): `fast` prices blocks statically and
   * counts them natively; `detailed` adds a branch predictor, caches and a scoreboard (JS
   * hooks, slower). Default off. Read results with `cycleReport()`.
   */
  cycles?: CycleOptions;
  /** Handler for guest system calls; without one every system call is a `syscall` trap. */
  syscalls?: SyscallHandler;
  /**
   * What `rdtsc`/`rdtscp` and AArch64 `cntvct_el0`/`cntpct_el0` read: `virtual` (default) is
   * the number of guest instructions executed since the machine was made, so runs replay
   * exactly; `real` is the host's monotonic clock in nanoseconds.
   */
  clock?: 'virtual' | 'real';
}

/** A guest system call stopped before it executes (docs/sandbox.md). */
export interface SyscallRequest {
  readonly machine: Machine;
  /** `syscall`/`sysenter` (x86-64 Linux numbers in rax, arguments rdi rsi rdx r10 r8 r9),
   * `int 0x80` (i386 numbers in eax, arguments ebx ecx edx esi edi ebp), `svc` (x8; x0-x5). */
  readonly convention: SyscallConvention;
  readonly number: bigint;
  readonly args: readonly bigint[];
  readonly pc: bigint;
  readonly instruction: string;
}

/**
 * Decides a guest system call: a number emulates it (the value is the call's result, in rax or
 * x0, and the guest continues after the instruction); `undefined` denies it (a `syscall`
 * trap at the instruction). Throwing ends the outermost call with that error.
 */
export type SyscallHandler = (request: SyscallRequest) => bigint | number | undefined;

/** Guest registers for unwinding one frame: DWARF register number → value (x86-64: 7 = rsp,
 * 6 = rbp, 16 = return address column; AArch64: 29 = fp, 30 = lr, 31 = sp). */
export interface UnwindState {
  pc: bigint;
  regs: Map<number, bigint>;
}

/**
 * Finds the caller's registers from a frame's (e.g. from `.eh_frame` CFI); undefined when it
 * knows nothing about `state.pc`. `youngest` is false for frames whose pc is a return address
 * (look up `pc - 1`).
 */
export type Unwinder = (state: UnwindState, youngest: boolean, machine: Machine) => UnwindState | undefined;

/** A call's argument registers and stack words, for signatures beyond integers. */
export interface CallFrame {
  /** Integer/pointer argument registers in order (at most 6 on x86-64, 8 on AArch64). */
  ints: readonly bigint[];
  /** Raw low 64 bits of the vector argument registers xmm0-7 / v0-7 (f32 in the low 32). */
  floats?: readonly bigint[];
  /** 8-byte words placed at the stack pointer of the call, in order. */
  stack?: readonly bigint[];
  /** AArch64 indirect result location register x8 (sret). */
  indirectResult?: bigint;
}

/** Result registers after a call: rax, rdx / x0, x1 and xmm0-1 / d0-d3 (low 64 bits). */
export interface CallResult {
  ints: [bigint, bigint];
  floats: bigint[];
}

export interface CallOptions {
  /** Stack to run on for an outermost call; defaults to the machine's stack. */
  stack?: Stack;
  budget?: bigint | null;
  timeoutMs?: number | null;
}

const DEFAULT_BUDGET = 1n << 32n;
const DEFAULT_TIMEOUT_MS = 10_000;
const FIRST_REGION = 0x10_0000n;
const GATEWAY_STUBS = 4096;
const STUB_SIZE = 8;
/** Instructions the engine counts for one pass through a host-call stub (the trap, then the `ret`). */
const STUB_INSTRUCTIONS = 2n;
/** Breakpoint immediate marking gateway stubs where the breakpoint has one (AArch64 `brk`,
 * "ss"); any other brk is a breakpoint. */
const GATEWAY_BRK = 0x5353;
/**
 * Code hooks one machine puts on single instructions before it watches all code instead. Each
 * AArch64 trampoline that restores SP from FP has an `sp-check` site, so a store running many
 * modules (the fuzzer runs 64 per store) reaches a few hundred; past this, every instruction
 * would call back into JS.
 */
const MAX_SITE_HOOKS = 256;
const NO_UNTIL = (1n << 64n) - 1n;

function alignUp(v: bigint, a: bigint): bigint {
  return (v + a - 1n) & ~(a - 1n);
}

/**
 * An architecture-independent machine over a CpuEngine: named regions with permissions (a
 * region is never writable and executable at once), stacks with guard pages, calls into guest
 * code per the platform ABI, and a host gateway through which guest code calls TypeScript.
 *
 * Re-entrancy: a host function may call back into the guest with `call`, to any depth. The
 * engine is never started from inside a hook; a gateway stub traps, the hook only records
 * the trap and stops the engine, and this class's run loop does the rest. Nested calls save
 * and restore the interrupted guest's registers around the inner run.
 */
export class Machine {
  readonly arch: Arch;
  readonly engine: CpuEngine;
  readonly regs: Abi;
  /** Instruction-set and CPU-exception facts of the arch (breakpoints, interrupts, call forms). */
  readonly cpu: Cpu;
  private readonly stackAlignment: bigint;
  readonly stack: Stack;
  /** Created on first use (Capstone loads then): a run that never faults or asks never pays for it. */
  private disassemblerInstance: Disassembler | undefined;
  private get disassembler(): Disassembler {
    return (this.disassemblerInstance ??= createDisassembler(this.arch));
  }
  private readonly regions: Region[] = [];
  private readonly guards: Array<{ base: bigint; size: number; stack: string }> = [];
  private nextAddress = FIRST_REGION;
  private readonly gateway: Region;
  private readonly hostFunctions: RegisteredHost[] = [];
  private readonly returnStub: bigint;
  private pendingInterrupt = -1;
  private depth = 0;
  /** Limits every outermost call runs under unless the call overrides them. */
  readonly budget: bigint | null;
  readonly timeoutMs: number | null;
  private readonly argIds: number[];
  private readonly argBuf = new BigUint64Array(8);
  private readonly id: Record<string, number>;
  private symbolizers: Array<(address: bigint) => string | undefined> = [];
  private lastRegion: Region | undefined;
  /** The JS interrupt hook, for engines that cannot stop on interrupts natively. */
  private interruptHook: HookHandle | undefined;
  /** Instructions the gateway itself executed (trap + ret per host call, trap per return). */
  private harnessInstructions = 0n;
  /** The instruction limit the engine was last given for the current call (`relimit`). */
  private engineLimit = 0n;
  private readonly cycleCounter: CycleCounter | undefined;
  /** Instructions the sandbox scans for, by PC (see system.ts). */
  private readonly systemSites = new Map<bigint, SystemInstruction>();
  private siteHooks = 0;
  private watchAll: HookHandle | undefined;
  private pendingSystem: SystemInstruction | undefined;
  private syscallHandler: SyscallHandler | undefined;
  private readonly realClock: boolean;
  /** Instructions of finished outermost calls (the virtual clock's base). */
  private clockBase = 0n;
  private readonly unwinders: Unwinder[] = [];
  /** The current outermost call's limits, for host work charged against them. */
  private callBudget: bigint | null = null;
  private callDeadline: number | null = null;
  private charged = 0n;
  private handedFrame: CallFrame | undefined;
  /** The result registers callWith wants read: how many integer ones, how many vector ones. */
  private handedWant: { ints: number; floats: number } | undefined;
  /** Result registers of the last call that returned: r0, r1, then vector registers 0-3. */
  private readonly results = new BigUint64Array(6);
  /** The engine's one-round-trip call (CpuEngine.startCall), when it has one. */
  private readonly callRegisters: CallRegisters | undefined;
  /** Unicorn ids of the result registers, in `results` order. */
  private readonly resultIds: number[];
  /** Index in the engine's read list of the first integer argument register (FP is at
   * 2 + resultIds.length, the link register after it). */
  private readonly readArgsAt: number = 0;
  /** The host function whose no-op calls the engine answers itself (answerInsertions). */
  private answered: AnsweredHost | undefined;
  /** The arguments hostCall read for the host function about to be called. */
  private hostArgs: bigint[] | undefined;
  private readonly siteHookHandles = new Map<bigint, HookHandle>();
  /** AArch64 loads and stores through SP, by PC: hooked only while SP is unaligned. */
  private readonly spAccessSites = new Map<bigint, SystemInstruction>();
  private readonly spAccessHooks = new Map<bigint, HookHandle>();
  /** One hook over all code instead, when there are too many of them. */
  private spAccessWatchAll: HookHandle | undefined;
  /**
   * Code described at placement (describePlacedCode) whose `sp-check` sites have not joined
   * spAccessSites yet: they are needed only once SP is unaligned.
   */
  private placedSpAccesses: Array<{ address: bigint; flags: Uint8Array }> = [];
  /** Whether SP was unaligned when last looked at (at an `sp-watch` site or a run's start). */
  private spUnaligned = false;
  /** A run stopped at an `sp-watch` site to turn the `sp-check` hooks on or off. */
  private pendingSpMode: { pc: bigint; unaligned: boolean } | undefined;

  /** Opens a machine. Asynchronous so that engines which load asynchronously (a WebAssembly
   * Unicorn, say) fit the same API. */
  static async create(options: MachineOptions): Promise<Machine> {
    // The cycle model (its code and the one table it needs) is imported only by machines that use it.
    let counter: typeof CycleCounter | undefined;
    if (options.cycles && options.cycles.mode !== 'off') {
      const [cycles, model] = await Promise.all([import('./timing/cycles.ts'), import('./timing/model.ts')]);
      await model.loadTimingModel(options.cycles.uarch ?? model.defaultUarch(options.arch), options.arch);
      counter = cycles.CycleCounter;
    }
    return new Machine(options, counter);
  }

  private constructor(options: MachineOptions, counter: typeof CycleCounter | undefined) {
    checkLimits(options.budget ?? null, options.timeoutMs ?? null); // before an engine is opened
    this.arch = options.arch;
    this.regs = abiOf(this.arch);
    this.cpu = cpuOf(this.arch);
    this.stackAlignment = BigInt(this.regs.stackAlignment);
    this.id = this.regs.ids;
    this.engine = options.engine ?? openUnicorn(this.arch, { exactFaultPc: options.exactFaultPc ?? true });
    if (this.engine.arch !== this.arch) throw new MachineError(`engine is for ${this.engine.arch}, machine for ${this.arch}`);
    if (options.cycles && counter) this.cycleCounter = new counter(this.engine, options.cycles);
    this.budget = options.budget === undefined ? DEFAULT_BUDGET : options.budget;
    this.timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs;
    this.argIds = this.regs.intArgs.map((r) => this.id[r]);
    this.resultIds = [...this.regs.intResults.map((r) => this.id[r]), ...this.regs.floatArgIds.slice(0, 4)];
    if (this.engine.stopOnInterrupts) this.engine.stopOnInterrupts();
    else {
      this.interruptHook = this.engine.hookInterrupt((intno) => {
        this.pendingInterrupt = intno;
        this.engine.stop();
      });
    }
    if (this.engine.startCall && this.engine.callRegisters) {
      // Every call reads back PC, SP and the result registers at its stop, then what a host
      // function call needs (FP, the link register, the integer argument registers): a host
      // call's round trip is one native call (see run).
      this.callRegisters = this.engine.callRegisters;
      const ids = [this.id[this.regs.pc], this.id[this.regs.sp], ...this.resultIds, this.id[this.regs.fp]];
      if (this.regs.lr !== undefined) ids.push(this.id[this.regs.lr]);
      this.readArgsAt = ids.length;
      ids.push(...this.argIds);
      ids.forEach((id, i) => (this.callRegisters!.readIds[i] = id));
      this.callRegisters.readCount = ids.length;
    }
    this.gateway = this.map('gateway', GATEWAY_STUBS * STUB_SIZE, PROT_READ | PROT_EXEC);
    this.returnStub = this.writeStub(0);
    this.stack = this.createStack('stack', options.stackSize ?? 1 << 20);
    // Installs the engine's instruction counter now: without it no block is inspected for
    // system instructions and no instruction counted, limits or not.
    this.engine.setLimits({ budget: null, deadline: null });
    this.syscallHandler = options.syscalls;
    this.realClock = options.clock === 'real';
    this.engine.setBlockInspector?.((address, code) => this.inspectBlock(address, code));
  }

  // ---- system instructions ----------------------------------------------------------------

  /** Replaces the system call handler (undefined: every system call traps). */
  setSyscallHandler(handler: SyscallHandler | undefined): void {
    this.syscallHandler = handler;
  }

  /** Hooks the system instructions of a block the engine is about to run for the first time. */
  private inspectBlock(address: bigint, code: Uint8Array): void {
    const found = systemInstructions(this.arch, address, code, this.disassembler);
    let added = false;
    for (let site of found) {
      if (site.kind === 'sp-check') {
        if (!this.spAccessSites.has(site.pc)) {
          this.spAccessSites.set(site.pc, site);
          if (this.spUnaligned) added = this.hookSpAccess(site.pc) || added;
        }
        if (!site.watchesSp) continue;
        site = { pc: site.pc, length: site.length, watchesSp: true, kind: 'sp-watch', name: site.name }; // (a literal: a spread costs microseconds here)
      }
      if (this.systemSites.has(site.pc)) continue;
      this.systemSites.set(site.pc, site);
      added = true;
      if (this.watchAll) continue;
      if (this.siteHooks < MAX_SITE_HOOKS) {
        this.siteHooks++;
        this.siteHookHandles.set(site.pc, this.engine.hookCode((pc) => this.onSystemSite(pc), site.pc, site.pc));
      } else {
        // Code full of system instructions (a fuzzer's, say): one hook over all code instead.
        this.watchAll = this.engine.hookCode((pc) => this.onSystemSite(pc));
      }
    }
    // Translated again before it runs, now with the hooks in it (a watch may sit right after).
    if (added) this.engine.invalidateCode(address, address + BigInt(code.length) + 4n);
  }

  /**
   * Code the host placed whose functions (byte ranges from `address`) it knows, e.g. a compiled
   * module's text, scanned once here instead of block by block: the engine counts the blocks
   * inside it without stopping for each new one (CpuEngine.describePlacedCode). Blocks holding
   * an instruction the sandbox must see (system.ts placedCodeFlags) still stop and are inspected
   * as any block; the loads and stores through SP of the rest are recorded as `sp-check` sites,
   * as their blocks' inspection would have. Instruction counts stay what the engine's describer
   * counts. Without an engine that takes it (or with a cycle model's describer), nothing
   * changes: every block is inspected as it first runs. `writeBytes` over the code drops it.
   */
  describePlacedCode(address: bigint, code: Uint8Array, functions: ReadonlyArray<{ readonly offset: number; readonly size: number }>): void {
    if (!this.engine.describePlacedCode || this.cycleCounter) return;
    const flags = placedCodeFlags(this.arch, code, functions, this.disassembler);
    if (!this.engine.describePlacedCode(address, flags)) return;
    if (!this.cpu.checksSpAlignment) return;
    this.placedSpAccesses.push({ address, flags });
    if (this.spUnaligned) this.takePlacedSpAccesses();
  }

  /** Records the `sp-check` sites of code described at placement (and hooks them while SP is unaligned). */
  private takePlacedSpAccesses(): void {
    const placed = this.placedSpAccesses;
    if (placed.length === 0) return;
    this.placedSpAccesses = [];
    for (const { address, flags } of placed) {
      for (let off = 0; off < flags.length; off += 4) {
        if (!(flags[off] & PLACED_SP_ACCESS)) continue;
        const pc = address + BigInt(off);
        if (this.spAccessSites.has(pc)) continue;
        this.spAccessSites.set(pc, { pc, length: 4, kind: 'sp-check', name: 'load/store through sp' });
        if (this.spUnaligned) this.hookSpAccess(pc);
      }
    }
  }

  /** Hooks one load/store through SP (unaligned mode); true when a hook was added. */
  private hookSpAccess(pc: bigint): boolean {
    if (this.spAccessWatchAll || this.spAccessHooks.has(pc)) return false;
    if (this.spAccessHooks.size >= MAX_SITE_HOOKS) {
      // Many of them: one hook over all code while SP stays unaligned.
      for (const handle of this.spAccessHooks.values()) this.engine.removeHook(handle);
      this.spAccessHooks.clear();
      this.spAccessWatchAll = this.engine.hookCode((at) => this.onSystemSite(at));
      return true;
    }
    this.spAccessHooks.set(pc, this.engine.hookCode((at) => this.onSystemSite(at), pc, pc));
    return true;
  }

  /**
   * Turns the checks of loads and stores through SP on (SP is unaligned) or off. SP changes
   * its alignment only at the instructions `sp-watch` sites follow, so between two such sites
   * the mode is exact, and an aligned guest runs with no check on its SP accesses at all.
   */
  private setSpMode(unaligned: boolean): void {
    this.spUnaligned = unaligned;
    if (unaligned) {
      this.takePlacedSpAccesses();
      for (const pc of this.spAccessSites.keys()) this.hookSpAccess(pc);
    } else {
      for (const handle of this.spAccessHooks.values()) this.engine.removeHook(handle);
      this.spAccessHooks.clear();
      if (this.spAccessWatchAll) this.engine.removeHook(this.spAccessWatchAll);
      this.spAccessWatchAll = undefined;
    }
    // Translated again, with or without the hooks.
    for (const pc of this.spAccessSites.keys()) this.engine.invalidateCode(pc, pc + 4n);
  }

  /** Forgets the system instructions in [begin, end) once the host rewrote that code. */
  private forgetSystemSites(begin: bigint, end: bigint): void {
    // Placed code rewritten: its sites join the others (blocks counted without inspection keep
    // theirs), then those in the range go with them.
    if (this.placedSpAccesses.some((p) => p.address < end && begin < p.address + BigInt(p.flags.length))) this.takePlacedSpAccesses();
    for (const pc of [...this.systemSites.keys()]) {
      if (pc < begin || pc >= end) continue;
      this.systemSites.delete(pc);
      const handle = this.siteHookHandles.get(pc);
      if (handle) {
        this.engine.removeHook(handle);
        this.siteHookHandles.delete(pc);
        this.siteHooks--;
      }
    }
    for (const pc of [...this.spAccessSites.keys()]) {
      if (pc < begin || pc >= end) continue;
      this.spAccessSites.delete(pc);
      const handle = this.spAccessHooks.get(pc);
      if (handle) this.engine.removeHook(handle);
      this.spAccessHooks.delete(pc);
    }
  }

  private onSystemSite(pc: bigint): void {
    const site = this.systemSites.get(pc);
    if (site?.watchesSp) {
      // Stops only when SP's alignment changed: the run goes on without a break otherwise (and
      // without splitting the block, which the cycle model would see).
      const unaligned = this.sp() % this.stackAlignment !== 0n;
      if (unaligned !== this.spUnaligned) {
        this.pendingSpMode = { pc, unaligned };
        this.engine.stop();
        return;
      }
    }
    // SP is read only at a load/store through it (under the all-code hook, this runs for
    // every instruction while SP is unaligned).
    const access = this.spUnaligned ? this.spAccessSites.get(pc) : undefined;
    if (access && this.sp() % this.stackAlignment !== 0n) {
      this.pendingSystem = access;
      this.engine.stop();
      return;
    }
    if (!site || site.kind === 'sp-watch') return;
    this.pendingSystem = site;
    this.engine.stop();
  }

  /** The virtual clock (guest instructions so far) or the host's, in ns. */
  clock(pc?: bigint): bigint {
    if (this.realClock) return process.hrtime.bigint();
    return this.clockBase + (pc === undefined ? this.instructionsExecuted() : this.instructionsBefore(pc));
  }

  /** Acts on a system instruction the run stopped at; returns where to resume. */
  private handleSystem(site: SystemInstruction): bigint {
    const next = site.pc + BigInt(site.length);
    if (site.kind === 'clock' || site.kind === 'syscall' || site.kind === 'overflow') {
      // The run resumes: the rest of the block was credited but did not run (it is credited
      // again when the run re-enters it); an emulated instruction counts as one.
      const unrun = this.creditedNotRun(site.pc);
      const clock = site.kind === 'clock' ? this.clock(site.pc) : 0n;
      this.harnessInstructions += unrun - 1n;
      if (site.kind === 'clock') return this.emulateClock(site, clock, next);
    }
    switch (site.kind) {
      case 'privileged': throw this.trap('privileged-instruction', site.pc);
      case 'halt': throw this.trap('halt', site.pc);
      case 'overflow':
        if ((this.reg(this.regs.flags) >> 11n) & 1n) throw this.trap('cpu-exception', site.pc, { engineMessage: 'overflow (into with OF set)' });
        return next;
      case 'sp-check': throw this.trap('sp-alignment', site.pc); // stopped only when SP is unaligned
      default: {
        const convention = site.convention!;
        const abi = SYSCALL_ABIS[convention];
        let values = this.readRegisters(abi.registers);
        if (abi.width === 32) values = values.map((v) => v & 0xffffffffn);
        const number = values[0];
        const handler = this.syscallHandler;
        const result = handler?.({ machine: this, convention, number, args: values.slice(1), pc: site.pc, instruction: site.name });
        if (result === undefined) throw this.trap('syscall', site.pc, { syscall: number });
        this.setReg(abi.result, BigInt.asUintN(64, BigInt(result)));
        return next;
      }
    }
  }

  private emulateClock(site: SystemInstruction, clock: bigint, next: bigint): bigint {
    const now = BigInt.asUintN(64, clock);
    for (const { reg, value } of site.writes ?? []) {
      this.setReg(reg, value === 'count' ? now : value === 'low32' ? now & 0xffffffffn : value === 'high32' ? now >> 32n : 0n);
    }
    return next;
  }

  /** Low 64 bits of the vector argument registers xmm0-7 / d0-7 (a host function's float
   * arguments; variadic ones too). */
  floatRegisters(): bigint[] {
    return this.regs.floatArgIds.map((id) => this.engine.regRead(id));
  }

  /** Sets the float result register (xmm0 / d0) of a host function's return. */
  setFloatResult(bits: bigint): void {
    this.engine.regWrite(this.regs.floatArgIds[0], bits);
  }

  // ---- limits on host work ----------------------------------------------------------------

  /**
   * Counts `instructions` of host work done for the guest (a host memset, say) against the
   * current call's budget, and checks its deadline: a `budget-exhausted` or `timeout` trap at
   * the calling instruction when either is past.
   */
  chargeHostWork(call: HostCall, instructions: bigint): void {
    if (instructions > 0n) {
      this.harnessInstructions -= instructions;
      this.charged += instructions;
      if (this.callBudget !== null) {
        if (this.instructionsExecuted() > this.callBudget) throw this.hostTrap(call, 'budget-exhausted');
        this.relimit();
      }
    }
    if (this.callDeadline !== null && this.engine.now() > this.callDeadline) throw this.hostTrap(call, 'timeout');
  }

  /**
   * Sets the engine's instruction limit for the current call. The engine counts every block it
   * enters, the harness's own included (the return and host-call stubs, blocks credited but not
   * run), while the budget is the guest's: the limit is the budget plus the harness's count so
   * far (less host work charged), plus `extra` for a stub about to run. It is lowered at once
   * (host work, an emulated instruction) and raised only when a budget stop needs it
   * (`raiseLimit`), so host calls leave it alone.
   */
  private relimit(extra = 0n): void {
    if (this.callBudget === null) return;
    this.engineLimit = this.callBudget + this.harnessInstructions + extra;
    this.engine.setLimits({ budget: this.engineLimit, deadline: this.callDeadline });
  }

  /** After a budget stop: raises the engine's limit to what the guest's budget allows there
   * (a gateway stub ahead is the harness's); false when it already did, so the stop stands. */
  private raiseLimit(extra: bigint): boolean {
    if (this.callBudget === null || this.callBudget + this.harnessInstructions + extra <= this.engineLimit) return false;
    this.relimit(extra);
    return true;
  }

  /** A guest trap at the instruction that called a host function, with a backtrace from there. */
  hostTrap(call: HostCall, kind: TrapKind, details: { address?: bigint; message?: string } = {}): GuestTrap {
    // The calling frame as it was before the call: x86-64 pops the return address.
    const state = this.currentState(call.callSite);
    if (this.regs.returnAddress === 'stack') state.regs.set(this.regs.dwarf.sp, call.sp + BigInt(this.regs.callPushBytes));
    return new GuestTrap({
      kind, pc: call.callSite, address: details.address, engineMessage: details.message, hostFunction: call.name,
      instruction: this.disassembleAt(call.callSite),
      instructions: this.instructionsExecuted(),
      backtrace: this.unwind(state),
    });
  }

  // ---- memory -----------------------------------------------------------------------------

  /** Maps a named, zero-filled region. Writable and executable together is refused. */
  map(name: string, size: number, perms: number, address?: bigint): Region {
    if ((perms & PROT_WRITE) && (perms & PROT_EXEC)) {
      throw new MachineError(`region ${name}: code is never writable while executable (asked for ${permsToString(perms)})`);
    }
    if (!Number.isSafeInteger(size) || size <= 0) throw new MachineError(`region ${name}: bad size ${size}`);
    const mapped = Number(alignUp(BigInt(size), BigInt(PAGE_SIZE)));
    const at = address ?? this.nextAddress;
    if (at % BigInt(PAGE_SIZE) !== 0n) throw new MachineError(`region ${name}: address not page-aligned`, at);
    const end = at + BigInt(mapped);
    for (const r of this.regions) {
      if (at < r.address + BigInt(r.size) && r.address < end) {
        throw new MachineError(`region ${name} overlaps region ${r.name}`, at);
      }
    }
    const view = this.engine.map(at, mapped, perms);
    const region: Region = { name, address: at, size: mapped, perms, view, data: new DataView(view.buffer, view.byteOffset, view.byteLength) };
    this.regions.push(region);
    this.regions.sort((a, b) => (a.address < b.address ? -1 : 1));
    // Leave an unmapped page after every region so overruns fault instead of landing next door.
    if (end + BigInt(PAGE_SIZE) > this.nextAddress) this.nextAddress = end + BigInt(PAGE_SIZE);
    return region;
  }

  /**
   * Reserves `size` bytes of guest address space (aligned to `align`, at least a page, and
   * followed by an unmapped page) for a caller that maps its own regions there later, e.g. a
   * linked image.
   */
  reserve(size: bigint, align = BigInt(PAGE_SIZE)): bigint {
    if (align < BigInt(PAGE_SIZE) || (align & (align - 1n)) !== 0n) throw new MachineError(`reserve: alignment ${hex(align)} is not a power of two of at least a page`);
    const at = alignUp(this.nextAddress, align);
    this.nextAddress = alignUp(at + size, BigInt(PAGE_SIZE)) + BigInt(PAGE_SIZE);
    return at;
  }

  /** Changes a region's permissions (W+X refused). Drops translated code when it was executable. */
  protect(region: Region, perms: number): void {
    if ((perms & PROT_WRITE) && (perms & PROT_EXEC)) {
      throw new MachineError(`region ${region.name}: code is never writable while executable`);
    }
    this.engine.protect(region.address, region.size, perms);
    if (region.perms & PROT_EXEC) {
      this.engine.invalidateCode(region.address, region.address + BigInt(region.size));
      this.cycleCounter?.forget(region.address, region.address + BigInt(region.size));
    }
    region.perms = perms;
  }

  /** Reserves `guard` unmapped bytes and maps a stack of `size` bytes right above them. */
  createStack(name: string, size: number, guard = 64 * 1024): Stack {
    const guardBase = alignUp(this.nextAddress, BigInt(PAGE_SIZE));
    const region = this.map(name, size, PROT_READ | PROT_WRITE, guardBase + BigInt(guard));
    this.guards.push({ base: guardBase, size: guard, stack: name });
    return { region, top: region.address + BigInt(region.size), guardBase, guardSize: guard };
  }

  regionAt(address: bigint): Region | undefined {
    const last = this.lastRegion;
    if (last && address >= last.address && address < last.address + BigInt(last.size)) return last;
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.regions[mid];
      if (address < r.address) hi = mid - 1;
      else if (address >= r.address + BigInt(r.size)) lo = mid + 1;
      else return (this.lastRegion = r);
    }
    return undefined;
  }

  regionByName(name: string): Region | undefined {
    return this.regions.find((r) => r.name === name);
  }

  allRegions(): readonly Region[] {
    return this.regions;
  }

  private locate(address: bigint, length: number): { region: Region; offset: number } {
    const region = this.regionAt(address);
    const offset = region ? Number(address - region.address) : 0;
    if (!region || offset + length > region.size) {
      throw new MachineError(`host access of ${length} bytes is outside mapped memory`, address);
    }
    return { region, offset };
  }

  readBytes(address: bigint, length: number): Uint8Array {
    const { region, offset } = this.locate(address, length);
    return region.view.slice(offset, offset + length);
  }

  /** Host write into guest memory; translated code over the range is dropped when it is code. */
  writeBytes(address: bigint, bytes: Uint8Array): void {
    const { region, offset } = this.locate(address, bytes.length);
    region.view.set(bytes, offset);
    if (region.perms & PROT_EXEC) {
      this.engine.invalidateCode(address, address + BigInt(bytes.length));
      this.engine.forgetPlacedCode?.(address, address + BigInt(bytes.length));
      this.cycleCounter?.forget(address, address + BigInt(bytes.length));
      // Sites up to 15 bytes before may have been instructions overlapping the new bytes.
      if (this.systemSites.size || this.placedSpAccesses.length) this.forgetSystemSites(address - 15n, address + BigInt(bytes.length));
    }
  }

  readU64(address: bigint): bigint {
    const { region, offset } = this.locate(address, 8);
    return region.data.getBigUint64(offset, true);
  }

  writeU64(address: bigint, value: bigint): void {
    const { region, offset } = this.locate(address, 8);
    region.data.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }

  readU32(address: bigint): number {
    const { region, offset } = this.locate(address, 4);
    return region.data.getUint32(offset, true);
  }

  writeU32(address: bigint, value: number): void {
    const { region, offset } = this.locate(address, 4);
    region.data.setUint32(offset, value >>> 0, true);
  }

  // ---- registers --------------------------------------------------------------------------

  reg(name: string): bigint {
    const id = this.id[name];
    if (id === undefined) throw new MachineError(`no register ${name} on ${this.arch}`);
    return this.engine.regRead(id);
  }

  setReg(name: string, value: bigint): void {
    const id = this.id[name];
    if (id === undefined) throw new MachineError(`no register ${name} on ${this.arch}`);
    this.engine.regWrite(id, value);
  }

  /** Reads several registers by name in one engine call. */
  readRegisters(names: readonly string[]): bigint[] {
    const ids = names.map((n) => {
      const id = this.id[n];
      if (id === undefined) throw new MachineError(`no register ${n} on ${this.arch}`);
      return id;
    });
    const out = new BigUint64Array(ids.length);
    this.engine.regReadBatch(ids, out);
    return [...out];
  }

  pc(): bigint { return this.engine.regRead(this.id[this.regs.pc]); }
  sp(): bigint { return this.engine.regRead(this.id[this.regs.sp]); }
  fp(): bigint { return this.engine.regRead(this.id[this.regs.fp]); }

  // ---- host gateway -----------------------------------------------------------------------

  private writeStub(index: number): bigint {
    const address = this.gateway.address + BigInt(index * STUB_SIZE);
    // int3; ret (nop-padded) / brk #0x5353; ret
    const code = [...this.cpu.breakpoint.encode(GATEWAY_BRK), ...this.cpu.ret];
    while (code.length < STUB_SIZE) code.push(...this.cpu.nop);
    this.writeBytes(address, Uint8Array.from(code));
    return address;
  }

  /**
   * Registers a TypeScript function and returns the guest address of its stub. Guest code
   * calls the stub like any function taking `arity` integer arguments.
   */
  addHostFunction(name: string, arity: number, fn: HostFunction): bigint {
    if (this.hostFunctions.length + 1 >= GATEWAY_STUBS) throw new MachineError(`gateway is full (${GATEWAY_STUBS - 1} host functions)`);
    if (!Number.isInteger(arity) || arity < 0 || arity > 64) throw new MachineError(`host function ${name}: bad arity ${arity}`);
    const address = this.writeStub(this.hostFunctions.length + 1);
    this.hostFunctions.push({ name, address, arity, fn, counter: hostCallCounter(name) });
    return address;
  }

  hostFunctionAt(address: bigint): HostFunctionInfo | undefined {
    return this.hostAt(address);
  }

  private hostAt(address: bigint): RegisteredHost | undefined {
    const index = Number((address - this.gateway.address) / BigInt(STUB_SIZE)) - 1;
    const f = this.hostFunctions[index];
    return f && f.address === address ? f : undefined;
  }

  /** Adds a function that names code addresses (`symbol+0x10`) for backtraces. */
  addSymbolizer(fn: (address: bigint) => string | undefined): void {
    this.symbolizers.push(fn);
  }

  symbolize(address: bigint): string | undefined {
    for (const s of this.symbolizers) {
      const name = s(address);
      if (name) return name;
    }
    const host = this.hostFunctionAt(address - (address - this.gateway.address) % BigInt(STUB_SIZE));
    return host ? `<host ${host.name}>` : undefined;
  }

  // ---- calls ------------------------------------------------------------------------------

  /** Instructions executed by the current (or last) outermost call so far. */
  instructionsExecuted(): bigint {
    return this.engine.counters().instructions - this.harnessInstructions;
  }

  /** True while guest code is running (i.e. inside a host function called by the guest). */
  get active(): boolean {
    return this.depth > 0;
  }

  /**
   * Calls guest code at `address` with integer arguments per System V / AAPCS64 (registers
   * first, the rest on the stack) and returns the integer result register as an unsigned
   * 64-bit value. Throws GuestTrap when the guest faults, runs out of budget or time.
   */
  call(address: bigint, args: readonly (bigint | number)[] = [], options: CallOptions = {}): bigint {
    // One JS frame per guest → host → guest level (re-entry goes thousands deep): callWith
    // hands its frame over in a field rather than through another method.
    let frame = this.handedFrame;
    const want = this.handedWant;
    this.handedFrame = undefined;
    this.handedWant = undefined;
    if (!frame) {
      const values = args.map((a) => BigInt.asUintN(64, BigInt(a)));
      const nReg = this.argIds.length;
      frame = values.length > nReg ? { ints: values.slice(0, nReg), stack: values.slice(nReg) } : { ints: values };
    }
    const outermost = this.depth === 0;
    roundTripCounts.calls++;
    if (!outermost) roundTripCounts.nested++;
    const saved = outermost ? null : this.engine.saveContext();
    this.depth++;
    try {
      if (outermost) {
        this.cycleCounter?.beginEntry(); // before the engine's counts are zeroed: it may keep them
        this.engine.resetCounters();
        this.harnessInstructions = 0n;
        this.charged = 0n;
        const budget = options.budget === undefined ? this.budget : options.budget;
        const timeout = options.timeoutMs === undefined ? this.timeoutMs : options.timeoutMs;
        checkLimits(budget, timeout);
        this.callBudget = budget;
        this.callDeadline = timeout === null ? null : this.engine.now() + timeout;
        this.engineLimit = budget ?? 0n;
        this.engine.setLimits({ budget, deadline: this.callDeadline });
      }
      const stackTop = outermost ? (options.stack ?? this.stack).top : this.sp() - 128n; // skip the x86-64 red zone
      const expectedSp = this.setUpCall(address, frame, stackTop);
      return this.run(address, expectedSp, want);
    } finally {
      this.depth--;
      if (saved) {
        saved.restore();
        saved.free();
      }
      if (outermost) {
        this.clockBase += this.instructionsExecuted();
        this.engine.setLimits({ budget: null, deadline: null });
        this.callBudget = null;
        this.callDeadline = null;
      }
    }
  }

  /**
   * Calls guest code with argument registers of both kinds and stack words laid out by the
   * caller (sandbox/abi.ts does it for C signatures) and returns the result registers it asks
   * for (`want`: how many of rax/rdx or x0/x1, of xmm0-1 or d0-3; all by default).
   */
  callWith(address: bigint, frame: CallFrame, options: CallOptions = {}, want: { ints: number; floats: number } = { ints: 2, floats: 4 }): CallResult {
    this.handedFrame = frame;
    this.handedWant = want;
    this.call(address, [], options);
    // run() kept the result registers at the call's stop (before a nested call's context restore).
    const r = this.results;
    const floats: bigint[] = [];
    for (let i = 0; i < Math.min(want.floats, 4); i++) floats.push(r[2 + i]);
    return { ints: [want.ints > 0 ? r[0] : 0n, want.ints > 1 ? r[1] : 0n], floats };
  }

  /** Places arguments and the return address; returns the SP expected when the callee returns. */
  private setUpCall(address: bigint, frame: CallFrame, stackTop: bigint): bigint {
    const stackArgs = frame.stack ?? [];
    const argArea = BigInt(stackArgs.length * 8);
    // The stack-argument area starts 16-byte aligned, as both ABIs require at the call.
    const argBase = (stackTop - argArea) & ~15n;
    if (argBase - 64n < this.stack.region.address && stackTop <= this.stack.top && stackTop > this.stack.region.address) {
      throw new MachineError('not enough guest stack left for the call');
    }
    if (frame.ints.length > this.argIds.length) throw new MachineError(`${frame.ints.length} integer argument registers (${this.arch} has ${this.argIds.length})`);
    const floats = frame.floats;
    if (floats && floats.length > this.regs.floatArgIds.length) {
      throw new MachineError(`${floats.length} vector argument registers (${this.arch} has ${this.regs.floatArgIds.length})`);
    }
    if (frame.indirectResult !== undefined && this.regs.indirectResult === undefined) {
      throw new MachineError(`${this.arch} passes the indirect result address as the first integer argument`);
    }
    for (let i = 0; i < stackArgs.length; i++) this.writeU64(argBase + BigInt(8 * i), stackArgs[i]);
    // With the engine's one-round-trip call the registers are listed for it, else written now.
    const batch = this.callRegisters;
    if (batch) batch.writeCount = 0;
    for (let i = 0; i < frame.ints.length; i++) this.putReg(batch, this.argIds[i], frame.ints[i]);
    if (floats) {
      for (let i = 0; i < floats.length; i++) this.putReg(batch, this.regs.floatArgIds[i], floats[i]);
      // x86-64 variadic callees read the number of vector registers used from al.
      if (this.regs.vectorCount !== undefined) this.putReg(batch, this.id[this.regs.vectorCount], BigInt(floats.length));
    }
    if (frame.indirectResult !== undefined) this.putReg(batch, this.id[this.regs.indirectResult!], frame.indirectResult);
    if (this.regs.returnAddress === 'stack') {
      const sp = argBase - BigInt(this.regs.callPushBytes);
      this.writeU64(sp, this.returnStub);
      this.putReg(batch, this.id[this.regs.sp], sp);
    } else {
      this.putReg(batch, this.id[this.regs.sp], argBase);
      this.putReg(batch, this.id[this.regs.lr!], this.returnStub);
    }
    if (!batch) this.setReg(this.regs.pc, address); // the engine's start sets it otherwise
    return argBase;
  }

  private putReg(batch: CallRegisters | undefined, id: number, value: bigint): void {
    if (!batch) {
      this.engine.regWrite(id, value);
      return;
    }
    const i = batch.writeCount++;
    batch.writeIds[i] = id;
    batch.writeValues[2 * i] = BigInt.asUintN(64, value);
  }

  /**
   * Runs a call set up by setUpCall to its return; returns the integer result register and
   * keeps the result registers `want` asks for (default: that one) in `results`.
   */
  private run(entry: bigint, expectedSp: bigint, want: { ints: number; floats: number } | undefined): bigint {
    let pc = entry;
    // The first run goes through the engine's one-round-trip call when it has one: it wrote
    // the registers setUpCall listed and read PC, SP and the result registers at its stop.
    let fresh = this.callRegisters !== undefined;
    // The SP the call starts with (setUpCall may not have written it to the engine yet).
    const entrySp = this.regs.returnAddress === 'stack' ? expectedSp - BigInt(this.regs.callPushBytes) : expectedSp;
    if (this.cpu.checksSpAlignment && (entrySp % this.stackAlignment !== 0n) !== this.spUnaligned) this.setSpMode(!this.spUnaligned);
    for (;;) {
      this.pendingInterrupt = -1;
      this.pendingSystem = undefined;
      this.pendingSpMode = undefined;
      // No `until`: Unicorn's default of 0 would turn a jump to address 0 into a clean stop.
      roundTripCounts.runs++;
      const stop = fresh ? this.engine.startCall!(pc, NO_UNTIL) : this.engine.start(pc, NO_UNTIL);
      if (this.answered) this.takeAnswers(this.answered);
      if (stop.error !== 0) throw this.trapFromError(stop);
      if (stop.limit) {
        // The engine's limit left out the harness's instructions since it was set, or the block
        // that did not fit is a stub of the gateway (the call returning, a host call): the
        // harness's, not the guest's. With the limit raised to the guest's, run on.
        const at = this.pc();
        if (stop.limit === 'budget' && this.raiseLimit(this.inGateway(at) ? STUB_INSTRUCTIONS : 0n)) {
          pc = at;
          fresh = false;
          continue;
        }
        throw this.trap(stop.limit === 'budget' ? 'budget-exhausted' : 'timeout', at);
      }
      const mode = this.pendingSpMode as { pc: bigint; unaligned: boolean } | undefined;
      if (mode) {
        // Stopped before the watched instruction ran: the rest of its block was credited but
        // did not run (it is credited again when the run re-enters it).
        this.harnessInstructions += this.creditedNotRun(mode.pc);
        this.setSpMode(mode.unaligned);
        pc = mode.pc;
        fresh = false;
        continue;
      }
      const site = this.pendingSystem as SystemInstruction | undefined;
      if (site) {
        pc = this.handleSystem(site);
        this.relimit();
        fresh = false;
        continue;
      }
      const intno = stop.interrupt ?? this.pendingInterrupt;
      const read = fresh ? this.callRegisters!.readValues : undefined;
      const here = read ? read[0] : this.pc();
      if (intno < 0) throw this.trap('halt', here - BigInt(this.cpu.haltPcAfter));
      const stub = this.stubAddressForInterrupt(intno, here);
      if (stub === undefined) throw this.trapFromInterrupt(intno, here);
      if (stub === this.returnStub) {
        const sp = read ? read[2] : this.sp();
        if (sp !== expectedSp) throw this.trap('unbalanced-return', stub);
        this.harnessInstructions += 1n;
        this.keepResults(read, want);
        return this.results[0];
      }
      const host = this.hostAt(stub);
      if (!host) throw this.trap('breakpoint', stub);
      host.counter.calls++;
      fresh = this.returnFromHost(this.invokeHost(host, stub, read));
      this.harnessInstructions += STUB_INSTRUCTIONS;
      pc = stub + BigInt(this.cpu.breakpoint.length); // the `ret` after the trap instruction
    }
  }

  /**
   * Calls of the host function at `stub` (the v17 runtime's `activations_table_insert_with_gc`)
   * that would change nothing are answered by the engine without a stop, from the state the
   * returned InsertionAnswer keeps (the activations table keeps it up to date; docs/engine.md).
   * They count as host calls and their gateway instructions as the harness's, as if the run
   * had stopped for each. `table`: the host view of the table struct. Undefined when the
   * engine cannot answer.
   */
  answerInsertions(stub: bigint, table: Uint8Array, chunkBase: bigint, chunkCapacity: number): InsertionAnswer | undefined {
    const host = this.hostAt(stub);
    if (!host) throw new MachineError('answerInsertions: no host function has this stub', stub);
    if (this.answered) throw new MachineError('answerInsertions: the machine answers one host function already', stub);
    if (!this.engine.answerInsertions || !this.engine.stopOnInterrupts) return undefined;
    const answer = this.engine.answerInsertions(stub, table, chunkBase, chunkCapacity);
    this.answered = { answer, host };
    return answer;
  }

  /** Accounts for the calls the engine answered during the run that just stopped. */
  private takeAnswers(answered: AnsweredHost): void {
    const n = answered.answer.takeAnswered();
    if (n === 0) return;
    this.harnessInstructions += STUB_INSTRUCTIONS * BigInt(n);
    answered.host.counter.calls += n;
    roundTripCounts.nativeAnswers += n;
  }

  /** Copies the result registers into `results`: from the values the engine read at the stop
   * (`read`: PC, SP, then the result registers), else from the engine (only those wanted). */
  private keepResults(read: BigUint64Array | undefined, want: { ints: number; floats: number } | undefined): void {
    const r = this.results;
    if (read) {
      for (let i = 0; i < r.length; i++) r[i] = read[2 * (i + 2)];
      return;
    }
    const ints = want ? want.ints : 1;
    const floats = want ? Math.min(want.floats, 4) : 0;
    for (let i = 0; i < r.length; i++) {
      const needed = i < 2 ? i < Math.max(ints, 1) : i - 2 < floats;
      r[i] = needed ? this.engine.regRead(this.resultIds[i]) : 0n;
    }
  }

  /** Whether an address lies in the gateway (the return stub and the host-call stubs). */
  private inGateway(address: bigint): boolean {
    return address >= this.gateway.address && address < this.gateway.address + BigInt(this.gateway.size);
  }

  /** Maps an interrupt back to the gateway stub that raised it, if it was one. */
  private stubAddressForInterrupt(intno: number, pc: bigint): bigint | undefined {
    const { interrupt, pcAfter } = this.cpu.breakpoint;
    if (intno !== interrupt) return undefined;
    const trapPc = pc - BigInt(pcAfter);
    const g = this.gateway;
    if (trapPc < g.address || trapPc >= g.address + BigInt(g.size) || (trapPc - g.address) % BigInt(STUB_SIZE) !== 0n) return undefined;
    return trapPc;
  }

  /** Whether [address, address + length) lies in one mapped region with all of `perms`. */
  accessible(address: bigint, length: number, perms: number): boolean {
    const region = this.regionAt(address);
    return region !== undefined && (region.perms & perms) === perms && Number(address - region.address) + length <= region.size;
  }

  /** @internal The return address of a host call with this SP and link register (x86-64: the word at SP). */
  hostReturnAddress(sp: bigint, lr: bigint): bigint {
    if (this.regs.returnAddress !== 'stack') return lr;
    return this.accessible(sp, 8, PROT_READ) ? this.readU64(sp) : 0n;
  }

  /** @internal The call instruction right before a return address, or `fallback`. */
  callSiteBefore(returnAddress: bigint, fallback: bigint): bigint {
    const how = this.cpu.callBefore;
    if ('isCallWord' in how) {
      if (!this.accessible(returnAddress - 4n, 4, PROT_EXEC)) return fallback;
      return how.isCallWord(this.readU32(returnAddress - 4n)) ? returnAddress - 4n : fallback;
    }
    for (const length of how.lengths) {
      const at = returnAddress - BigInt(length);
      if (!this.accessible(at, length, PROT_EXEC)) continue;
      const region = this.regionAt(at)!;
      const offset = Number(at - region.address);
      const [insn] = this.disassembler.disasm(region.view.subarray(offset, offset + length), at, { count: 1 });
      if (insn && !insn.invalid && insn.mnemonic === how.mnemonic && insn.bytes.length === length) return at;
    }
    return fallback;
  }

  /**
   * Sets the result register for the resumption after a host call; true when the resumption
   * goes through the engine's one-round-trip call, which writes it, runs and reads the
   * registers at the next stop in one native call (a host function may have made nested
   * calls: the batch is filled again here).
   */
  private returnFromHost(result: bigint): boolean {
    const value = BigInt.asUintN(64, result);
    const batch = this.callRegisters;
    if (!batch) {
      this.engine.regWrite(this.id[this.regs.intResult], value);
      return false;
    }
    batch.writeCount = 0;
    this.putReg(batch, this.id[this.regs.intResult], value);
    return true;
  }

  /**
   * Calls a host function with the guest's arguments and returns its result. Its frame is one
   * per re-entry level (thousands deep): the arguments and the HostCall are made by hostCall.
   */
  private invokeHost(host: HostFunctionInfo & { fn: HostFunction }, stub: bigint, read: BigUint64Array | undefined): bigint {
    const call = this.hostCall(host, stub, read);
    const result = host.fn(this.hostArgs!, call);
    if (typeof result === 'bigint') return result;
    if (typeof result === 'number') return BigInt(Math.trunc(result));
    if (typeof result === 'boolean') return result ? 1n : 0n;
    return 0n;
  }

  /**
   * The HostCall of a host function call, with its arguments left in `hostArgs`. `read`: the
   * registers the engine read at the stop (PC, SP, results, FP, LR, arguments; 128-bit
   * slots), else they are read from the engine.
   */
  private hostCall(host: HostFunctionInfo & { fn: HostFunction }, stub: bigint, read: BigUint64Array | undefined): HostCall {
    const args: bigint[] = new Array(host.arity);
    this.hostArgs = args;
    const nReg = Math.min(host.arity, this.argIds.length);
    let sp: bigint;
    let fp: bigint;
    let lr = 0n;
    if (read) {
      const at = this.readArgsAt;
      for (let i = 0; i < nReg; i++) args[i] = read[2 * (at + i)];
      sp = read[2];
      const fpAt = 2 + this.resultIds.length;
      fp = read[2 * fpAt];
      if (this.regs.lr !== undefined) lr = read[2 * (fpAt + 1)];
    } else {
      if (nReg > 0) {
        this.engine.regReadBatch(this.argIds, this.argBuf);
        for (let i = 0; i < nReg; i++) args[i] = this.argBuf[i];
      }
      sp = this.sp();
      fp = this.fp();
      if (this.regs.lr !== undefined) lr = this.reg(this.regs.lr);
    }
    const call = new GatewayCall(this, host.name, sp, fp, lr, stub);
    // AAPCS64 requires a 16-byte aligned SP at every public interface; the hardware checks
    // SP-relative accesses, which a host function's stack-argument reads are.
    if (this.cpu.checksSpAlignment && sp % this.stackAlignment !== 0n) throw this.hostTrap(call, 'sp-alignment');
    if (host.arity > nReg) {
      // x86-64: [rsp] is the return address, stack arguments follow; AArch64: they start at sp.
      const base = sp + BigInt(this.regs.callPushBytes);
      for (let i = nReg; i < host.arity; i++) {
        const at = base + BigInt(8 * (i - nReg));
        if (!this.accessible(at, 8, PROT_READ)) {
          throw this.hostTrap(call, this.regionAt(at) ? 'read-protected' : 'read-unmapped', { address: at, message: `reading stack argument ${i + 1}` });
        }
        args[i] = this.readU64(at);
      }
    }
    return call;
  }

  // ---- traps ------------------------------------------------------------------------------

  /**
   * Instructions executed up to (not including) the one at `pc`. The native counter credits
   * a block when it is entered, so when a run stops inside the last block entered, the
   * instructions from `pc` to the block's end never ran and are taken off again.
   */
  private instructionsBefore(pc: bigint): bigint {
    return this.engine.counters().instructions - this.harnessInstructions - this.creditedNotRun(pc);
  }

  /** Instructions of the block entered last that were credited but, from `pc` on, never ran. */
  private creditedNotRun(pc: bigint): bigint {
    const { lastBlock } = this.engine.counters();
    if (!lastBlock || pc < lastBlock.address || pc >= lastBlock.address + BigInt(lastBlock.size)) return 0n;
    const offset = Number(pc - lastBlock.address);
    const region = this.regionAt(lastBlock.address);
    let before: number;
    if (this.cpu.instructionSize !== undefined) before = Math.floor(offset / this.cpu.instructionSize);
    else if (region) {
      const bytes = region.view.subarray(Number(lastBlock.address - region.address), Number(pc - region.address));
      // The x86-64 length decoder counts the forms it knows as Capstone does (isa/x64/length.test.ts);
      // a range with any other form, or not ending on an instruction boundary, goes to Capstone.
      const quick = this.arch === 'x64' ? x64ScanBlock(bytes) : undefined;
      before = quick !== undefined ? quick.count : this.disassembler.scan(bytes, lastBlock.address).count;
    } else before = lastBlock.instructions;
    return BigInt(lastBlock.instructions - before);
  }

  private trap(kind: TrapKind, pc: bigint, extra: { address?: bigint; engineMessage?: string; syscall?: bigint } = {}): GuestTrap {
    return new GuestTrap({
      kind, pc, ...extra,
      instruction: this.disassembleAt(pc),
      // A budget or timeout stop happens before the next block is entered: nothing to take off.
      instructions: kind === 'budget-exhausted' || kind === 'timeout' ? this.instructionsExecuted() : this.instructionsBefore(pc),
      backtrace: kind === 'fetch-unmapped' || kind === 'fetch-protected' ? this.branchBacktrace(pc) : this.unwind(this.currentState(pc)),
    });
  }

  /**
   * A fetch from a bad target: the target, then the jump, call or return that went there (the
   * last instruction of the block entered last), then that instruction's callers.
   */
  private branchBacktrace(pc: bigint): BacktraceFrame[] {
    const target: BacktraceFrame = { pc, fp: this.fp(), symbol: this.symbolize(pc), method: 'pc' };
    const last = this.engine.counters().lastBlock;
    const region = last ? this.regionAt(last.address) : undefined;
    if (!last || !region || !(region.perms & PROT_EXEC) || (pc >= last.address && pc < last.address + BigInt(last.size))) {
      return [target, ...this.unwind(this.currentState(pc)).slice(1)];
    }
    const offset = Number(last.address - region.address);
    const insns = this.disassembler.disasm(region.view.subarray(offset, Math.min(offset + last.size, region.size)), last.address);
    const branch = insns[insns.length - 1];
    if (!branch || branch.invalid) return [target];
    const state = this.currentState(branch.address);
    const spReg = this.regs.dwarf.sp;
    const sp = state.regs.get(spReg)!;
    // Undo what the branch did to the stack: a call pushed a return address, a return popped
    // one (x86-64; AArch64's calls and returns leave SP alone).
    const pushed = BigInt(this.regs.callPushBytes);
    if (pushed !== 0n && branch.mnemonic === 'call') state.regs.set(spReg, sp + pushed);
    if (pushed !== 0n && branch.mnemonic.startsWith('ret')) state.regs.set(spReg, sp - pushed);
    return [target, ...this.unwind(state, 'branch')];
  }

  /** The current registers an unwinder needs, with `pc` as the frame's PC. */
  currentState(pc: bigint): UnwindState {
    const unwind = this.regs.unwindRegisters;
    const values = this.readRegisters(unwind.map((r) => r.name));
    return { pc, regs: new Map(unwind.map((r, i) => [r.dwarf, values[i]])) };
  }

  /** Adds a frame unwinder (e.g. `.eh_frame` CFI for loaded objects), tried before LR and FP. */
  addUnwinder(unwinder: Unwinder): void {
    this.unwinders.push(unwinder);
  }

  private isCode(address: bigint): boolean {
    const region = this.regionAt(address);
    return region !== undefined && (region.perms & PROT_EXEC) !== 0 && region !== this.gateway;
  }

  private functionOf(address: bigint): string | undefined {
    return this.symbolize(address)?.replace(/\+0x[0-9a-f]+$/, '');
  }

  /**
   * Walks the guest stack from `start`: each frame's caller comes from an unwinder (CFI) when
   * one knows the PC, else — for the youngest AArch64 frame — from the link register when it
   * points elsewhere than the frame record does (a leaf that saved no record), else from the
   * frame-pointer chain. Each frame says which method found it.
   */
  unwind(start: UnwindState, firstMethod: FrameMethod = 'pc', limit = 256): BacktraceFrame[] {
    const { sp: spReg, fp: fpReg, lr: lrReg } = this.regs.dwarf;
    const record = this.regs.frameRecord;
    const frames: BacktraceFrame[] = [];
    let state = start;
    let method = firstMethod;
    let youngest = firstMethod === 'pc';
    while (frames.length < limit) {
      const fp = state.regs.get(fpReg) ?? 0n;
      frames.push({ pc: state.pc, fp, symbol: this.symbolize(state.pc), method });
      let next: UnwindState | undefined;
      for (const u of this.unwinders) {
        next = u(state, youngest, this);
        if (next) {
          method = 'cfi';
          break;
        }
      }
      const saved = fp !== 0n && fp % 8n === 0n && this.accessible(fp, record.size, PROT_READ)
        ? { ret: this.readU64(fp + BigInt(record.returnAddress)), next: this.readU64(fp + BigInt(record.callerFp)) } : undefined;
      if (!next && youngest && lrReg !== undefined) {
        const lr = state.regs.get(lrReg);
        if (lr !== undefined && this.isCode(lr) && lr !== saved?.ret && this.functionOf(lr) !== this.functionOf(state.pc)) {
          next = { pc: lr, regs: new Map(state.regs) };
          next.regs.delete(lrReg);
          method = 'lr';
        }
      }
      if (!next && saved) {
        next = { pc: saved.ret, regs: new Map(state.regs) };
        // A chain that does not climb ends after this frame.
        next.regs.set(fpReg, saved.next > fp ? saved.next : 0n);
        next.regs.set(spReg, fp + BigInt(record.size));
        if (lrReg !== undefined) next.regs.delete(lrReg);
        method = 'fp';
      }
      if (!next || next.pc === 0n || next.pc === this.returnStub || !this.isCode(next.pc)) break;
      if (method === 'cfi' && (next.regs.get(spReg) ?? 0n) <= (state.regs.get(spReg) ?? 0n) && next.pc === state.pc) break;
      state = next;
      youngest = false;
    }
    return frames;
  }

  private trapFromError(stop: EngineStop): GuestTrap {
    const pc = this.pc();
    if (stop.fault) {
      const kind = this.faultKind(stop.fault.kind, stop.fault.address);
      return this.trap(kind, kind === 'fetch-unmapped' || kind === 'fetch-protected' ? pc : pc, {
        address: stop.fault.address, engineMessage: stop.message,
      });
    }
    switch (stop.error) {
      case 10: return this.trap('invalid-instruction', pc, { engineMessage: stop.message }); // UC_ERR_INSN_INVALID
      case ENGINE_ABORTED: return this.trap('invalid-instruction', pc, { engineMessage: stop.message });
      default: return this.trap('cpu-exception', pc, { engineMessage: stop.message });
    }
  }

  private faultKind(kind: MemoryFaultKind, address: bigint): TrapKind {
    for (const g of this.guards) {
      if (address >= g.base && address < g.base + BigInt(g.size)) return 'stack-guard';
    }
    return kind;
  }

  private trapFromInterrupt(intno: number, pc: bigint): GuestTrap {
    const known = this.cpu.interrupts[intno];
    if (known) return this.trap(known.fault, pc - BigInt(known.pcAfter));
    return this.trap('cpu-exception', pc, { engineMessage: `interrupt ${intno}` });
  }

  disassembleAt(pc: bigint): string | undefined {
    const region = this.regionAt(pc);
    if (!region || !(region.perms & PROT_EXEC)) return undefined;
    const offset = Number(pc - region.address);
    const [insn] = this.disassembler.disasm(region.view.subarray(offset, Math.min(offset + 16, region.size)), pc, { count: 1 });
    return insn && !insn.invalid ? insn.text : undefined;
  }

  /** Frames from the frame-pointer chain: [fp] = caller's fp, [fp+8] = return address. */
  backtrace(pc: bigint, fp: bigint, limit = 256): BacktraceFrame[] {
    const frames: BacktraceFrame[] = [{ pc, fp, symbol: this.symbolize(pc) }];
    let current = fp;
    while (frames.length < limit && current !== 0n && current % 8n === 0n) {
      const region = this.regionAt(current);
      if (!region || !(region.perms & PROT_READ) || Number(current - region.address) + 16 > region.size) break;
      const ret = this.readU64(current + 8n);
      const next = this.readU64(current);
      if (ret === 0n || ret === this.returnStub) break;
      frames.push({ pc: ret, fp: next, symbol: this.symbolize(ret) });
      if (next <= current) break;
      current = next;
    }
    return frames;
  }

  /**
   * Cycles of the current or last outermost call under the cycle model (`cycles` option), or
   * with `cycles.accumulate` of every outermost call since the machine was made or
   * `resetCycles()`: total, IPC, CPI stack, hot blocks and functions (named by the
   * symbolizers). Undefined when the model is off. `JSON.stringify` works on it (block
   * addresses become 0x-hex strings, as in `stackscope run --cycles --json`).
   */
  cycleReport(options: Omit<ReportOptions, 'symbolize' | 'exclude'> = {}): CycleReport | undefined {
    const g = this.gateway;
    const report = this.cycleCounter?.report({
      ...options,
      symbolize: (a) => this.symbolize(a),
      exclude: (a) => a >= g.address && a < g.address + BigInt(g.size),
    });
    return report && attachToJSON(report);
  }

  /** Starts the cycle model's counts (and detailed mode's predictor and caches) afresh. */
  resetCycles(): void {
    if (this.depth > 0) throw new MachineError('resetCycles() while guest code runs: call it between calls');
    this.cycleCounter?.clear();
  }

  close(): void {
    this.cycleCounter?.close();
    if (this.interruptHook) this.engine.removeHook(this.interruptHook);
    this.engine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
