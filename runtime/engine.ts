/**
 * The Engine (wasmtime's `engine.rs`): the target architecture and the limits every store of the
 * engine shares, and the epoch counter compiled code compares its deadline with.
 */
import type { Arch } from '../isa/arch.ts';
import { CycleModelError, type CycleOptions } from '../simulator/timing/cycles.ts';
import { resolveUarch } from '../simulator/timing/model.ts';
import { UARCH_SPECS } from '../simulator/timing/table.ts';
import { RuntimeError } from './errors.ts';
import { resolveProfile, type Profile, type ProfileName } from '../profiles/profile.ts';
import { REGALLOC_MODES, V17_MEMORY_TUNABLES, V31_MEMORY_TUNABLES, tunablesWith, type MemoryTunables, type RegallocMode } from '../compiler/index.ts';

export interface EngineConfig {
  arch: Arch;
  /** Bytes of guest stack one outermost entry may use (default 512 KiB). */
  maxWasmStack?: number;
  /** Unmapped bytes after each linear memory's reservation (default the profile's: v17 2 GiB,
   * v31/v44 32 MiB). Code is compiled for it: accesses whose offset fits need no explicit check. */
  memoryGuardBytes?: bigint;
  /** Address space reserved for each linear memory, in pages (default 65536 = 4 GiB). A smaller
   * one makes memories whose maximum does not fit dynamic: their accesses are checked explicitly. */
  memoryReservationPages?: number;
  /** Resource limit: pages a memory may make accessible (default 4096 = 256 MiB). */
  maxMemoryPages?: number;
  /** Instruction budget of one outermost guest call (default 2^32; null = none). */
  budget?: bigint | null;
  /** Wall-clock limit of one outermost guest call in ms (default 10 s; null = none). */
  timeoutMs?: number | null;
  /**
   * Cycle model of every store's Machine (docs/cycle-model.md): `fast` or `detailed`, with an
   * optional microarchitecture for this arch. Default off. A store may override it
   * (StoreOptions.cycles); read results with `store.cycleReport()`.
   */
  cycles?: CycleOptions;
  /**
   * Which wasmtime era to reproduce (profiles/): `v17` (the default) or `v31`. Compilation,
   * layouts and stores follow the profile's record; a capability not implemented for it yet is a
   * ProfileUnsupportedError, never the v17 behaviour. An unknown name is an UnknownProfileError.
   */
  profile?: ProfileName | Profile;
  /**
   * Where compiled code keeps Wasm values (docs/stack-maps.md): `none` (default) gives every
   * value its own stack slot; `linear-scan` keeps values in registers and spills references to
   * stack slots around every call they survive, as Cranelift does.
   */
  regalloc?: RegallocMode;
}

/**
 * Checks a cycle-model request against the arch before any Machine exists, so a bad request
 * fails where it was made: UnknownUarchError for a name no model has, CycleModelError for a
 * mode that does not exist or a model of the other arch.
 */
export function checkCycleOptions(arch: Arch, cycles: CycleOptions | undefined): void {
  if (cycles === undefined) return;
  const mode: unknown = cycles.mode;
  if (mode !== 'off' && mode !== 'fast' && mode !== 'detailed') {
    throw new CycleModelError(`unknown cycle mode ${JSON.stringify(mode)} (off, fast or detailed)`);
  }
  if (cycles.accumulate !== undefined && typeof cycles.accumulate !== 'boolean') {
    throw new CycleModelError(`cycles.accumulate must be a boolean (got ${JSON.stringify(cycles.accumulate)})`);
  }
  if (cycles.uarch === undefined) return;
  const modelArch = UARCH_SPECS[resolveUarch(cycles.uarch, arch)].arch;
  if (modelArch !== arch) throw new CycleModelError(`models ${modelArch}, the engine is ${arch}`, cycles.uarch);
}

/** Compilation settings shared by stores: the target architecture and limits. */
export class Engine {
  readonly arch: Arch;
  readonly config: Readonly<EngineConfig>;
  /** The era record every compile, layout and store of this engine follows. */
  readonly profile: Profile;
  /**
   * The memory tunables this engine compiles for and its stores' memories honour: the profile's
   * (compiler/memory-tunables.ts) with `memoryReservationPages` / `memoryGuardBytes` applied.
   */
  readonly memoryTunables: MemoryTunables;
  /**
   * Each live store's epoch cell writer (the store's epoch counter in guest memory), held
   * weakly: the store holds its writer, and an engine outlives stores dropped without close().
   */
  private readonly epochCells = new Set<WeakRef<(epoch: bigint) => void>>();
  private epoch = 0n;

  constructor(config: EngineConfig) {
    if (config.arch !== 'x64' && config.arch !== 'aarch64') throw new RuntimeError('Engine', `unknown arch ${String(config.arch)}`);
    this.arch = config.arch;
    checkCycleOptions(config.arch, config.cycles);
    this.profile = resolveProfile(config.profile);
    if (config.regalloc !== undefined && !REGALLOC_MODES.includes(config.regalloc)) {
      throw new RuntimeError('Engine', `unknown regalloc ${String(config.regalloc)} (expected ${REGALLOC_MODES.join(' or ')})`);
    }
    this.config = Object.freeze({ ...config });
    const era = this.profile.codegen === 'v17' ? V17_MEMORY_TUNABLES : V31_MEMORY_TUNABLES;
    this.memoryTunables = Object.freeze(tunablesWith(era, { reservationPages: config.memoryReservationPages, guardBytes: config.memoryGuardBytes }));
  }

  /** The options of every linear memory this engine's stores create (reservation and guard as compiled for). */
  get memoryOptions(): { guardBytes: bigint; reservationPages: number; maxAccessiblePages?: number } {
    return {
      guardBytes: this.memoryTunables.guard,
      reservationPages: Number(this.memoryTunables.reservation / 0x1_0000n),
      ...(this.config.maxMemoryPages !== undefined ? { maxAccessiblePages: this.config.maxMemoryPages } : {}),
    };
  }

  /** Advances the engine's epoch (every store's epoch counter in guest memory). */
  incrementEpoch(): void {
    this.epoch++;
    for (const cell of this.epochCells) {
      const write = cell.deref();
      if (write === undefined) this.epochCells.delete(cell);
      else write(this.epoch);
    }
  }

  get currentEpoch(): bigint {
    return this.epoch;
  }

  /**
   * @internal A store's epoch cell, written on every increment until the returned function
   * removes it or `write` is garbage-collected (the caller must keep it).
   */
  registerEpochCell(write: (epoch: bigint) => void): () => void {
    const cell = new WeakRef(write);
    this.epochCells.add(cell);
    return () => this.epochCells.delete(cell);
  }
}
