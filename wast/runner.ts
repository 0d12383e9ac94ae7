/**
 * Runs a `.wast` script (script.ts) against the public embedding API: one Engine and one Store
 * per script and arch, modules compiled by stackscope, imports resolved from the `spectest`
 * module and from `register`ed instances, every assertion checked exactly (numbers by their
 * bits, NaNs by class, references by identity of the host value they carry).
 *
 * Scripts run under the v17 profile (wasmtime v17's runtime), the one whose Store runs every
 * instruction of the Wasm 2.0 subset.
 *
 * What counts as skipped, and only this: SIMD (`v128` constants, and modules that stackscope
 * rejects as SIMD, with every command that uses such a module). Anything else stackscope does
 * not support is a failure, so a run's pass count is honest.
 */
import type { Arch } from '../isa/arch.ts';
import type { RegallocMode } from '../compiler/regalloc/modes.ts';
import { StackscopeError } from '../isa/error.ts';
import { CompileError } from '../compiler/frontend/errors.ts';
import type { FuncType, ValType } from '../compiler/frontend/module.ts';
import { loadWat, watToBinary } from '../compiler/frontend/wat.ts';
import { Engine, ExternRef, Func, Global, Instance, Module, Store, WasmTrap, type Extern, type Val } from '../runtime/api.ts';
import { fromRaw, numericToRaw } from '../runtime/values.ts';
import { parseWast, type WastAction, type WastCommand, type WastExpected, type WastModule, type WastValue } from './script.ts';
import { spectestExports } from './spectest.ts';

export interface WastOptions {
  readonly arch: Arch;
  /** The script's name in messages (default `script.wast`). */
  readonly file?: string;
  readonly regalloc?: RegallocMode;
  /** Instruction budget of each call (default: the Engine's). */
  readonly budget?: bigint | null;
  /** Wall-clock limit of each call in ms (default: the Engine's). */
  readonly timeoutMs?: number | null;
  /** Called with each line the spectest `print*` functions print. */
  readonly print?: (line: string) => void;
}

export type WastStatus = 'passed' | 'failed' | 'skipped';

/** The outcome of one command. */
export interface WastOutcome {
  readonly line: number;
  readonly column: number;
  /** The command's head: `module`, `assert_return`, … */
  readonly command: string;
  readonly status: WastStatus;
  /** Why it failed or was skipped (absent when it passed). */
  readonly detail?: string;
}

export interface WastReport {
  readonly file: string;
  readonly arch: Arch;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** Every command, in script order. */
  readonly outcomes: readonly WastOutcome[];
}

/** A command failed; `detail` says what was expected and what happened. */
class CommandFailure extends Error {}

/** A command was skipped (SIMD only). */
class CommandSkipped extends Error {}

/** Runs every command of `text`; throws WastSyntaxError only when the script itself cannot be read. */
export async function runWast(text: string, options: WastOptions): Promise<WastReport> {
  const file = options.file ?? 'script.wast';
  const commands = parseWast(text, file);
  await loadWat();
  const engine = new Engine({
    arch: options.arch,
    regalloc: options.regalloc,
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  const store = await Store.create(engine);
  try {
    const session = new ScriptSession(engine, store, file, options.print ?? (() => undefined));
    const outcomes = commands.map((c) => session.run(c));
    const count = (s: WastStatus) => outcomes.filter((o) => o.status === s).length;
    return { file, arch: options.arch, passed: count('passed'), failed: count('failed'), skipped: count('skipped'), outcomes };
  } finally {
    store.close();
  }
}

/** A module the script defined: its instance, or the reason it is skipped. */
type Defined = { readonly instance: Instance } | { readonly skipped: string } | { readonly failed: string };

class ScriptSession {
  /** Registered names → their exports (`spectest` is always there). */
  private readonly registered = new Map<string, ReadonlyMap<string, Extern>>();
  private readonly named = new Map<string, Defined>();
  private current: Defined | null = null;
  /** One host value per `ref.extern N`, so identity survives a round trip through Wasm. */
  private readonly externs = new Map<number, ExternRef>();

  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
    private readonly file: string,
    print: (line: string) => void,
  ) {
    this.registered.set('spectest', spectestExports(store, print));
  }

  run(c: WastCommand): WastOutcome {
    const base = { line: c.at.line, column: c.at.column, command: commandName(c) };
    try {
      this.execute(c);
      return { ...base, status: 'passed' };
    } catch (e) {
      if (e instanceof CommandSkipped) return { ...base, status: 'skipped', detail: e.message };
      if (e instanceof CommandFailure) return { ...base, status: 'failed', detail: e.message };
      return { ...base, status: 'failed', detail: `unexpected ${describeError(e)}` };
    }
  }

  private execute(c: WastCommand): void {
    switch (c.kind) {
      case 'module': {
        // A module that fails stays the current one (as a failure), so the commands that use
        // it fail too instead of running against an earlier module.
        const defined = this.define(c.module, c.at.line);
        this.current = defined;
        if (c.module.name !== null) this.named.set(c.module.name, defined);
        if ('skipped' in defined) throw new CommandSkipped(defined.skipped);
        if ('failed' in defined) throw new CommandFailure(defined.failed);
        return;
      }
      case 'register': {
        const defined = c.module === null ? this.current : this.named.get(c.module);
        if (!defined) throw new CommandFailure(`register: no module ${c.module ?? '(current)'}`);
        if ('skipped' in defined) throw new CommandSkipped(defined.skipped);
        if ('failed' in defined) throw new CommandFailure(defined.failed);
        this.registered.set(c.as, exportsOf(defined.instance));
        return;
      }
      case 'action':
        this.perform(c.action);
        return;
      case 'assert_return': {
        const { values, type } = this.perform(c.action);
        if (values.length !== c.expected.length) throw new CommandFailure(`expected ${c.expected.length} results, got ${values.length}`);
        values.forEach((v, i) => {
          if (!matches(c.expected[i], v, type[i])) throw new CommandFailure(`result ${i}: expected ${expectedText(c.expected[i])}, got ${resultText(v, type[i])}`);
        });
        return;
      }
      case 'assert_trap':
      case 'assert_exhaustion': {
        let outcome: { values: Result[]; type: readonly ValType[] };
        try {
          outcome = this.perform(c.action);
        } catch (e) {
          if (e instanceof CommandSkipped || e instanceof CommandFailure) throw e;
          checkTrap(e, c.message, c.kind === 'assert_exhaustion');
          return;
        }
        throw new CommandFailure(`expected a trap "${c.message}", got ${outcome.values.map((v, i) => resultText(v, outcome.type[i])).join(', ') || 'no trap'}`);
      }
      case 'assert_module_trap': {
        const module = this.compile(c.module);
        try {
          this.instantiate(module);
        } catch (e) {
          checkTrap(e, c.message, false);
          return;
        }
        throw new CommandFailure(`expected instantiation to trap "${c.message}", it succeeded`);
      }
      case 'assert_unlinkable': {
        const module = this.compile(c.module);
        try {
          this.instantiate(module);
        } catch (e) {
          if (e instanceof WasmTrap) throw new CommandFailure(`expected a link error "${c.message}", got a trap: ${e.trapMessage}`);
          // A link error is the runtime's (an InstantiationError, a RuntimeError) or this
          // runner's unknown import; a JavaScript error is a bug, not a verdict.
          if (e instanceof UnknownImportError || (e instanceof StackscopeError && !(e instanceof CompileError))) return;
          throw new CommandFailure(`expected a link error "${c.message}", got ${describeError(e)}`);
        }
        throw new CommandFailure(`expected a link error "${c.message}", instantiation succeeded`);
      }
      case 'assert_malformed':
      case 'assert_invalid': {
        let module: Module;
        try {
          module = this.compileOrThrow(c.module);
        } catch (e) {
          if (e instanceof CompileError) {
            if (isSimd(e)) throw new CommandSkipped('SIMD');
            if (e.kind === 'unsupported' || e.kind === 'limit') throw new CommandFailure(`expected "${c.message}", but the module was refused as ${e.kind}: ${e.detail}`);
            return;
          }
          throw new CommandFailure(`expected "${c.message}", got ${describeError(e)}`);
        }
        void module;
        throw new CommandFailure(`expected the module to be rejected ("${c.message}"), it compiled`);
      }
    }
  }

  /** Compiles and instantiates a module command's module. */
  private define(m: WastModule, line: number): Defined {
    let module: Module;
    try {
      module = this.compileOrThrow(m);
    } catch (e) {
      if (e instanceof CompileError && isSimd(e)) return { skipped: 'SIMD' };
      return { failed: `the module at line ${line} did not compile: ${describeError(e)}` };
    }
    try {
      return { instance: this.instantiate(module) };
    } catch (e) {
      return { failed: `the module at line ${line} did not instantiate: ${describeError(e)}` };
    }
  }

  /** A module of an assertion that must compile before it can trap or fail to link. */
  private compile(m: WastModule): Module {
    try {
      return this.compileOrThrow(m);
    } catch (e) {
      if (e instanceof CompileError && isSimd(e)) throw new CommandSkipped('SIMD');
      throw new CommandFailure(`module did not compile: ${describeError(e)}`, { cause: e });
    }
  }

  private compileOrThrow(m: WastModule): Module {
    const bytes = m.source.form === 'binary' ? m.source.bytes : watToBinary(m.source.text, this.file, { validate: false }).bytes;
    return Module.fromBinary(this.engine, bytes, this.file);
  }

  private instantiate(module: Module): Instance {
    const imports = module.wasm.imports.map((imp) => {
      const item = this.registered.get(imp.module)?.get(imp.name);
      if (!item) throw new UnknownImportError(`unknown import ${imp.module}.${imp.name}`);
      return item;
    });
    return Instance.create(this.store, module, imports);
  }

  private instanceFor(a: WastAction): Instance {
    const defined = a.module === null ? this.current : this.named.get(a.module);
    if (!defined) throw new CommandFailure(`no module ${a.module ?? 'defined yet'}`);
    if ('skipped' in defined) throw new CommandSkipped(defined.skipped);
    if ('failed' in defined) throw new CommandFailure(defined.failed);
    return defined.instance;
  }

  /** Runs an action; a trap escapes as itself (assert_trap checks it), anything else fails. */
  private perform(a: WastAction): { values: Result[]; type: readonly ValType[] } {
    const instance = this.instanceFor(a);
    const item = instance.getExport(a.name);
    if (a.kind === 'get') {
      if (!(item instanceof Global)) throw new CommandFailure(`no global export "${a.name}"`);
      const t = item.type.valType;
      return { values: [resultOf(t, item.get())], type: [t] };
    }
    if (!(item instanceof Func)) throw new CommandFailure(`no function export "${a.name}"`);
    if (a.args.some((v) => v.type === 'v128')) throw new CommandSkipped('SIMD');
    const type: FuncType = item.type;
    if (type.params.length !== a.args.length) throw new CommandFailure(`"${a.name}" takes ${type.params.length} arguments, the script gives ${a.args.length}`);
    const numeric = [...type.params, ...type.results].every(isNumeric);
    if (numeric) {
      const raws = a.args.map((v, i) => {
        if (!('bits' in v) || v.type !== type.params[i]) throw new CommandFailure(`argument ${i}: ${valueText(v)} for a ${type.params[i]} parameter`);
        return v.bits;
      });
      const r = item.callRaw(...raws);
      const bits = r === null ? [] : Array.isArray(r) ? r : [r];
      return { values: bits.map((b) => ({ bits: b })), type: type.results };
    }
    const vals = a.args.map((v, i) => this.toVal(v, type.params[i], i));
    const r = item.call(...vals);
    const list = type.results.length === 0 ? [] : type.results.length === 1 ? [r as Val] : (r as Val[]);
    return { values: list.map((v, i) => resultOf(type.results[i], v)), type: type.results };
  }

  private toVal(v: WastValue, t: ValType, i: number): Val {
    const wrong = (): never => {
      throw new CommandFailure(`argument ${i}: ${valueText(v)} for a ${t} parameter`);
    };
    switch (v.type) {
      case 'i32':
      case 'i64':
      case 'f32':
      case 'f64':
        return t === v.type ? fromRaw(this.store, t, v.bits) : wrong();
      case 'ref.null':
        return t === 'funcref' || t === 'externref' ? null : wrong();
      case 'ref.extern': {
        if (t !== 'externref' || v.id === null) return wrong();
        let ref = this.externs.get(v.id);
        if (!ref) this.externs.set(v.id, (ref = ExternRef.new(this.store, v.id)));
        return ref;
      }
      default:
        return wrong();
    }
  }
}

/** An import the script's registry does not have. */
class UnknownImportError extends Error {}

/** A result: a number's bits, or a reference (null, an ExternRef, a Func). */
type Result = { readonly bits: bigint } | { readonly ref: Val };

function isNumeric(t: ValType): boolean {
  return t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64';
}

function resultOf(t: ValType, v: Val): Result {
  return isNumeric(t) ? { bits: numericToRaw(t as 'i32' | 'i64' | 'f32' | 'f64', v, 'wast result') } : { ref: v };
}

function exportsOf(instance: Instance): Map<string, Extern> {
  const out = new Map<string, Extern>();
  for (const e of instance.module.wasm.exports) {
    const item = instance.getExport(e.name);
    if (item) out.set(e.name, item);
  }
  return out;
}

function isSimd(e: CompileError): boolean {
  return e.kind === 'unsupported' && /SIMD|v128/.test(e.detail);
}

/** Widths and NaN masks of the two float types. */
const FLOAT = {
  f32: { exponent: 0x7f800000n, mantissa: 0x7fffffn, quiet: 0x400000n },
  f64: { exponent: 0x7ff0000000000000n, mantissa: 0xfffffffffffffn, quiet: 0x8000000000000n },
} as const;

function matches(e: WastExpected, r: Result, type: ValType): boolean {
  switch (e.kind) {
    case 'either':
      return e.options.some((o) => matches(o, r, type));
    case 'nan': {
      if (!('bits' in r) || type !== e.type) return false;
      const f = FLOAT[e.type];
      if ((r.bits & f.exponent) !== f.exponent) return false;
      const m = r.bits & f.mantissa;
      return e.nan === 'canonical' ? m === f.quiet : (m & f.quiet) !== 0n;
    }
    case 'value': {
      const v = e.value;
      switch (v.type) {
        case 'i32':
        case 'i64':
        case 'f32':
        case 'f64':
          return 'bits' in r && type === v.type && r.bits === v.bits;
        case 'ref.null':
          return 'ref' in r && r.ref === null && type === (v.heap === 'func' ? 'funcref' : v.heap === 'extern' ? 'externref' : null);
        case 'ref.extern':
          return 'ref' in r && r.ref instanceof ExternRef && (v.id === null || r.ref.value === v.id);
        case 'ref.func':
          return 'ref' in r && r.ref instanceof Func;
        case 'v128':
          return false;
      }
    }
  }
}

/**
 * The trap an assertion expects. Messages are compared the way wasmtime's own wast runner does:
 * the spec's text must occur in the trap's message.
 */
function checkTrap(e: unknown, message: string, exhaustion: boolean): void {
  if (e instanceof CommandSkipped) throw e;
  if (!(e instanceof WasmTrap)) throw new CommandFailure(`expected a trap "${message}", got ${describeError(e)}`);
  if (exhaustion && e.code !== 'StackOverflow') throw new CommandFailure(`expected stack exhaustion, got trap ${e.code}`);
  // The reference interpreter names the element ("uninitialized element 2"); wasmtime does not.
  const expected = message.replace(/^(uninitialized element|undefined element) \d+$/, '$1');
  if (!e.trapMessage.includes(expected)) throw new CommandFailure(`expected trap "${message}", got "${e.trapMessage}" (${e.code})`);
}

function describeError(e: unknown): string {
  if (e instanceof CommandFailure && e.cause !== undefined) return describeError(e.cause);
  if (e instanceof Error) return `${e.name}: ${e.message.split('\n')[0]}`;
  return String(e);
}

function commandName(c: WastCommand): string {
  if (c.kind === 'action') return c.action.kind;
  if (c.kind === 'assert_module_trap') return 'assert_trap';
  return c.kind;
}

function valueText(v: WastValue): string {
  switch (v.type) {
    case 'i32':
    case 'i64':
    case 'f32':
    case 'f64':
      return `(${v.type}.const 0x${v.bits.toString(16)})`;
    case 'ref.null':
      return `(ref.null ${v.heap})`;
    case 'ref.extern':
      return `(ref.extern${v.id === null ? '' : ` ${v.id}`})`;
    default:
      return `(${v.type})`;
  }
}

function expectedText(e: WastExpected): string {
  if (e.kind === 'either') return `(either ${e.options.map(expectedText).join(' ')})`;
  if (e.kind === 'nan') return `(${e.type}.const nan:${e.nan})`;
  return valueText(e.value);
}

function resultText(r: Result, t: ValType | undefined): string {
  if ('bits' in r) return `(${t ?? '?'}.const 0x${r.bits.toString(16)})`;
  if (r.ref === null) return 'null';
  if (r.ref instanceof ExternRef) return `(ref.extern ${String(r.ref.value)})`;
  if (r.ref instanceof Func) return '(ref.func)';
  return String(r.ref);
}
