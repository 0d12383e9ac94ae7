/**
 * ExternRef (wasmtime's `ref.rs`): a host handle on an externref object in guest memory. The
 * ownership rules are in values.ts.
 */
import { RuntimeError } from './errors.ts';
import { storeInternals, type Store } from './store.ts';

/** A host-side handle on an externref object in guest memory; owns one reference count. */
export class ExternRef {
  private ptr: bigint;

  /** @internal Wraps a pointer whose count this handle now owns. */
  constructor(readonly store: Store, ptr: bigint) {
    this.ptr = ptr;
  }

  /**
   * A new externref object holding any JS value. `destructor` runs once when the last count is
   * dropped (by the host, by compiled code through drop_externref, or by a GC sweep); it may
   * call back into Wasm.
   */
  static new(store: Store, value: unknown, destructor?: (value: unknown) => void): ExternRef {
    return new ExternRef(store, storeInternals(store).externRefHeap.allocate(value, destructor && ((v) => destructor(v))));
  }

  /** The guest address of the VMExternData (what Wasm sees). Throws once released. */
  get pointer(): bigint {
    if (this.ptr === 0n) throw new RuntimeError('ExternRef', 'used after release()');
    return this.ptr;
  }

  get released(): boolean {
    return this.ptr === 0n;
  }

  /** The JS value this reference holds. */
  get value(): unknown {
    return storeInternals(this.store).externRefHeap.value(this.pointer);
  }

  /** The reference count as stored in guest memory (compiled code changes it directly). */
  strongCount(): number {
    return storeInternals(this.store).externRefHeap.strongCount(this.pointer);
  }

  /** Another handle on the same object, with its own count. */
  clone(): ExternRef {
    return new ExternRef(this.store, storeInternals(this.store).externRefHeap.clone(this.pointer));
  }

  /** Gives this handle's count back; the object is freed when no count is left. Idempotent,
   * and a no-op once the store is closed. */
  release(): void {
    if (this.ptr === 0n) return;
    const p = this.ptr;
    this.ptr = 0n;
    if (this.store.closed) return; // close() destroyed every object already
    storeInternals(this.store).externRefHeap.drop(p);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** @internal Hands this handle's count to the runtime (a moved host result). */
  take(): bigint {
    const p = this.pointer;
    this.ptr = 0n;
    return p;
  }
}
