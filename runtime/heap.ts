/**
 * A bump allocator for the runtime's own structures in guest memory (VMContexts, runtime
 * limits, signature-id arrays, table storage, host-function contexts). Compiled code reaches all
 * of these through raw pointers, so they must live in the Machine's address space, not in JS.
 *
 * Nothing is freed individually: like a wasmtime Store, whose instances live until the store is
 * dropped, everything allocated here lives as long as the Machine.
 */
import type { Machine, Region } from '../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { RuntimeError } from './errors.ts';

const DEFAULT_CHUNK = 1 << 20;

export class RuntimeHeap {
  private region: Region | undefined;
  private next = 0n;
  private end = 0n;
  private chunks = 0;

  constructor(
    readonly machine: Machine,
    readonly name = 'runtime-heap',
    private readonly chunkSize = DEFAULT_CHUNK,
  ) {}

  /** Zero-filled, `align`-aligned (a power of two ≤ 4096) guest memory of `size` bytes. */
  alloc(size: number, align = 16): bigint {
    if (!Number.isSafeInteger(size) || size < 0) throw new RuntimeError(this.name, `bad allocation size ${size}`);
    if (align <= 0 || align > 4096 || (align & (align - 1)) !== 0) throw new RuntimeError(this.name, `bad alignment ${align}`);
    const a = BigInt(align);
    let at = (this.next + a - 1n) & ~(a - 1n);
    if (this.region === undefined || at + BigInt(size) > this.end) {
      const chunk = Math.max(this.chunkSize, Math.ceil((size + align) / 4096) * 4096);
      this.region = this.machine.map(`${this.name}#${this.chunks++}`, chunk, PROT_READ | PROT_WRITE);
      this.next = this.region.address;
      this.end = this.region.address + BigInt(this.region.size);
      at = (this.next + a - 1n) & ~(a - 1n);
    }
    this.next = at + BigInt(Math.max(size, 1));
    return at;
  }

  /** Allocates and fills with `bytes`. */
  allocBytes(bytes: Uint8Array, align = 16): bigint {
    const at = this.alloc(bytes.length, align);
    if (bytes.length > 0) this.machine.writeBytes(at, bytes);
    return at;
  }
}
