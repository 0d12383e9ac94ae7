/**
 * What the stages of compileFunction share while one function is lowered: the assembler, the
 * module and its VMOffsets, the frame, the value locations, the call sites, the control stack
 * and the index of the instruction being lowered.
 */
import type { MacroAssembler } from '../codegen/common.ts';
import type { DefinedFunction, WasmModule } from '../frontend/module.ts';
import type { VMOffsets } from '../vmoffsets.ts';
import type { CallRecorder } from './calls.ts';
import type { ControlFrame } from './control.ts';
import type { FunctionFrame } from './frame.ts';
import type { SlotValues } from './values.ts';

export interface Lowering {
  readonly m: MacroAssembler;
  readonly module: WasmModule;
  readonly offsets: VMOffsets;
  readonly fn: DefinedFunction;
  /** Type index → signature index (call_indirect compares signature ids). */
  readonly signatureOf: readonly number[];
  readonly frame: FunctionFrame;
  readonly values: SlotValues;
  readonly calls: CallRecorder;
  /** Open blocks, the function's own frame first. */
  readonly ctrl: ControlFrame[];
  instrIndex: number;
}
