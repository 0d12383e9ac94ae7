import test from 'ava';
import { isEliminableMove, isSimpleAddress, MemoryTracker, x64Address } from './mechanisms.ts';
import { parseForm } from './forms.ts';
import { loadTimingModels, timingModel, type BlockInstruction } from './model.ts';

await loadTimingModels();

/** A loop block from Intel-syntax lines (addresses 4 bytes apart; the last line branches to 0). */
function loop(...lines: string[]): BlockInstruction[] {
  const body = lines.map((l, i) => {
    const sp = l.indexOf(' ');
    return { mnemonic: sp < 0 ? l : l.slice(0, sp), opStr: sp < 0 ? '' : l.slice(sp + 1), size: 4, address: BigInt(4 * i) };
  });
  return [...body, { mnemonic: 'jne', opStr: '0x0', size: 2, address: BigInt(4 * lines.length) }];
}

test('addresses: parts and the Zen guides\' simple modes', (t) => {
  t.deepEqual(x64Address('qword ptr [rdi + rsi*8 - 0x10]'), { base: 'rdi', index: 'rsi', scale: 8, disp: -16 });
  t.deepEqual(x64Address('qword ptr [rsp + 8]'), { base: 'rsp', index: undefined, scale: 1, disp: 8 });
  t.is(x64Address('qword ptr [rip + 0x20]'), undefined);
  t.true(isSimpleAddress(x64Address('[rax]')!));
  t.true(isSimpleAddress(x64Address('[rax + 0x7f0]')!));
  t.true(isSimpleAddress(x64Address('[rax + rbx]')!));
  t.false(isSimpleAddress(x64Address('[rax + rbx + 8]')!));
  t.false(isSimpleAddress(x64Address('[rax + rbx*2]')!));
});

test('move elimination covers same-width GPR and full vector register moves only', (t) => {
  t.true(isEliminableMove(parseForm('x64', 'mov', 'rax, rbx')));
  t.true(isEliminableMove(parseForm('x64', 'mov', 'eax, ebx')));
  t.true(isEliminableMove(parseForm('x64', 'movaps', 'xmm0, xmm1')));
  t.false(isEliminableMove(parseForm('x64', 'mov', 'ax, bx')));
  t.false(isEliminableMove(parseForm('x64', 'mov', 'rax, qword ptr [rbx]')));
  t.false(isEliminableMove(parseForm('x64', 'movsd', 'xmm0, xmm1')));
});

test('the tracker matches stack slots across push/pop and rsp arithmetic, and forgets rewritten bases', (t) => {
  const m = timingModel('znver5');
  const tr = new MemoryTracker();
  const step = (text: string) => {
    const sp = text.indexOf(' ');
    const looked = m.lookup(text.slice(0, sp < 0 ? undefined : sp), sp < 0 ? '' : text.slice(sp + 1));
    const a = tr.access(looked.form!, looked.entry);
    tr.retire(looked.form!, looked.effects);
    return a?.key;
  };
  const pushed = step('push rbx');
  t.is(step('mov rax, qword ptr [rsp]'), pushed, '[rsp] after the push is the pushed slot');
  step('sub rsp, 0x10');
  t.is(step('mov rax, qword ptr [rsp + 0x10]'), pushed);
  step('add rsp, 0x10');
  t.is(step('pop rbx'), pushed);
  const a = step('mov qword ptr [rdi + 8], rax');
  t.is(step('mov rcx, qword ptr [rdi + 8]'), a);
  step('add rdi, 8');
  t.not(step('mov rcx, qword ptr [rdi + 8]'), a, 'rdi changed: another address');
});

test('stack engine: push/pop traffic costs its stores and loads, not a chain through rsp', (t) => {
  const block = loop('push rbx', 'push rbp', 'push r12', 'pop r12', 'pop rbp', 'pop rbx', 'dec rcx');
  for (const u of ['znver3', 'znver5'] as const) {
    // Zen renames the pushed values through memory: the loop counter is the only chain.
    t.is(timingModel(u).blockCost(block).bounds.latency, 1, u);
  }
  // Intel forwards each pushed register to its pop: a 5-cycle chain per register.
  t.is(timingModel('skylake').blockCost(block).bounds.latency, 5);
  // Without the mechanisms (llvm-mca's view) there is no chain through memory either, and
  // rsp is not a chain in any case.
  t.is(timingModel('skylake').blockCost(block, { mechanisms: false }).bounds.latency, 1);
  // Zen 5: 3 stores at 2 per cycle, 6 memory operations on 4 pipes.
  t.is(timingModel('znver5').blockCost(block).cycles, 1.5);
});

test('simple-address loads are a cycle faster on Zen; complex ones keep the table latency', (t) => {
  const m = timingModel('znver5');
  t.is(m.blockCost(loop('mov rax, qword ptr [rax]', 'dec rcx')).bounds.latency, 4);
  t.is(m.blockCost(loop('mov rax, qword ptr [rax + rcx*8]', 'dec rcx')).bounds.latency, 5);
  t.is(m.blockCost(loop('mov rax, qword ptr [rax]', 'dec rcx'), { mechanisms: false }).bounds.latency, 5);
  // No simple-address rule on Intel's tables or AArch64.
  t.is(timingModel('skylake').blockCost(loop('mov rax, qword ptr [rax]', 'dec rcx')).bounds.latency, 5);
});

test('integer load-op forms on Zen: 4 + ALU through a simple address, 5 + ALU through a complex one', (t) => {
  const m = timingModel('znver5');
  // Host (Zen 5), chains through the address: movzx 1 + add [simple] 5 = 6; xor [scaled] 1 + 6 = 7;
  // imul [simple] 1 + 7 = 8; a crc32 step (xor, movzx, xor [scaled]) 8.
  t.is(m.blockCost(loop('movzx edx, al', 'add eax, dword ptr [rdi + rdx]', 'dec rcx')).bounds.latency, 6);
  t.is(m.blockCost(loop('movzx edx, al', 'xor eax, dword ptr [rdi + rdx*4]', 'dec rcx')).bounds.latency, 7);
  t.is(m.blockCost(loop('movzx edx, al', 'imul eax, dword ptr [rdi + rdx]', 'dec rcx')).bounds.latency, 8);
  t.is(m.blockCost(loop('xor edx, eax', 'shr eax, 8', 'movzx edx, dl', 'xor eax, dword ptr [rdx*4 + 0x4000]', 'dec rcx')).bounds.latency, 8);
  // The data register's own chain is the ALU part only.
  t.is(m.blockCost(loop('add rax, qword ptr [rdi]', 'dec rcx')).bounds.latency, 1);
  // Plain loads are unchanged; without the mechanisms the table's latency.
  t.is(m.blockCost(loop('movzx edx, al', 'mov eax, dword ptr [rdi + rdx]', 'dec rcx')).bounds.latency, 5);
  t.is(m.blockCost(loop('movzx edx, al', 'add eax, dword ptr [rdi + rdx]', 'dec rcx'), { mechanisms: false }).bounds.latency, 6);
});

test('memory renaming on Zen, store forwarding on Intel: a chain through a stored slot', (t) => {
  const chain = loop('mov qword ptr [rsi], rax', 'mov rax, qword ptr [rsi]', 'add rax, 1', 'dec rcx');
  // Zen: the load takes the stored value with no latency; the add is the chain.
  t.is(timingModel('znver5').blockCost(chain).bounds.latency, 1);
  // Intel: 5 cycles of forwarding plus the add.
  t.is(timingModel('skylake').blockCost(chain).bounds.latency, 6);
  // llvm-mca's view: no dependency through memory at all.
  t.is(timingModel('znver5').blockCost(chain, { mechanisms: false }).bounds.latency, 1);
});

test('move elimination takes register moves off the chain and the ports on Intel tables', (t) => {
  const m = timingModel('skylake');
  const block = loop('add rax, 1', 'mov rbx, rax', 'mov rax, rbx', 'dec rcx');
  t.is(m.blockCost(block).bounds.latency, 1);
  t.is(m.blockCost(block, { mechanisms: false }).bounds.latency, 3);
});

test('znver5: the Zen 5 corrections to the Zen 4 model are in the table', (t) => {
  const z5 = timingModel('znver5').table;
  const z4 = timingModel('znver4').table;
  t.is(z5.dispatchWidth, 8);
  t.is(z5.forms['addsd x,x'].lat, 2);
  t.is(z4.forms['addsd x,x'].lat, 3);
  t.is(z5.forms['mulsd x,x'].lat, z4.forms['mulsd x,x'].lat);
  t.true(z5.units.length === z4.units.length + 5);
  t.regex(z5.adjusted ?? '', /58455/);
  t.is(z4.adjusted, undefined);
});
