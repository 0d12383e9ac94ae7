/**
 * Turning guest faults into WasmTraps. Compiled code traps with a trap instruction (or a load
 * or store faulting in a memory's unmapped reservation or guard) at a PC the image's trap table lists; the registry maps such PCs to
 * wasmtime trap codes, the way v17 looks a faulting PC up in the module's trap section.
 * Faults with no listed PC are classified by where they happened: the stack guard means stack
 * overflow, a linear memory's reservation or guard means out-of-bounds memory access. Anything
 * else is not a Wasm trap but a fault in code the runtime cannot vouch for, and stays a
 * GuestTrap.
 */
import type { Machine } from '../simulator/machine.ts';
import { GuestTrap, type BacktraceFrame } from '../simulator/trap.ts';
import { hex } from '../isa/error.ts';
import { RuntimeError, WasmTrap, type TrapCode } from './errors.ts';

export interface TrapSite {
  /** Offset of the trapping instruction from `base`. */
  readonly offset: number;
  readonly code: TrapCode;
}

const MAX_SITE = BigInt(Number.MAX_SAFE_INTEGER);

export class TrapRegistry {
  /**
   * Trap codes by PC, the PC as a number: an instance adds every trapping instruction of its
   * module (hundreds), and a number key costs neither a BigInt nor BigInt hashing. Guest code
   * lies far below 2^53, where numbers are exact; a site beyond is refused.
   */
  private readonly sites = new Map<number, TrapCode>();
  private readonly memoryRanges: Array<{ begin: bigint; end: bigint }> = [];

  addSites(base: bigint, sites: readonly TrapSite[]): void {
    const b = Number(base);
    const exact = base >= 0n && base <= MAX_SITE;
    for (const s of sites) {
      const pc = b + s.offset;
      if (!exact || !Number.isSafeInteger(pc)) throw new RuntimeError('TrapRegistry', `trap site ${hex(base)} + ${s.offset} lies beyond the addresses a number holds exactly`);
      this.sites.set(pc, s.code);
    }
  }

  /** A range of address space whose faults are out-of-bounds memory accesses. */
  addMemoryRange(begin: bigint, end: bigint): void {
    this.memoryRanges.push({ begin, end });
  }

  codeAt(pc: bigint): TrapCode | undefined {
    return pc >= 0n && pc <= MAX_SITE ? this.sites.get(Number(pc)) : undefined;
  }

  inMemory(address: bigint): boolean {
    return this.memoryRanges.some((r) => address >= r.begin && address < r.end);
  }

  /**
   * The WasmTrap a thrown value stands for, or the value itself when it is not a Wasm trap
   * (host errors, faults outside Wasm's reach). A WasmTrap raised by a builtin or a host function
   * without a PC gets the last exit PC and a backtrace from the machine's frame chain.
   */
  classify(
    e: unknown,
    machine: Machine,
    exit?: { pc: bigint; fp: bigint },
    backtraceOf?: (pc: bigint, fp: bigint) => BacktraceFrame[] | undefined,
  ): unknown {
    if (e instanceof WasmTrap) {
      if (e.pc !== undefined || exit === undefined || exit.pc === 0n) return e;
      const backtrace = backtraceOf?.(exit.pc, exit.fp) ?? machine.backtrace(exit.pc, exit.fp);
      return new WasmTrap({ code: e.code, detail: e.detail, pc: exit.pc, backtrace, cause: e.cause });
    }
    if (!(e instanceof GuestTrap)) return e;
    const code = this.codeForGuestTrap(e);
    if (code === undefined) return e;
    const fp = e.backtrace[0]?.fp;
    const backtrace = (fp !== undefined ? backtraceOf?.(e.pc, fp) : undefined) ?? e.backtrace;
    return new WasmTrap({ code, pc: e.pc, backtrace, cause: e, detail: e.instruction });
  }

  private codeForGuestTrap(e: GuestTrap): TrapCode | undefined {
    const listed = this.codeAt(e.pc);
    switch (e.kind) {
      case 'stack-guard': return listed ?? 'StackOverflow';
      // A load or store left to the guard pages (a listed MemoryOutOfBounds site, as Cranelift
      // records every heap access) faults inside its memory's reservation or guard; an access
      // fault anywhere else is no Wasm trap, listed or not.
      case 'read-unmapped': case 'write-unmapped': case 'read-protected': case 'write-protected':
        return e.address !== undefined && this.inMemory(e.address) ? 'MemoryOutOfBounds' : undefined;
      // x86-64 #DE without a listed check: division by zero or INT_MIN / -1.
      case 'divide-error': return listed ?? 'IntegerDivisionByZero';
      default: return listed;
    }
  }
}
