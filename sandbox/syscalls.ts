/**
 * System call policies for sandboxed C code. `deny` (the default) makes every system call a
 * `syscall` trap at the instruction; `linux-min` emulates the three calls a freestanding
 * program needs to report and stop — `write` to fd 1 or 2 (captured with the call's output),
 * `exit` and `exit_group` (the call ends with the status) — and denies the rest.
 */
import { StackscopeError } from '../isa/error.ts';
import type { SyscallHandler, SyscallRequest } from '../simulator/machine.ts';
import type { GuestAccess } from './memory.ts';

export type SyscallPolicy = 'deny' | 'linux-min';

/** The guest asked to exit (linux-min `exit`/`exit_group`): ends the call with `status`. */
export class GuestExit extends StackscopeError {
  override name = 'GuestExit';
  constructor(readonly status: number, readonly pc: bigint) {
    super(`guest exited with status ${status}`);
  }
}

/** Linux numbers of write, exit and exit_group per convention. */
const NUMBERS: Record<SyscallRequest['convention'], { write: bigint; exit: bigint; exitGroup: bigint }> = {
  x64: { write: 1n, exit: 60n, exitGroup: 231n },
  i386: { write: 4n, exit: 1n, exitGroup: 252n },
  aarch64: { write: 64n, exit: 93n, exitGroup: 94n },
};

export function linuxMinimal(memory: GuestAccess, output: (fd: number, bytes: Uint8Array) => void): SyscallHandler {
  return (r) => {
    const n = NUMBERS[r.convention];
    if (r.number === n.exit || r.number === n.exitGroup) throw new GuestExit(Number(BigInt.asIntN(32, r.args[0]) & 0xffn), r.pc);
    if (r.number === n.write) {
      const fd = Number(BigInt.asIntN(32, r.args[0]));
      if (fd !== 1 && fd !== 2) return undefined;
      // A pointer check at the system call instruction: the trap is the syscall's own.
      const sp = r.machine.sp();
      const call = { machine: r.machine, name: `write syscall`, callSite: r.pc, sp: sp - BigInt(r.machine.regs.callPushBytes), fp: r.machine.fp(), returnAddress: r.pc };
      const bytes = memory.read(call, r.args[1], r.args[2], 'write(2) buffer');
      output(fd, bytes);
      return BigInt(bytes.length);
    }
    return undefined;
  };
}

export function syscallHandlerFor(policy: SyscallPolicy | SyscallHandler, memory: GuestAccess, output: (fd: number, bytes: Uint8Array) => void): SyscallHandler | undefined {
  if (typeof policy === 'function') return policy;
  return policy === 'linux-min' ? linuxMinimal(memory, output) : undefined;
}
