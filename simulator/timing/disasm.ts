/**
 * The timing model's view of decoded code: text only (mnemonic, op_str, size, address), which
 * is all the model consumes. Decoding goes through the project's one Capstone wrapper,
 * isa/disasm.ts; this module only narrows its output and insists that every byte decodes
 * (a block the model prices must be real code).
 */
import type { Arch } from '../../isa/arch.ts';
import { DisasmError, createDisassembler } from '../../isa/disasm.ts';
import { hex } from '../../isa/error.ts';

/** One decoded instruction as the timing model consumes it. */
export interface DecodedInsn {
  readonly address: bigint;
  readonly size: number;
  readonly mnemonic: string;
  readonly opStr: string;
}

/**
 * Decodes `bytes` at `address` up to the first undecodable instruction. `complete` says
 * whether every byte decoded.
 */
export function decodeBlock(arch: Arch, bytes: Uint8Array, address: bigint): { insns: DecodedInsn[]; complete: boolean } {
  const insns: DecodedInsn[] = [];
  let used = 0;
  for (const insn of createDisassembler(arch).disasm(bytes, address)) {
    if (insn.invalid) return { insns, complete: false };
    insns.push({ address: insn.address, size: insn.size, mnemonic: insn.mnemonic, opStr: insn.opStr });
    used += insn.size;
  }
  return { insns, complete: used === bytes.length };
}

/** Decodes `bytes` at `address`; throws DisasmError unless every byte decodes. */
export function disassembleSync(arch: Arch, bytes: Uint8Array, address: bigint): DecodedInsn[] {
  const { insns, complete } = decodeBlock(arch, bytes, address);
  if (!complete) {
    const decoded = insns.reduce((s, i) => s + i.size, 0);
    throw new DisasmError(arch, address, `Capstone stopped at ${hex(address + BigInt(decoded))} after ${decoded} of ${bytes.length} bytes`);
  }
  return insns;
}

/**
 * Asynchronous form kept for the table generator (scripts/gen-timing-tables.ts) and older
 * callers; decoding itself is synchronous.
 */
export async function disassemble(arch: Arch, bytes: Uint8Array, address: bigint): Promise<DecodedInsn[]> {
  return disassembleSync(arch, bytes, address);
}
