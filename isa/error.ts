/**
 * Root of stackscope's error classes. Every layer throws its own subclass with fields that
 * say what went wrong and where (EngineError, GuestTrap, LoaderError, CompileError, ...), so
 * callers can `instanceof`-test and tools can print a precise location. It lives in isa/
 * because isa/ is the bottom of the import graph.
 */
export class StackscopeError extends Error {
  override name = 'StackscopeError';
}

/** Formats a guest address the way every stackscope message does: 0x-prefixed hex. */
export function hex(value: bigint | number): string {
  return '0x' + BigInt.asUintN(64, BigInt(value)).toString(16);
}
