/**
 * Linker (wasmtime's `linker.rs`): imports resolved by (module, name).
 */
import type { FuncType } from '../compiler/frontend/module.ts';
import type { Engine } from './engine.ts';
import type { Extern } from './externals.ts';
import { Func, type HostFn } from './func.ts';
import { Instance } from './instance.ts';
import { LinkerNames } from './linker-names.ts';
import type { Module } from './module.ts';
import type { Store } from './store.ts';

/** Resolves imports by (module, name), like wasmtime's Linker. */
export class Linker {
  readonly #names: LinkerNames<Extern>;

  constructor(readonly engine: Engine) {
    this.#names = new LinkerNames(engine);
  }

  /** Defines one item; a name defined twice, or an item of another engine, is a LinkerError. */
  define(module: string, name: string, item: Extern): this {
    this.#names.define(module, name, item);
    return this;
  }

  /** A typed host function (Func.wrap) under `module.name`. */
  funcWrap<T>(store: Store<T>, module: string, name: string, type: FuncType, fn: HostFn<T>): this {
    return this.define(module, name, Func.wrap(store, type, fn));
  }

  /** Every export of `instance` under `module`. */
  instance(module: string, instance: Instance): this {
    this.#names.defineExports(module, instance.module.wasm.exports, (name) => instance.getExport(name));
    return this;
  }

  get(module: string, name: string): Extern | undefined {
    return this.#names.get(module, name);
  }

  /** Instantiates `module` with its imports looked up by name (InstantiationError for a missing one). */
  instantiate(store: Store, module: Module): Instance {
    return Instance.create(store, module, this.#names.resolve(module.wasm.imports));
  }
}
