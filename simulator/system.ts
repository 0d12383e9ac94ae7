import type { Arch } from '../isa/arch.ts';
import type { SyscallConvention } from '../isa/abi.ts';
import type { Disassembler, Insn } from '../isa/disasm.ts';
import { x64InstructionLength, x64ScanBlock, x64SystemForm } from '../isa/x64/length.ts';

/**
 * Instructions a user-mode sandbox must not let run as the engine defines them. Unicorn runs
 * x86-64 code at CPL 0 and AArch64 code at EL1, so `cli`, `wrmsr`, `mov cr0`, `msr daifset`
 * and friends would silently succeed, `syscall` would be a no-op and `rdtsc` would read the
 * host's clock. The Machine scans every block before it first runs (the native counter stops
 * to have new blocks described; code the runtime placed is scanned once at placement instead,
 * `placedCodeFlags`) and puts a code hook on each instruction listed here, so the
 * run stops right before it executes: a trap at its exact PC, or an emulation (the virtual
 * clock, a syscall handler's result) after which the run resumes past it.
 *
 * - `syscall`: x86-64 `syscall`, `sysenter`, `int 0x80`; AArch64 `svc`.
 * - `privileged`: anything that needs CPL 0 / EL1 or above (control, debug and model-specific
 *   registers, descriptor tables, port I/O, interrupt masking, EL1 system registers, `eret`,
 *   `hvc`, `smc`, cache and TLB maintenance other than the EL0 `dc`/`ic` forms), and x86-64
 *   `int N` other than 3 and 0x80.
 * - `halt`: x86-64 `hlt`, AArch64 `wfi` (nothing would ever wake the guest).
 * - `clock`: x86-64 `rdtsc`/`rdtscp`, AArch64 `mrs` of `cntvct_el0`/`cntpct_el0` (and their
 *   self-synchronised forms): emulated from the virtual clock.
 * - `overflow`: x86-64 `into` (a trap only when OF is set).
 * - `sp-check`: an AArch64 load or store through SP. QEMU omits the architectural SP alignment
 *   check, so the Machine hooks these, but only while SP is unaligned.
 * - `sp-watch`: the AArch64 instruction right after one that may leave SP unaligned (SP
 *   arithmetic, or a load/store writing back to SP an amount that is not a multiple of 16).
 *   SP changes its alignment only there, so the Machine re-reads SP at these and turns its
 *   `sp-check` hooks on or off. Any other site may carry `watchesSp` for the same purpose.
 */
export type SystemInstructionKind = 'syscall' | 'privileged' | 'halt' | 'clock' | 'overflow' | 'sp-check' | 'sp-watch';

export interface SystemInstruction {
  readonly pc: bigint;
  readonly length: number;
  readonly kind: SystemInstructionKind;
  /** Mnemonic (and, for `mrs`/`msr`, the system register) for messages. */
  readonly name: string;
  /** x86-64 `int N`: N; AArch64 clock reads: the destination register number (31 = xzr). */
  readonly operand?: number;
  /** The previous instruction may have changed SP's alignment (AArch64; see `sp-watch`). */
  readonly watchesSp?: boolean;
  /** A system call's convention (x86-64 `int 0x80` is the i386 one). */
  readonly convention?: SyscallConvention;
  /** What a clock read writes: the 64-bit count whole, its low or high 32 bits, or zero (the
   * processor id `rdtscp` leaves in ecx); none for a read into xzr. */
  readonly writes?: readonly ClockWrite[];
}

export interface ClockWrite {
  readonly reg: string;
  readonly value: 'count' | 'low32' | 'high32' | 'zero';
}

const RDTSC_WRITES: readonly ClockWrite[] = [{ reg: 'rax', value: 'low32' }, { reg: 'rdx', value: 'high32' }];
const RDTSCP_WRITES: readonly ClockWrite[] = [...RDTSC_WRITES, { reg: 'rcx', value: 'zero' }];

/** Second bytes of 0x0f-escaped x86-64 opcodes worth a closer look. */
const X64_ESCAPED = new Set([0x00, 0x01, 0x05, 0x06, 0x07, 0x08, 0x09, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x78, 0x79]);
/** One-byte x86-64 opcodes worth a closer look. */
const X64_SINGLE = new Set([0xfa, 0xfb, 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f, 0xf4, 0xcd, 0xce, 0xf1]);

const X64_PRIVILEGED = new Set([
  'cli', 'sti', 'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'wrmsr', 'rdmsr', 'rdpmc',
  'lgdt', 'lidt', 'lldt', 'ltr', 'lmsw', 'clts', 'invd', 'wbinvd', 'invlpg', 'invpcid', 'swapgs', 'sysexit',
  'sysret', 'sysretq', 'sysexitq', 'monitor', 'mwait', 'xsetbv', 'vmcall', 'vmlaunch', 'vmresume', 'vmxoff',
  'vmread', 'vmwrite', 'vmmcall', 'wrpkru',
]);

/** Lists the instructions of one block that need the Machine's attention, in address order. */
export function systemInstructions(arch: Arch, address: bigint, code: Uint8Array, disassembler: Disassembler): SystemInstruction[] {
  return arch === 'x64' ? x64System(address, code, disassembler) : aarch64System(address, code);
}

function x64System(address: bigint, code: Uint8Array, disassembler: Disassembler): SystemInstruction[] {
  // A block that decodes completely without Capstone and has none of the few system
  // instructions that decoder knows needs nothing (the others are forms it leaves to Capstone).
  const quick = x64ScanBlock(code);
  if (quick && !quick.system) return [];
  let suspicious = false;
  for (let i = 0; i < code.length && !suspicious; i++) {
    const b = code[i];
    suspicious = X64_SINGLE.has(b) || (b === 0x0f && i + 1 < code.length && X64_ESCAPED.has(code[i + 1]));
  }
  if (!suspicious) return [];
  const found: SystemInstruction[] = [];
  for (const insn of disassembler.disasm(code, address)) {
    if (insn.invalid) break;
    const site = x64Site(insn);
    if (site) found.push(site);
  }
  return found;
}

/** What a decoded x86-64 instruction is for the sandbox; undefined for ordinary ones. */
function x64Site(insn: Insn): SystemInstruction | undefined {
  const m = insn.mnemonic;
  const at = { pc: insn.address, length: insn.bytes.length, name: insn.text };
  if (m === 'syscall' || m === 'sysenter') return { ...at, kind: 'syscall', convention: 'x64' };
  if (m === 'int') {
    const n = insn.bytes[insn.bytes.length - 1];
    if (n === 0x80) return { ...at, kind: 'syscall', operand: n, convention: 'i386' };
    return n !== 3 ? { ...at, kind: 'privileged', operand: n } : undefined;
  }
  if (m === 'into') return { ...at, kind: 'overflow' };
  if (m === 'hlt') return { ...at, kind: 'halt' };
  if (m === 'rdtsc' || m === 'rdtscp') return { ...at, kind: 'clock', writes: m === 'rdtscp' ? RDTSCP_WRITES : RDTSC_WRITES };
  if (X64_PRIVILEGED.has(m) || (m === 'mov' && /\b[cd]r\d+\b/.test(insn.opStr))) return { ...at, kind: 'privileged' };
  return undefined;
}

function sysreg(w: number): string {
  const f = (shift: number, bits: number) => (w >>> shift) & ((1 << bits) - 1);
  return `s${f(19, 2)}_${f(16, 3)}_c${f(12, 4)}_c${f(8, 4)}_${f(5, 3)}`;
}

/** What an AArch64 word is, for the sandbox; undefined for ordinary instructions. */
function aarch64Kind(w: number): Omit<SystemInstruction, 'pc' | 'length'> | undefined {
  if ((w & 0xffe0001f) >>> 0 === 0xd4000001) return { kind: 'syscall', name: 'svc', convention: 'aarch64' };
  if ((w & 0xffe0001f) >>> 0 === 0xd4000002) return { kind: 'privileged', name: 'hvc' };
  if ((w & 0xffe0001f) >>> 0 === 0xd4000003) return { kind: 'privileged', name: 'smc' };
  if (w >>> 0 === 0xd69f03e0 || w >>> 0 === 0xd69f0bff || w >>> 0 === 0xd69f0fff) return { kind: 'privileged', name: 'eret' };
  if (w >>> 0 === 0xd6bf03e0) return { kind: 'privileged', name: 'drps' };
  if (w >>> 0 === 0xd503207f) return { kind: 'halt', name: 'wfi' };
  // MSR (immediate): PSTATE fields. EL0 may touch the flag-manipulation forms (op1 0, op2 0-2)
  // and SSBS, DIT, TCO (op1 3, op2 1, 2, 4); DAIFSet/DAIFClr, SPSel, PAN, UAO need EL1.
  if ((w & 0xfff8f01f) >>> 0 === 0xd500401f) {
    const op1 = (w >>> 16) & 7;
    const op2 = (w >>> 5) & 7;
    const ok = (op1 === 0 && op2 <= 2) || (op1 === 3 && (op2 === 1 || op2 === 2 || op2 === 4));
    return ok ? undefined : { kind: 'privileged', name: `msr pstate ${op1},${op2}` };
  }
  // SYS/SYSL (dc, ic, at, tlbi): only the op1 = 3 forms (dc zva, dc cvau, ic ivau...) at EL0.
  if ((w & 0xffd80000) >>> 0 === 0xd5080000) {
    return ((w >>> 16) & 7) === 3 && ((w >>> 21) & 1) === 0 ? undefined : { kind: 'privileged', name: 'sys' };
  }
  // MRS/MSR (register), op0 2 or 3.
  if ((w & 0xffd00000) >>> 0 === 0xd5100000) {
    const read = ((w >>> 21) & 1) === 1;
    const op1 = (w >>> 16) & 7;
    const crn = (w >>> 12) & 15;
    const crm = (w >>> 8) & 15;
    const op2 = (w >>> 5) & 7;
    const name = `${read ? 'mrs' : 'msr'} ${sysreg(w)}`;
    if (op1 !== 3) return { kind: 'privileged', name };
    if (crn === 4 && crm === 2 && op2 === 1) return { kind: 'privileged', name: `${read ? 'mrs' : 'msr'} daif` };
    if (crn === 9) return { kind: 'privileged', name }; // performance monitors
    if (crn === 14) {
      if (crm === 0 && (op2 === 1 || op2 === 2 || op2 === 5 || op2 === 6)) {
        const rt = w & 31;
        const writes: ClockWrite[] = rt === 31 ? [] : [{ reg: `x${rt}`, value: 'count' }];
        return read ? { kind: 'clock', name: op2 === 1 || op2 === 5 ? 'mrs cntpct_el0' : 'mrs cntvct_el0', operand: rt, writes } : { kind: 'privileged', name };
      }
      if (crm === 0 && op2 === 0 && read) return undefined; // cntfrq_el0
      return { kind: 'privileged', name };
    }
    return undefined;
  }
  return undefined;
}

/** Whether an AArch64 data-processing instruction may leave SP not 16-byte aligned. */
function mayMisalignSp(w: number): boolean {
  if ((w & 31) !== 31) return false;
  const top = (w & 0xff800000) >>> 0;
  if (top === 0x91000000 || top === 0xd1000000) { // add/sub (immediate), 64-bit, Rd = sp
    const amount = ((w >>> 10) & 0xfff) << (((w >>> 22) & 1) * 12);
    return ((w >>> 5) & 31) !== 31 || amount % 16 !== 0;
  }
  const ext = (w & 0xffe00000) >>> 0;
  if (ext === 0x8b200000 || ext === 0xcb200000) return true; // add/sub (extended register) to sp
  if (top === 0x92000000 || top === 0xb2000000) return true; // and/orr (immediate) to sp
  return false;
}

/** An AArch64 load or store whose base register is SP. */
function spBasedAccess(w: number): boolean {
  if ((w & 0x0a000000) !== 0x08000000) return false; // not in the loads-and-stores group
  if ((w & 0x3b000000) === 0x18000000) return false; // load literal: PC-relative
  return ((w >>> 5) & 31) === 31;
}

/**
 * An AArch64 load or store that writes back to SP an amount that may not be a multiple of 16:
 * register pre/post-indexed (`str x0, [sp, #-8]!`), pair pre/post-indexed (`stp w0, w1,
 * [sp, #-8]!`), and, without looking at the amount, post-indexed SIMD structure accesses.
 */
function mayMisalignSpByWriteback(w: number): boolean {
  if (!spBasedAccess(w)) return false;
  if ((w & 0x3b200400) >>> 0 === 0x38000400) return ((w >>> 12) & 15) !== 0; // imm9 in bytes
  if ((w & 0x3a800000) >>> 0 === 0x28800000) {
    const opc = w >>> 30;
    const simd = ((w >>> 26) & 1) === 1;
    const scale = simd ? 4 << opc : opc === 2 ? 8 : 4;
    return ((((w >>> 15) & 0x7f) * scale) & 15) !== 0; // imm7, scaled
  }
  const structures = (w & 0xbf800000) >>> 0;
  return structures === 0x0c800000 || structures === 0x0d800000;
}

/** A load/store through SP or the instruction after an SP update, as one object literal (an
 * object spread per site costs microseconds, and compiled code has a site every few words). */
function spSite(address: bigint, off: number, kind: 'sp-check' | 'sp-watch', watchesSp: boolean): SystemInstruction {
  const pc = address + BigInt(off);
  const name = kind === 'sp-check' ? 'load/store through sp' : 'after an sp update';
  return watchesSp ? { pc, length: 4, watchesSp, kind, name } : { pc, length: 4, kind, name };
}

function aarch64System(address: bigint, code: Uint8Array): SystemInstruction[] {
  const found: SystemInstruction[] = [];
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  let watchNext = false;
  for (let off = 0; off + 4 <= code.length; off += 4) {
    const w = view.getUint32(off, true);
    // Most words are ordinary: the PC and the record are made only for a site.
    const top = w >>> 24; // every form aarch64Kind knows is in 0xd4-0xd6
    const k = top >= 0xd4 && top <= 0xd6 ? aarch64Kind(w) : undefined;
    if (k) found.push({ ...k, pc: address + BigInt(off), length: 4, ...(watchNext ? { watchesSp: true } : {}) });
    else if (spBasedAccess(w)) found.push(spSite(address, off, 'sp-check', watchNext));
    else if (watchNext) found.push(spSite(address, off, 'sp-watch', true));
    watchNext = mayMisalignSp(w) || mayMisalignSpByWriteback(w);
  }
  // The block ends with an SP update (it was split): watch the instruction after it.
  if (watchNext) found.push({ pc: address + BigInt(code.length & ~3), length: 4, kind: 'sp-watch', name: 'after an sp update', watchesSp: true });
  return found;
}

/**
 * Length of a lock-prefixed read-modify-write of memory as stackscope's compiler emits them for
 * reference counts (`lock add/sub r/m, imm8|imm32|reg`, `lock xadd`, `lock cmpxchg`), or 0 for
 * any other form: the prefix and the instruction isa/x64/length.ts measures after it, as
 * Capstone decodes them (system.test.ts checks the forms against Capstone). Not a system
 * instruction.
 */
function x64LockedLength(code: Uint8Array, at: number): number {
  let i = at + 1;
  if (code[i] === 0x66) i++;
  if (i < code.length && (code[i] & 0xf0) === 0x40) i++;
  let op = code[i];
  let modrm = code[i + 1];
  if (op === 0x0f) {
    op = 0x100 | code[i + 1];
    modrm = code[i + 2];
  }
  if (modrm === undefined || modrm >> 6 === 3) return 0; // a register operand cannot be locked
  const reg = (modrm >> 3) & 7;
  const rmw = op === 0x01 || op === 0x29 || ((op === 0x81 || op === 0x83) && (reg === 0 || reg === 5)) || op === 0x1c1 || op === 0x1b1;
  if (!rmw) return 0;
  const n = x64InstructionLength(code, at + 1);
  return n === 0 ? 0 : n + 1;
}

/** Flags of `placedCodeFlags`, one byte per code byte. */
export const PLACED_START = 1;
/** The instruction needs the Machine: a block holding it is inspected as today. */
export const PLACED_HOST = 2;
/** An AArch64 load or store through SP (an `sp-check` site). */
export const PLACED_SP_ACCESS = 4;
/** The byte right after a function's last instruction (a block may end there). */
export const PLACED_END = 8;

/**
 * For code whose function ranges the host knows (code the runtime placed), one flag byte per
 * code byte, decoding each function from its first byte: PLACED_START where an instruction
 * starts; PLACED_END right after a function's last instruction; PLACED_HOST on every
 * instruction that makes `systemInstructions` report anything for a block holding it other
 * than its `sp-check` sites (x86-64: one of isa/x64/length.ts's system forms, or a form only
 * Capstone decodes that is a system instruction; AArch64: a system instruction, or one that may
 * leave SP unaligned, whose successor is watched); PLACED_SP_ACCESS on AArch64 loads and stores
 * through SP. A block that starts on an instruction start, ends on one (or on PLACED_END) and
 * holds no PLACED_HOST instruction is one `systemInstructions` finds only `sp-check` sites in
 * (each one a PLACED_SP_ACCESS), and one the default describer counts as many instructions as
 * start in it: the native counter can count it without a stop (Machine.describePlacedCode).
 * Bytes outside every function (padding) get no start; x86-64 decoding of a function ends at
 * the first bytes neither decoder reads.
 */
export function placedCodeFlags(arch: Arch, code: Uint8Array, functions: ReadonlyArray<{ readonly offset: number; readonly size: number }>, disassembler: Disassembler): Uint8Array {
  const flags = new Uint8Array(code.length);
  for (const f of functions) {
    const end = Math.min(f.offset + f.size, code.length);
    if (f.offset < 0 || f.offset >= end) continue;
    if (arch === 'aarch64') {
      if (f.offset % 4 !== 0) continue;
      const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
      for (let off = f.offset; off + 4 <= end; off += 4) {
        const w = view.getUint32(off, true);
        const top = w >>> 24;
        const host = (top >= 0xd4 && top <= 0xd6 && aarch64Kind(w) !== undefined) || mayMisalignSp(w) || mayMisalignSpByWriteback(w);
        flags[off] = PLACED_START | (host ? PLACED_HOST : 0) | (spBasedAccess(w) ? PLACED_SP_ACCESS : 0);
      }
      const after = end - ((end - f.offset) % 4);
      if (after < code.length) flags[after] |= PLACED_END;
      continue;
    }
    const fn = code.subarray(0, end);
    let at = f.offset;
    while (at < end) {
      let n = x64InstructionLength(fn, at);
      let host = false;
      if (n === 0 && fn[at] === 0xf0) n = x64LockedLength(fn, at);
      if (n === 0) {
        // A form the quick decoder leaves to Capstone (lock-prefixed ones): Capstone measures it
        // and says whether it is a system instruction, as it would in the block's inspection.
        const [insn] = disassembler.disasm(fn.subarray(at, Math.min(at + 15, end)), 0n, { count: 1 });
        if (!insn || insn.invalid) break;
        n = insn.bytes.length;
        host = x64Site(insn) !== undefined;
      } else {
        host = x64SystemForm(fn, at, n);
      }
      if (at + n > end) break;
      flags[at] = PLACED_START | (host ? PLACED_HOST : 0);
      at += n;
    }
    if (at > f.offset && at < code.length) flags[at] |= PLACED_END;
  }
  return flags;
}
