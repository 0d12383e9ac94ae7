/**
 * Frame walkers over emulated memory.
 *
 * `walkV17` is wasmtime v17's `Backtrace::trace_with_trap_state` / `trace_through_wasm`:
 * activations are (exit pc, exit fp, entry sp) triples, the live one read from VMRuntimeLimits
 * in guest memory followed by the saved older ones (youngest first, as CallThreadState
 * iterates them), cut at the first triple whose pc is 0. Within an activation, each frame's
 * caller FP is the word at FP+0 and its return address the word at FP+8; the activation ends
 * when the next FP is ≥ entry SP (that FP belongs to the host-to-Wasm trampoline). Every
 * assertion wasmtime makes is a typed StackWalkError here, and two more guard the emulator
 * against corrupt chains: each FP must lie in readable guest memory, and an activation has at
 * most (entry SP − first FP) / 16 frames, since every frame owns a 16-byte FP/return-address
 * record and records never overlap. The walk therefore ends, or fails, in bounded time.
 *
 * `walkCanary` is the v0.22/v0.37 scheme (seeds 000/001), which had no exit/entry records: it
 * unwinds from a starting (pc, sp, fp) through the FP chain, each caller frame having
 * SP = callee FP + 16, and reports whether it walked past the stack canary (the host SP
 * recorded at the outermost host-to-guest entry). Like libunwind it never throws on a broken
 * chain; it stops, and the caller must then skip the sweep. When the chain reaches the
 * Machine's return stub (a host-to-guest entry) it continues at the next resume point (the
 * guest frame that called the host function which made that nested call), as an unwinder
 * walks through host frames; after the outermost entry it reports one host frame whose SP is
 * the top of the guest stack, standing for the JS host above it.
 */
import type { Arch } from '../isa/arch.ts';
import type { Machine, Region } from '../simulator/machine.ts';
import { PROT_READ } from '../simulator/engine.ts';
import { abiOf } from '../isa/abi.ts';
import { VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';
import { StackWalkError } from './errors.ts';

/** One activation's records: what VMRuntimeLimits (or a saved snapshot of it) holds. */
export interface ActivationTriple {
  exitPc: bigint;
  exitFp: bigint;
  entrySp: bigint;
}

/** A frame found by the v17 walk. Addresses as numbers (all guest addresses are < 2^53). */
export interface WalkedFrame {
  /** 0 = the live VMRuntimeLimits activation, then the saved older ones. */
  activation: number;
  /** 0 = youngest frame of its activation. */
  index: number;
  pc: number;
  fp: number;
  entrySp: number;
}

/**
 * Reads 64-bit words of guest memory as numbers through region views, caching the last region.
 * A region's view is the emulator's own memory, so a read is a host load, not a call into
 * Unicorn; what costs is finding the region and checking bounds, which `block` does once for
 * a whole frame record or mapped area, whose words `wordAt` then decodes without checks.
 */
export class MemoryReader {
  /** `word` and `block` calls since this reader was made (tests bound them by frames, without timing). */
  reads = 0;
  /** Region lookups those calls needed (a miss of the cached region). */
  regionLookups = 0;
  private region: Region | undefined;
  private base = 0;
  private end = 0;
  private data: DataView | undefined;

  constructor(readonly machine: Machine) {}

  /** The word at `address`, or undefined when those 8 bytes are not readable guest memory. */
  word(address: number): number | undefined {
    const o = this.block(address, 8);
    return o < 0 ? undefined : this.wordAt(o);
  }

  /**
   * Makes the `bytes` bytes from `address` readable in one step: returns their offset for
   * `wordAt`, or −1 when they are not all in one readable region (a caller that must say which
   * word is unreadable then goes word by word). The offset is valid until the next `word` or
   * `block` call.
   */
  block(address: number, bytes: number): number {
    this.reads++;
    if (!(address >= this.base && address + bytes <= this.end)) {
      if (!Number.isSafeInteger(address) || address < 0) return -1;
      this.regionLookups++;
      const r = this.machine.regionAt(BigInt(address));
      if (!r || !(r.perms & PROT_READ)) return -1;
      this.region = r;
      this.base = Number(r.address);
      this.end = this.base + r.size;
      this.data = r.data;
      if (address + bytes > this.end) return -1;
    }
    return address - this.base;
  }

  /** The word at offset `o` of the last `block` (no checks: `o` must lie inside it). */
  wordAt(o: number): number {
    const d = this.data!;
    return d.getUint32(o + 4, true) * 4294967296 + d.getUint32(o, true);
  }

  /** The word at `address` as an exact bigint (for reports), or undefined when unreadable. */
  wordExact(address: number): bigint | undefined {
    if (this.word(address) === undefined) return undefined;
    return this.data!.getBigUint64(address - this.base, true);
  }

  /** The readable region containing `address`. */
  regionOf(address: number): Region | undefined {
    if (this.word(address) === undefined) return undefined;
    return this.region;
  }
}

/** The live triple from VMRuntimeLimits at `limits`. */
export function readRuntimeLimits(machine: Machine, limits: bigint): ActivationTriple {
  return {
    exitPc: machine.readU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitPc)),
    exitFp: machine.readU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitFp)),
    entrySp: machine.readU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmEntrySp)),
  };
}

/** Writes the three activation fields of VMRuntimeLimits (what trampolines do; for hosts and tests). */
export function writeRuntimeLimits(machine: Machine, limits: bigint, t: Partial<ActivationTriple>): void {
  if (t.exitPc !== undefined) machine.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitPc), t.exitPc);
  if (t.exitFp !== undefined) machine.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitFp), t.exitFp);
  if (t.entrySp !== undefined) machine.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmEntrySp), t.entrySp);
}

/**
 * The activations to walk: the live triple, then `older` (youngest first), up to the first
 * with pc 0, whose fp and sp must then be 0 too (v17's debug assertion, kept as an error).
 */
export function collectActivations(live: ActivationTriple, older: readonly ActivationTriple[] = []): ActivationTriple[] {
  const out: ActivationTriple[] = [];
  const all = [live, ...older];
  for (let i = 0; i < all.length; i++) {
    const t = all[i];
    if (t.exitPc === 0n) {
      if (t.exitFp !== 0n || t.entrySp !== 0n) throw new StackWalkError('bad-terminator', i, 0, t.exitPc, t.exitFp, t.entrySp, 'an activation with pc 0 must have fp 0 and entry sp 0');
      break;
    }
    out.push(t);
  }
  return out;
}

/**
 * v17 walk over `activations`; `visit` sees every frame youngest first and may return false
 * to stop the walk (ControlFlow::Break). The frame object is reused from call to call (the
 * walk allocates nothing per frame): copy it to keep it.
 */
export function walkV17(
  machine: Machine,
  activations: readonly ActivationTriple[],
  visit: (frame: WalkedFrame) => boolean | void,
  reader: MemoryReader = new MemoryReader(machine),
): void {
  const fpAlignment = abiOf(machine.arch).fpAlignment;
  const frame: WalkedFrame = { activation: 0, index: 0, pc: 0, fp: 0, entrySp: 0 };
  for (let a = 0; a < activations.length; a++) {
    const t = activations[a];
    if (t.exitPc === 0n) throw new StackWalkError('zero-pc', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.exitFp === 0n) throw new StackWalkError('zero-fp', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.entrySp === 0n) throw new StackWalkError('zero-entry-sp', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.entrySp % 16n !== 0n) throw new StackWalkError('entry-sp-misaligned', a, 0, t.exitPc, t.exitFp, t.entrySp, 'entry sp must be 16-byte aligned');
    const entrySp = Number(t.entrySp);
    let pc = Number(t.exitPc);
    let fp = Number(t.exitFp);
    const fail = (failure: ConstructorParameters<typeof StackWalkError>[0], index: number, detail = '') =>
      new StackWalkError(failure, a, index, BigInt(pc), BigInt(fp), t.entrySp, detail);
    const maxFrames = entrySp >= fp ? Math.floor((entrySp - fp) / 16) + 1 : 1;
    for (let index = 0; ; index++) {
      if (!(entrySp >= fp)) throw fail('fp-above-entry-sp', index);
      if (fpAlignment !== undefined && fp % fpAlignment !== 0) throw fail('fp-misaligned', index, 'x86-64 frame pointers are 16-byte aligned');
      if (index >= maxFrames) throw fail('too-many-frames', index, `more than ${maxFrames} frames between fp and entry sp`);
      frame.activation = a;
      frame.index = index;
      frame.pc = pc;
      frame.fp = fp;
      frame.entrySp = entrySp;
      if (visit(frame) === false) return;
      const record = reader.block(fp, 16);
      const nextPc = record >= 0 ? reader.wordAt(record + 8) : reader.word(fp + 8);
      const nextFp = record >= 0 ? reader.wordAt(record) : reader.word(fp);
      if (nextPc === undefined || nextFp === undefined) throw fail('unreadable', index, `cannot read the frame record at ${hexN(fp)}`);
      if (nextFp >= entrySp) break;
      if (!(nextFp > fp)) {
        const e = fail('fp-not-increasing', index, `next fp ${hexN(nextFp)} is not above fp ${hexN(fp)}`);
        throw e;
      }
      pc = nextPc;
      fp = nextFp;
    }
  }
}

/** Where a canary walk starts or resumes: a guest frame's return address, SP and FP. */
export interface FrameRegisters {
  pc: bigint;
  sp: bigint;
  fp: bigint;
}

export interface CanaryFrame {
  index: number;
  pc: number;
  sp: number;
  fp: number;
  kind: 'guest' | 'host-entry' | 'host';
}

export interface CanaryWalkResult {
  foundCanary: boolean;
  frames: number;
  /** Why the unwind ended (when the canary was not found, why it could not be). */
  stop: 'found-canary' | 'end-of-host' | 'zero-fp' | 'unreadable' | 'fp-not-increasing' | 'too-many-frames' | 'zero-pc';
}

/**
 * The frame of the guest code that called host function `call`, as an unwinder sees it: PC is
 * the return address and SP is the caller's SP once the call returns (x86-64 pops the return
 * address; AArch64 left SP unchanged).
 */
export function callerFrameOfHostCall(arch: Arch, call: { sp: bigint; fp: bigint; returnAddress: bigint }): FrameRegisters {
  return { pc: call.returnAddress, sp: call.sp + BigInt(abiOf(arch).callPushBytes), fp: call.fp };
}

/**
 * The youngest frame from the emulated registers. Stopped inside guest code (a hook or a
 * trap) that is the current PC, SP and FP. Stopped in a host-function stub (the Machine runs a
 * host function from its gateway), the stub is a frameless leaf, so its caller is unwound as
 * CFI would: return address at [SP] and SP + 8 on x86-64, LR (x30) and SP on AArch64.
 */
export function frameFromRegisters(machine: Machine): FrameRegisters {
  const pc = machine.pc();
  const sp = machine.sp();
  const fp = machine.fp();
  const gateway = machine.regionByName('gateway');
  if (gateway && pc >= gateway.address && pc < gateway.address + BigInt(gateway.size)) {
    const abi = abiOf(machine.arch);
    return abi.returnAddress === 'stack'
      ? { pc: machine.readU64(sp), sp: sp + BigInt(abi.callPushBytes), fp }
      : { pc: machine.reg(abi.lr!), sp, fp };
  }
  return { pc, sp, fp };
}

/**
 * The seed's canary walk. `visit` runs for every frame (guest and host) before the canary
 * test, exactly as the seed processes a frame's stack map and then checks whether the canary
 * lies between the previous frame's SP and this one's.
 */
export function walkCanary(
  machine: Machine,
  options: { canary: bigint; start: FrameRegisters; resume?: readonly FrameRegisters[]; maxFrames?: number },
  visit: (frame: CanaryFrame) => void,
  reader: MemoryReader = new MemoryReader(machine),
): CanaryWalkResult {
  const gateway = machine.regionByName('gateway');
  const gwStart = gateway ? Number(gateway.address) : -1;
  const gwEnd = gateway ? gwStart + gateway.size : -1;
  const returnStub = gwStart;
  const canary = Number(options.canary);
  const resume = [...(options.resume ?? [])];
  const maxFrames = options.maxFrames ?? Math.floor(machine.stack.region.size / 16) + 16 * (resume.length + 1);
  let lastSp: number | undefined;
  let found = false;
  let count = 0;
  const step = (frame: CanaryFrame): boolean => {
    visit(frame);
    count++;
    if (lastSp !== undefined) found ||= lastSp <= canary && canary <= frame.sp;
    lastSp = frame.sp;
    return found;
  };
  let pc = Number(options.start.pc);
  let sp = Number(options.start.sp);
  let fp = Number(options.start.fp);
  for (;;) {
    if (count >= maxFrames) return { foundCanary: found, frames: count, stop: 'too-many-frames' };
    if (pc === 0) return { foundCanary: found, frames: count, stop: 'zero-pc' };
    const inGateway = pc >= gwStart && pc < gwEnd;
    if (inGateway && pc === returnStub) {
      // A host-to-guest entry: continue in the guest code that called into the host, if any.
      if (step({ index: count, pc, sp, fp, kind: 'host-entry' })) return { foundCanary: true, frames: count, stop: 'found-canary' };
      const next = resume.shift();
      if (!next) {
        const top = Number(reader.regionOf(sp - 8)?.address ?? 0n) + (reader.regionOf(sp - 8)?.size ?? 0);
        const hostSp = Math.max(top, sp);
        if (step({ index: count, pc: 0, sp: hostSp, fp: 0, kind: 'host' })) return { foundCanary: true, frames: count, stop: 'found-canary' };
        return { foundCanary: found, frames: count, stop: 'end-of-host' };
      }
      pc = Number(next.pc);
      sp = Number(next.sp);
      fp = Number(next.fp);
      continue;
    }
    if (step({ index: count, pc, sp, fp, kind: inGateway ? 'host' : 'guest' })) return { foundCanary: true, frames: count, stop: 'found-canary' };
    if (fp === 0) return { foundCanary: found, frames: count, stop: 'zero-fp' };
    // A frame's record lies at or above its SP; anything else is a broken chain (and going
    // down would let a cycle loop).
    if (fp < sp) return { foundCanary: found, frames: count, stop: 'fp-not-increasing' };
    const record = reader.block(fp, 16);
    const nextPc = record >= 0 ? reader.wordAt(record + 8) : reader.word(fp + 8);
    const nextFp = record >= 0 ? reader.wordAt(record) : reader.word(fp);
    if (nextPc === undefined || nextFp === undefined) return { foundCanary: found, frames: count, stop: 'unreadable' };
    pc = nextPc;
    sp = fp + 16;
    fp = nextFp;
  }
}

function hexN(n: number): string {
  return '0x' + n.toString(16);
}
