/**
 * Continuations of the v44 store: `cont.new`, `cont.bind`, `resume` with handlers, `suspend` and
 * `switch`, as compiled v44
 * code from stackscope runs them (compiler/v44/codegen.ts). What wasmtime v44 keeps in memory
 * is kept byte for byte where v44 keeps it (compiler/v44/stack-switching.ts): every continuation
 * is a 136-byte VMContRef (common stack information with its limits and state, parent chain,
 * last ancestor, revision, VMContinuationStack, args and values buffers) with its own stack
 * mapped above an unmapped guard page; the store's VMStoreContext.stack_chain names the running
 * stack; the control context below each stack's top holds where its resumer (or, suspended, the
 * stack itself) stopped. The bookkeeping around each switch follows v44's generated code
 * (crates/cranelift/src/func_environ/stack_switching/instructions.rs `translate_cont_bind`,
 * `translate_resume`, `translate_suspend`, `translate_switch`, `search_handler`,
 * `vmcontref_store_payloads`, and the return path of `wasmtime_continuation_start`), and the collector
 * (gc/drc44) walks the result.
 *
 * How stackscope splits the work (documented differences from v44, which emits all of it inline):
 * - The bookkeeping runs in host builtins appended after v44's 58 (`V44_EXTENSION_BUILTINS`):
 *   the compiled code calls them around the switch; the switch itself is guest code
 *   (`stackscope_switch`, below) that the compiled code calls, so the switch point is a call
 *   site with a user stack map, as Cranelift's inline `stack_switch` is a safepoint.
 * - The switch also carries the callee-saved registers: it pushes them on the stack it leaves
 *   and pops the other stack's before returning into it; the control context's SP points at
 *   them, its FP is the Wasm caller's FP and its PC the Wasm return address (what the walk
 *   reads). A fresh stack is prepared the same way: below `initialize`'s launch data, saved
 *   registers of zero and the start routine's address as the return address (its SP is that
 *   many bytes lower than v44's).
 * - What v44 does right after a switch lands (a handler's preamble reading the suspend payload,
 *   a suspend or switch site reading and discarding its values buffer) the store does while
 *   preparing the switch, as nothing runs in between: at every safepoint the buffers hold what
 *   v44's hold. Handler lists and values buffers are blocks the store reuses per stack (v44's
 *   are stack slots of the function that installs them).
 * - A continuation reference is 8 bytes in registers and frames: the address of a 16-byte
 *   VMContObj cell (contref, revision) the store allocates, one per pair, not the VMContObj in
 *   two registers; `resume` checks the cell's revision against the VMContRef's and bumps it, as
 *   v44 does, so a consumed reference traps with ContinuationAlreadyConsumed. Cells and
 *   continuations live as long as the store (v44 keeps continuations until the store drops too).
 *   In tables and globals the value is v44's own 16 bytes (contref +0, revision +8; null all
 *   zero): `table.get`/`set`/`grow`/`fill` of a continuation table and `global.get`/`set` of a
 *   continuation global are builtins that convert (`fatOf`, `cellOf`), where v44 loads and stores
 *   the 128-bit value inline (grow and fill are libcalls in v44 too).
 * - The start routine calls the function through its array-call trampoline with the args
 *   buffer (its capacity as the length), which records the continuation's entry FP at +72.
 * - `ref.func` values are untyped funcrefs in the subset, so `cont.new` checks the function's
 *   type against the continuation type at run time (v44's validator does it statically).
 */
import type { Arch } from '../../isa/arch.ts';
import { Aarch64Assembler, mem as amem, memPost, memPre } from '../../isa/aarch64/encoder.ts';
import type { AssembledCode } from '../../isa/code-buffer.ts';
import { X64Assembler, mem as xmem } from '../../isa/x64/encoder.ts';
import { hex } from '../../isa/error.ts';
import {
  ContinuationLaunchLayout, ControlContextLayout, ControlEffect, VAL_RAW_SIZE, VMContObjLayout,
  VMContRefLayout, VMCommonStackInformationLayout, VMHostArrayLayout,
} from '../../compiler/v44/stack-switching.ts';
import { V44FuncRefLayout, V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import { funcTypeKey } from '../signatures.ts';
import {
  ABSENT, readCommonStackInformation, readStackChain, readV44StoreContext, writeCommonStackInformation, writeControlContext, writeFreshContRef, writeStackChain,
  writeV44StoreContext, type StackChainValue,
} from '../../gc/drc44/structs.ts';
import { RuntimeError, WasmTrap } from '../errors.ts';
import { mutated } from '../../compiler/mutants.ts';
import { readValRaw, writeValRaw } from '../vm-structs.ts';
import type { V31Instance } from '../v31/instance.ts';
import type { V44Store } from './store.ts';

/** Bytes of a continuation stack (its guard page is extra). */
export const CONTINUATION_STACK_BYTES = 256 * 1024;
const GUARD = 4096;
/** Bytes above the guard the stack limit keeps free for host calls made from the stack. */
const STACK_LIMIT_MARGIN = 16 * 1024;
/** The control context starts 24 bytes below a stack's top: SP, FP, PC. */
const CTX = -ControlContextLayout.sp;

/** Callee-saved registers the switch carries, and the bytes they take with the return address. */
const X64_SAVED = ['rbx', 'r12', 'r13', 'r14', 'r15'] as const;
const X64_SAVE_BYTES = 8 * X64_SAVED.length; // the return address sits right above them
const A64_GPR_PAIRS = [['x19', 'x20'], ['x21', 'x22'], ['x23', 'x24'], ['x25', 'x26'], ['x27', 'x28']] as const;
const A64_FP_PAIRS = [[8, 9], [10, 11], [12, 13], [14, 15]] as const;
/** AArch64: the GPR and FP pairs, then the return address (x30) and a pad at the lowest 16 bytes. */
const A64_SAVE_BYTES = 16 * (A64_GPR_PAIRS.length + A64_FP_PAIRS.length + 1);

/** x64: pop the callee-saved registers pushed by a switch (or zeros of a fresh stack) and return into the stack. */
function x64RestoreAndReturn(a: X64Assembler): void {
  for (const r of [...X64_SAVED].reverse()) a.pop(r);
  a.ret();
}

function a64RestoreAndReturn(a: Aarch64Assembler): void {
  a.ldp('x30', 'x9', memPost('sp', 16));
  for (const [p, q] of [...A64_FP_PAIRS].reverse()) a.fpPopPair(p, q);
  for (const [p, q] of [...A64_GPR_PAIRS].reverse()) a.ldp(p, q, memPost('sp', 16));
  a.ret();
}

/**
 * `stackscope_switch(vmctx, ctx, payload)`: saves the callee-saved registers on the current
 * stack, exchanges SP and FP with the control context at `ctx` (SP +0, FP +8, PC +16), records
 * the Wasm return address as the PC, and returns into the other stack (its saved registers
 * popped) with `payload` as the result.
 */
export function assembleSwitch(arch: Arch): AssembledCode {
  if (arch === 'x64') {
    const a = new X64Assembler();
    for (const r of X64_SAVED) a.push(r);
    a.load('rax', xmem('rsi', 0));
    a.store(xmem('rsi', 0), 'rsp');
    a.load('rcx', xmem('rsi', 8));
    a.store(xmem('rsi', 8), 'rbp');
    a.load('r8', xmem('rsp', X64_SAVE_BYTES));
    a.store(xmem('rsi', 16), 'r8');
    a.mov('rsp', 'rax');
    a.mov('rbp', 'rcx');
    a.mov('rax', 'rdx');
    x64RestoreAndReturn(a);
    return a.finish();
  }
  const a = new Aarch64Assembler();
  for (const [p, q] of A64_GPR_PAIRS) a.stp(p, q, memPre('sp', -16));
  for (const [p, q] of A64_FP_PAIRS) a.fpPushPair(p, q);
  a.stp('x30', 'x30', memPre('sp', -16));
  a.ldr('x9', amem('x1', 0));
  a.mov('x10', 'sp');
  a.str('x10', amem('x1', 0));
  a.ldr('x11', amem('x1', 8));
  a.str('x29', amem('x1', 8));
  a.str('x30', amem('x1', 16));
  a.mov('sp', 'x9');
  a.mov('x29', 'x11');
  a.mov('x0', 'x2');
  a64RestoreAndReturn(a);
  return a.finish();
}

/**
 * The start routine (`wasmtime_continuation_start`): entered on a fresh stack with SP at the
 * launch data and FP = top − 0x10, it pops the data (args capacity, args buffer, caller vmctx,
 * VMFuncRef), calls the function's array-call trampoline, then returns into the parent through
 * the control context with payload Return.
 */
export function assembleStart(arch: Arch): AssembledCode {
  if (arch === 'x64') {
    const a = new X64Assembler();
    a.pop('rcx');
    a.pop('rdx');
    a.pop('rsi');
    a.pop('rdi');
    a.load('rax', xmem('rdi', V44FuncRefLayout.arrayCall));
    a.load('rdi', xmem('rdi', V44FuncRefLayout.vmctx));
    a.callReg('rax');
    a.load('rsp', xmem('rbp', -8));
    a.load('rbp', xmem('rbp', 0));
    a.movImm('rax', BigInt(ControlEffect.Return));
    x64RestoreAndReturn(a);
    return a.finish();
  }
  const a = new Aarch64Assembler();
  a.ldp('x3', 'x2', memPost('sp', 16));
  a.ldp('x1', 'x4', memPost('sp', 16));
  a.ldr('x9', amem('x4', V44FuncRefLayout.arrayCall));
  a.ldr('x0', amem('x4', V44FuncRefLayout.vmctx));
  a.blr('x9');
  a.ldr('x10', amem('x29', -8));
  a.mov('sp', 'x10');
  a.ldr('x29', amem('x29', 0));
  a.movImm('x0', BigInt(ControlEffect.Return));
  a64RestoreAndReturn(a);
  return a.finish();
}

/** What one VMContRef is, host-side. */
interface Continuation {
  address: bigint;
  top: bigint;
  stackLimit: bigint;
  /** The continuation type's function: parameters (resume args) and results. */
  params: number;
  results: number;
}

/** What the code after a switch reads back: results, or a handler's payload and continuation. */
interface Received {
  handler: number;
  values: bigint[];
}

/**
 * The store's continuations and the implementations of the stack-switching builtins. One per
 * V44Store.
 */
export class V44Continuations {
  readonly #store: V44Store;
  /** VMContRef address → continuation. */
  readonly #byAddress = new Map<bigint, Continuation>();
  /** Handlers `stackscope_resume_handler` collected for the next `stackscope_resume`. */
  #pendingHandlers: bigint[] = [];
  /** Values `stackscope_payload_set` staged (resume arguments or suspend payload). */
  #staged: bigint[] = [];
  /** What the last switch delivered, read by `stackscope_payload_get`. */
  #received: Received = { handler: -1, values: [] };
  /** Handler-list blocks by VMCommonStackInformation address, values buffers by VMContRef (`#scratch`). */
  readonly #handlerBuffers = new Map<bigint, { data: bigint; bytes: number }>();
  readonly #valueBuffers = new Map<bigint, { data: bigint; bytes: number }>();
  /** VMContObj cells by `contref:revision` (`#newCell`). */
  readonly #cells = new Map<string, bigint>();
  #switchStub = 0n;
  #startStub = 0n;

  constructor(store: V44Store) {
    this.#store = store;
  }

  /** The guest address of the switch routine (a builtins-array entry) and of the start routine. */
  routines(): { switchRoutine: bigint; start: bigint } {
    if (this.#switchStub === 0n) {
      const t = this.#store.trampolines;
      this.#switchStub = t.code.place('stackscope_switch', assembleSwitch(this.#store.machine.arch)).address;
      this.#startStub = t.code.place('wasmtime_continuation_start', assembleStart(this.#store.machine.arch)).address;
    }
    return { switchRoutine: this.#switchStub, start: this.#startStub };
  }

  get #m() {
    return this.#store.machine;
  }

  /**
   * `cont_new(vmctx, funcref, param_count, result_count)`: a Fresh continuation of the function
   * (v44's `cont_new` libcall and `VMContinuationStack::initialize`), returned as a new VMContObj
   * cell at revision 0.
   */
  contNew(inst: V31Instance, funcRef: bigint, contTypeIndex: number): bigint {
    const s = this.#store;
    const m = this.#m;
    if (funcRef === 0n) throw new WasmTrap({ code: 'NullReference', detail: 'cont.new of a null function reference' });
    const wasm = inst.module.wasm;
    const c = wasm.typeDefs[contTypeIndex]?.composite;
    if (c?.kind !== 'cont') throw new RuntimeError('cont.new', `type ${contTypeIndex} is not a continuation type`);
    const want = wasm.types[c.funcType];
    // The VMFuncRef's signature id against the continuation type's function type.
    const id = m.readU32(funcRef + BigInt(V44FuncRefLayout.typeIndex));
    if (id !== inst.typeId(c.funcType)) throw new WasmTrap({ code: 'BadSignature', detail: `cont.new: the function's signature is not the continuation type's ${funcTypeKey(want)}` });
    if (want.results.length > 1) throw new WasmTrap({ code: 'UnsupportedBuiltin', detail: 'cont.new: a function with several results (the array-call entry takes at most one)' });
    const { start } = this.routines();
    const address = s.heap.alloc(VMContRefLayout.size, 16);
    const stack = m.createStack(`continuation-${s.continuations.length}`, CONTINUATION_STACK_BYTES, GUARD);
    const top = stack.top;
    m.writeBytes(address, new Uint8Array(VMContRefLayout.size));
    writeFreshContRef(m, address, { top, len: BigInt(stack.region.size + GUARD) });
    // The args buffer: one ValRaw per parameter or result (the array call's in-and-out buffer).
    const capacity = Math.max(want.params.length, want.results.length, 1);
    const args = s.heap.alloc(VAL_RAW_SIZE * capacity, 16);
    this.#hostArray(address + BigInt(VMContRefLayout.args), { length: 0, capacity, data: args });
    // Launch data (`initialize`), then the switch's saved registers (zeros) with the start
    // routine as their return address.
    m.writeU64(top + BigInt(ControlContextLayout.argsCapacity), BigInt(capacity));
    m.writeU64(top + BigInt(ContinuationLaunchLayout.funcRef), funcRef);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.callerVmctx), inst.vmctx);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.args), args);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.returnValueCount), BigInt(capacity));
    const launch = top + BigInt(ContinuationLaunchLayout.returnValueCount);
    const saveBytes = m.arch === 'x64' ? X64_SAVE_BYTES + 8 : A64_SAVE_BYTES;
    const sp = launch - BigInt(saveBytes);
    m.writeBytes(sp, new Uint8Array(saveBytes));
    m.writeU64(m.arch === 'x64' ? sp + BigInt(X64_SAVE_BYTES) : sp, start);
    writeControlContext(m, top, { pc: start, fp: top - 0x10n, sp });
    const stackLimit = stack.region.address + BigInt(STACK_LIMIT_MARGIN);
    writeCommonStackInformation(m, address, { state: 'Fresh', stackLimit, lastWasmEntryFp: 0n });
    this.#byAddress.set(address, { address, top, stackLimit, params: want.params.length, results: want.results.length });
    s.continuations.push(address);
    return this.#newCell(address, 0n);
  }

  #hostArray(at: bigint, a: { length: number; capacity: number; data: bigint }): void {
    const m = this.#m;
    m.writeU32(at + BigInt(VMHostArrayLayout.length), a.length);
    m.writeU32(at + BigInt(VMHostArrayLayout.capacity), a.capacity);
    m.writeU64(at + BigInt(VMHostArrayLayout.data), a.data);
  }

  #readHostArray(at: bigint): { length: number; capacity: number; data: bigint } {
    const m = this.#m;
    return { length: m.readU32(at + BigInt(VMHostArrayLayout.length)), capacity: m.readU32(at + BigInt(VMHostArrayLayout.capacity)), data: m.readU64(at + BigInt(VMHostArrayLayout.data)) };
  }

  /**
   * A guest buffer of at least `bytes` for `key`, reused from one use to the next (v44 puts
   * handler lists and values buffers in stack slots of the function that installs them; the
   * store keeps one block per stack instead of allocating each time).
   */
  #scratch(pool: Map<bigint, { data: bigint; bytes: number }>, key: bigint, bytes: number): bigint {
    const old = pool.get(key);
    if (old !== undefined && old.bytes >= bytes) return old.data;
    const b = { data: this.#store.heap.alloc(Math.max(bytes, 16), 16), bytes: Math.max(bytes, 16) };
    pool.set(key, b);
    return b.data;
  }

  /**
   * The VMContObj cell of (contref, revision). Cells are never written after they are made, so
   * one per pair serves every reference to it (a table.get or global.get of the same element
   * gives the same cell, and no cell is allocated twice).
   */
  #newCell(contref: bigint, revision: bigint): bigint {
    const key = `${contref}:${revision}`;
    const known = this.#cells.get(key);
    if (known !== undefined) return known;
    const cell = this.#store.heap.alloc(VMContObjLayout.size, 16);
    this.#m.writeU64(cell + BigInt(VMContObjLayout.contref), contref);
    this.#m.writeU64(cell + BigInt(VMContObjLayout.revision), revision);
    this.#cells.set(key, cell);
    return cell;
  }

  /**
   * A continuation value as v44 stores it in a table element or a global: the fat pointer
   * `contref | revision << 64` (`fatpointer::construct`) of the cell's pair; null is 0 (v44's
   * `ref.null` constructs contref 0, revision 0).
   */
  fatOf(cell: bigint): bigint {
    if (cell === 0n) return 0n;
    const m = this.#m;
    return m.readU64(cell + BigInt(VMContObjLayout.contref)) | (m.readU64(cell + BigInt(VMContObjLayout.revision)) << 64n);
  }

  /** A stored fat pointer back to a continuation value (its cell; 0 when the contref is null, whatever the revision). */
  cellOf(fat: bigint): bigint {
    const contref = BigInt.asUintN(64, fat);
    if (contref === 0n) return 0n;
    this.#continuation(contref);
    return this.#newCell(contref, BigInt.asUintN(64, fat >> 64n));
  }

  /** `stackscope_payload_set(vmctx, j, value)`: stages value j of the next cont.bind, resume, suspend or switch. */
  payloadSet(j: number, value: bigint): void {
    this.#staged[j] = value;
  }

  /** The first `count` staged values (what the compiled code set before this bookkeeping call), unstaged. */
  #takeStaged(count: number): bigint[] {
    const out = Array.from({ length: count }, (_, j) => this.#staged[j] ?? 0n);
    this.#staged = [];
    return out;
  }

  /** `stackscope_resume_handler(vmctx, i, tag)`: handler i of the next resume handles `tag` (this instance's). */
  resumeHandler(inst: V31Instance, i: number, tag: number): void {
    this.#pendingHandlers[i] = this.#tagAddress(inst, tag);
  }

  /**
   * Forgets what a call that trapped left staged (values set for a bookkeeping call that never
   * ran, handlers of a resume that trapped). Called when the store's outermost entry returns.
   */
  resetStaging(): void {
    this.#staged = [];
    this.#pendingHandlers = [];
    this.#received = { handler: -1, values: [] };
  }

  /** The identity of `inst`'s tag `tag`: its VMTagDefinition's address (an imported tag's is its owner's). */
  #tagAddress(inst: V31Instance, tag: number): bigint {
    return inst.tagDefinition(tag);
  }

  #continuation(address: bigint): Continuation {
    const c = this.#byAddress.get(address);
    if (!c) throw new RuntimeError('stack switching', `${hex(address)} is no continuation of this store`);
    return c;
  }

  #running(): { chain: StackChainValue; stack: bigint } {
    const chain = readStackChain(this.#m, this.#store.storeContext + BigInt(V44StoreContextLayout.stackChain)) as StackChainValue;
    if (chain.kind === 'Absent') throw new RuntimeError('stack switching', 'no stack is running (the store chain is Absent)');
    return { chain, stack: chain.payload };
  }

  /** The VMCommonStackInformation of a chain element (a VMContRef starts with it). */
  #csiOf(chain: StackChainValue): bigint {
    return chain.payload + BigInt(chain.kind === 'Continuation' ? VMContRefLayout.commonStackInformation : 0);
  }

  /**
   * The VMContRef a VMContObj cell names, after v44's checks (`fatpointer::deconstruct`, then
   * `trapz contref, null_reference` and the revision check against the cell's witness): a null
   * reference traps with NullReference, a stale one with ContinuationAlreadyConsumed. Bumps the
   * revision (every use consumes the reference).
   */
  #consume(contObj: bigint, what: string): { contref: bigint; revision: bigint } {
    const m = this.#m;
    if (contObj === 0n) throw new WasmTrap({ code: 'NullReference', detail: `${what} of a null continuation` });
    const contref = m.readU64(contObj + BigInt(VMContObjLayout.contref));
    const revision = m.readU64(contObj + BigInt(VMContObjLayout.revision));
    this.#continuation(contref);
    if (m.readU64(contref + BigInt(VMContRefLayout.revision)) !== revision) {
      throw new WasmTrap({ code: 'ContinuationAlreadyConsumed', detail: `${what}: continuation ${hex(contref)}, the reference is of revision ${revision}` });
    }
    m.writeU64(contref + BigInt(VMContRefLayout.revision), revision + 1n);
    return { contref, revision: revision + 1n };
  }

  /**
   * `vmcontref_store_payloads`: `values` appended to a continuation's args buffer while it is
   * Fresh (its function's arguments), to its values buffer once it ran (what its suspend or
   * switch returns) — `occupy_next_slots`: the length grows, the data goes after what is there
   * (cont.bind's values first, then the resume's).
   */
  #storePayloads(contref: bigint, values: readonly bigint[]): void {
    if (values.length === 0) return;
    const m = this.#m;
    const fresh = readCommonStackInformation(m, contref).state === 'Fresh';
    const at = contref + BigInt(fresh ? VMContRefLayout.args : VMContRefLayout.values);
    const a = this.#readHostArray(at);
    if (a.data === 0n || a.length + values.length > a.capacity) {
      // v44's validator guarantees room (the buffers are sized for the continuation's parameters);
      // a broken guarantee is the runtime's bug, not the guest's.
      throw new RuntimeError('stack switching', `${hex(contref)}: ${values.length} value(s) do not fit the ${fresh ? 'args' : 'values'} buffer (length ${a.length}, capacity ${a.capacity})`);
    }
    values.forEach((v, j) => writeValRaw(m, a.data, a.length + j, v));
    this.#hostArray(at, { ...a, length: a.length + values.length });
  }

  /**
   * What a suspended continuation's suspend or switch site does right after the switch into it:
   * reads its values buffer and discards it (`load_data_entries`, `clear(true)`). The store does
   * it while preparing the switch, as nothing runs in between; the values become what
   * `stackscope_payload_get` delivers.
   */
  #deliverValues(contref: bigint): void {
    const at = contref + BigInt(VMContRefLayout.values);
    const a = this.#readHostArray(at);
    this.#received = { handler: -1, values: Array.from({ length: a.length }, (_, j) => readValRaw(this.#m, a.data, j)) };
    this.#hostArray(at, { length: 0, capacity: 0, data: 0n });
  }

  /** `allocate_or_reuse_stack_slot` for a continuation's values buffer: room for `slots` values, length kept. */
  #reserveValues(contref: bigint, slots: number): void {
    if (slots === 0) return;
    const at = contref + BigInt(VMContRefLayout.values);
    const data = this.#scratch(this.#valueBuffers, contref, VAL_RAW_SIZE * slots);
    this.#hostArray(at, { length: this.#readHostArray(at).length, capacity: slots, data });
  }

  /**
   * `stackscope_cont_bind(vmctx, contobj, count)` — `translate_cont_bind`: the reference checked
   * and consumed, the `count` staged values stored as the continuation's first payloads, a new
   * reference at the next revision.
   */
  contBind(contObj: bigint, count: number): bigint {
    const args = this.#takeStaged(count);
    const { contref, revision } = this.#consume(contObj, 'cont.bind');
    this.#storePayloads(contref, args);
    return this.#newCell(contref, revision);
  }

  /**
   * `stackscope_resume(vmctx, contobj, handler_count, suspend_handlers, arg_count)` —
   * `translate_resume`'s bookkeeping: the revision check and bump, the arguments stored, the
   * handlers (suspend handlers first, then switch handlers) into the resuming stack's handler
   * list with the index of the first switch handler, the resuming stack's limits saved (state
   * Parent), the last ancestor linked to the resuming chain, the store's chain and limits
   * switched to the continuation (state Running). Returns the control context to switch on (the
   * last ancestor's).
   */
  resume(contObj: bigint, handlerCount: number, suspendHandlers: number, argCount: number): bigint {
    const m = this.#m;
    const s = this.#store;
    const args = this.#takeStaged(argCount);
    const { contref } = this.#consume(contObj, 'resume');
    const fresh = readCommonStackInformation(m, contref).state === 'Fresh';
    this.#storePayloads(contref, args);
    if (!fresh) this.#deliverValues(contref);
    // The resuming stack: its handlers, its limits, state Parent.
    const { chain: parentChain } = this.#running();
    const parentCsi = this.#csiOf(parentChain);
    const tags = this.#pendingHandlers.slice(0, handlerCount);
    this.#pendingHandlers = [];
    if (tags.length > 0) {
      const data = this.#scratch(this.#handlerBuffers, parentCsi, 8 * tags.length);
      tags.forEach((t, i) => m.writeU64(data + BigInt(8 * i), t));
      this.#hostArray(parentCsi + BigInt(VMCommonStackInformationLayout.handlers), { length: tags.length, capacity: tags.length, data });
      m.writeU32(parentCsi + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex), suspendHandlers);
    }
    const store = readV44StoreContext(m, s.storeContext);
    writeCommonStackInformation(m, parentCsi, { state: 'Parent', stackLimit: store.stackLimit, lastWasmEntryFp: store.entryFp });
    const last = m.readU64(contref + BigInt(VMContRefLayout.lastAncestor));
    writeStackChain(m, last + BigInt(VMContRefLayout.parentChain), parentChain);
    m.writeU64(contref + BigInt(VMContRefLayout.lastAncestor), 0n);
    const limits = readCommonStackInformation(m, contref);
    writeCommonStackInformation(m, contref, { state: 'Running' });
    writeV44StoreContext(m, s.storeContext, { chain: { kind: 'Continuation', payload: contref }, stackLimit: limits.stackLimit, entryFp: limits.lastWasmEntryFp });
    return this.#continuation(last).top - BigInt(CTX);
  }

  /**
   * `search_handler`: up the chain from the running continuation, the first stack whose handler
   * list holds `tagAddress` in the suspend part (`[0, first_switch_handler_index)`) or the switch
   * part (`[first_switch_handler_index, length)`). Returns the handler's stack, the continuation
   * right below it (the last ancestor of what is cut off) and the handler's index; UnhandledTag
   * when no stack has one.
   */
  #searchHandler(tagAddress: bigint, kind: 'suspend' | 'switch', what: string): { handlerChain: StackChainValue; end: bigint; index: number } {
    const m = this.#m;
    const { chain } = this.#running();
    if (chain.kind !== 'Continuation') throw new WasmTrap({ code: 'UnhandledTag', detail: `${what} on the initial stack` });
    for (let below = chain.payload; ; ) {
      const parent = readStackChain(m, below + BigInt(VMContRefLayout.parentChain)) as StackChainValue;
      if (parent.kind === 'Absent') break;
      const csi = this.#csiOf(parent);
      const list = readCommonStackInformation(m, csi).handlers;
      const firstSwitch = m.readU32(csi + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex));
      const [from, to] = kind === 'suspend' ? [0, firstSwitch] : [firstSwitch, list.length];
      for (let i = from; i < to; i++) {
        if (m.readU64(list.data + BigInt(8 * i)) === tagAddress) return { handlerChain: parent, end: below, index: i };
      }
      if (parent.kind !== 'Continuation') break;
      below = parent.payload;
    }
    throw new WasmTrap({ code: 'UnhandledTag', detail: `${what}: no stack up the chain of ${hex(chain.payload)} has a ${kind} handler for it` });
  }

  /**
   * `stackscope_suspend(vmctx, tag, payload_count)` — `translate_suspend`'s bookkeeping (and, as
   * nothing runs in between, the resume site's after the switch): the suspend-handler search up
   * the running chain, the payload into the suspending continuation's values buffer (room for
   * the payload and the tag's results), the continuation Suspended with its last ancestor and
   * limits, the chain detached below the handler, the handler's stack running again. Returns
   * the control context to switch on (the last ancestor's).
   */
  suspend(inst: V31Instance, tag: number, payloadCount: number): bigint {
    const m = this.#m;
    const s = this.#store;
    const payload = this.#takeStaged(payloadCount);
    const { handlerChain, end, index } = this.#searchHandler(this.#tagAddress(inst, tag), 'suspend', `suspend of tag ${tag}`);
    const c0 = this.#running().chain.payload;
    m.writeU64(c0 + BigInt(VMContRefLayout.lastAncestor), end);
    const tagType = inst.module.wasm.types[inst.module.wasm.tags![tag].typeIndex];
    this.#reserveValues(c0, Math.max(payloadCount, tagType.results.length));
    this.#hostArray(c0 + BigInt(VMContRefLayout.values), { ...this.#readHostArray(c0 + BigInt(VMContRefLayout.values)), length: 0 });
    this.#storePayloads(c0, payload);
    const store = readV44StoreContext(m, s.storeContext);
    writeCommonStackInformation(m, c0, { state: 'Suspended', stackLimit: store.stackLimit, lastWasmEntryFp: store.entryFp });
    writeStackChain(m, end + BigInt(VMContRefLayout.parentChain), ABSENT);
    const handlerCsi = this.#csiOf(handlerChain);
    const limits = readCommonStackInformation(m, handlerCsi);
    writeCommonStackInformation(m, handlerCsi, { state: 'Running' });
    writeV44StoreContext(m, s.storeContext, { chain: handlerChain, stackLimit: limits.stackLimit, entryFp: limits.lastWasmEntryFp });
    // The handler's preamble: the payload read from the values buffer (its length back to 0,
    // the buffer kept for the values a resume brings), and a new reference to the continuation.
    this.#hostArray(c0 + BigInt(VMContRefLayout.values), { ...this.#readHostArray(c0 + BigInt(VMContRefLayout.values)), length: 0 });
    const revision = m.readU64(c0 + BigInt(VMContRefLayout.revision));
    this.#received = { handler: index, values: [...payload, this.#newCell(c0, revision)] };
    return this.#continuation(end).top - BigInt(CTX);
  }

  /**
   * `stackscope_switch_to(vmctx, contobj, tag, arg_count, result_count)` — `translate_switch`:
   * the switchee's reference checked and consumed; the switch-handler search for `tag`; the
   * running continuation (the switcher) Suspended, cut off below the handler, with room in its
   * values buffer for the `result_count` values a later switch or resume brings, and a new
   * reference to it; the arguments and that reference stored into the switchee, which runs
   * (Running, its last ancestor linked to the handler's stack, the store's chain and limits its
   * own). The control contexts move as v44's copies do: the switchee's last ancestor takes the
   * handler's context from the switcher's last ancestor, which receives where the switchee
   * resumes — so the exchange routine, given the switcher's, loads the switchee's and saves the
   * switcher's there. Returns that control context.
   */
  switchTo(inst: V31Instance, contObj: bigint, tag: number, argCount: number, resultCount: number): bigint {
    const m = this.#m;
    const s = this.#store;
    const args = this.#takeStaged(argCount);
    const { contref: switchee } = this.#consume(contObj, 'switch');
    const { handlerChain, end: switcherLast } = this.#searchHandler(this.#tagAddress(inst, tag), 'switch', `switch of tag ${tag}`);
    const switcher = this.#running().chain.payload;
    m.writeU64(switcher + BigInt(VMContRefLayout.lastAncestor), switcherLast);
    this.#reserveValues(switcher, resultCount);
    writeCommonStackInformation(m, switcher, { state: 'Suspended' });
    writeStackChain(m, switcherLast + BigInt(VMContRefLayout.parentChain), ABSENT);
    const store = readV44StoreContext(m, s.storeContext);
    if (!mutated('v44-switch-entry-fp-kept')) writeCommonStackInformation(m, switcher, { lastWasmEntryFp: store.entryFp });
    const switcherObj = this.#newCell(switcher, m.readU64(switcher + BigInt(VMContRefLayout.revision)));
    const fresh = readCommonStackInformation(m, switchee).state === 'Fresh';
    this.#storePayloads(switchee, [...args, switcherObj]);
    if (!fresh) this.#deliverValues(switchee);
    writeCommonStackInformation(m, switchee, { state: 'Running' });
    const switcheeLast = m.readU64(switchee + BigInt(VMContRefLayout.lastAncestor));
    writeStackChain(m, switcheeLast + BigInt(VMContRefLayout.parentChain), handlerChain);
    const limits = readCommonStackInformation(m, switchee);
    const chain = mutated('v44-switch-chain-kept') ? {} : { chain: { kind: 'Continuation', payload: switchee } as const };
    writeV44StoreContext(m, s.storeContext, { ...chain, stackLimit: limits.stackLimit, entryFp: limits.lastWasmEntryFp });
    const switcherCtx = this.#continuation(switcherLast).top - BigInt(CTX);
    const switcheeCtx = this.#continuation(switcheeLast).top - BigInt(CTX);
    const size = ControlContextLayout.pc - ControlContextLayout.sp + 8;
    const target = Uint8Array.from(m.readBytes(switcheeCtx, size));
    m.writeBytes(switcheeCtx, Uint8Array.from(m.readBytes(switcherCtx, size)));
    m.writeBytes(switcherCtx, target);
    return switcherCtx;
  }

  /**
   * `stackscope_resumed(vmctx, effect)`, right after the switch back into a resuming stack: for
   * Return (the continuation's function returned through the start routine) v44's return path —
   * state Returned, the chain and limits back to the resuming stack, the results read from the
   * args buffer, which is discarded; for Suspend, the handler the suspend chose. Either way the
   * resuming stack's handler list is cleared. Returns 0 for a return, handler + 1.
   */
  resumed(effect: number): number {
    const m = this.#m;
    const s = this.#store;
    let code: number;
    if (effect === ControlEffect.Suspend) code = this.#received.handler + 1;
    else if (effect === ControlEffect.Return) {
      const { chain } = this.#running();
      if (chain.kind !== 'Continuation') throw new RuntimeError('resume', 'a continuation returned, but the initial stack is running');
      const contref = chain.payload;
      const c = this.#continuation(contref);
      writeCommonStackInformation(m, contref, { state: 'Returned' });
      const parentChain = readStackChain(m, contref + BigInt(VMContRefLayout.parentChain)) as StackChainValue;
      writeStackChain(m, contref + BigInt(VMContRefLayout.parentChain), ABSENT);
      const parentCsi = this.#csiOf(parentChain);
      const limits = readCommonStackInformation(m, parentCsi);
      writeCommonStackInformation(m, parentCsi, { state: 'Running' });
      writeV44StoreContext(m, s.storeContext, { chain: parentChain, stackLimit: limits.stackLimit, entryFp: limits.lastWasmEntryFp });
      const at = contref + BigInt(VMContRefLayout.args);
      const args = this.#readHostArray(at).data;
      this.#received = { handler: -1, values: Array.from({ length: c.results }, (_, j) => readValRaw(m, args, j)) };
      this.#hostArray(at, { length: 0, capacity: 0, data: 0n });
      code = 0;
    } else throw new RuntimeError('resume', `switched back with control effect ${effect}`);
    const csi = this.#csiOf(this.#running().chain);
    this.#hostArray(csi + BigInt(VMCommonStackInformationLayout.handlers), { length: 0, capacity: 0, data: 0n });
    m.writeU32(csi + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex), 0);
    return code;
  }

  /**
   * `stackscope_payload_get(vmctx, j)`: value j of what the last switch delivered (a resume's
   * results, a handler's payload and continuation, or what a resume, switch or cont.bind gave a
   * suspend or switch site).
   */
  payloadGet(j: number): bigint {
    const v = this.#received.values[j];
    if (v === undefined) throw new RuntimeError('stack switching', `no value ${j} was delivered by the last switch`);
    return v;
  }
}
