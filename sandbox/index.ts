/**
 * sandbox/'s public surface: load ELF objects and archives into a sandbox, call C functions
 * with C signatures, bind host functions, read and write guest memory. See docs/sandbox.md.
 */
export { Sandbox, STACK_CANARY, type SandboxInput, type SandboxOptions, type CallOutcome } from './sandbox.ts';
export {
  parseSignature, signatureText, typeText, sizeOf, alignOf, layout, encode, decode, SignatureError,
  type CType, type ScalarType, type StructType, type ResultType, type Signature, type CValue,
} from './abi.ts';
export { type HostFunctionSpec, type HostContext, type HostImplementation, type VarArgs } from './host.ts';
export { C_RUNTIME_FUNCTIONS, C_RUNTIME_DATA } from './libc.ts';
export { GuestExit, type SyscallPolicy } from './syscalls.ts';
export { SandboxMemoryError, GuestAccess, GuestHeap } from './memory.ts';
export { isArchive, readArchive, selectObjects, type ArchiveMember } from './archive.ts';
export { CfiUnwinder, parseEhFrame } from './eh-frame.ts';
export { formatC } from './printf.ts';
