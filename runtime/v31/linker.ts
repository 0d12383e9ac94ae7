/**
 * `V31Linker` (exported as `V44Linker` for v44 engines): wasmtime's `Linker` for the DRC-era
 * stores — imports resolved by (module, name) from items defined one by one (host functions,
 * tables, globals, memories, tags made by the host) or from every export of an instance. Each
 * item is type-checked against the import it satisfies when a module is instantiated (the
 * instance's import matching: an `InstantiationError` naming the import, e.g. "incompatible tag
 * types" for a tag of another function type); a name defined twice is a `LinkerError`.
 */
import type { FuncType } from '../../compiler/frontend/module.ts';
import type { Engine } from '../engine.ts';
import { LinkerNames } from '../linker-names.ts';
import type { Module } from '../module.ts';
import type { DrcStore } from './drc-store.ts';
import { V31Func, V31Instance, type V31Extern, type V31HostFn, type V31InstanceOptions } from './instance.ts';
import { V31Tag } from './tag.ts';

export { LinkerError } from '../linker-names.ts';

export class V31Linker {
  readonly #names: LinkerNames<V31Extern>;

  constructor(readonly engine: Engine) {
    this.#names = new LinkerNames(engine);
  }

  /** Defines `module.name`; a name defined twice, or an item of another engine, is a LinkerError. */
  define(module: string, name: string, item: V31Extern): this {
    this.#names.define(module, name, item);
    return this;
  }

  /** A host function (`V31Func.new`) under `module.name`. */
  funcNew<T>(store: DrcStore<T>, module: string, name: string, type: FuncType, fn: V31HostFn<T>): this {
    return this.define(module, name, V31Func.new(store, type, fn));
  }

  /** A new host tag (`V44Tag.new`) of function type `type` under `module.name`; returns it. */
  tagNew(store: DrcStore, module: string, name: string, type: FuncType): V31Tag {
    const tag = V31Tag.new(store, type);
    this.define(module, name, tag);
    return tag;
  }

  /** Every export of `instance` under `module` (wasmtime's `Linker::instance`). */
  instance(module: string, instance: V31Instance): this {
    this.#names.defineExports(module, instance.module.wasm.exports, (name) => instance.getExport(name));
    return this;
  }

  get(module: string, name: string): V31Extern | undefined {
    return this.#names.get(module, name);
  }

  /** Instantiates `module` in `store` with its imports looked up by name (InstantiationError for a missing or mismatched one). */
  instantiate(store: DrcStore, module: Module, options: V31InstanceOptions = {}): V31Instance {
    return V31Instance.create(store, module, this.#names.resolve(module.wasm.imports), options);
  }
}
