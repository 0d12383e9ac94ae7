/**
 * How linear-memory accesses are bounds-checked: the address-space tunables an image is compiled
 * for, and the check each access gets under them, as wasmtime decides on a 64-bit host.
 *
 * - v17 (`crates/environ/src/tunables.rs`, `MemoryStyle::for_memory` in `module.rs`): every
 *   32-bit memory whose maximum (4 GiB when undeclared) fits `static_memory_bound` = 0x1_0000
 *   pages is *static*: 4 GiB of address space reserved, followed by a
 *   `static_memory_offset_guard_size` = 2 GiB guard, and its base never moves. Otherwise it is
 *   *dynamic*, checked against `current_length`.
 * - v31 and v44 (`Tunables::default_u64`): `memory_reservation` = 4 GiB, `memory_guard_size` =
 *   32 MiB, same rule.
 *
 * Cranelift's heap lowering (`bounds_checks.rs`) then gives each access with
 * `offsetAndSize` = Wasm offset + access size one of four checks (`boundsCheckOf`). Without an
 * explicit check the access itself is the check: anything past the accessible bytes lies in the
 * unmapped rest of the reservation or the guard, faults, and the fault at that access's trap site
 * is HeapOutOfBounds. The runtime must therefore reserve at least what the image assumes
 * (`tunablesHonoured`); the image records its tunables (docs/image-format.md).
 */
import type { MemoryType } from './frontend/module.ts';

export const WASM_PAGE_BYTES = 0x1_0000n;
/** 2^16 pages: the largest 32-bit memory, 4 GiB. */
export const WASM32_MAX_PAGES = 0x1_0000;

export interface MemoryTunables {
  /** Address space reserved for a static memory, in bytes (v17: static_memory_bound pages × 64 KiB). */
  readonly reservation: bigint;
  /** Unmapped bytes after a static memory's reservation. */
  readonly guard: bigint;
}

/** wasmtime v17 on a 64-bit host: static_memory_bound 0x1_0000 pages, 2 GiB offset guard. */
export const V17_MEMORY_TUNABLES: MemoryTunables = Object.freeze({ reservation: 1n << 32n, guard: 0x8000_0000n });
/** wasmtime v31 / v44 `Tunables::default_u64`: memory_reservation 4 GiB, memory_guard_size 32 MiB. */
export const V31_MEMORY_TUNABLES: MemoryTunables = Object.freeze({ reservation: 1n << 32n, guard: 32n << 20n });

/** Tunables that make every memory dynamic (every access checked against current_length). */
export const CHECKED_MEMORY_TUNABLES: MemoryTunables = Object.freeze({ reservation: 0n, guard: 0n });

/** The tunables an engine option asks for: `reservationPages` / `guardBytes` override the era's. */
export function tunablesWith(era: MemoryTunables, options: { reservationPages?: number; guardBytes?: bigint }): MemoryTunables {
  const pages = options.reservationPages;
  const reservation = pages === undefined ? era.reservation : BigInt(Math.min(Math.max(0, Math.floor(pages)), WASM32_MAX_PAGES)) * WASM_PAGE_BYTES;
  return { reservation, guard: options.guardBytes ?? era.guard };
}

/** Static (a fixed reservation that never moves) or dynamic (checked against current_length). */
export type MemoryStyle = { readonly kind: 'static'; readonly bound: bigint } | { readonly kind: 'dynamic' };

/** v17's MemoryStyle::for_memory for a 32-bit memory. */
export function memoryStyleOf(type: MemoryType, tunables: MemoryTunables): MemoryStyle {
  const maxBytes = BigInt(type.max ?? WASM32_MAX_PAGES) * WASM_PAGE_BYTES;
  if (type.min <= (type.max ?? WASM32_MAX_PAGES) && maxBytes <= tunables.reservation && tunables.reservation > 0n) {
    return { kind: 'static', bound: tunables.reservation };
  }
  return { kind: 'dynamic' };
}

/**
 * The bounds check of one access (Cranelift's `bounds_check_and_compute_addr`, 64-bit host,
 * 32-bit index, no Spectre guard):
 * - `trap`: the access can never be in bounds (v17: offset + size beyond the static bound; v31
 *   and later: beyond the declared maximum), an unconditional trap;
 * - `none`: index + offset + size ≤ 2^32 − 1 + offset + size stays inside reservation + guard, so
 *   the access's own fault is the check;
 * - `static`: trap when index > `limit` (= bound − offset − size), a constant;
 * - `dynamic`: trap when index + offset + size > current_length.
 */
export type BoundsCheck =
  | { readonly kind: 'trap' }
  | { readonly kind: 'none' }
  | { readonly kind: 'static'; readonly limit: bigint }
  | { readonly kind: 'dynamic' };

export function boundsCheckOf(
  type: MemoryType, tunables: MemoryTunables, trapAbove: 'bound' | 'maximum', offset: number, size: number,
): BoundsCheck {
  const offsetAndSize = BigInt(offset) + BigInt(size);
  const style = memoryStyleOf(type, tunables);
  if (trapAbove === 'maximum' && type.max !== null && offsetAndSize > BigInt(type.max) * WASM_PAGE_BYTES) return { kind: 'trap' };
  if (style.kind === 'dynamic') return { kind: 'dynamic' };
  if (trapAbove === 'bound' && offsetAndSize > style.bound) return { kind: 'trap' };
  if (0xffff_ffffn + offsetAndSize <= style.bound + tunables.guard) return { kind: 'none' };
  if (offsetAndSize > style.bound) return { kind: 'trap' };
  return { kind: 'static', limit: style.bound - offsetAndSize };
}

/**
 * Whether a memory with `reservation` bytes of address space and `guard` unmapped bytes after
 * it can run code compiled for `tunables`: every address the code leaves to a fault
 * (up to reservation + guard) must fault or be accessible, and a static memory's reservation
 * must hold everything the code lets through without a check.
 */
export function tunablesHonoured(type: MemoryType, tunables: MemoryTunables, memory: { reservation: bigint; guard: bigint }): boolean {
  if (memoryStyleOf(type, tunables).kind === 'dynamic') return true;
  return memory.reservation >= tunables.reservation && memory.reservation + memory.guard >= tunables.reservation + tunables.guard;
}
