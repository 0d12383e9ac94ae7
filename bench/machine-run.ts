/** The Machine side of bench/'s speed ratios: one guest loop, translated once, then timed. */
import type { Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { Machine, type CallOptions, type MachineOptions } from '../simulator/machine.ts';
import { now } from './clock.ts';

/**
 * Maps `code` at 0x10000 in a new Machine made with `options`, calls it once untimed (with
 * `warm` as its call options) so its blocks are translated, as the bare run's warm-up does,
 * then times one more call. Returns the seconds and the instructions that call executed.
 */
export async function machineRun(arch: Arch, code: Uint8Array, options: Partial<MachineOptions>, warm: CallOptions = {}): Promise<{ seconds: number; instructions: number }> {
  const m = await Machine.create({ arch, ...options });
  try {
    const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, code);
    m.call(text.address, [], warm);
    const t0 = now();
    m.call(text.address);
    const seconds = now() - t0;
    return { seconds, instructions: Number(m.instructionsExecuted()) };
  } finally {
    m.close();
  }
}
