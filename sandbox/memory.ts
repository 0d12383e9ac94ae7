/**
 * Guest memory as host functions see it. Every access a host function makes on the guest's
 * behalf goes through `GuestAccess`: the whole range is checked against the guest's mappings
 * and permissions first (a read needs r, a write needs w — so text (r-x), rodata and the GOT
 * (r--) and the gateway stubs can never be written this way), lengths are taken as the
 * unsigned 64-bit values the guest passed, and the work is charged to the call's instruction
 * budget (one instruction per 8 bytes, as a `rep movsq` would) and checked against its
 * deadline. A failed check is a GuestTrap at the instruction that called the host function,
 * with the faulting address — never a host exception.
 *
 * The heap (`GuestHeap`) is one read-write region; its bookkeeping lives on the host, out of
 * the guest's reach, so a guest overflow cannot corrupt the allocator.
 */
import { StackscopeError, hex } from '../isa/error.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { HostCall, Machine, Region } from '../simulator/machine.ts';
import type { TrapKind } from '../simulator/trap.ts';

/** A misuse of the sandbox's memory helpers by the host program (not a guest fault). */
export class SandboxMemoryError extends StackscopeError {
  override name = 'SandboxMemoryError';
}

/** Bytes a host function may touch per instruction of budget. */
const BYTES_PER_INSTRUCTION = 8n;

export class GuestAccess {
  constructor(readonly machine: Machine) {}

  /**
   * The first address in [address, address + length) that is unmapped or lacks `perms`, and
   * the trap kind for it; undefined when the whole range is accessible.
   */
  fault(address: bigint, length: bigint, perms: number): { kind: TrapKind; address: bigint } | undefined {
    const end = address + length;
    if (end > 1n << 64n) return { kind: perms & PROT_WRITE ? 'write-unmapped' : 'read-unmapped', address: 1n << 64n };
    let at = address;
    while (at < end) {
      const region = this.machine.regionAt(at);
      const write = (perms & PROT_WRITE) !== 0;
      if (!region) return { kind: write ? 'write-unmapped' : 'read-unmapped', address: at };
      if ((region.perms & perms) !== perms) return { kind: write ? 'write-protected' : 'read-protected', address: at };
      at = region.address + BigInt(region.size);
    }
    return undefined;
  }

  /** Checks a range for a host function, charging its size to the budget. */
  check(call: HostCall, address: bigint, length: bigint, perms: number, what: string): void {
    const bad = this.fault(address, length, perms);
    if (bad) throw this.machine.hostTrap(call, bad.kind, { address: bad.address, message: `${what}: ${hex(length)} bytes at ${hex(address)}` });
    this.machine.chargeHostWork(call, length / BYTES_PER_INSTRUCTION + 1n);
  }

  read(call: HostCall, address: bigint, length: bigint, what: string): Uint8Array {
    if (length === 0n) return new Uint8Array(0);
    this.check(call, address, length, PROT_READ, what);
    return this.machine.readBytes(address, Number(length));
  }

  write(call: HostCall, address: bigint, bytes: Uint8Array, what: string): void {
    if (bytes.length === 0) return;
    this.check(call, address, BigInt(bytes.length), PROT_WRITE, what);
    this.machine.writeBytes(address, bytes);
  }

  /** Views of the regions a checked range spans (no copy), in address order. */
  private *chunks(address: bigint, length: bigint): Generator<{ view: Uint8Array; region: Region }> {
    let at = address;
    const end = address + length;
    while (at < end) {
      const region = this.machine.regionAt(at)!;
      const offset = Number(at - region.address);
      const n = Number((end - at < BigInt(region.size - offset)) ? end - at : BigInt(region.size - offset));
      yield { view: region.view.subarray(offset, offset + n), region };
      at += BigInt(n);
    }
  }

  /** Fills a checked range with a byte (memset). */
  fill(call: HostCall, address: bigint, value: number, length: bigint, what: string): void {
    if (length === 0n) return;
    this.check(call, address, length, PROT_WRITE, what);
    for (const { view } of this.chunks(address, length)) view.fill(value);
  }

  /** Copies between checked ranges with memmove semantics (overlap allowed). */
  move(call: HostCall, dest: bigint, src: bigint, length: bigint, what: string): void {
    if (length === 0n) return;
    this.check(call, src, length, PROT_READ, `${what} (source)`);
    this.check(call, dest, length, PROT_WRITE, `${what} (destination)`);
    this.machine.writeBytes(dest, this.machine.readBytes(src, Number(length)));
  }

  /**
   * Length of the NUL-terminated string at `address`, reading at most `max` bytes (then the
   * result is `max`); a read past the mapped, readable memory before a NUL is a trap there.
   */
  strlen(call: HostCall, address: bigint, what: string, max = 1n << 62n): bigint {
    let n = 0n;
    for (;;) {
      if (n >= max) break;
      const at = address + n;
      const region = this.machine.regionAt(at);
      if (!region || !(region.perms & PROT_READ)) {
        throw this.machine.hostTrap(call, region ? 'read-protected' : 'read-unmapped', { address: at, message: `${what}: string at ${hex(address)} runs off readable memory` });
      }
      const view = region.view.subarray(Number(at - region.address));
      const nul = view.indexOf(0);
      if (nul >= 0) {
        n += BigInt(nul);
        break;
      }
      n += BigInt(view.length);
    }
    if (n > max) n = max;
    this.machine.chargeHostWork(call, n / BYTES_PER_INSTRUCTION + 1n);
    return n;
  }

  /** The bytes of a NUL-terminated string (without the NUL). */
  cstring(call: HostCall, address: bigint, what: string, max?: bigint): Uint8Array {
    const n = this.strlen(call, address, what, max);
    return this.machine.readBytes(address, Number(n));
  }
}

/** A first-fit allocator over one guest region, 16-byte aligned, bookkeeping on the host. */
export class GuestHeap {
  readonly region: Region;
  /** Live blocks: address → size requested. */
  private readonly live = new Map<bigint, number>();
  /** Free spans sorted by address: [address, size]. */
  private free: Array<[bigint, number]>;

  constructor(readonly machine: Machine, size: number) {
    this.region = machine.map('heap', size, PROT_READ | PROT_WRITE);
    this.free = [[this.region.address, this.region.size]];
  }

  /** Allocates `size` bytes (at least 1) aligned to `align` (a power of two ≥ 16); undefined when the heap is full. */
  allocate(size: number, align = 16): bigint | undefined {
    if (!Number.isSafeInteger(size) || size < 0) return undefined;
    const a = BigInt(Math.max(align, 16));
    const need = Math.ceil(Math.max(size, 1) / 16) * 16;
    for (let i = 0; i < this.free.length; i++) {
      const [start, span] = this.free[i];
      const at = (start + a - 1n) & ~(a - 1n);
      const lead = Number(at - start);
      if (lead + need > span) continue;
      const rest: Array<[bigint, number]> = [];
      if (lead > 0) rest.push([start, lead]);
      if (span - lead - need > 0) rest.push([at + BigInt(need), span - lead - need]);
      this.free.splice(i, 1, ...rest);
      this.live.set(at, need);
      return at;
    }
    return undefined;
  }

  /** Size reserved for a live block, or undefined when `address` is not one. */
  sizeOf(address: bigint): number | undefined {
    return this.live.get(address);
  }

  /** Frees a live block; false when `address` is not one (a double or invalid free). */
  release(address: bigint): boolean {
    const size = this.live.get(address);
    if (size === undefined) return false;
    this.live.delete(address);
    let i = this.free.findIndex(([a]) => a > address);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, [address, size]);
    // Coalesce with the neighbours.
    if (i + 1 < this.free.length && this.free[i][0] + BigInt(this.free[i][1]) === this.free[i + 1][0]) {
      this.free[i][1] += this.free[i + 1][1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1][0] + BigInt(this.free[i - 1][1]) === this.free[i][0]) {
      this.free[i - 1][1] += this.free[i][1];
      this.free.splice(i, 1);
    }
    return true;
  }

  /** Bytes in live blocks. */
  get used(): number {
    let n = 0;
    for (const s of this.live.values()) n += s;
    return n;
  }

  /** Frees everything. */
  reset(): void {
    this.live.clear();
    this.free = [[this.region.address, this.region.size]];
  }
}
