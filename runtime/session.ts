/**
 * A module opened for a run, as `stackscope run`, `explain` and `gc` open one: the bytes (WAT
 * text, a Wasm binary or a compiled image) compiled for an arch, a Store that explains every
 * collection and keeps the reports, and an instance whose "env" imports are stackscope's
 * default host functions. The CLI calls exactly this, so an API user gets the same run:
 *
 *   const session = await openSession(bytes, 'prog.wat', { print: console.log });
 *   session.instance.getFunc('main').call();
 *   session.gcs; // every collection, explained
 *
 * Errors: HostImportError for an import the defaults do not provide (or of another type),
 * SessionArchError for an image of the other arch; compile and instantiation errors as usual.
 */
import { basename } from 'node:path';
import type { Arch } from '../isa/arch.ts';
import type { FuncType, ValType } from '../compiler/frontend/module.ts';
import { floatBits, floatFromBits, formatFloat, parseFloatText } from '../compiler/frontend/float-bits.ts';
import { describeValue, type GcReport } from '../gc/report.ts';
import { readElf } from '../loader/elf.ts';
import { SECTION_MODULE } from '../compiler/image.ts';
import { CompileError } from '../compiler/frontend/errors.ts';
import { watTextOf } from '../compiler/frontend/index.ts';
import type { CycleOptions } from '../simulator/timing/cycles.ts';
import { Engine, type EngineConfig } from './engine.ts';
import { StackscopeError } from '../isa/error.ts';
import { RuntimeError } from './errors.ts';
import { Func, type HostFn, type Results } from './func.ts';
import { Instance } from './instance.ts';
import { Linker } from './linker.ts';
import { Module } from './module.ts';
import { ExternRef } from './ref.ts';
import { Store, type CollectorChoice } from './store.ts';
import type { Collector } from '../gc/collector.ts';
import type { Val } from './values.ts';

/**
 * The default host imports (module "env"). `print` and `gc` take any parameters (and return
 * nothing), so modules written for `stackscope gc` run here unchanged; the others have one type.
 */
export const DEFAULT_HOST_IMPORTS: Readonly<Record<string, FuncType | 'any-params'>> = {
  print_i32: { params: ['i32'], results: [] },
  print_i64: { params: ['i64'], results: [] },
  print_f32: { params: ['f32'], results: [] },
  print_f64: { params: ['f64'], results: [] },
  print_externref: { params: ['externref'], results: [] },
  print: 'any-params',
  new_ref: { params: ['i32'], results: ['externref'] },
  ref: { params: ['i32'], results: ['externref'] },
  gc: 'any-params',
};

/**
 * The GC fuzzer's host imports (module "host", fuzz/program.ts), so that a failure file runs
 * with `stackscope run`: `gc` collects, `new(tag)` is a new externref holding `#N:tTAG` (N
 * counts the run's `new`s from 0), `new_temp` one holding `temp N`, `print` and `print_i32`
 * print, `pass` returns a new handle to its argument, `release` only prints (a run holds
 * no pool handles). Each prints a line `host OP ARG`, the spelling of the fuzzer's trace.
 */
export const FUZZ_HOST_IMPORTS: Readonly<Record<string, FuncType>> = {
  gc: { params: [], results: [] },
  new: { params: ['i32'], results: ['externref'] },
  new_temp: { params: [], results: ['externref'] },
  print: { params: ['externref'], results: [] },
  print_i32: { params: ['i32'], results: [] },
  release: { params: ['i32'], results: [] },
  pass: { params: ['externref'], results: ['externref'] },
};

/** The type stackscope provides for the import `module`.`name`: an "env" default or a fuzzer "host" function. */
export function providedImportType(module: string, name: string): FuncType | 'any-params' | undefined {
  const table: Readonly<Record<string, FuncType | 'any-params'>> | undefined = module === 'env' ? DEFAULT_HOST_IMPORTS : module === 'host' ? FUZZ_HOST_IMPORTS : undefined;
  return table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
}

/**
 * The fuzzer's "host" functions of a run, for a store whose references `newRef` makes and
 * `text` describes (v17's ExternRef, the DRC eras' V31ExternRef).
 */
export function fuzzHostFunctions<R extends { clone(): R }>(print: (line: string) => void, o: { newRef: (label: string) => R; gc: () => void; text: (r: R | null) => string }): Record<string, (...args: Array<R | number | null>) => R | null | void> {
  let made = 0;
  let temps = 0;
  return {
    gc: () => {
      print('host gc');
      o.gc();
    },
    new: (tag) => {
      print(`host new ${String(tag)}`);
      return o.newRef(`#${made++}:t${String(tag)}`);
    },
    new_temp: () => o.newRef(`temp ${temps++}`),
    print: (r) => print(`host print ${o.text(r as R | null)}`),
    print_i32: (x) => print(`host print_i32 ${String(x)}`),
    release: (i) => print(`host release ${String(i)}`),
    pass: (r) => {
      print(`host pass ${o.text(r as R | null)}`);
      return r === null ? null : (r as R).clone();
    },
  };
}

/** A reference's host value as the fuzzer's trace spells it: `null`, a string as it is, else described. */
export function fuzzRefText(value: unknown): string {
  return value === undefined || value === null ? 'null' : typeof value === 'string' ? value : describeValue(value);
}

/** An import the default host functions do not provide, or provide with another type. */
export class HostImportError extends StackscopeError {
  override name = 'HostImportError';
  constructor(
    /** `file: import "module" "name"`. */
    readonly where: string,
    readonly what: string,
  ) {
    super(`${where} ${what}`);
  }
}

/** A compiled image asked to run on the other arch. */
export class SessionArchError extends RuntimeError {
  override name = 'SessionArchError';
}

export interface SessionOptions {
  /** Undefined: x64 for source modules, the image's own arch for images. */
  arch?: Arch;
  /** Where the print imports write (one line each). Default: nowhere. */
  print?: (line: string) => void;
  budget?: bigint | null;
  timeoutMs?: number | null;
  /** The store's cycle model. */
  cycles?: CycleOptions;
  /** Function imports the defaults do not provide become stubs returning zero or null. */
  stubUnknownImports?: boolean;
  /** The engine's profile (EngineConfig.profile); default v17. */
  profile?: EngineConfig['profile'];
  /** Register allocation of the compiled module (EngineConfig.regalloc); a compiled image keeps its own. */
  regalloc?: EngineConfig['regalloc'];
}

/** A module compiled, instantiated with the default host imports, ready to invoke. */
export interface Session extends OpenedModule {
  instance: Instance;
  /** Imports replaced by stubs (`stubUnknownImports`), as `module.name (type)`. */
  stubbed: string[];
}

export function funcTypeText(t: FuncType): string {
  return `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;
}

/** A result or argument value as text (as the print import shows it); with its type, floats
 * are spelled as the spec tests spell them (formatFloat: `2.5`, `-0`, `inf`, `nan:0x200000`). */
export function valText(v: Val, type?: ValType, bits?: bigint | null): string {
  if ((type === 'f32' || type === 'f64') && typeof bits === 'bigint') return formatFloat(type, bits);
  if ((type === 'f32' || type === 'f64') && typeof v === 'number') return formatFloat(type, floatBits(type, v));
  if (v === null) return 'null';
  if (v instanceof ExternRef) return `externref ${describeValue(v.value)}`;
  if (v instanceof Func) return 'funcref';
  return String(v);
}

/** True when `bytes` is an ELF file (a compiled image). */
export function isElf(bytes: Uint8Array): boolean {
  return bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/**
 * What `bytes` are as a module: WAT text (its first token, after a byte-order mark, whitespace,
 * `;;` and `(; ;)` comments, is `(`), a Wasm binary (the `\0asm` magic), a stackscope image
 * (ELF with the module-metadata section), or undefined for anything else (an ELF object for
 * the sandbox, say). openModule reads the first two through `Module.from` and images through
 * `Module.fromImage`; `stackscope run` asks this to tell a module from native objects.
 */
export function moduleFormatOf(bytes: Uint8Array, file: string): 'wat' | 'wasm' | 'image' | undefined {
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) return 'wasm';
  if (bytes.length >= 4 && isElf(bytes)) {
    try {
      return readElf(bytes, file).sections.some((s) => s.name === SECTION_MODULE) ? 'image' : undefined;
    } catch {
      return undefined; // the ELF path reports the damage with file, section and offset
    }
  }
  return watTextOf(bytes) === null ? undefined : 'wat';
}

/** The arch a session of these bytes runs on: an image's own, else `requested`, else x64. */
export function sessionArch(bytes: Uint8Array, file: string, requested: Arch | undefined): Arch {
  if (!isElf(bytes)) return requested ?? 'x64';
  const imageArch = readElf(bytes, file).arch;
  if (requested !== undefined && requested !== imageArch) {
    throw new SessionArchError(`--arch ${requested}`, `${file} is an image compiled for ${imageArch}`);
  }
  return imageArch;
}

/** A module compiled for a run and a Store that explains and records every collection. */
export interface OpenedModule {
  arch: Arch;
  file: string;
  engine: Engine;
  store: Store;
  module: Module;
  /** Every collection that ran, with its explanation (a start function's included). */
  gcs: GcReport[];
  /** Called with every collection's report as it finishes (set it after opening). */
  onGc: ((report: GcReport) => void) | undefined;
}

/**
 * Compiles the bytes for a run and creates its Store, without instantiating: what an example's
 * driver gets (it instantiates the module with its own host functions); openSession goes on
 * from here. Close `store` when done. A CompileError names `file` as given
 * (`FILE:line:col: …`, or `FILE: …` for a binary).
 */
export async function openModule(bytes: Uint8Array, file: string, o: Omit<SessionOptions, 'print' | 'stubUnknownImports'> = {}): Promise<OpenedModule> {
  const { arch, engine, module } = await sessionModule(bytes, file, o);
  const gcs: GcReport[] = [];
  const opened: Partial<OpenedModule> = { arch, file, engine, module, gcs, onGc: undefined };
  opened.store = await Store.create(engine, {
    explainCollections: true,
    onCollection: (report) => {
      gcs.push(report);
      opened.onGc?.(report);
    },
  });
  return opened as OpenedModule;
}

/**
 * The engine and module a session opens `bytes` with: the arch (sessionArch), an Engine with the
 * options' limits, cycle model, profile and allocation, and the module compiled (WAT or binary)
 * or read (an image); a CompileError names the file as given.
 */
export async function sessionModule(bytes: Uint8Array, file: string, o: Pick<SessionOptions, 'arch' | 'budget' | 'timeoutMs' | 'cycles' | 'profile' | 'regalloc'> = {}): Promise<{ arch: Arch; engine: Engine; module: Module }> {
  const arch = sessionArch(bytes, file, o.arch);
  const engine = new Engine({ arch, budget: o.budget, timeoutMs: o.timeoutMs, ...(o.cycles ? { cycles: o.cycles } : {}), ...(o.profile ? { profile: o.profile } : {}), ...(o.regalloc ? { regalloc: o.regalloc } : {}) });
  const name = basename(file);
  try {
    return { arch, engine, module: isElf(bytes) ? Module.fromImage(engine, bytes, name) : await Module.from(engine, bytes, name) };
  } catch (e) {
    throw e instanceof CompileError ? e.inFile(file) : e;
  }
}

/** Opens a session (see the file comment). The store is closed again if opening fails. */
export async function openSession(bytes: Uint8Array, file: string, o: SessionOptions = {}): Promise<Session> {
  const print = o.print ?? (() => undefined);
  const opened = await openModule(bytes, file, o);
  const { store, module, engine } = opened;
  try {
    const stubbed: string[] = [];
    const linker = new Linker(engine);
    const impls: Record<string, (...args: Val[]) => Val | void> = {
      print_i32: (x) => print(`print_i32: ${String(x)}`),
      print_i64: (x) => print(`print_i64: ${String(x)}`),
      print_f32: (x) => print(`print_f32: ${valText(x, 'f32')}`),
      print_f64: (x) => print(`print_f64: ${valText(x, 'f64')}`),
      print_externref: (r) => print(`print_externref: ${r === null ? 'null' : describeValue((r as ExternRef).value)}`),
      print: (...args) => print(`print: ${args.map((a) => valText(a)).join(' ')}`),
      new_ref: (n) => ExternRef.new(store, `#${String(n)}`),
      ref: (n) => ExternRef.new(store, `ref ${String(n)}`),
    };
    const fuzzHost = fuzzHostFunctions<ExternRef>(print, { newRef: (label) => ExternRef.new(store, label), gc: () => store.gc(), text: (r) => fuzzRefText(r?.value) });
    for (const imp of module.wasm.imports) {
      const where = `${file}: import "${imp.module}" "${imp.name}"`;
      const type = providedImportType(imp.module, imp.name);
      if (imp.kind === 'func' && !type && o.stubUnknownImports) {
        // A stub that does nothing and returns zero or null, so that the run can go on.
        const stubType = module.wasm.types[imp.typeIndex];
        if (!linker.get(imp.module, imp.name)) {
          const zero = (t: ValType): Val => (t === 'i32' || t === 'f32' || t === 'f64' ? 0 : t === 'i64' ? 0n : null);
          linker.define(imp.module, imp.name, Func.wrap(store, stubType, () => (stubType.results.length ? zero(stubType.results[0]) : undefined)));
          stubbed.push(`${imp.module}.${imp.name} ${funcTypeText(stubType)}`);
        }
        continue;
      }
      if (imp.kind !== 'func' || !type) {
        throw new HostImportError(where, `(${imp.kind}) is not a host import stackscope provides (env.${Object.keys(DEFAULT_HOST_IMPORTS).join(', env.')}, and the fuzzer's host.*; see --help)`);
      }
      const want = module.wasm.types[imp.typeIndex];
      if (type === 'any-params' ? want.results.length !== 0 : funcTypeText(want) !== funcTypeText(type)) {
        throw new HostImportError(where, `has type ${funcTypeText(want)}; stackscope provides ${type === 'any-params' ? '(any parameters) -> ()' : funcTypeText(type)}`);
      }
      if (linker.get(imp.module, imp.name)) continue;
      const fn: HostFn =
        imp.module === 'host' ? (_caller, ...args) => fuzzHost[imp.name](...(args as Array<ExternRef | number | null>))
        : imp.name === 'gc' ? (caller) => { caller.gc(); }
        // `print` takes any parameters: its float arguments are spelled by their types.
        : imp.name === 'print' ? (_caller, ...args) => { print(`print: ${args.map((a, i) => valText(a, want.params[i])).join(' ')}`); }
        : (_caller, ...args) => impls[imp.name](...args);
      linker.define(imp.module, imp.name, Func.wrap(store, type === 'any-params' ? want : type, fn));
    }
    const instance = linker.instantiate(store, module);
    return Object.assign(opened, { instance, stubbed });
  } catch (e) {
    store.close();
    throw e;
  }
}

/**
 * An export name or argument text that does not fit the module's export: the message starts
 * with the export's name (`add argument 2 (i32): 'x' is not an integer`).
 */
export class InvokeArgError extends StackscopeError {
  override name = 'InvokeArgError';
}

/** An export to call with its arguments, as `stackscope run --invoke NAME ARGS...` chooses it. */
export interface Invocation {
  name: string;
  func: Func;
  args: Val[];
  /**
   * The arguments' exact bits when every parameter and result of the function is a number:
   * `callInvocation` then calls through Func.callRaw, so float arguments and results keep every NaN
   * payload (a JS number cannot carry an f32 signalling NaN).
   */
  raw?: bigint[];
}

/** Whether every parameter and result of `type` is a number (i32, i64, f32, f64). */
function numericOnly(type: FuncType): boolean {
  return [...type.params, ...type.results].every((t) => t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64');
}

/**
 * Calls an invocation: through Func.callRaw when it has raw arguments, else Func.call.
 * `bits` is the raw result then (null: no result; an array for several), undefined otherwise;
 * `value` is what Func.call would return (an array for several results).
 */
export function callInvocation(target: Invocation): { value: Results; bits?: bigint | bigint[] | null } {
  if (!target.raw) return { value: target.func.call(...target.args) };
  const bits = target.func.callRaw(...target.raw);
  if (bits === null) return { value: null, bits: null };
  const valueOf = (t: ValType, b: bigint): Val => (t === 'i32' ? Number(BigInt.asIntN(32, b)) : t === 'i64' ? BigInt.asIntN(64, b) : floatFromBits(t as 'f32' | 'f64', b));
  const types = target.func.type.results;
  return { value: Array.isArray(bits) ? bits.map((b, k) => valueOf(types[k], b)) : valueOf(types[0], bits), bits };
}

/** An integer as text: decimal or 0x-hex, optionally negative, at most 64 bits (two's complement). */
function integerOfText(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(t)) throw new InvokeArgError(`${what}: '${text}' is not an integer`);
  const negative = t.startsWith('-');
  const v = BigInt(negative ? t.slice(1) : t);
  if (v >= 1n << 64n) throw new InvokeArgError(`${what}: '${text}' does not fit in 64 bits`);
  return BigInt.asUintN(64, negative ? -v : v);
}

/**
 * Converts argument texts to values of the parameter types of export `name` (of type `type`):
 * i32/i64 from decimal or 0x-hex integers (i32 signed or unsigned 32-bit), f32/f64 from
 * decimal or hex floats, `inf`, `nan` or `nan:0x…` (each optionally signed), externref from
 * 'null' or any other word (a new ExternRef of `store` holding that string; release it after
 * the call), funcref only from 'null'. InvokeArgError for a wrong count or a text that does not fit.
 */
export function invokeArgsOf(store: Store, name: string, type: FuncType, texts: readonly string[]): Val[] {
  return argumentsOfTexts(name, type, texts, (text) => ExternRef.new(store, text));
}

/**
 * invokeArgsOf for any store: `externref(text)` makes the reference a non-null externref
 * argument holds (the v31 store's V31ExternRef, say).
 */
export function argumentsOfTexts<R>(name: string, type: FuncType, texts: readonly string[], externref: (text: string) => R): (number | bigint | R | null)[] {
  if (texts.length !== type.params.length) {
    throw new InvokeArgError(`${name}: takes ${type.params.length} argument(s) ${funcTypeText(type)}, got ${texts.length}`);
  }
  return type.params.map((t: ValType, i) => {
    const text = texts[i];
    const what = `${name} argument ${i + 1} (${t})`;
    switch (t) {
      case 'i32': {
        const signed = BigInt.asIntN(64, integerOfText(text, what));
        if (signed < -(1n << 31n) || (signed >= 0n && signed >= 1n << 32n)) throw new InvokeArgError(`${what}: '${text}' does not fit in 32 bits`);
        return Number(BigInt.asIntN(32, signed));
      }
      case 'i64':
        return BigInt.asIntN(64, integerOfText(text, what));
      case 'f32':
      case 'f64': {
        const bits = parseFloatText(t, text);
        if (bits === undefined) throw new InvokeArgError(`${what}: '${text}' is not a number (decimal, 0x hex float, inf, nan or nan:0x payload)`);
        return floatFromBits(t, bits);
      }
      case 'externref':
        return text === 'null' ? null : externref(text);
      case 'funcref':
        if (text !== 'null') throw new InvokeArgError(`${what}: only null can be given for a funcref`);
        return null;
      default:
        if (text !== 'null') throw new InvokeArgError(`${what}: only null can be given for a ${t}`);
        return null;
    }
  });
}

/**
 * The export a session calls: `invoke.name` with `invoke.args` converted (invokeArgsOf), else
 * (no `invoke`) an export `main` or `_start` taking no arguments, else undefined.
 * InvokeArgError when the module exports no function `invoke.name` or an argument does not fit.
 */
export function chooseInvocation(session: Pick<Session, 'module' | 'instance' | 'store' | 'file'>, invoke?: { name: string; args: readonly string[] }): Invocation | undefined {
  const chosen = chooseExport(session.module, session.file, invoke, (name) => session.instance.getFunc(name), (name, type, texts) => invokeArgsOf(session.store, name, type, texts));
  if (!chosen || !invoke || !numericOnly(chosen.func.type)) return chosen;
  // Exact bits: integers from their values, floats from their text (every NaN payload kept).
  const raw = chosen.func.type.params.map((t, i) =>
    t === 'f32' || t === 'f64' ? parseFloatText(t, invoke.args[i])! : BigInt.asUintN(t === 'i32' ? 32 : 64, BigInt(chosen.args[i] as number | bigint)));
  return { ...chosen, raw };
}

/**
 * chooseInvocation for any store: `getFunc` finds an export, `argsOf` converts its argument
 * texts (the v31 session passes its own).
 */
export function chooseExport<F extends { readonly type: FuncType }, A>(
  module: Pick<Module, 'wasm'>,
  file: string,
  invoke: { name: string; args: readonly string[] } | undefined,
  getFunc: (name: string) => F,
  argsOf: (name: string, type: FuncType, texts: readonly string[]) => A[],
): { name: string; func: F; args: A[] } | undefined {
  const exports = module.wasm.exports.filter((e) => e.kind === 'func').map((e) => e.name);
  if (!invoke) {
    const name = ['main', '_start'].find((n) => exports.includes(n));
    if (name === undefined) return undefined;
    const func = getFunc(name);
    return func.type.params.length === 0 ? { name, func, args: [] } : undefined;
  }
  if (!exports.includes(invoke.name)) {
    throw new InvokeArgError(`${invoke.name}: ${file} exports no function of that name (exports: ${exports.join(', ') || 'none'})`);
  }
  const func = getFunc(invoke.name);
  return { name: invoke.name, func, args: argsOf(invoke.name, func.type, invoke.args) };
}

/** One collection `stackscope gc` ran at its host import. */
export interface GcAtHost {
  /** 1-based index of the env.FN call that ran this collection. */
  call: number;
  report: GcReport;
}

export interface GcAtHostOptions extends CollectorChoice {
  /** The import (module "env") whose every call collects: `gc` for `stackscope gc`'s default. */
  atHost: string;
  /** Gets env.print's arguments. Default: nothing. */
  print?: (args: Val[]) => void;
}

/** A module instantiated as `stackscope gc` runs it (instantiateGcAtHost). */
export interface GcAtHostRun {
  instance: Instance;
  /** The collector env.FN runs: the store's own walk and lookup, or those chosen. */
  collector: Collector;
  /** Every collection env.FN ran, explained, in order. */
  gcs: GcAtHost[];
}

/**
 * Instantiates `module` in `store` as `stackscope gc` does: every call of env.`atHost` (no
 * results) collects with the collector `walk` and `registry` choose and keeps the explained
 * report; env.ref(i32) -> externref makes an externref holding "ref N"; env.print (no results)
 * hands its arguments to `print`. HostImportError for a module that does not import env.FN,
 * for any other import and for a wrong type; instantiation errors as usual.
 */
export function instantiateGcAtHost(store: Store, module: Module, o: GcAtHostOptions): GcAtHostRun {
  if (!module.wasm.imports.some((i) => i.module === 'env' && i.name === o.atHost && i.kind === 'func')) {
    throw new HostImportError(`the module does not import env.${o.atHost},`, 'so no GC can run there (see --at-host)');
  }
  const gcs: GcAtHost[] = [];
  // Set once instantiated: no code runs before (a start function calling env.FN fails on it).
  let collector: Collector | undefined;
  let gcCalls = 0;
  const imports = module.wasm.imports.map((imp) => {
    const where = `import ${imp.module}.${imp.name}:`;
    if (imp.kind !== 'func') throw new HostImportError(where, `only function imports can be provided (${imp.kind})`);
    const type = module.wasm.types[imp.typeIndex];
    if (imp.module === 'env' && imp.name === o.atHost) {
      if (type.results.length) throw new HostImportError(where, 'the GC import must have no results');
      return Func.wrap(store, type, () => {
        gcCalls++;
        const report = collector!.collect({ reason: 'host', explain: true });
        gcs.push({ call: gcCalls, report });
      });
    }
    if (imp.module === 'env' && imp.name === 'ref') {
      if (type.params.length !== 1 || type.params[0] !== 'i32' || type.results.length !== 1 || type.results[0] !== 'externref') {
        throw new HostImportError(where, 'must be (param i32) (result externref)');
      }
      return Func.wrap(store, type, (_c, n) => ExternRef.new(store, `ref ${n as number}`));
    }
    if (imp.module === 'env' && imp.name === 'print') {
      if (type.results.length) throw new HostImportError(where, 'must have no results');
      return Func.wrap(store, type, (_c, ...args) => {
        o.print?.(args);
      });
    }
    throw new HostImportError(where, `not provided (the host offers env.${o.atHost}, env.ref and env.print)`);
  });
  const instance = Instance.create(store, module, imports);
  collector = store.collectorWith({ walk: o.walk, registry: o.registry });
  return { instance, collector, gcs };
}
