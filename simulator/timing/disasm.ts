/**
 * A minimal Capstone front end for the timing model's tests and table generator: text output
 * only (mnemonic, op_str, size), which is all the model consumes. The npm build's detail
 * parsing is broken, so details stay off. The module is loaded through a computed specifier
 * so this folder does not depend on anyone's ambient declaration of the untyped package.
 */
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError, hex } from '../../isa/error.ts';

/** One decoded instruction as the timing model consumes it. */
export interface DecodedInsn {
  readonly address: bigint;
  readonly size: number;
  readonly mnemonic: string;
  readonly opStr: string;
}

/** Bytes Capstone could not decode completely. */
export class DisasmError extends StackscopeError {
  override name = 'DisasmError';
  constructor(
    readonly arch: Arch,
    readonly address: bigint,
    readonly decodedBytes: number,
    readonly totalBytes: number,
  ) {
    super(`${arch}: Capstone stopped at ${hex(address + BigInt(decodedBytes))} after ${decodedBytes} of ${totalBytes} bytes`);
  }
}

interface CapstoneInsn {
  address: bigint | number;
  size: number;
  mnemonic: string;
  op_str: string;
}
interface CapstoneHandle {
  disasm(bytes: number[] | Uint8Array, address: number | bigint): CapstoneInsn[];
}

const handles = new Map<Arch, CapstoneHandle>();

/** Opens (once) and returns Capstone disassemblers for both architectures. */
async function capstone(arch: Arch): Promise<CapstoneHandle> {
  const cached = handles.get(arch);
  if (cached) return cached;
  const specifier: string = '@alexaltea/capstone-js';
  const mod = (await import(specifier)) as { default: () => Promise<Record<string, any>> };
  const cs = await mod.default();
  handles.set('x64', new cs.Capstone(cs.ARCH_X86, cs.MODE_64) as CapstoneHandle);
  handles.set('aarch64', new cs.Capstone(cs.ARCH_ARM64, cs.MODE_ARM) as CapstoneHandle);
  return handles.get(arch)!;
}

/** Decodes `bytes` at `address`; throws DisasmError unless every byte decodes. */
export async function disassemble(arch: Arch, bytes: Uint8Array, address: bigint): Promise<DecodedInsn[]> {
  const cs = await capstone(arch);
  const out: DecodedInsn[] = [];
  let used = 0;
  for (const insn of cs.disasm(Array.from(bytes), address)) {
    out.push({ address: BigInt(insn.address), size: insn.size, mnemonic: insn.mnemonic, opStr: insn.op_str });
    used += insn.size;
  }
  if (used !== bytes.length) throw new DisasmError(arch, address, used, bytes.length);
  return out;
}
