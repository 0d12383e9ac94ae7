/**
 * A module opened as `stackscope run --profile v31` (and `gc --profile v31`) opens it: compiled
 * for a v31 engine (or a v31 image loaded), a V31Store that explains and keeps every collection,
 * the default "env" host imports of runtime/session.ts (print_i32, print_i64, print_externref,
 * print, new_ref, ref, gc) as v31 host functions, and the export to call chosen by the same
 * rules as a v17 session (`chooseV31Invocation`). An image that calls symbols it does not
 * define gets the default host functions of those names (`print` excepted: its parameters are
 * not known from a symbol; `gc` takes none).
 */
import type { Arch } from '../../isa/arch.ts';
import type { FuncType, ValType } from '../../compiler/frontend/module.ts';
import { floatBits, formatFloat } from '../../compiler/frontend/float-bits.ts';
import { describeValue } from '../../gc/collector.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { PROFILES, type Profile } from '../../profiles/profile.ts';
import type { Engine } from '../engine.ts';
import { readElf, SHN_UNDEF } from '../../loader/elf.ts';
import {
  DEFAULT_HOST_IMPORTS, HostImportError, fuzzHostFunctions, fuzzRefText, providedImportType, argumentsOfTexts, chooseExport, funcTypeText, isElf, sessionModule, valText,
} from '../session.ts';
import type { CycleOptions } from '../../simulator/timing/cycles.ts';
import { V31Store, type V31GcReport } from './store.ts';
import { V44Store, type V44GcReport } from '../v44/store.ts';
import { storeKindOf } from '../profiles.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Extern, type V31Val } from './instance.ts';
import { V31Linker } from './linker.ts';
import { Module } from '../module.ts';
import { CompileError } from '../../compiler/frontend/errors.ts';
import { basename } from 'node:path';

export interface V31SessionOptions {
  arch?: Arch;
  print?: (line: string) => void;
  budget?: bigint | null;
  timeoutMs?: number | null;
  /** A v31 profile record (default PROFILES.v31 by name). */
  profile?: Profile;
  regalloc?: RegallocMode;
  /** The store's cycle model (the store's machine then prices each outermost call: `store.machine.cycleReport()`). */
  cycles?: CycleOptions;
  /** Called with every collection as it finishes (after it joined `gcs`). */
  onCollection?: (report: DrcGcReport) => void;
  /**
   * Modules instantiated first, in order, each registered under its `name` (wasmtime's `run
   * --preload NAME=FILE`): its exports satisfy the imports of later modules from module `name`
   * (functions, tables, globals, memories, tags).
   */
  preload?: readonly PreloadModule[];
}

/** A module `run --preload NAME=FILE` instantiates before the main one. */
export interface PreloadModule {
  readonly name: string;
  readonly file: string;
  readonly bytes: Uint8Array;
}

/** A store of a DRC-era session: v31's, or v44's (which has the same handles). */
export type DrcSessionStore = V31Store | V44Store;
/** A collection report of either DRC era (a v44 one has `stacks`). */
export type DrcGcReport = V31GcReport | V44GcReport;

export interface V31Session {
  arch: Arch;
  file: string;
  engine: Engine;
  module: Module;
  store: DrcSessionStore;
  instance: V31Instance;
  /** Every collection that ran, explained, in order. */
  gcs: DrcGcReport[];
}

/** The text of a v31 API value (as valText for v17 values). */
export function v31ValText(v: V31Val, type?: ValType): string {
  // Floats spelled as the v17 run spells them (the spec tests' spelling: 2.5, -0, inf, nan).
  if ((type === 'f32' || type === 'f64') && typeof v === 'number') return formatFloat(type, floatBits(type, v));
  if (v === null) return 'null';
  if (v instanceof V31ExternRef) return v.released ? 'externref (released)' : `externref ${describeValue(v.value)}`;
  if (v instanceof V31Func) return 'funcref';
  return String(v);
}

/** A store for `engine` (v31 or v44 by its profile) that explains every collection into `gcs`. */
export async function createDrcStore(engine: Engine, gcs: DrcGcReport[], extra: Pick<V31SessionOptions, 'cycles' | 'onCollection'> = {}): Promise<DrcSessionStore> {
  const options = {
    explainCollections: true,
    onCollection: (r: DrcGcReport) => {
      gcs.push(r);
      extra.onCollection?.(r);
    },
    ...(extra.cycles ? { cycles: extra.cycles } : {}),
  };
  return storeKindOf(engine.profile) === 'v44' ? V44Store.create(engine, options) : V31Store.create(engine, options);
}

/** Opens a v31 (or, for a v44 profile, v44) session; the store is closed again if opening fails. */
export async function openV31Session(bytes: Uint8Array, file: string, o: V31SessionOptions = {}): Promise<V31Session> {
  const print = o.print ?? (() => undefined);
  const { arch, engine, module } = await sessionModule(bytes, file, { ...o, profile: o.profile ?? PROFILES.v31 });
  const gcs: DrcGcReport[] = [];
  const store = await createDrcStore(engine, gcs, o);
  try {
    const refText = (r: V31Val) => (r === null ? 'null' : describeValue((r as V31ExternRef).value));
    const impls: Record<string, (...args: V31Val[]) => V31Val | void> = {
      print_i32: (x) => print(`print_i32: ${String(x)}`),
      print_i64: (x) => print(`print_i64: ${String(x)}`),
      print_f32: (x) => print(`print_f32: ${valText(x as number, 'f32')}`),
      print_f64: (x) => print(`print_f64: ${valText(x as number, 'f64')}`),
      print_externref: (r) => print(`print_externref: ${refText(r)}`),
      print: (...args) => print(`print: ${args.map((a) => v31ValText(a)).join(' ')}`),
      new_ref: (n) => V31ExternRef.new(store, `#${String(n)}`),
      ref: (n) => V31ExternRef.new(store, `ref ${String(n)}`),
      gc: () => {
        store.gc();
      },
    };
    const fuzzHost = fuzzHostFunctions<V31ExternRef>(print, { newRef: (label) => V31ExternRef.new(store, label), gc: () => void store.gc(), text: (r) => fuzzRefText(r?.value) });
    const linker = new V31Linker(engine);
    const importsOf = (m: Module, from: string): V31Extern[] => m.wasm.imports.map((imp) => {
      const where = `${from}: import "${imp.module}" "${imp.name}"`;
      const linked = linker.get(imp.module, imp.name);
      if (linked) return linked;
      const type = providedImportType(imp.module, imp.name);
      if (imp.kind !== 'func' || !type) {
        const preloaded = (o.preload ?? []).map((p) => p.name);
        throw new HostImportError(where, `(${imp.kind}) is not a host import stackscope provides (env.${Object.keys(DEFAULT_HOST_IMPORTS).join(', env.')}, and the fuzzer's host.*; see --help)${preloaded.length ? ` nor an export of a preloaded module (${preloaded.join(', ')})` : ' (--preload NAME=FILE links another module\'s exports)'}`);
      }
      const want = m.wasm.types[imp.typeIndex];
      if (type === 'any-params' ? want.results.length !== 0 : funcTypeText(want) !== funcTypeText(type)) {
        throw new HostImportError(where, `has type ${funcTypeText(want)}; stackscope provides ${type === 'any-params' ? '(any parameters) -> ()' : funcTypeText(type)}`);
      }
      const impl = imp.module === 'host' ? fuzzHost[imp.name] as (...args: V31Val[]) => V31Val | void : impls[imp.name];
      if (!impl) throw new HostImportError(where, 'has no v31 host function');
      return V31Func.new(store, type === 'any-params' ? want : type, (_caller, ...args) => impl(...args));
    });
    const names = (o.preload ?? []).map((p) => p.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new HostImportError(`preload ${twice}`, 'the name is given to two preloaded modules');
    for (const p of o.preload ?? []) {
      let pm: Module;
      try {
        pm = isElf(p.bytes) ? Module.fromImage(engine, p.bytes, basename(p.file)) : await Module.from(engine, p.bytes, basename(p.file));
      } catch (e) {
        throw e instanceof CompileError ? e.inFile(p.file) : e;
      }
      linker.instance(p.name, V31Instance.create(store, pm, importsOf(pm, p.file)));
    }
    const imports = importsOf(module, file);
    const symbols: Record<string, V31Func> = {};
    for (const name of isElf(bytes) ? externalSymbolsOf(bytes, file) : []) {
      const type = name === 'gc' ? { params: [], results: [] } : DEFAULT_HOST_IMPORTS[name];
      if (type === undefined || type === 'any-params') throw new HostImportError(`${file}: symbol ${name}`, `is called but not defined, and is no host function stackscope provides by name (${Object.keys(DEFAULT_HOST_IMPORTS).filter((n) => n !== 'print').join(', ')})`);
      const impl = impls[name];
      if (!impl) throw new HostImportError(`${file}: symbol ${name}`, 'has no v31 host function');
      symbols[name] = V31Func.new(store, type, (_caller, ...args) => impl(...args));
    }
    const instance = V31Instance.create(store, module, imports, { symbols });
    return { arch, file, engine, module, store, instance, gcs };
  } catch (e) {
    store.close();
    throw e;
  }
}

export interface V31Invocation {
  name: string;
  func: V31Func;
  args: V31Val[];
}

/**
 * The export to call: `invoke.name` with its argument texts converted (externref words become
 * new V31ExternRefs holding the word; release them after the call), else a no-argument `main`
 * or `_start`, else undefined. InvokeArgError as for v17 sessions.
 */
export function chooseV31Invocation(session: V31Session, invoke?: { name: string; args: readonly string[] }): V31Invocation | undefined {
  return chooseExport(session.module, session.file, invoke, (name) => session.instance.getFunc(name),
    (name, type, texts) => argumentsOfTexts(name, type, texts, (text) => V31ExternRef.new(session.store, text)));
}

/** One collection `stackscope gc --profile v31` ran at its host import. */
export interface V31GcAtHost {
  /** 1-based number of the call of the host import. */
  call: number;
  report: DrcGcReport;
}

/**
 * `module` instantiated as `stackscope gc` runs it, in a v31 store: `env.<atHost>` (any
 * parameters, no results) runs one explained collection and keeps its report, `env.ref`
 * (i32) -> externref makes "ref N", `env.print` (any parameters) hands its arguments to `print`.
 * HostImportError for any other import.
 */
export function instantiateV31GcAtHost(store: DrcSessionStore, module: Module, o: { atHost: string; print: (args: V31Val[]) => void }): { instance: V31Instance; gcs: V31GcAtHost[] } {
  const gcs: V31GcAtHost[] = [];
  const imports = module.wasm.imports.map((imp) => {
    const where = `import "${imp.module}" "${imp.name}"`;
    if (imp.kind !== 'func' || imp.module !== 'env') throw new HostImportError(where, `is not a host import stackscope gc provides (env.${o.atHost}, env.ref, env.print)`);
    const type = module.wasm.types[imp.typeIndex];
    if (imp.name === o.atHost || imp.name === 'print') {
      if (type.results.length !== 0) throw new HostImportError(where, `has type ${funcTypeText(type)}; env.${imp.name} takes any parameters and returns nothing`);
      return imp.name === o.atHost
        ? V31Func.new(store, type, () => { gcs.push({ call: gcs.length + 1, report: store.gc({ explain: true }) }); })
        : V31Func.new(store, type, (_c, ...args) => { o.print(args); });
    }
    if (imp.name === 'ref') {
      if (funcTypeText(type) !== funcTypeText(DEFAULT_HOST_IMPORTS.ref as FuncType)) throw new HostImportError(where, `has type ${funcTypeText(type)}; env.ref is (i32) -> externref`);
      return V31Func.new(store, type, (_c, n) => V31ExternRef.new(store, `ref ${String(n)}`));
    }
    throw new HostImportError(where, `is not a host import stackscope gc provides (env.${o.atHost}, env.ref, env.print)`);
  });
  return { instance: V31Instance.create(store, module, imports), gcs };
}

/** The symbols an image's code calls but does not define, by name (what `symbols` must provide). */
export function externalSymbolsOf(bytes: Uint8Array, file = 'image.o'): string[] {
  const elf = readElf(bytes, file);
  const referenced = new Set<number>();
  for (const rs of elf.relocationSections) for (const r of rs.relocations) referenced.add(r.symbolIndex);
  return [...new Set(elf.symbols.filter((s) => s.shndx === SHN_UNDEF && s.name !== '' && referenced.has(s.index)).map((s) => s.name))].sort();
}
