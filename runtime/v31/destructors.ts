/**
 * Externref destructors of a DRC-era store (V31Store, V44Store): registered per object, queued
 * when the heap frees the object, and run after the heap operation that freed it has finished
 * (a collection, a `drop_gc_ref`, a handle's release), so a destructor may call back into Wasm or
 * into the store without meeting a half-swept heap. Not re-entrant: a destructor's own frees are
 * run by the same loop.
 */
import { StackscopeError } from '../../isa/error.ts';

/** A destructor that threw; the collection or drop that ran it completed first. */
export class V31DestructorError extends StackscopeError {
  override name = 'V31DestructorError';
  constructor(readonly failures: readonly unknown[]) {
    super(`${failures.length} externref destructor(s) threw: ${failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; ')}`, { cause: failures[0] });
  }
}

export class ExternRefDestructors {
  /** Destructors by the heap index of their externref. */
  readonly #byRef = new Map<number, (value: unknown) => void>();
  readonly #pending: { value: unknown; destructor: (value: unknown) => void }[] = [];
  #running = false;

  set(ref: number, destructor: (value: unknown) => void): void {
    this.#byRef.set(ref, destructor);
  }

  /** The object at `ref` was freed holding `value`: its destructor (if any) is queued. */
  freed(ref: number, value: unknown): void {
    const destructor = this.#byRef.get(ref);
    if (destructor) {
      this.#byRef.delete(ref);
      this.#pending.push({ value, destructor });
    }
  }

  /** Runs the queued destructors (not re-entrantly); V31DestructorError lists those that threw. */
  run(): void {
    if (this.#running) return;
    this.#running = true;
    const failures: unknown[] = [];
    try {
      for (let d = this.#pending.shift(); d; d = this.#pending.shift()) {
        try {
          d.destructor(d.value);
        } catch (e) {
          failures.push(e);
        }
      }
    } finally {
      this.#running = false;
    }
    if (failures.length) throw new V31DestructorError(failures);
  }

  /** Store close: every destructor still registered runs once, with its value when `valueOf` has it. */
  runAll(valueOf: (ref: number) => unknown): void {
    for (const [ref, destructor] of this.#byRef) this.#pending.push({ value: valueOf(ref), destructor });
    this.#byRef.clear();
    this.run();
  }
}
