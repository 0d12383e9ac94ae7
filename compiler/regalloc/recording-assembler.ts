/**
 * The assembler of the recording pass: it accepts every macro-instruction and emits nothing, so
 * the lowering can run once only to tell the virtual-register program (virtual.ts) which values
 * it defines and uses where. Labels are fresh objects no buffer owns (nothing binds them).
 */
import type { Arch } from '../../isa/arch.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { MacroAssembler } from '../codegen/common.ts';

export function recordingAssembler(arch: Arch): MacroAssembler {
  let labels = 0;
  const noCall = { callOffset: 0, returnOffset: 0 };
  const answers: Partial<Record<keyof MacroAssembler, unknown>> = {
    arch,
    offset: () => 0,
    newLabel: () => ({ id: labels++, offset: undefined }) as unknown as Label,
    callWasm: () => noCall,
    callBuiltin: () => noCall,
  };
  const nothing = (): void => {};
  return new Proxy({} as MacroAssembler, {
    get: (_target, name) => (name in answers ? answers[name as keyof MacroAssembler] : nothing),
  });
}
