/** The baseline every speed ratio in bench/ is measured against: Unicorn with no hooks at all. */
import koffi from 'koffi';
import type * as Koffi from 'koffi';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { registersOf } from '../isa/registers.ts';
import { placeImage, type LinkedImage } from '../loader/link.ts';
import { ensureUnicornLoaded, pageAlignedBuffer } from '../simulator/unicorn.ts';
import { now } from './clock.ts';

/** The handful of libunicorn entry points a bare run needs, straight through koffi. */
function rawUnicorn() {
  // The same library state the Machine runs on (simulator/unicorn.ts), unless the process
  // loaded libunicorn itself first (bench/unpatched-child.ts).
  ensureUnicornLoaded();
  const lib = koffi.load('libunicorn.so.2');
  return {
    open: lib.func('int uc_open(int arch, int mode, _Out_ void **uc)'),
    close: lib.func('int uc_close(void *uc)'),
    mapPtr: lib.func('int uc_mem_map_ptr(void *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)'),
    start: lib.func('int uc_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    regWrite: lib.func('int uc_reg_write(void *uc, int regid, const void *value)'),
    regRead: lib.func('int uc_reg_read(void *uc, int regid, _Out_ void *value)'),
    // Writable ranges registered with the native helper take Unicorn's fast store path, as
    // the engine's do (simulator/unicorn.ts); a no-op when the helper's replacement is not in
    // effect (bench/unpatched-child.ts).
    fastStores: helperLib().func('int ss_fast_stores_add(void *uc, uint64_t guest, uint64_t size, void *host)'),
    engineOpen: helperLib().func('int ss_engine_open(void *uc, int arch)'),
    engineClose: helperLib().func('void ss_engine_close(void *uc)'),
  };
}

let helper: Koffi.LibraryHandle | undefined;
function helperLib(): Koffi.LibraryHandle {
  helper ??= koffi.load(fileURLToPath(new URL('../build/libstackscope_hooks.so', import.meta.url)));
  return helper;
}

type Raw = ReturnType<typeof rawUnicorn>;

function openRaw(raw: Raw, arch: Arch): unknown {
  const out: unknown[] = [null];
  const err = raw.open(arch === 'x64' ? 4 : 2, arch === 'x64' ? 8 : 0, out);
  if (err !== 0) throw new Error(`uc_open failed: uc_err ${err}`);
  const uc = out[0];
  // Known to the native helper (as the engine's are), so registered ranges get fast stores.
  const regs = registersOf(arch);
  raw.regRead(uc, regs.ids[regs.pc], new BigUint64Array(1));
  raw.engineOpen(uc, arch === 'x64' ? 0 : 1);
  return uc;
}

function closeRaw(raw: Raw, uc: unknown): void {
  raw.engineClose(uc);
  raw.close(uc);
}

/** x86-64 `hlt` stops emulation; AArch64 `brk` without an interrupt hook ends it with UC_ERR_EXCEPTION. */
const STOP_ERR: Record<Arch, number> = { x64: 0, aarch64: 21 };
function stopInstruction(arch: Arch): Uint8Array {
  return arch === 'x64' ? Uint8Array.of(0xf4) : Uint8Array.of(0x00, 0x00, 0x20, 0xd4);
}

/** The native helper's block hook that does nothing: the price of any per-block callback. */
function installNoop(uc: unknown): void {
  const install = helperLib().func('int ss_install_noop(void *uc, _Out_ uint64_t *hh)');
  const err = install(uc, new BigUint64Array(1));
  if (err !== 0) throw new Error(`ss_install_noop failed: uc_err ${err}`);
}

/** Where `dataPage` maps a read+write page for loops that store. */
export const DATA_PAGE = 0x20000n;

/**
 * The bare run: the same loop, started with one raw uc_emu_start and no hooks. It ends the way
 * a Machine run does — at a trapping instruction — rather than at an `until` exit address,
 * which costs Unicorn a check in every translation block. `noopBlockHook` adds a native block
 * hook that does nothing, the ceiling for any counter that runs per block; `dataPage` maps a
 * read+write page at DATA_PAGE.
 */
export function bareSeconds(arch: Arch, code: Uint8Array, options: { noopBlockHook?: boolean; dataPage?: boolean } = {}): number {
  const raw = rawUnicorn();
  const uc = openRaw(raw, arch);
  const data = pageAlignedBuffer(0x1000);
  if (options.dataPage) {
    raw.mapPtr(uc, DATA_PAGE, data.length, 3, data);
    raw.fastStores(uc, DATA_PAGE, BigInt(data.length), data);
  }
  if (options.noopBlockHook) installNoop(uc);
  const mem = pageAlignedBuffer(0x10000);
  raw.mapPtr(uc, 0x10000n, mem.length, 5, mem);
  mem.set(code);
  // Replace the final `ret` with the stopping instruction.
  const stop = stopInstruction(arch);
  mem.set(stop, code.length - stop.length);
  raw.start(uc, 0x10000n, 0n, 0n, 0); // translate once, as the Machine runs do
  const t0 = now();
  const err = raw.start(uc, 0x10000n, 0n, 0n, 0);
  const seconds = now() - t0;
  closeRaw(raw, uc);
  if (err !== STOP_ERR[arch]) throw new Error(`bare run ended with uc_err ${err}`);
  return seconds;
}

const STACK_BASE = 0x7000_0000n;
const STACK_SIZE = 1 << 20;
const STOP_PAGE = 0x6000_0000n;

/**
 * A linked image called bare: its segments mapped with their permissions, a stack, and a
 * return address on a page holding the stopping instruction; `entry(args)` runs once to
 * translate (`warmArgs`), then is timed with `args`. Returns the seconds and the result
 * register, so the caller can check the bare run computed what the Machine run did.
 * `noopBlockHook` as for bareSeconds.
 */
export function bareCallSeconds(image: LinkedImage, entry: bigint, warmArgs: readonly bigint[], args: readonly bigint[], options: { noopBlockHook?: boolean } = {}): { seconds: number; result: bigint } {
  const arch = image.arch;
  const regs = registersOf(arch);
  const raw = rawUnicorn();
  const uc = openRaw(raw, arch);
  if (options.noopBlockHook) installNoop(uc);
  const keep: Buffer[] = []; // host memory behind the mappings lives as long as the engine
  const buffers = new Map<bigint, Buffer>();
  const map = (address: bigint, size: number, perms: number): Buffer => {
    const buf = pageAlignedBuffer(size);
    keep.push(buf);
    const err = raw.mapPtr(uc, address, size, perms, buf);
    if (err !== 0) throw new Error(`uc_mem_map_ptr at 0x${address.toString(16)} failed: uc_err ${err}`);
    if ((perms & 2) && !(perms & 4)) raw.fastStores(uc, address, BigInt(size), buf);
    buffers.set(address, buf);
    return buf;
  };
  try {
    placeImage(image, {
      mapRegion: (_kind, address, size, perms) => {
        map(address, Number(size), (perms.read ? 1 : 0) | (perms.write ? 2 : 0) | (perms.exec ? 4 : 0));
      },
      writeBytes: (address, bytes) => {
        for (const [base, buf] of buffers) {
          if (address >= base && address + BigInt(bytes.length) <= base + BigInt(buf.length)) {
            buf.set(bytes, Number(address - base));
            return;
          }
        }
        throw new Error(`image bytes at 0x${address.toString(16)} fall outside its segments`);
      },
    });
    map(STACK_BASE, STACK_SIZE, 3);
    map(STOP_PAGE, 0x1000, 5).set(stopInstruction(arch));
    const word = new BigUint64Array(1);
    const set = (name: string, value: bigint) => {
      word[0] = value;
      raw.regWrite(uc, regs.ids[name], word);
    };
    const call = (callArgs: readonly bigint[]): number => {
      const top = STACK_BASE + BigInt(STACK_SIZE) - 64n;
      if (arch === 'x64') {
        // The return address is pushed, as a `call` would have.
        buffers.get(STACK_BASE)!.writeBigUInt64LE(STOP_PAGE, STACK_SIZE - 64 - 8);
        set(regs.sp, top - 8n);
      } else {
        set(regs.sp, top);
        set('x30', STOP_PAGE);
      }
      callArgs.forEach((a, i) => set(regs.intArgs[i], BigInt.asUintN(64, a)));
      return raw.start(uc, entry, 0n, 0n, 0);
    };
    const warm = call(warmArgs);
    if (warm !== STOP_ERR[arch]) throw new Error(`bare warm-up run ended with uc_err ${warm}`);
    const t0 = now();
    const err = call(args);
    const seconds = now() - t0;
    if (err !== STOP_ERR[arch]) throw new Error(`bare run ended with uc_err ${err}`);
    raw.regRead(uc, regs.ids[regs.intResult], word);
    return { seconds, result: word[0] };
  } finally {
    closeRaw(raw, uc);
  }
}
