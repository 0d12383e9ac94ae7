import type { Arch } from '../isa/arch.ts';
import { StackscopeError, hex } from '../isa/error.ts';
import { abiOf, type Abi } from '../isa/abi.ts';
import {
  PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, permsToString,
  type CpuEngine, type EngineStop, type HookHandle, type MemoryFaultKind,
} from './engine.ts';
import { ENGINE_ABORTED, openUnicorn } from './unicorn.ts';
import { createDisassembler, type Disassembler } from '../isa/disasm.ts';
import { attachToJSON } from '../isa/json.ts';
import { GuestTrap, type BacktraceFrame, type TrapKind } from './trap.ts';
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
  /** Guest stack pointer at the call (x86-64: pointing at the return address). */
  readonly sp: bigint;
  /** Guest frame pointer of the caller. */
  readonly fp: bigint;
  /** Where the guest continues after the host function returns. */
  readonly returnAddress: bigint;
}

/** A TypeScript function callable from guest code. Arguments and result are raw 64-bit
 * integer registers (per System V / AAPCS64); a void result leaves the result register 0. */
export type HostFunction = (args: bigint[], call: HostCall) => bigint | number | boolean | void;

export interface HostFunctionInfo {
  readonly name: string;
  readonly address: bigint;
  readonly arity: number;
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
/** brk immediate marking gateway stubs on AArch64 ("ss"); any other brk is a breakpoint. */
const GATEWAY_BRK = 0x5353;

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
  private readonly hostFunctions: Array<HostFunctionInfo & { fn: HostFunction }> = [];
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
  private interruptHook: HookHandle;
  /** Instructions the gateway itself executed (trap + ret per host call, trap per return). */
  private harnessInstructions = 0n;
  private readonly cycleCounter: CycleCounter | undefined;

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
    this.id = this.regs.ids;
    this.engine = options.engine ?? openUnicorn(this.arch, { exactFaultPc: options.exactFaultPc ?? true });
    if (this.engine.arch !== this.arch) throw new MachineError(`engine is for ${this.engine.arch}, machine for ${this.arch}`);
    if (options.cycles && counter) this.cycleCounter = new counter(this.engine, options.cycles);
    this.budget = options.budget === undefined ? DEFAULT_BUDGET : options.budget;
    this.timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs;
    this.argIds = this.regs.intArgs.map((r) => this.id[r]);
    this.interruptHook = this.engine.hookInterrupt((intno) => {
      this.pendingInterrupt = intno;
      this.engine.stop();
    });
    this.gateway = this.map('gateway', GATEWAY_STUBS * STUB_SIZE, PROT_READ | PROT_EXEC);
    this.returnStub = this.writeStub(0);
    this.stack = this.createStack('stack', options.stackSize ?? 1 << 20);
    this.engine.setLimits({ budget: null, deadline: null });
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
      this.cycleCounter?.forget(address, address + BigInt(bytes.length));
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
    const code = this.arch === 'x64'
      ? [0xcc, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90] // int3; ret
      : [...u32le(0xd4200000 | (GATEWAY_BRK << 5)), ...u32le(0xd65f03c0)]; // brk #0x5353; ret
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
    this.hostFunctions.push({ name, address, arity, fn });
    return address;
  }

  hostFunctionAt(address: bigint): HostFunctionInfo | undefined {
    return this.hostAt(address);
  }

  private hostAt(address: bigint): (HostFunctionInfo & { fn: HostFunction }) | undefined {
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
    const outermost = this.depth === 0;
    const saved = outermost ? null : this.engine.saveContext();
    const values = args.map((a) => BigInt.asUintN(64, BigInt(a)));
    this.depth++;
    try {
      if (outermost) {
        this.cycleCounter?.beginEntry(); // before the engine's counts are zeroed: it may keep them
        this.engine.resetCounters();
        this.harnessInstructions = 0n;
        const budget = options.budget === undefined ? this.budget : options.budget;
        const timeout = options.timeoutMs === undefined ? this.timeoutMs : options.timeoutMs;
        checkLimits(budget, timeout);
        this.engine.setLimits({ budget, deadline: timeout === null ? null : this.engine.now() + timeout });
      }
      const stackTop = outermost ? (options.stack ?? this.stack).top : this.sp() - 128n; // skip the x86-64 red zone
      const expectedSp = this.setUpCall(address, values, stackTop);
      return this.run(address, expectedSp);
    } finally {
      this.depth--;
      if (saved) {
        saved.restore();
        saved.free();
      }
      if (outermost) this.engine.setLimits({ budget: null, deadline: null });
    }
  }

  /** Places arguments and the return address; returns the SP expected when the callee returns. */
  private setUpCall(address: bigint, args: bigint[], stackTop: bigint): bigint {
    const nReg = this.regs.intArgs.length;
    const stackArgs = args.slice(nReg);
    const argArea = BigInt(stackArgs.length * 8);
    // The stack-argument area starts 16-byte aligned, as both ABIs require at the call.
    const argBase = (stackTop - argArea) & ~15n;
    if (argBase - 64n < this.stack.region.address && stackTop <= this.stack.top && stackTop > this.stack.region.address) {
      throw new MachineError('not enough guest stack left for the call');
    }
    stackArgs.forEach((v, i) => this.writeU64(argBase + BigInt(8 * i), v));
    args.slice(0, nReg).forEach((v, i) => this.engine.regWrite(this.argIds[i], v));
    if (this.regs.returnAddress === 'stack') {
      const sp = argBase - BigInt(this.regs.callPushBytes);
      this.writeU64(sp, this.returnStub);
      this.setReg(this.regs.sp, sp);
    } else {
      this.setReg(this.regs.sp, argBase);
      this.setReg(this.regs.lr!, this.returnStub);
    }
    this.setReg(this.regs.pc, address);
    return argBase;
  }

  private run(entry: bigint, expectedSp: bigint): bigint {
    let pc = entry;
    for (;;) {
      this.pendingInterrupt = -1;
      const stop = this.engine.start(pc);
      if (stop.error !== 0) throw this.trapFromError(stop);
      if (stop.limit) throw this.trap(stop.limit === 'budget' ? 'budget-exhausted' : 'timeout', this.pc());
      const intno = this.pendingInterrupt;
      const here = this.pc();
      if (intno < 0) throw this.trap('halt', this.arch === 'x64' ? here - 1n : here);
      const stub = this.stubAddressForInterrupt(intno, here);
      if (stub === undefined) throw this.trapFromInterrupt(intno, here);
      if (stub === this.returnStub) {
        const sp = this.sp();
        if (sp !== expectedSp) throw this.trap('unbalanced-return', stub);
        this.harnessInstructions += 1n;
        return this.engine.regRead(this.id[this.regs.intResult]);
      }
      const host = this.hostAt(stub);
      if (!host) throw this.trap('breakpoint', stub);
      this.invokeHost(host);
      this.harnessInstructions += 2n;
      pc = stub + (this.arch === 'x64' ? 1n : 4n); // the `ret` after the trap instruction
    }
  }

  /** Maps an interrupt back to the gateway stub that raised it, if it was one. */
  private stubAddressForInterrupt(intno: number, pc: bigint): bigint | undefined {
    const trapPc = this.arch === 'x64' ? (intno === 3 ? pc - 1n : undefined) : intno === 7 ? pc : undefined;
    if (trapPc === undefined) return undefined;
    const g = this.gateway;
    if (trapPc < g.address || trapPc >= g.address + BigInt(g.size) || (trapPc - g.address) % BigInt(STUB_SIZE) !== 0n) return undefined;
    return trapPc;
  }

  private invokeHost(host: HostFunctionInfo & { fn: HostFunction }): void {
    const args: bigint[] = new Array(host.arity);
    const nReg = Math.min(host.arity, this.argIds.length);
    if (nReg > 0) {
      this.engine.regReadBatch(this.argIds, this.argBuf);
      for (let i = 0; i < nReg; i++) args[i] = this.argBuf[i];
    }
    const sp = this.sp();
    if (host.arity > nReg) {
      // x86-64: [rsp] is the return address, stack arguments follow; AArch64: they start at sp.
      const base = sp + BigInt(this.regs.callPushBytes);
      for (let i = nReg; i < host.arity; i++) args[i] = this.readU64(base + BigInt(8 * (i - nReg)));
    }
    const returnAddress = this.regs.returnAddress === 'stack' ? this.readU64(sp) : this.reg(this.regs.lr!);
    const call: HostCall = { machine: this, name: host.name, sp, fp: this.fp(), returnAddress };
    const result = host.fn(args, call);
    let value = 0n;
    if (typeof result === 'bigint') value = result;
    else if (typeof result === 'number') value = BigInt(Math.trunc(result));
    else if (typeof result === 'boolean') value = result ? 1n : 0n;
    this.engine.regWrite(this.id[this.regs.intResult], BigInt.asUintN(64, value));
  }

  // ---- traps ------------------------------------------------------------------------------

  /**
   * Instructions executed up to (not including) the one at `pc`. The native counter credits
   * a block when it is entered, so when a run stops inside the last block entered, the
   * instructions from `pc` to the block's end never ran and are taken off again.
   */
  private instructionsBefore(pc: bigint): bigint {
    const { instructions, lastBlock } = this.engine.counters();
    let executed = instructions - this.harnessInstructions;
    if (lastBlock && pc >= lastBlock.address && pc < lastBlock.address + BigInt(lastBlock.size)) {
      const offset = Number(pc - lastBlock.address);
      const region = this.regionAt(lastBlock.address);
      let before: number;
      if (this.arch === 'aarch64') before = offset >>> 2;
      else if (region) before = this.disassembler.scan(region.view.subarray(Number(lastBlock.address - region.address), Number(pc - region.address)), lastBlock.address).count;
      else before = lastBlock.instructions;
      executed -= BigInt(lastBlock.instructions - before);
    }
    return executed;
  }

  private trap(kind: TrapKind, pc: bigint, extra: { address?: bigint; engineMessage?: string } = {}): GuestTrap {
    return new GuestTrap({
      kind, pc, ...extra,
      instruction: this.disassembleAt(pc),
      // A budget or timeout stop happens before the next block is entered: nothing to take off.
      instructions: kind === 'budget-exhausted' || kind === 'timeout' ? this.instructionsExecuted() : this.instructionsBefore(pc),
      backtrace: this.backtrace(pc, this.fp()),
    });
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
    if (this.arch === 'x64') {
      if (intno === 0) return this.trap('divide-error', pc);
      if (intno === 3) return this.trap('breakpoint', pc - 1n);
      if (intno === 6) return this.trap('invalid-instruction', pc);
    } else {
      // QEMU's AArch64 exception numbers: EXCP_UDEF = 1, EXCP_BKPT = 7.
      if (intno === 7) return this.trap('breakpoint', pc);
      if (intno === 1) return this.trap('invalid-instruction', pc);
    }
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
    this.engine.removeHook(this.interruptHook);
    this.engine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
