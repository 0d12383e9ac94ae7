/**
 * Finding one safepoint of a run: what `stackscope explain --at … --nth N` does, for any API
 * user. `selectSafepoints` turns a selector (a function's name or index, or a code address)
 * into a predicate over a module's safepoints; `findSafepoint` watches a store's machine for
 * the N-th safepoint it selects while the caller runs code, and keeps that frame.
 *
 *   const search = findSafepoint(store, module, { at: 'fib', nth: 3 });
 *   try { instance.getFunc('main').call(); } finally { search.close(); }
 *   if (search.found) console.log(renderFrame(search.found.frame).join('\n'));
 */
import { StackscopeError } from '../isa/error.ts';
import type { Module, Store } from '../runtime/api.ts';
import { placedSafepoints, safepointsOf, traceModule, type FrameView, type Safepoint } from './trace.ts';

/** A selector that names no function with a safepoint, or an address with no safepoint at or
 * after it in its function; or an `nth` that is not a positive integer. */
export class SafepointSelectError extends StackscopeError {
  override name = 'SafepointSelectError';
  constructor(
    /** The selector as given. */
    readonly at: string,
    message: string,
  ) {
    super(`${at}: ${message}`);
  }
}

/** A code address selector: `0x…`. */
function isAddress(at: string): boolean {
  return /^0x[0-9a-f]+$/i.test(at);
}

/**
 * The safepoints `at` selects among `safepoints` (of the module named `moduleName` in
 * messages): for a function — its name from the name section or an export (with or without
 * `$`), or its index (`7` or `#7`) — all of its safepoints; for a code address `0x…`, those at
 * or after it in the function that holds it. `exported` maps export names to function indices.
 * SafepointSelectError when nothing matches.
 */
export function selectSafepoints(at: string, safepoints: readonly Safepoint[], exported: ReadonlyMap<string, number>, moduleName: string): (s: Safepoint) => boolean {
  if (isAddress(at)) {
    const pc = BigInt(at);
    const inFunction = safepoints.filter((s) => s.functionStart <= pc && pc <= s.returnAddress);
    const holder = inFunction.find((s) => s.callAddress >= pc || s.returnAddress === pc);
    if (!holder) throw new SafepointSelectError(at, `no safepoint at or after that address in a function of ${moduleName}`);
    return (s) => s.functionStart === holder.functionStart && (s.callAddress >= pc || s.returnAddress === pc);
  }
  const name = at.replace(/^\$/, '');
  const byIndex = /^#?\d+$/.test(name) ? Number(name.replace('#', '')) : exported.get(name);
  const selected = (s: Safepoint) => s.functionName === name || (byIndex !== undefined && s.funcIndex === byIndex);
  if (!safepoints.some(selected)) {
    const names = [...new Set(safepoints.map((s) => s.functionName))];
    throw new SafepointSelectError(at, `no function of that name with a safepoint in ${moduleName} (functions with safepoints: ${names.join(', ') || 'none'})`);
  }
  return selected;
}

export interface FoundSafepoint {
  /** The frame at the call instruction, as `renderFrame` draws it. */
  frame: FrameView;
  safepoint: Safepoint;
}

export interface SafepointSearchOptions {
  /** A function's name or index, or a code address (see selectSafepoints). */
  at: string;
  /** Which matching safepoint to keep, counting from 1 (default 1): a deeper recursion level, say. */
  nth?: number;
  /** The module's name in frames and messages (default: module.name or 'module'). */
  moduleName?: string;
}

/** A search under way: read `found` once the code ran; `close()` removes the engine hook. */
export interface SafepointSearch {
  /** The N-th matching safepoint, once reached. */
  readonly found: FoundSafepoint | undefined;
  /** Matching safepoints reached so far. */
  readonly seen: number;
  close(): void;
}

/**
 * Watches `store`'s machine, from now until `close()`, for the `nth` safepoint of `module` that
 * `at` selects, and keeps its frame. Start it before running the code (an export's call, or an
 * example's driver that instantiates the module itself). A function selector is checked at
 * once (SafepointSelectError); an address can be checked only once the store has placed the
 * module's code: at once if it has, else when it does (an address then matching nothing
 * leaves `found` undefined).
 */
export function findSafepoint(store: Store, module: Module, options: SafepointSearchOptions): SafepointSearch {
  const { at } = options;
  const nth = options.nth ?? 1;
  if (!Number.isSafeInteger(nth) || nth < 1) throw new SafepointSelectError(at, `nth must be a positive integer (got ${String(options.nth)})`);
  const moduleName = options.moduleName ?? module.name ?? 'module';
  const exported = new Map(module.wasm.exports.filter((e) => e.kind === 'func').map((e) => [e.name, e.index] as const));
  const placedNow = placedSafepoints(store, module, moduleName)();
  // Names and indices do not depend on where the code is: check them against the unplaced maps.
  // An address is resolved once the code is placed (the filter's first call sees them all).
  let matches = placedNow || !isAddress(at)
    ? selectSafepoints(at, placedNow ?? safepointsOf(module, 0n, moduleName), exported, moduleName)
    : undefined;
  const state: { found: FoundSafepoint | undefined; seen: number } = { found: undefined, seen: 0 };
  const tracer = traceModule(store, module, {
    mode: 'safepoints',
    limit: 0,
    moduleName,
    select: (all) => {
      if (!matches) {
        try {
          matches = selectSafepoints(at, all, exported, moduleName);
        } catch (e) {
          if (!(e instanceof SafepointSelectError)) throw e;
          matches = () => false;
        }
      }
      return all.filter(matches);
    },
    onSafepoint: (frame, safepoint) => {
      if (!state.found && ++state.seen === nth) state.found = { frame, safepoint };
    },
  });
  return {
    get found() { return state.found; },
    get seen() { return state.seen; },
    close: () => tracer.close(),
  };
}
