/**
 * Where the v31 collector finds a frame's user stack map: wasmtime v31's per-module
 * `lookup_stack_map(pc)`, an **exact** match of the return address. Modules register their maps
 * with the guest address their text was placed at; a pc with no map means "no live GC refs
 * here" (wasmtime continues with the next frame), a pc inside no registered module is reported
 * as such by `moduleAt` so the caller can fail loudly.
 */
import { StackscopeError } from '../../isa/error.ts';
import { userStackMapProblem, type UserStackMapRecord } from '../../compiler/user-stackmaps.ts';

/** A registration that cannot be right (overlapping text, a malformed map). */
export class UserStackMapRegistryError extends StackscopeError {
  override name = 'UserStackMapRegistryError';
}

export interface UserStackMapModule {
  name: string;
  /** Guest address of the module's `.text`. */
  textStart: bigint;
  /** Bytes of `.text`. */
  textSize: number;
  maps: readonly UserStackMapRecord[];
  /** Function names by function index, for reports. */
  functionNames?: ReadonlyMap<number, string>;
}

/** A map found for a pc, with the module it belongs to. */
export interface FoundUserStackMap {
  module: UserStackMapModule;
  map: UserStackMapRecord;
}

export class UserStackMapRegistry {
  private readonly modules: UserStackMapModule[] = [];
  /** Absolute return address → map. */
  private readonly byPc = new Map<number, FoundUserStackMap>();

  /** Adds a module's maps. @throws UserStackMapRegistryError for overlapping text or a bad map. */
  register(module: UserStackMapModule): void {
    const start = module.textStart;
    const end = start + BigInt(module.textSize);
    for (const m of this.modules) {
      if (start < m.textStart + BigInt(m.textSize) && m.textStart < end) throw new UserStackMapRegistryError(`module ${module.name}'s text overlaps module ${m.name}'s`);
    }
    const found: Array<[number, FoundUserStackMap]> = [];
    for (const map of module.maps) {
      const problem = userStackMapProblem(map);
      if (problem) throw new UserStackMapRegistryError(`module ${module.name}, map at text offset 0x${map.textReturnOffset.toString(16)}: ${problem}`);
      if (map.textReturnOffset > module.textSize) throw new UserStackMapRegistryError(`module ${module.name}: map at text offset 0x${map.textReturnOffset.toString(16)} lies beyond its ${module.textSize}-byte text`);
      found.push([Number(start) + map.textReturnOffset, { module, map }]);
    }
    this.modules.push(module);
    for (const [pc, f] of found) this.byPc.set(pc, f);
  }

  /** The map whose return address is exactly `pc`. */
  lookup(pc: number): FoundUserStackMap | undefined {
    return this.byPc.get(pc);
  }

  /** The module whose text contains `pc`. */
  moduleAt(pc: number): UserStackMapModule | undefined {
    const p = BigInt(pc);
    return this.modules.find((m) => p >= m.textStart && p < m.textStart + BigInt(m.textSize));
  }
}
