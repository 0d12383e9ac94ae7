import type { Arch } from '../isa/arch.ts';
// @ts-ignore -- capstone-js ships no type declarations; the module shape is used narrowly here.
import capstoneFactory from '@alexaltea/capstone-js';

/**
 * The few decoding services the run loop needs: counting the instructions of a translated
 * block (for the native instruction counter on x86-64) and rendering one instruction for a
 * trap message. Loaded once per process (capstone-js initialises asynchronously).
 */
export interface InstructionDecoder {
  countInstructions(code: Uint8Array, address: bigint): number;
  describe(code: Uint8Array, address: bigint): string | undefined;
}

interface CsInsn { size: number; mnemonic: string; op_str: string }
interface CsHandle { disasm(code: Uint8Array | number[], address: number, count?: number): CsInsn[] }

let capstone: Promise<{ [k: string]: unknown; Capstone: new (arch: number, mode: number) => CsHandle }> | undefined;
const decoders = new Map<Arch, InstructionDecoder>();

export async function loadDecoder(arch: Arch): Promise<InstructionDecoder> {
  const cached = decoders.get(arch);
  if (cached) return cached;
  capstone ??= (capstoneFactory as () => Promise<never>)();
  const cs = await capstone;
  const handle = arch === 'x64'
    ? new cs.Capstone(cs.ARCH_X86 as number, cs.MODE_64 as number)
    : new cs.Capstone(cs.ARCH_ARM64 as number, cs.MODE_ARM as number);
  const decoder: InstructionDecoder = {
    countInstructions(code, address) {
      if (arch === 'aarch64') return code.length >>> 2;
      let n = 0;
      let offset = 0;
      while (offset < code.length) {
        const insns = handle.disasm(code.subarray(offset), Number(address) + offset);
        if (insns.length === 0) return n + 1; // an undecodable tail is one (faulting) instruction
        for (const i of insns) offset += i.size;
        n += insns.length;
      }
      return n;
    },
    describe(code, address) {
      try {
        const [insn] = handle.disasm(code, Number(address), 1);
        return insn ? `${insn.mnemonic}${insn.op_str ? ' ' + insn.op_str : ''}` : undefined;
      } catch {
        return undefined;
      }
    },
  };
  decoders.set(arch, decoder);
  return decoder;
}
