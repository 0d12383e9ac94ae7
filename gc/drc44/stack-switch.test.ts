/**
 * Stack switching executed, not just laid out: a generator that suspends once, as guest code on
 * both arches. The switch is Cranelift's x64 `stack_switch` (cranelift/codegen/src/isa/x64/inst/
 * emit.rs `StackSwitchBasic`: exchange SP and FP with the control context, store the resume PC,
 * jump to the loaded one; the payload in RDI) over v44's control context (SP, FP, PC at top −
 * 24, −16, −8); the start trampoline is `wasmtime_continuation_start`'s (pop the launch data
 * `VMContinuationStack::initialize` wrote, call the function, then return to the parent through
 * the control context with payload 0). AArch64 has no `stack_switch` in Cranelift v44 (wasmtime
 * v44 supports continuations on x86-64 only): stackscope's equivalent uses the same layout, FP
 * (x29) and the payload in x0.
 *
 * The host does what v44's generated code does around the switches (the VMContRef state, last
 * ancestor and parent chain, VMStoreContext's chain and limits), then walks and collects while
 * the generator is suspended: its frame — built by its own prologue on its own stack — holds a
 * ref across the suspend, and the walk finds it on the continuation's stack.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { assembleMany } from '../../simulator/testing/asm.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import { ContinuationLaunchLayout, ControlContextLayout, ControlEffect, VMContRefLayout, VMContinuationStackLayout } from '../../compiler/v44/stack-switching.ts';
import { UserStackMapRegistry } from '../drc/user-stackmap-registry.ts';
import { Drc44Heap } from './heap.ts';
import { ABSENT, readControlContext, writeCommonStackInformation, writeStackChain, writeV44StoreContext } from './structs.ts';
import { V44Collector } from './v44-collector.ts';

const CTX = -ControlContextLayout.sp; // the control context starts 24 bytes below top
const [SP, FP, PC] = [0, 8, 16]; // stack_switch's ControlContextLayout

/**
 * The switch on the control context at rbx / x19 (store = load, as v44's resume and suspend use
 * it): exchange SP and FP with it, store the resume PC (label 1 after it), jump to the loaded PC.
 */
const SWITCH: Record<Arch, string> = {
  x64: `mov rax, [rbx + ${SP}]
mov [rbx + ${SP}], rsp
mov rsp, rax
mov rax, [rbx + ${FP}]
mov [rbx + ${FP}], rbp
mov rbp, rax
mov rax, [rbx + ${PC}]
lea rcx, [rip + 1f]
mov [rbx + ${PC}], rcx
jmp rax`,
  aarch64: `ldr x9, [x19, #${SP}]
mov x10, sp
str x10, [x19, #${SP}]
mov sp, x9
ldr x9, [x19, #${FP}]
str x29, [x19, #${FP}]
mov x29, x9
ldr x9, [x19, #${PC}]
adr x10, 1f
str x10, [x19, #${PC}]
br x9`,
};

/** resume(ctx, out): switch into the continuation with payload Resume; store the payload it comes back with at out. */
const RESUME: Record<Arch, string> = {
  x64: `push rbp
mov rbp, rsp
push rbx
push r12
mov rbx, rdi
mov r12, rsi
mov rdi, ${ControlEffect.Resume}
${SWITCH.x64}
1: mov [r12], rdi
pop r12
pop rbx
pop rbp
ret`,
  aarch64: `stp x29, x30, [sp, #-16]!
mov x29, sp
stp x19, x20, [sp, #-16]!
mov x19, x0
mov x20, x1
mov x0, #${ControlEffect.Resume}
${SWITCH.aarch64}
1: str x0, [x20]
ldp x19, x20, [sp], #16
ldp x29, x30, [sp], #16
ret`,
};

/** wasmtime_continuation_start: pop the launch data, call the function, return to the parent with payload 0. */
const START: Record<Arch, string> = {
  x64: `pop rcx
pop rdx
pop rsi
pop rdi
call rdi
mov rsi, [rbp + 8]
mov rsp, [rbp - 8]
mov rbp, [rbp]
mov rdi, ${ControlEffect.Return}
jmp rsi`,
  aarch64: `ldp x3, x2, [sp], #16
ldp x1, x4, [sp], #16
blr x4
ldr x9, [x29, #8]
ldr x10, [x29, #-8]
mov sp, x10
ldr x29, [x29]
mov x0, #${ControlEffect.Return}
br x9`,
};

/**
 * gen(ctx in the vmctx slot, ref in the args slot): a Wasm-shaped frame (FP record, 16 bytes below
 * FP) holding the ref at SP+0, then `suspend` (switch on the same control context, payload Suspend),
 * then return. The label after the switch is the return address a stack map would be keyed by.
 */
const GEN: Record<Arch, string> = {
  x64: `push rbp
mov rbp, rsp
push rbx
sub rsp, 8
mov [rsp], edx
mov rbx, rsi
mov rdi, ${ControlEffect.Suspend}
${SWITCH.x64}
1: add rsp, 8
pop rbx
pop rbp
ret`,
  aarch64: `stp x29, x30, [sp, #-16]!
mov x29, sp
sub sp, sp, #16
str w2, [sp]
str x19, [sp, #8]
mov x19, x1
mov x0, #${ControlEffect.Suspend}
${SWITCH.aarch64}
1: ldr x19, [sp, #8]
add sp, sp, #16
ldp x29, x30, [sp], #16
ret`,
};

for (const arch of ARCHES) {
  test(`${arch}: a generator suspends once on its own stack, is walked and collected while suspended, then returns`, async (t) => {
    const m = await Machine.create({ arch });
    try {
      const [resume, start, gen] = assembleMany(arch, [RESUME[arch], START[arch], GEN[arch]]);
      const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
      const at = { resume: text.address, start: text.address + 0x400n, gen: text.address + 0x800n };
      m.writeBytes(at.resume, resume);
      m.writeBytes(at.start, start);
      m.writeBytes(at.gen, gen);
      const host = m.map('host', 4096, PROT_READ | PROT_WRITE);
      const out = host.address;
      const initialCsi = host.address + 64n;
      const storeContext = host.address + 256n;
      const contref = host.address + 512n;
      const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
      const item = heap.allocExternRef('item')!;
      const other = heap.allocExternRef('other')!;
      // Handed to Wasm: the list takes the host's count; only it (and soon the generator's frame) holds them.
      heap.exposeGcRefToWasm(item);
      heap.exposeGcRefToWasm(other);

      // cont.new: a stack above a guard page, the launch data below its top (initialize, no args).
      const stack = m.createStack('continuation', 16384, 4096);
      const top = stack.top;
      const ctx = top - BigInt(CTX);
      m.writeU64(ctx + BigInt(SP), top - 0x40n);
      m.writeU64(ctx + BigInt(FP), top - 0x10n);
      m.writeU64(ctx + BigInt(PC), at.start);
      m.writeU64(top + BigInt(ContinuationLaunchLayout.funcRef), at.gen);
      m.writeU64(top + BigInt(ContinuationLaunchLayout.callerVmctx), ctx); // gen finds its control context here
      m.writeU64(top + BigInt(ContinuationLaunchLayout.args), BigInt(item)); // and the ref it will hold
      m.writeU64(top + BigInt(ContinuationLaunchLayout.returnValueCount), 0n);
      m.writeU64(contref + BigInt(VMContRefLayout.stack + VMContinuationStackLayout.top), top);
      m.writeU64(contref + BigInt(VMContRefLayout.stack + VMContinuationStackLayout.len), BigInt(16384 + 4096));
      writeStackChain(m, contref + BigInt(VMContRefLayout.parentChain), { kind: 'InitialStack', payload: initialCsi });
      writeCommonStackInformation(m, contref, { state: 'Running' });
      writeCommonStackInformation(m, initialCsi, { state: 'Parent' });

      // Resume: runs the generator until it suspends.
      m.call(at.resume, [ctx, out]);
      t.is(m.readU64(out), BigInt(ControlEffect.Suspend), 'the parent continues with the Suspend payload');
      const saved = readControlContext(m, top);
      t.is(saved.fp, top - 0x30n, "the control context holds the generator's own FP: its frame record below the start trampoline's");
      t.is(m.readU64(saved.fp), top - 0x10n, "its saved FP is the start trampoline's, the control context's FP slot");
      t.is(saved.sp, top - 0x40n);
      t.is(m.readU32(saved.sp), item, 'the ref the generator holds across suspend, at SP+0');
      // What translate_suspend records (state, last ancestor, the detached chain; the entry FP the
      // generator's frames end at — here the start trampoline's, which called it directly).
      writeCommonStackInformation(m, contref, { state: 'Suspended', lastWasmEntryFp: top - 0x10n });
      m.writeU64(contref + BigInt(VMContRefLayout.lastAncestor), contref);
      writeStackChain(m, contref + BigInt(VMContRefLayout.parentChain), ABSENT);
      writeCommonStackInformation(m, initialCsi, { state: 'Running' });
      writeV44StoreContext(m, storeContext, { chain: { kind: 'InitialStack', payload: initialCsi }, exitPc: 0n, exitTrampolineFp: 0n, entryFp: 0n });

      // A collection from the host while the generator is suspended: its frame is a root.
      const registry = new UserStackMapRegistry();
      registry.register({
        name: 'gen', textStart: at.gen, textSize: gen.length,
        maps: [{ funcIndex: 0, textReturnOffset: Number(saved.pc - at.gen), returnOffset: Number(saved.pc - at.gen), frameSize: 16, entries: [{ type: 'i32', offset: 0 }] }],
        functionNames: new Map([[0, 'gen']]),
      });
      const collector = new V44Collector({ machine: m, heap, registry, storeContext, continuations: () => [contref] });
      const { report, explanation } = collector.collect({ explain: true });
      t.deepEqual(explanation!.stacks.map((s) => [s.kind, s.role, s.address]), [['continuation', 'suspended', contref]]);
      t.deepEqual(explanation!.frames.map((f) => [f.functionName, f.fp, f.entries.map((e) => e.raw)]), [['gen', top - 0x30n, [item]]]);
      t.deepEqual(report.preciseRoots, [item]);
      t.deepEqual(report.freed.map((f) => f.hostValue), ['other']);

      // Resume again: the generator returns, and the start trampoline comes back with payload 0.
      writeCommonStackInformation(m, contref, { state: 'Running' });
      m.call(at.resume, [ctx, out]);
      t.is(m.readU64(out), BigInt(ControlEffect.Return));
      writeCommonStackInformation(m, contref, { state: 'Returned' });
      const after = collector.collect().report;
      t.deepEqual(after.freed.map((f) => f.hostValue), ['item'], 'a continuation that returned releases its refs');
      t.is(m.readU64(storeContext + BigInt(V44StoreContextLayout.lastWasmExitPc)), 0n);
    } finally {
      m.close();
    }
  });
}
