/** The baseline every speed ratio in bench/ is measured against. */
import koffi from 'koffi';
import type { Arch } from '../isa/arch.ts';

/**
 * The bare run: the same loop, started with one raw uc_emu_start and no hooks. It ends the way
 * a Machine run does — at a trapping instruction (x86-64 `hlt` stops emulation; AArch64 `brk`
 * without an interrupt hook ends it with UC_ERR_EXCEPTION) — rather than at an `until` exit
 * address, which costs Unicorn a check in every translation block.
 */
export function bareSeconds(arch: Arch, code: Uint8Array): number {
  const lib = koffi.load('libunicorn.so.2');
  const open = lib.func('int uc_open(int arch, int mode, _Out_ void **uc)');
  const close = lib.func('int uc_close(void *uc)');
  const mapPtr = lib.func('int uc_mem_map_ptr(void *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)');
  const start = lib.func('int uc_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)');
  const out: unknown[] = [null];
  open(arch === 'x64' ? 4 : 2, arch === 'x64' ? 8 : 0, out);
  const uc = out[0];
  const mem = Buffer.alloc(0x10000);
  mapPtr(uc, 0x10000n, mem.length, 5, mem);
  mem.set(code);
  // Replace the final `ret` with the stopping instruction.
  if (arch === 'x64') mem[code.length - 1] = 0xf4;
  else mem.writeUInt32LE(0xd4200000, code.length - 4);
  const expected = arch === 'x64' ? 0 : 21; // UC_ERR_EXCEPTION for the unhooked brk
  start(uc, 0x10000n, 0n, 0n, 0); // translate once, as the Machine runs do
  const t0 = performance.now();
  const err = start(uc, 0x10000n, 0n, 0n, 0);
  const seconds = (performance.now() - t0) / 1000;
  close(uc);
  if (err !== expected) throw new Error(`bare run ended with uc_err ${err}`);
  return seconds;
}
