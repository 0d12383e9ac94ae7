/**
 * The assembler of the recording pass: it accepts every macro-instruction and emits nothing, so
 * the lowering can run once only to tell the virtual-register program (virtual.ts) which values
 * it defines and uses where. Labels are fresh objects no buffer owns (nothing binds them).
 * `onInstruction` hears every macro-instruction that would emit code (by name, with its
 * arguments), in order: the program interleaves them with the definitions and uses it records.
 */
import type { Arch } from '../../isa/arch.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { MacroAssembler } from '../codegen/common.ts';

/** Members that emit nothing: not reported to `onInstruction`. */
const SILENT = new Set(['offset', 'newLabel', 'bind', 'islandCheckpoint']);

export function recordingAssembler(arch: Arch, onInstruction: (name: string, args: readonly unknown[]) => void = () => {}): MacroAssembler {
  let labels = 0;
  const noCall = { callOffset: 0, returnOffset: 0 };
  const answers: Partial<Record<keyof MacroAssembler, (...args: unknown[]) => unknown>> = {
    offset: () => 0,
    newLabel: () => ({ id: labels++, offset: undefined }) as unknown as Label,
    callWasm: () => noCall,
    callBuiltin: () => noCall,
  };
  return new Proxy({} as MacroAssembler, {
    get: (_target, name) => {
      if (name === 'arch') return arch;
      const answer = answers[name as keyof MacroAssembler];
      return (...args: unknown[]) => {
        if (!SILENT.has(name as string)) onInstruction(name as string, args);
        return answer?.(...args);
      };
    },
  });
}
