/**
 * Host functions with C signatures: a JS function bound to an undefined symbol of the loaded
 * objects receives typed values (integers narrowed and extended per their C type, f32/f64 from
 * the vector registers, stack arguments past the register set) and returns one; variadic
 * functions read their extra arguments in the order System V / AAPCS64 lay them out.
 */
import type { Arch } from '../isa/arch.ts';
import { abiOf } from '../isa/abi.ts';
import { hex } from '../isa/error.ts';
import type { HostCall, HostFunction, Machine } from '../simulator/machine.ts';
import type { TrapKind } from '../simulator/trap.ts';
import {
  argumentLocations, isFloat, parseSignature, scalarBits, scalarValue, SignatureError,
  type CValue, type ScalarType, type Signature,
} from './abi.ts';
import type { GuestAccess, GuestHeap } from './memory.ts';

/** What a host function may use besides its arguments. */
export interface HostContext {
  readonly machine: Machine;
  readonly call: HostCall;
  /** Guest memory, checked against mappings and permissions, charged to the budget. */
  readonly memory: GuestAccess;
  readonly heap: GuestHeap;
  /** Appends bytes to the call's captured standard output. */
  output(bytes: Uint8Array | string): void;
  /** A guest trap at the instruction that called this host function. */
  trap(kind: TrapKind, message: string, address?: bigint): never;
  /** Arguments past the fixed ones of a variadic function (`variadic: true`). */
  readonly varargs: VarArgs;
}

export interface VarArgs {
  /** The next integer or pointer argument (raw 64 bits). */
  int(): bigint;
  /** The next double argument's bits. */
  double(): bigint;
}

export type HostImplementation = (args: CValue[], ctx: HostContext) => CValue | void | undefined;

/** A host function for `Sandbox` options: a C signature (`i32(ptr,u64)`) and its implementation. */
export interface HostFunctionSpec {
  readonly sig: string | Signature;
  readonly fn: HostImplementation;
  /** Takes variadic arguments after the signature's parameters (read them with ctx.varargs). */
  readonly variadic?: boolean;
}

export interface HostEnvironment {
  readonly machine: Machine;
  readonly memory: GuestAccess;
  readonly heap: GuestHeap;
  output(bytes: Uint8Array): void;
}

const enc = new TextEncoder();

/** Wraps a typed host function as the Machine's raw one: `arity` registers and stack words. */
export function bindHost(arch: Arch, name: string, spec: HostFunctionSpec, env: HostEnvironment): { arity: number; fn: HostFunction } {
  const text = typeof spec.sig === 'string' ? spec.sig : undefined;
  const sig = typeof spec.sig === 'string' ? parseSignature(spec.sig) : spec.sig;
  const where = `host function ${name}`;
  let locations;
  try {
    locations = argumentLocations(arch, sig, text ?? name);
  } catch (e) {
    throw e instanceof SignatureError ? new SignatureError(`${where}: ${e.message}`) : e;
  }
  const abi = abiOf(arch);
  const maxInt = abi.intArgs.length;
  const maxFloat = abi.floatArgIds.length;
  const usesFloats = sig.params.some((t) => typeof t === 'string' && isFloat(t)) || spec.variadic === true;
  const stackWords = locations.slots.filter((s) => s.kind === 'stack').length;
  const arity = spec.variadic ? maxInt : locations.arity;
  const fixed = {
    ints: locations.slots.filter((s) => s.kind === 'int').length,
    floats: locations.slots.filter((s) => s.kind === 'float').length,
  };
  const result = sig.result;
  const fn: HostFunction = (raw, call) => {
    const floats = usesFloats ? env.machine.floatRegisters() : undefined;
    const stackBase = call.sp + BigInt(abi.callPushBytes);
    const stackWord = (i: number): bigint => {
      const bytes = env.memory.read(call, stackBase + BigInt(8 * i), 8n, `${where}: stack argument`);
      return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    };
    const args = locations.slots.map((slot, i) => {
      const t = sig.params[i] as ScalarType;
      const bits = slot.kind === 'int' ? raw[slot.index] : slot.kind === 'float' ? floats![slot.index] : spec.variadic ? stackWord(slot.index) : raw[maxInt + slot.index];
      return scalarValue(t, bits);
    });
    let gp = fixed.ints;
    let fp = fixed.floats;
    let st = stackWords;
    const ctx: HostContext = {
      machine: env.machine,
      call,
      memory: env.memory,
      heap: env.heap,
      output: (bytes) => env.output(typeof bytes === 'string' ? enc.encode(bytes) : bytes),
      trap: (kind, message, address) => {
        throw env.machine.hostTrap(call, kind, { message, ...(address === undefined ? {} : { address }) });
      },
      varargs: {
        int: () => (gp < maxInt ? raw[gp++] : stackWord(st++)),
        double: () => (fp < maxFloat ? floats![fp++] : stackWord(st++)),
      },
    };
    const value = spec.fn(args, ctx);
    if (result === 'void') return 0n;
    if (typeof result !== 'string') return 0n;
    if (value === undefined || Array.isArray(value)) {
      throw env.machine.hostTrap(call, 'cpu-exception', { message: `${where} returned ${value === undefined ? 'nothing' : 'a struct'} for a ${result} result` });
    }
    const bits = scalarBits(result, value as number | bigint, `${where} result (${hex(call.callSite)})`);
    if (isFloat(result)) {
      env.machine.setFloatResult(bits);
      return 0n;
    }
    return bits;
  };
  return { arity, fn };
}
