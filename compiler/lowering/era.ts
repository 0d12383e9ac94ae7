/**
 * What an era's code generator (profiles/: v17, v31) gives the shared lowering: the VMContext
 * offsets compiled code bakes in, where the prologue finds the stack limit, the VMFuncRef layout
 * `call_indirect` reads, the builtin array's indices, and an era-specific lowering of the
 * instructions whose barriers differ between eras (externref tables and globals). Everything else
 * (frames, values, control flow, calls, numeric operators, memories) is shared.
 *
 * v17's era is here; v31's is compiler/v31/codegen.ts. compiler/profiles.ts maps a profile to its
 * era (`CODE_GENERATORS`).
 */
import type { Instr, WasmModule } from '../frontend/module.ts';
import { builtinIndex, type BuiltinName } from '../builtins.ts';
import { VMFuncRefLayout, VMOffsets } from '../vmoffsets.ts';
import type { Lowering } from './context.ts';
import { CompileError } from '../frontend/errors.ts';
import { firstGcUse, type GcUseOptions } from '../frontend/gc-use.ts';
import { V17_MEMORY_TUNABLES, type MemoryTunables } from '../memory-tunables.ts';

/** The VMOffsets helpers the shared lowering reads (an era's layout answers each). */
export type LoweringOffsets = Pick<
  VMOffsets,
  | 'numImportedTables' | 'numImportedMemories' | 'numImportedGlobals'
  | 'vmctxBuiltinFunctions' | 'vmctxSignatureIdsArray'
  | 'vmctxVmfunctionImportWasmCall' | 'vmctxVmfunctionImportVmctx'
  | 'vmctxVmglobalDefinition' | 'vmctxVmglobalImportFrom'
  | 'vmctxVmmemoryDefinitionBase' | 'vmctxVmmemoryDefinitionCurrentLength' | 'vmctxVmmemoryImportFrom'
  | 'vmctxVmtableDefinitionBase' | 'vmctxVmtableDefinitionCurrentElements' | 'vmctxVmtableImportFrom'
  | 'vmctxExternrefActivationsTable' | 'vmExternRefActivationTableNext' | 'vmExternRefActivationTableEnd'
>;

export interface CodegenEra {
  /** The era's name, for messages. */
  readonly name: string;
  /** The VMContext layout of `module` as compiled code addresses it. */
  offsetsFor(module: WasmModule): LoweringOffsets;
  /**
   * The prologue's stack-limit load: the struct pointer at `vmctx + vmctxOffset`, the limit at
   * `limitOffset` in it (v17: VMRuntimeLimits at 8, stack_limit at 0).
   */
  readonly stackLimit?: { readonly vmctxOffset: number; readonly limitOffset: number };
  /**
   * What the prologue's stack-limit check covers (Cranelift's gen_prologue of the era), with
   * registers (`linear-scan`; `none` keeps its whole-frame check): `fixed-storage` (v17) only
   * the spill and stack slots, so a function without them checks SP against the limit itself,
   * and a leaf one checks nothing; `frame` (v31, v44) the whole frame below FP (callee-saves,
   * slots, outgoing arguments) plus, in a function that calls, the 16-byte setup area of a callee.
   */
  readonly stackCheck: 'fixed-storage' | 'frame';
  /** VMFuncRef field offsets (`call_indirect`). */
  readonly funcRef: { readonly wasmCall: number; readonly vmctx: number; readonly typeIndex: number };
  /** The index of builtin `name` (a v17 name the shared lowering uses) in the era's builtin array. */
  builtinIndex(name: BuiltinName): number;
  /**
   * The module as this era's lowering sees it (v31 erases GC reference types to its 32-bit
   * refs), or a CompileError naming the era for what it cannot compile (v17: the GC proposal).
   * The image's metadata is always written from the original module.
   */
  prepareModule(module: WasmModule): WasmModule;
  /** Lowers `instr` the era's own way; false leaves it to the shared lowering. */
  lowerInstruction?(cx: Lowering, instr: Instr): boolean;
  /** Whether call sites are described by typed user stack maps (`.stackscope.usermaps`). */
  readonly userStackMaps: boolean;
  /** The era's default memory tunables on a 64-bit host (compiler/memory-tunables.ts). */
  readonly memoryTunables: MemoryTunables;
  /**
   * When an access's offset + size makes it trap unconditionally: beyond the static bound (v17)
   * or beyond the memory's declared maximum (v31 and later).
   */
  readonly heapTrapAbove?: 'bound' | 'maximum';
}

/**
 * Layouts already worked out, by their counts: a VMOffsets is immutable (its regions frozen) and
 * depends on the counts alone, so modules of the same shape (a fuzz campaign's, every instance
 * of one module) share one instead of laying out the VMContext each time.
 */
const LAYOUTS = new Map<string, VMOffsets>();
const MAX_LAYOUTS = 256;

/** v17's VMOffsets of a module. */
export function vmOffsetsFor(module: WasmModule): VMOffsets {
  const c = module.counts;
  const key = `${c.numImportedFunctions},${c.numImportedTables},${c.numImportedMemories},${c.numImportedGlobals},${c.numDefinedTables},${c.numDefinedMemories},${c.numOwnedMemories},${c.numDefinedGlobals},${c.numEscapedFunctions}`;
  let layout = LAYOUTS.get(key);
  if (layout === undefined) {
    layout = newVMOffsets(c);
    if (LAYOUTS.size >= MAX_LAYOUTS) LAYOUTS.clear();
    LAYOUTS.set(key, layout);
  }
  return layout;
}

function newVMOffsets(c: WasmModule['counts']): VMOffsets {
  return new VMOffsets({
    numImportedFunctions: c.numImportedFunctions,
    numImportedTables: c.numImportedTables,
    numImportedMemories: c.numImportedMemories,
    numImportedGlobals: c.numImportedGlobals,
    numDefinedTables: c.numDefinedTables,
    numDefinedMemories: c.numDefinedMemories,
    numOwnedMemories: c.numOwnedMemories,
    numDefinedGlobals: c.numDefinedGlobals,
    numEscapedFuncs: c.numEscapedFunctions,
  });
}

/**
 * `prepareModule` for an era that does not compile the GC proposal: the module unchanged, or a
 * CompileError ('unsupported') saying where GC is used and `why` (naming the profile);
 * `options.bottoms` for an era that takes the extern and func hierarchies' bottom types.
 */
export function withoutGc(why: string, options: GcUseOptions = {}): (module: WasmModule) => WasmModule {
  return (module) => {
    const use = firstGcUse(module, options);
    if (use === undefined) return module;
    const { what, ...site } = use;
    throw new CompileError('unsupported', `${what} needs the GC proposal, which ${why}: compile with --profile v31`, site);
  };
}

/** wasmtime v17: the shared lowering as it always was (bitmap stack maps, v17 barriers). */
export const V17_CODEGEN: CodegenEra = Object.freeze({
  name: 'v17',
  offsetsFor: vmOffsetsFor,
  stackCheck: 'fixed-storage',
  funcRef: { wasmCall: VMFuncRefLayout.wasmCall, vmctx: VMFuncRefLayout.vmctx, typeIndex: VMFuncRefLayout.typeIndex },
  builtinIndex,
  prepareModule: withoutGc('profile v17 does not have (wasmtime v17 has no GC types)'),
  userStackMaps: false,
  memoryTunables: V17_MEMORY_TUNABLES,
  heapTrapAbove: 'bound',
});
