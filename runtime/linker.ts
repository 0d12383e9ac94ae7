/**
 * Linker (wasmtime's `linker.rs`): imports resolved by (module, name).
 */
import type { FuncType } from '../compiler/frontend/module.ts';
import type { Engine } from './engine.ts';
import { InstantiationError, RuntimeError } from './errors.ts';
import type { Extern } from './externals.ts';
import { Func, type HostFn } from './func.ts';
import { Instance } from './instance.ts';
import type { Module } from './module.ts';
import type { Store } from './store.ts';


/** Resolves imports by (module, name), like wasmtime's Linker. */
export class Linker {
  private readonly items = new Map<string, Extern>();

  constructor(readonly engine: Engine) {}

  private static key(module: string, name: string): string {
    return `${module}\u0000${name}`;
  }

  /** Defines one item; redefining a name is an error. */
  define(module: string, name: string, item: Extern): this {
    const key = Linker.key(module, name);
    if (this.items.has(key)) throw new RuntimeError('Linker', `${module}.${name} is already defined`);
    this.items.set(key, item);
    return this;
  }

  /** A typed host function (Func.wrap) under `module.name`. */
  funcWrap<T>(store: Store<T>, module: string, name: string, type: FuncType, fn: HostFn<T>): this {
    return this.define(module, name, Func.wrap(store, type, fn));
  }

  /** Every export of `instance` under `module`. */
  instance(module: string, instance: Instance): this {
    for (const e of instance.module.wasm.exports) {
      const item = instance.getExport(e.name);
      if (item) this.define(module, e.name, item);
    }
    return this;
  }

  get(module: string, name: string): Extern | undefined {
    return this.items.get(Linker.key(module, name));
  }

  /** Instantiates `module` with its imports looked up by name. */
  instantiate(store: Store, module: Module): Instance {
    const imports = module.wasm.imports.map((imp) => {
      const item = this.get(imp.module, imp.name);
      if (!item) throw new InstantiationError(`import ${imp.module}.${imp.name}`, 'not defined in the linker');
      return item;
    });
    return Instance.create(store, module, imports);
  }
}
