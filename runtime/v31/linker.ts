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
import { InstantiationError, RuntimeError } from '../errors.ts';
import type { Module } from '../module.ts';
import type { DrcStore } from './drc-store.ts';
import { V31Func, V31Instance, type V31Extern, type V31HostFn, type V31InstanceOptions } from './instance.ts';
import { V31Tag } from './tag.ts';

/** A linker definition refused (a name defined twice, an item of another engine). */
export class LinkerError extends RuntimeError {
  override name = 'LinkerError';
}

export class V31Linker {
  readonly #items = new Map<string, V31Extern>();

  constructor(readonly engine: Engine) {}

  static #key(module: string, name: string): string {
    return `${module}\u0000${name}`;
  }

  /** Defines `module.name`; redefining a name is a LinkerError. */
  define(module: string, name: string, item: V31Extern): this {
    const key = V31Linker.#key(module, name);
    if (this.#items.has(key)) throw new LinkerError('Linker', `${module}.${name} is already defined`);
    if ('store' in item && item.store.engine !== this.engine) throw new LinkerError('Linker', `${module}.${name} belongs to a store of another engine`);
    this.#items.set(key, item);
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
    for (const e of instance.module.wasm.exports) {
      const item = instance.getExport(e.name);
      if (item) this.define(module, e.name, item);
    }
    return this;
  }

  get(module: string, name: string): V31Extern | undefined {
    return this.#items.get(V31Linker.#key(module, name));
  }

  /** Instantiates `module` in `store` with its imports looked up by name (InstantiationError for a missing or mismatched one). */
  instantiate(store: DrcStore, module: Module, options: V31InstanceOptions = {}): V31Instance {
    const imports = module.wasm.imports.map((imp, i) => {
      const item = this.get(imp.module, imp.name);
      if (!item) throw new InstantiationError(`import ${i} (${imp.module}.${imp.name})`, `no ${imp.kind} of that name is defined in the linker`);
      return item;
    });
    return V31Instance.create(store, module, imports, options);
  }
}
