/**
 * The name table every era's linker is built on (wasmtime's `Linker` keeps one too): items by
 * (module, name), each name defined once, from the host one by one or from every export of an
 * instance; a module's imports are then looked up in order. The era's linker adds what differs:
 * the kinds of items, the host-function constructor and the instance it creates.
 */
import type { Import } from '../compiler/frontend/module.ts';
import type { Engine } from './engine.ts';
import { InstantiationError, RuntimeError } from './errors.ts';

/** A linker definition refused (a name defined twice, an item of another engine). */
export class LinkerError extends RuntimeError {
  override name = 'LinkerError';
}

export class LinkerNames<E extends object> {
  readonly #items = new Map<string, E>();

  constructor(readonly engine: Engine) {}

  static #key(module: string, name: string): string {
    return `${module}\u0000${name}`;
  }

  /** Defines `module.name`; a name defined twice, or an item of another engine's store, is a LinkerError. */
  define(module: string, name: string, item: E): void {
    const key = LinkerNames.#key(module, name);
    if (this.#items.has(key)) throw new LinkerError('Linker', `${module}.${name} is already defined`);
    if (ownerEngine(item) !== undefined && ownerEngine(item) !== this.engine) throw new LinkerError('Linker', `${module}.${name} belongs to a store of another engine`);
    this.#items.set(key, item);
  }

  get(module: string, name: string): E | undefined {
    return this.#items.get(LinkerNames.#key(module, name));
  }

  /** Every export named by `exports` under `module`, each item as `getExport` gives it (wasmtime's `Linker::instance`). */
  defineExports(module: string, exports: readonly { readonly name: string }[], getExport: (name: string) => E | undefined): void {
    for (const e of exports) {
      const item = getExport(e.name);
      if (item) this.define(module, e.name, item);
    }
  }

  /** The items for `imports`, in order; an InstantiationError names the first one not defined. */
  resolve(imports: readonly Import[]): E[] {
    return imports.map((imp, i) => {
      const item = this.get(imp.module, imp.name);
      if (!item) throw new InstantiationError(`import ${i} (${imp.module}.${imp.name})`, `no ${imp.kind} of that name is defined in the linker`);
      return item;
    });
  }
}

/** The engine of the store an item belongs to; memories do not say. */
function ownerEngine(item: object): Engine | undefined {
  return 'store' in item ? (item.store as { readonly engine: Engine }).engine : undefined;
}
