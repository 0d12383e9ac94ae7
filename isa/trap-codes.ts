/**
 * Trap codes: wasmtime v17's `Trap` enum, in declaration order (the discriminant is the byte
 * stored in an image's trap table). Cranelift calls MemoryOutOfBounds `HeapOutOfBounds`; the
 * listing and the API use Cranelift's names where they differ, and the number is wasmtime's.
 * Arch-neutral: a code buffer records a code with each trap site it emits (isa/code-buffer.ts).
 */
export const TRAP_CODES = [
  'StackOverflow',
  'HeapOutOfBounds',
  'HeapMisaligned',
  'TableOutOfBounds',
  'IndirectCallToNull',
  'BadSignature',
  'IntegerOverflow',
  'IntegerDivisionByZero',
  'BadConversionToInteger',
  'UnreachableCodeReached',
  'Interrupt',
  'AlwaysTrapAdapter',
  'OutOfFuel',
  'AtomicWaitNonSharedMemory',
  'NullReference',
  'CannotEnterComponent',
  // The GC proposal's traps (wasmtime v31's `Trap` has them between NullReference and
  // CannotEnterComponent; appended here so that v17 images keep their trap bytes).
  'ArrayOutOfBounds',
  'AllocationTooLarge',
  'CastFailure',
] as const;
export type TrapCode = (typeof TRAP_CODES)[number];

export function trapCodeNumber(code: TrapCode): number {
  return TRAP_CODES.indexOf(code);
}
