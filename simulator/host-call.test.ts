import test from 'ava';
import { PROT_EXEC, PROT_READ } from './engine.ts';
import { Machine } from './machine.ts';
import { GuestTrap } from './trap.ts';
import { assembleMany } from './testing/asm.ts';

// Issue 14 item 5: a host call whose stack arguments (or return address) live at an unmapped
// or unaligned SP is a guest trap at the calling instruction, not a host error.
test('aarch64: a host call with stack arguments at an unmapped or unaligned SP traps at the blr', async (t) => {
  const m = await Machine.create({ arch: 'aarch64' });
  try {
    const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
    const [unmapped, unaligned] = assembleMany('aarch64', [
      'mov x9, #0x10000\nmov sp, x9\nblr x0\nret',
      'sub sp, sp, #8\nblr x0\nadd sp, sp, #8\nret',
    ]);
    m.writeBytes(text.address, unmapped);
    m.writeBytes(text.address + 0x100n, unaligned);
    const host = m.addHostFunction('ten', 10, (args) => args.reduce((a, b) => a + b, 0n));
    let e = t.throws(() => m.call(text.address, [host]), { instanceOf: GuestTrap }) as GuestTrap;
    t.is(e.kind, 'read-unmapped');
    t.is(e.address, 0x10000n);
    t.is(e.pc, text.address + 8n);
    t.is(e.hostFunction, 'ten');
    e = t.throws(() => m.call(text.address + 0x100n, [host]), { instanceOf: GuestTrap }) as GuestTrap;
    t.is(e.kind, 'sp-alignment');
    t.is(e.pc, text.address + 0x104n);
  } finally {
    m.close();
  }
});

test('x64: a call to a host function with an unmapped SP faults at the call', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  try {
    const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
    const [code] = assembleMany('x64', ['mov rsp, 0x10000\ncall rdi\nret']);
    m.writeBytes(text.address, code);
    const host = m.addHostFunction('ten', 10, () => 0n);
    const e = t.throws(() => m.call(text.address, [host]), { instanceOf: GuestTrap }) as GuestTrap;
    t.is(e.kind, 'write-unmapped');
    t.is(e.pc, text.address + 7n);
  } finally {
    m.close();
  }
});
