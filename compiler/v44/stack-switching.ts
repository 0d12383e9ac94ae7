/**
 * wasmtime v44's stack-switching structures (pointer size 8): what links the stacks of
 * continuations to each other and to the store, byte for byte, so that the runtime can write them
 * into guest memory and the collector (gc/drc44/) can walk them there.
 *
 * Facts from wasmtime v44.0.0 (commit af382d7d94), the seed stack_switching-v44 being
 * crates/wasmtime/src/runtime/vm/stack_switching.rs:
 * - stack_switching.rs: `VMContObj`, `VMStackLimits`, `VMCommonStackInformation`, `VMHostArray`,
 *   `VMContRef`, `VMStackChain` (`#[repr(usize, C)]`), `VMStackState` (`#[repr(u32)]`);
 * - crates/environ/src/stack_switching.rs: the chain, state and control-effect discriminants;
 * - crates/environ/src/vmoffsets.rs: `size_of_vmstack_chain`, `vmstack_limits_*`,
 *   `vmhostarray_*`, `vmcommon_stack_information_*`, `vmcontobj_*`, `vmcontref_*`;
 * - stack_switching/stack/unix.rs: `VMContinuationStack` {top, len, allocator} and the control
 *   context just below the top of each continuation stack (PC at -8, FP at -16, SP at -24), the
 *   args buffer under it and the launch data `initialize` writes; one guard page below the stack.
 *
 * wasmtime v44 implements continuation stacks on x86-64 Unix only (config.rs marks the
 * stack-switching feature unsupported elsewhere; stack.rs selects a dummy stack on other
 * targets). The structs have the same layout on every 64-bit target, and stackscope uses the same
 * control-context layout on AArch64 (FP at -16 is where its frame record's FP goes, the PC at -8
 * where its LR goes), so the chain walk is the same on both simulated arches.
 */

/** VMStackLimits: the saved `stack_limit` and `last_wasm_entry_fp` of a stack that is not running. */
export const VMStackLimitsLayout = Object.freeze({ stackLimit: 0, lastWasmEntryFp: 8, size: 16 } as const);

/** VMHostArray<T>: u32 length, u32 capacity (slots, not bytes), data pointer. */
export const VMHostArrayLayout = Object.freeze({ length: 0, capacity: 4, data: 8, size: 16 } as const);

/**
 * VMCommonStackInformation: the limits, the u32 VMStackState (+4 padding), the handler list (a
 * VMHostArray of `*mut VMTagDefinition`) and the u32 index of the first switch handler (+4).
 */
export const VMCommonStackInformationLayout = Object.freeze({
  limits: 0,
  state: 16,
  handlers: 24,
  firstSwitchHandlerIndex: 40,
  size: 48,
} as const);

/** VMContObj: the (non-null) VMContRef pointer and the revision it was created at. */
export const VMContObjLayout = Object.freeze({ contref: 0, revision: 8, size: 16 } as const);

/** VMStackChain: a usize discriminant, then the payload pointer (absent for `Absent`). */
export const VMStackChainLayout = Object.freeze({ discriminant: 0, payload: 8, size: 16 } as const);

/**
 * VMContinuationStack (unix): `top` (one past the highest usable byte), `len` (the whole mapping,
 * guard page included) and the allocator kind (a fieldless Rust enum: one byte, then padding).
 */
export const VMContinuationStackLayout = Object.freeze({ top: 0, len: 8, allocator: 16, size: 24 } as const);

/** `Allocator` of VMContinuationStack, in declaration order. */
export const ContinuationStackAllocator = Object.freeze({ Mmap: 0, Custom: 1 } as const);

/**
 * VMContRef: the continuation's common stack information, its parent chain, the last ancestor
 * (itself while fresh), the revision counter (8-aligned on every target), its stack, and the two
 * payload buffers (`args` for cont.new's function, `values` for suspend/resume/switch payloads).
 */
export const VMContRefLayout = Object.freeze({
  commonStackInformation: 0,
  parentChain: 48,
  lastAncestor: 64,
  revision: 72,
  stack: 80,
  args: 104,
  values: 120,
  size: 136,
  align: 8,
} as const);

/** `VMStackChain` discriminants (`STACK_CHAIN_*_DISCRIMINANT`). */
export const StackChainDiscriminant = Object.freeze({ Absent: 0, InitialStack: 1, Continuation: 2 } as const);
export type StackChainKind = keyof typeof StackChainDiscriminant;

/** `VMStackState` discriminants (`STACK_STATE_*_DISCRIMINANT`). */
export const StackState = Object.freeze({ Fresh: 0, Running: 1, Parent: 2, Suspended: 3, Returned: 4 } as const);
export type StackStateName = keyof typeof StackState;

/** `ControlEffect` discriminants (`CONTROL_EFFECT_*_DISCRIMINANT`): the payload a stack switch carries. */
export const ControlEffect = Object.freeze({ Return: 0, Resume: 1, Suspend: 2, Switch: 3 } as const);

/**
 * The control context at the top of a continuation stack, as negative offsets from `top`: how to
 * resume a computation. While the continuation is active (running, or a parent of the running one)
 * it holds the PC, SP and FP of its *parent* at the resume; while suspended, its own at the
 * suspend. `argsCapacity` and the args buffer (16 bytes per slot) lie just below.
 */
export const ControlContextLayout = Object.freeze({ pc: -8, fp: -16, sp: -24, argsCapacity: -32 } as const);

/**
 * What `VMContinuationStack::initialize` writes below the args buffer of a fresh continuation
 * (negative offsets from `top - 16 × args_capacity`): the launch arguments
 * `wasmtime_continuation_start` pops. The initial SP is `top - 0x40 - 16 × capacity`, the initial
 * FP `top - 0x10` (the control context's FP slot: a frame-pointer walk from the continuation's
 * first frame reaches the parent's saved FP there).
 */
export const ContinuationLaunchLayout = Object.freeze({ funcRef: -0x28, callerVmctx: -0x30, args: -0x38, returnValueCount: -0x40 } as const);

/** ValRaw: one 16-byte slot of an args/values buffer. */
export const VAL_RAW_SIZE = 16;

/** `size_of_vmstack_chain` = 2 pointers; the helpers of vmoffsets.rs in one place. */
export const StackSwitchingOffsets = Object.freeze({
  size_of_vmstack_chain: VMStackChainLayout.size,
  vmstack_limits_stack_limit: VMStackLimitsLayout.stackLimit,
  vmstack_limits_last_wasm_entry_fp: VMStackLimitsLayout.lastWasmEntryFp,
  vmhostarray_length: VMHostArrayLayout.length,
  vmhostarray_capacity: VMHostArrayLayout.capacity,
  vmhostarray_data: VMHostArrayLayout.data,
  size_of_vmhostarray: VMHostArrayLayout.size,
  vmcommon_stack_information_limits: VMCommonStackInformationLayout.limits,
  vmcommon_stack_information_state: VMCommonStackInformationLayout.state,
  vmcommon_stack_information_handlers: VMCommonStackInformationLayout.handlers,
  vmcommon_stack_information_first_switch_handler_index: VMCommonStackInformationLayout.firstSwitchHandlerIndex,
  size_of_vmcommon_stack_information: VMCommonStackInformationLayout.size,
  vmcontobj_contref: VMContObjLayout.contref,
  vmcontobj_revision: VMContObjLayout.revision,
  size_of_vmcontobj: VMContObjLayout.size,
  vmcontref_common_stack_information: VMContRefLayout.commonStackInformation,
  vmcontref_parent_chain: VMContRefLayout.parentChain,
  vmcontref_last_ancestor: VMContRefLayout.lastAncestor,
  vmcontref_revision: VMContRefLayout.revision,
  vmcontref_stack: VMContRefLayout.stack,
  vmcontref_args: VMContRefLayout.args,
  vmcontref_values: VMContRefLayout.values,
} as const);
