import { StackscopeError, hex } from '../isa/error.ts';

/** Every way guest execution can end abnormally. */
export type TrapKind =
  | 'read-unmapped' | 'write-unmapped' | 'fetch-unmapped'
  | 'read-protected' | 'write-protected' | 'fetch-protected'
  | 'stack-guard'
  | 'invalid-instruction'
  | 'divide-error'
  | 'breakpoint'
  | 'budget-exhausted'
  | 'timeout'
  | 'halt'
  | 'unbalanced-return'
  | 'cpu-exception'
  | 'syscall'
  | 'privileged-instruction'
  | 'sp-alignment'
  | 'abort';

/** How a backtrace frame was found: the trapping PC itself, the jump or call that reached an
 * unmapped target, `.eh_frame` call-frame information, the AArch64 link register of a leaf,
 * or the frame-pointer chain. */
export type FrameMethod = 'pc' | 'branch' | 'cfi' | 'lr' | 'fp';

export interface BacktraceFrame {
  pc: bigint;
  fp: bigint;
  /** `symbol+0xoffset` when the address belongs to a known symbol. */
  symbol?: string;
  /** How the frame was found (absent from backtraces made before unwinding said so). */
  method?: FrameMethod;
}

export interface GuestTrapDetails {
  kind: TrapKind;
  /** The exact PC of the faulting (or trapping) instruction. */
  pc: bigint;
  /** The memory address whose access faulted, for memory traps. */
  address?: bigint;
  /** The disassembled instruction at `pc`, when its bytes are mapped. */
  instruction?: string;
  /** Unicorn's message for engine-reported failures. */
  engineMessage?: string;
  /** Instructions executed by the outermost call before the trap. */
  instructions?: bigint;
  /** Frames, youngest first, starting at `pc`. */
  backtrace?: BacktraceFrame[];
  /** `syscall` traps: the system call number (rax, eax for `int 0x80`, x8). */
  syscall?: bigint;
  /** Traps raised on behalf of a host function: its name. */
  hostFunction?: string;
}

/**
 * A guest fault or stop, surfaced as a typed error. A trap raised inside a nested guest call
 * (guest → host → guest) propagates through the host function that made the call as the same
 * object, so the outermost caller sees exactly where the guest stopped.
 */
export class GuestTrap extends StackscopeError {
  override name = 'GuestTrap';
  readonly kind: TrapKind;
  readonly pc: bigint;
  readonly address?: bigint;
  readonly instruction?: string;
  readonly engineMessage?: string;
  readonly instructions?: bigint;
  readonly backtrace: BacktraceFrame[];
  readonly syscall?: bigint;
  readonly hostFunction?: string;

  constructor(d: GuestTrapDetails) {
    super(describeTrap(d));
    this.kind = d.kind;
    this.pc = d.pc;
    this.address = d.address;
    this.instruction = d.instruction;
    this.engineMessage = d.engineMessage;
    this.instructions = d.instructions;
    this.backtrace = d.backtrace ?? [];
    this.syscall = d.syscall;
    this.hostFunction = d.hostFunction;
  }

  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      pc: hex(this.pc),
      address: this.address === undefined ? null : hex(this.address),
      instruction: this.instruction ?? null,
      message: this.message,
      ...(this.syscall === undefined ? {} : { syscall: Number(this.syscall) }),
      ...(this.hostFunction === undefined ? {} : { hostFunction: this.hostFunction }),
      backtrace: this.backtrace.map((f) => ({ pc: hex(f.pc), fp: hex(f.fp), symbol: f.symbol ?? null, ...(f.method ? { method: f.method } : {}) })),
    };
  }
}

function describeTrap(d: GuestTrapDetails): string {
  const at = `at pc ${hex(d.pc)}${d.instruction ? ` (${d.instruction})` : ''}${d.hostFunction ? ` (in a call to host function ${d.hostFunction}${d.engineMessage ? `: ${d.engineMessage}` : ''})` : ''}`;
  const addr = d.address === undefined ? '' : ` of ${hex(d.address)}`;
  switch (d.kind) {
    case 'read-unmapped': return `read of unmapped memory${addr} ${at}`;
    case 'write-unmapped': return `write to unmapped memory${addr} ${at}`;
    case 'fetch-unmapped': return `instruction fetch from unmapped memory${addr} ${at}`;
    case 'read-protected': return `read of non-readable memory${addr} ${at}`;
    case 'write-protected': return `write to non-writable memory${addr} ${at}`;
    case 'fetch-protected': return `instruction fetch from non-executable memory${addr} ${at}`;
    case 'stack-guard': return `stack overflow: access${addr} hit a stack guard page ${at}`;
    case 'invalid-instruction': return `invalid instruction ${at}`;
    case 'divide-error': return `integer divide error ${at}`;
    case 'breakpoint': return `breakpoint ${at}`;
    case 'budget-exhausted': return `instruction budget exhausted after ${d.instructions ?? '?'} instructions ${at}`;
    case 'timeout': return `wall-clock timeout ${at}`;
    case 'halt': return `guest halted ${at}`;
    case 'unbalanced-return': return `guest returned to the host with an unexpected stack pointer ${at}`;
    case 'syscall': return `system call ${d.syscall ?? '?'} denied ${at}`;
    case 'privileged-instruction': return `privileged instruction ${at}`;
    case 'abort': return `guest aborted ${at}`;
    case 'sp-alignment': return `stack pointer not 16-byte aligned ${at}`;
    case 'cpu-exception': return `unhandled CPU exception ${at}${d.engineMessage ? `: ${d.engineMessage}` : ''}`;
  }
}
