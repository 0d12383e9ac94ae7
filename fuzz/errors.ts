import { StackscopeError } from '../isa/error.ts';

/** A bad fuzzer option or input file (CLI exit code 2). */
export class FuzzUsageError extends StackscopeError {
  override name = 'FuzzUsageError';
}
