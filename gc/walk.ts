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

/** Whether this host stores a Uint32Array little-endian, as both guests store their words. */
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * Reads 64-bit words of guest memory as numbers through region views, caching the last region.
 * A region's view is the emulator's own memory, so a read is a host load, not a call into
 * Unicorn; what costs is finding the region and checking bounds, which `block` does once for
 * a whole frame record or mapped area, whose words `wordAt` then decodes without checks, as
 * two 32-bit halves from a Uint32Array over the region (no BigInt, no DataView call).
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
  /** The region's bytes as 32-bit words (undefined when the host or the view's offset cannot). */
  private u32: Uint32Array | undefined;

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
      this.u32 = wordsOf(r);
      if (address + bytes > this.end) return -1;
    }
    return address - this.base;
  }

  /** The word at offset `o` of the last `block` (no checks: `o` must lie inside it). */
  wordAt(o: number): number {
    const u32 = this.u32;
    if (u32 !== undefined && (o & 3) === 0) return u32[(o >>> 2) + 1] * 4294967296 + u32[o >>> 2];
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
 *
 * Tail calls: when an activation's only Wasm frame tail-calls (`return_call`) a host function,
 * the exit trampoline records its caller's FP and return address, which are now the entry
 * trampoline's: the exit FP is at or above entry SP and the exit PC is outside Wasm code. Such
 * an activation holds no Wasm frame, and with `isWasmPc` it is left out (later wasmtime
 * handles the same case by comparing with the entry trampoline's FP before the first frame).
 * An exit FP above entry SP with a PC in Wasm code stays a broken chain (fp-above-entry-sp).
 */
export function collectActivations(live: ActivationTriple, older: readonly ActivationTriple[] = [], isWasmPc?: (pc: bigint) => boolean): ActivationTriple[] {
  const out: ActivationTriple[] = [];
  const all = [live, ...older];
  for (let i = 0; i < all.length; i++) {
    const t = all[i];
    if (t.exitPc === 0n) {
      if (t.exitFp !== 0n || t.entrySp !== 0n) throw new StackWalkError('bad-terminator', i, 0, t.exitPc, t.exitFp, t.entrySp, 'an activation with pc 0 must have fp 0 and entry sp 0');
      break;
    }
    if (isWasmPc !== undefined && t.exitFp >= t.entrySp && !isWasmPc(t.exitPc)) continue;
    out.push(t);
  }
  return out;
}

/**
 * A 64-bit value's halves as the Int32Array of a stack region reads them (int32: no load
 * becomes a float), and back; `x` is a non-negative integer held exactly in a number.
 */
function lowHalf(x: number): number {
  return x % 4294967296 | 0;
}

function highHalf(x: number): number {
  return Math.floor(x / 4294967296) | 0;
}

function fromHalves(high: number, low: number): number {
  return (high >>> 0) * 4294967296 + (low >>> 0);
}

/** Frames a V17Cursor hands out per `nextBatch`, at most. */
const BATCH_FRAMES = 256;
/**
 * ... and at first: a walk's first batch, and the first after a run of scanned frames, hand out
 * this many, and each next batch four times more, so that the caller sees a new call site
 * soon enough to fold or scan the run of frames that follows it.
 */
const FIRST_BATCH_FRAMES = 4;
/** Roots a V17Cursor's scanned frames give per `nextBatch`; `scanAt` takes at most a quarter of it per frame. */
const SCAN_ROOTS = 4096;

/**
 * The v17 walk in batches: `begin` one activation (checking its triple), then each
 * `nextBatch` finds the next frames, youngest first: `count` of them in `pcs`, `fps` and
 * `indexes`, plus `folded` frames at the return address `foldPc` that it only counted (see
 * below); it returns false once the activation is done. The caller handles a batch's frames in
 * order before asking for the next one, and the cursor throws each StackWalkError from the
 * `nextBatch` call that follows the last frame the step-by-step walk would have visited, so
 * the frames seen and the errors met, in their order, are exactly those of `walkV17`'s
 * callback. One cursor serves any number of walks.
 *
 * Why batches: the collector then spends a few typed-array loads and compares per frame in
 * one tight loop (bench/gc's 10,000-frame cases). Records are read ahead of the frames being
 * handled only inside the machine's stack region, which nothing the collector does while
 * handling frames writes (it writes reference counts, in externref heap arenas); a record
 * anywhere else ends the batch at its frame, so it is read after that frame was handled, as
 * the step-by-step walk reads it.
 *
 * Folding: a caller for which a frame at some return address is only something to count (the
 * collector, when that call site's stack map marks no word) sets `foldPc`; the cursor still
 * checks every such frame and follows its record, but counts it in `folded` instead of
 * handing it out, so a deep recursion through that call site costs the walk alone.
 */
export class V17Cursor {
  /** Return addresses (frame 0: the exit PC), FPs and indexes in the activation of the last batch's frames. */
  readonly pcs = new Float64Array(BATCH_FRAMES);
  readonly fps = new Float64Array(BATCH_FRAMES);
  readonly indexes = new Float64Array(BATCH_FRAMES);
  /** Frames in the last batch's arrays. */
  count = 0;
  /** Frames at `foldPc` the last batch counted without handing them out. */
  folded = 0;
  /** A return address whose frames are counted in `folded`, not handed out (−1: none; `begin` resets it). */
  foldPc = -1;
  /**
   * Scanning: frames at `scanPc` (set with `scanAt`; −1: none; `begin` resets it) that lie in
   * the stack region with all their `scanOffsets` words are not handed out either: the cursor
   * reads those words itself and counts the frame in `scanned`, and each non-zero word becomes
   * one entry of `roots` (the word), `rootFps` and `rootIndexes` (its frame) and `rootSlots`
   * (which offset: an index into `scanOffsets`), `rootCount` in all. A batch either hands
   * frames out or scans them, never both, so a caller handling either in order meets the
   * frames in walk order. Frames at `scanPc` the cursor cannot scan are handed out.
   */
  scanPc = -1;
  scanned = 0;
  rootCount = 0;
  // The scan's arrays (112 KiB) are made by the first `scanAt`: a walk that never scans (a
  // trap's backtrace makes a cursor each time) does not pay for them.
  roots: Float64Array = new Float64Array(0);
  rootFps: Float64Array = new Float64Array(0);
  rootIndexes: Float64Array = new Float64Array(0);
  rootSlots: Int32Array = new Int32Array(0);
  /** Byte offsets from a scanned frame's FP of the words to read, ascending (`scanAt`). */
  private scanOffsets: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** Frames the next batch may hand out (FIRST_BATCH_FRAMES, growing to BATCH_FRAMES). */
  private handOutLimit = FIRST_BATCH_FRAMES;
  activation = 0;
  entrySp = 0;
  /** The next frame to check and hand out, or (`recordDue`) the last one handed out. */
  private pc = 0;
  private fp = 0;
  private index = 0;
  /** The frame at pc/fp was handed out but its record, outside the stack region, is not read yet. */
  private recordDue = false;
  private maxFrames = 0;
  private done = true;
  /** An error the walk met after the frames it already handed out; thrown by the next call. */
  private pending: StackWalkError | undefined;
  private triple: ActivationTriple | undefined;
  /** Low bits an FP must have clear (x86-64: 15; AArch64 checks no alignment: 0). */
  private readonly fpMask: number;
  /**
   * The machine's stack region, read in place: its bytes as 32-bit words (undefined when the
   * host is big-endian, or the region does not suit the offset arithmetic below), its base
   * (16-aligned) and its base's halves.
   */
  private readonly stack: Region;
  private readonly stackBase: number;
  private readonly stackWords: Uint32Array | undefined;
  private readonly stackInts: Int32Array | undefined;
  private readonly baseLow: number;
  private readonly baseHigh: number;

  constructor(readonly reader: MemoryReader, arch: Arch) {
    const alignment = abiOf(arch).fpAlignment;
    this.fpMask = alignment === undefined ? 0 : alignment - 1;
    const stack = (this.stack = reader.machine.stack.region);
    this.stackBase = Number(stack.address);
    this.baseLow = this.stackBase % 4294967296;
    this.baseHigh = Math.floor(this.stackBase / 4294967296);
    // Offsets into the region must be int32 and the region must not straddle a 4 GiB line,
    // so a caller FP whose high half is the base's is in the region exactly when its low
    // half minus the base's, wrapped to 32 bits, is below the size.
    const suits = this.stackBase % 16 === 0 && stack.size <= 2 ** 30 && this.baseLow + stack.size <= 4294967296;
    this.stackWords = suits ? wordsOf(stack) : undefined;
    this.stackInts = this.stackWords ? new Int32Array(this.stackWords.buffer, this.stackWords.byteOffset, this.stackWords.length) : undefined;
  }

  /** Starts activation `a` at its exit FP and PC; throws when the triple itself is malformed. */
  begin(t: ActivationTriple, a: number): void {
    this.done = true;
    this.pending = undefined;
    this.recordDue = false;
    this.foldPc = -1;
    this.scanPc = -1;
    this.handOutLimit = FIRST_BATCH_FRAMES;
    if (t.exitPc === 0n) throw new StackWalkError('zero-pc', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.exitFp === 0n) throw new StackWalkError('zero-fp', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.entrySp === 0n) throw new StackWalkError('zero-entry-sp', a, 0, t.exitPc, t.exitFp, t.entrySp);
    if (t.entrySp % 16n !== 0n) throw new StackWalkError('entry-sp-misaligned', a, 0, t.exitPc, t.exitFp, t.entrySp, 'entry sp must be 16-byte aligned');
    this.triple = t;
    this.activation = a;
    this.index = 0;
    this.entrySp = Number(t.entrySp);
    this.pc = Number(t.exitPc);
    this.fp = Number(t.exitFp);
    this.maxFrames = this.entrySp >= this.fp ? Math.floor((this.entrySp - this.fp) / 16) + 1 : 1;
    this.done = false;
  }

  /**
   * Scan the frames at return address `pc` from the next batch on (see `scanPc`): `offsets`
   * are the bytes from the frame's FP of the words to read, ascending and 8-aligned. Returns
   * false, and scans nothing, when there are none or too many for one batch (−1 stops scanning).
   */
  scanAt(pc: number, offsets: Int32Array): boolean {
    this.scanPc = -1;
    if (pc < 0 || offsets.length === 0 || offsets.length > SCAN_ROOTS / 4) return false;
    if (this.roots.length === 0) {
      this.roots = new Float64Array(SCAN_ROOTS);
      this.rootFps = new Float64Array(SCAN_ROOTS);
      this.rootIndexes = new Float64Array(SCAN_ROOTS);
      this.rootSlots = new Int32Array(SCAN_ROOTS);
    }
    this.scanOffsets = offsets;
    this.scanPc = pc;
    return true;
  }

  /**
   * The next frames of the activation (see the class comment): each frame is checked (FP at
   * most entry SP, aligned, not more frames than fit), handed out, and then its record read
   * (caller FP at FP+0, return address at FP+8); the activation ends when the caller FP is at
   * or above entry SP, and the caller FP must be above this FP.
   *
   * Inside the stack region the loop follows the chain as an int32 offset (the caller FP's low
   * half minus the base's): each frame's record load then waits only on an integer subtract,
   * not on float conversions, which is what bounds a walk that chases one pointer per frame.
   */
  nextBatch(): boolean {
    this.count = 0;
    this.folded = 0;
    this.scanned = 0;
    this.rootCount = 0;
    if (this.pending !== undefined) {
      const e = this.pending;
      this.pending = undefined;
      throw e;
    }
    if (this.done) return false;
    if (this.recordDue && !this.readDueRecord()) return false;
    const pcs = this.pcs;
    const fps = this.fps;
    const indexes = this.indexes;
    const foldPc = this.foldPc;
    const words = this.stackWords;
    const ints = this.stackInts;
    const entrySp = this.entrySp;
    const fpMask = this.fpMask;
    const maxFrames = this.maxFrames;
    const base = this.stackBase;
    const baseLow = this.baseLow | 0;
    const baseHigh = this.baseHigh;
    // An unreadable stack region (a test may protect it) sends every record through the reader.
    const size = words !== undefined && this.stack.perms & PROT_READ ? this.stack.size : 0;
    let pc = this.pc;
    let fp = this.fp;
    let index = this.index;
    let off = fp >= base && fp - base < size ? (fp - base) | 0 : -1;
    let n = 0;
    let folded = 0;
    // A plain frame's record lies wholly in the region, and its caller FP below entry SP.
    const plainLimit = Math.max(-1, Math.min(size - 15, entrySp - base)) | 0;
    const plainMask = fpMask | 3;
    // foldPc's halves, compared only when there is a foldPc (any halves can be read).
    const folds = foldPc >= 0;
    const foldLow = lowHalf(foldPc);
    const foldHigh = highHalf(foldPc);
    const baseHighInt = baseHigh | 0;
    const scanPc = this.scanPc;
    const scans = scanPc >= 0;
    const scanLow = lowHalf(scanPc);
    const scanHigh = highHalf(scanPc);
    const offsets = this.scanOffsets;
    const scanWords = offsets.length;
    // A scanned frame's words lie in the region: its offset within [firstWord, lastWord].
    const firstWord = scans ? -offsets[0] : 0;
    const lastWord = scans ? size - 8 - offsets[scanWords - 1] : 0;
    const roots = this.roots;
    const rootFps = this.rootFps;
    const rootIndexes = this.rootIndexes;
    const rootSlots = this.rootSlots;
    let scanned = 0;
    let rootCount = 0;
    // The batch ends before the frame at pc/fp/off (a hand-out after scans or the reverse).
    let ended = false;
    const limit = this.handOutLimit;
    this.handOutLimit = Math.min(BATCH_FRAMES, limit * 4);
    while (n < limit) {
      if (off >= 0) {
        // A run of plain frames: in the region, aligned, within the frame limit, each record
        // linking to a higher FP in the region below entry SP. Such a frame needs none of the
        // checks below and no float arithmetic except to hand it out. Anything else leaves the
        // run BEFORE its frame is handled, and the general steps below handle that frame.
        // PCs are kept as int32 halves, as the Int32Array reads them, so no load becomes a
        // float; the region holds fewer than 2^26 frames, so clamping the limit changes nothing.
        let maxIndex = Math.min(maxFrames, 1 << 30) | 0;
        let pcLow = lowHalf(pc);
        let pcHigh = highHalf(pc);
        if (off >= plainLimit) maxIndex = 0;
        while (n < limit && (off & plainMask) === 0 && index < maxIndex) {
          let o = off >> 2;
          let next = (ints![o] - baseLow) | 0;
          if (ints![o + 1] !== baseHighInt || next <= off || next >= plainLimit) break;
          if (pcLow === foldLow && pcHigh === foldHigh && folds) {
            folded++;
            // A run of folded frames (a recursion through one call site). They are frames of
            // one function at one call site, so they have one size and their records lie
            // `stride` bytes apart: each next frame's offset is known before its record is
            // loaded, and a record is only compared with the link it should hold. Loads then
            // no longer wait on one another; waiting is what bounds the chase above, at about
            // 2.3 ns a frame against 1.4 here (this host, one run of 10,000 frames). A frame
            // whose record does not hold that link, or that is not at foldPc, leaves the run
            // before it is counted, and the loop above handles it.
            const stride = next - off;
            if ((stride & plainMask) === 0) {
              const runLimit = Math.min(plainLimit - stride, next + (maxIndex - index - 1) * stride) | 0;
              const stack = ints!;
              let run = 0;
              while (stack[o + 2] === foldLow && stack[o + 3] === foldHigh && next < runLimit) {
                const p = next >> 2;
                if (stack[p] !== ((next + stride + baseLow) | 0) || stack[p + 1] !== baseHighInt) break;
                run++;
                o = p;
                next = (next + stride) | 0;
              }
              folded += run;
              index += run;
            }
          } else if (pcLow === scanLow && pcHigh === scanHigh && scans && off >= firstWord && off <= lastWord) {
            if (n !== 0 || rootCount + scanWords > SCAN_ROOTS) {
              ended = true;
              break;
            }
            for (let w = 0; w < scanWords; w++) {
              const at = (off + offsets[w]) >> 2;
              const low = ints![at];
              const high = ints![at + 1];
              if ((low | high) === 0) continue;
              roots[rootCount] = fromHalves(high, low);
              rootFps[rootCount] = base + off;
              rootIndexes[rootCount] = index;
              rootSlots[rootCount++] = w;
            }
            scanned++;
          } else {
            if (scanned !== 0) {
              ended = true;
              this.handOutLimit = FIRST_BATCH_FRAMES;
              break;
            }
            pcs[n] = fromHalves(pcHigh, pcLow);
            fps[n] = base + off;
            indexes[n++] = index;
          }
          pcLow = ints![o + 2];
          pcHigh = ints![o + 3];
          off = next;
          index++;
        }
        pc = fromHalves(pcHigh, pcLow);
        fp = base + off;
        if (n >= limit || ended) break;
      }
      if (!(entrySp >= fp)) return this.stop(n, folded, scanned, rootCount, pc, fp, index, 'fp-above-entry-sp');
      // (The stack base is 16-aligned, so in the region the offset has the FP's low bits.)
      if (((off >= 0 ? off : fp) & fpMask) !== 0) return this.stop(n, folded, scanned, rootCount, pc, fp, index, 'fp-misaligned', 'x86-64 frame pointers are 16-byte aligned');
      if (index >= maxFrames) return this.stop(n, folded, scanned, rootCount, pc, fp, index, 'too-many-frames', `more than ${maxFrames} frames between fp and entry sp`);
      if (pc === foldPc) folded++;
      else {
        if (scanned !== 0) {
          this.handOutLimit = FIRST_BATCH_FRAMES;
          break;
        }
        pcs[n] = pc;
        fps[n] = fp;
        indexes[n++] = index;
      }
      if (off < 0 || off > size - 16 || (off & 3) !== 0) {
        // Not in the stack region: read this record only once its frame was handled.
        this.reader.reads += n + folded + scanned - 1;
        this.pc = pc;
        this.fp = fp;
        this.index = index;
        this.recordDue = true;
        return this.handOut(n, folded, scanned, rootCount);
      }
      const o = off >> 2;
      const next = (ints![o] - baseLow) | 0;
      const high = words![o + 1];
      const inStack = high === baseHigh && next >= 0 && next < size;
      const nextFp = inStack ? base + next : high * 4294967296 + words![o];
      if (nextFp >= entrySp) {
        this.reader.reads += n + folded + scanned;
        this.done = true;
        return this.handOut(n, folded, scanned, rootCount);
      }
      if (!(nextFp > fp)) return this.stop(n, folded, scanned, rootCount, pc, fp, index, 'fp-not-increasing', `next fp ${hexN(nextFp)} is not above fp ${hexN(fp)}`);
      pc = words![o + 3] * 4294967296 + words![o + 2];
      fp = nextFp;
      off = inStack ? next : -1;
      index++;
    }
    this.reader.reads += n + folded + scanned;
    this.pc = pc;
    this.fp = fp;
    this.index = index;
    return this.handOut(n, folded, scanned, rootCount);
  }

  private handOut(n: number, folded: number, scanned: number, rootCount: number): boolean {
    this.count = n;
    this.folded = folded;
    this.scanned = scanned;
    this.rootCount = rootCount;
    return true;
  }

  /** Reads the record of the frame handed out last through the reader; false when the activation ends there. */
  private readDueRecord(): boolean {
    this.recordDue = false;
    const reader = this.reader;
    const fp = this.fp;
    const record = reader.block(fp, 16);
    const nextPc = record >= 0 ? reader.wordAt(record + 8) : reader.word(fp + 8);
    const nextFp = record >= 0 ? reader.wordAt(record) : reader.word(fp);
    if (nextPc === undefined || nextFp === undefined) throw this.stopNow('unreadable', `cannot read the frame record at ${hexN(fp)}`);
    if (nextFp >= this.entrySp) {
      this.done = true;
      return false;
    }
    if (!(nextFp > fp)) throw this.stopNow('fp-not-increasing', `next fp ${hexN(nextFp)} is not above fp ${hexN(fp)}`);
    this.pc = nextPc;
    this.fp = nextFp;
    this.index++;
    return true;
  }

  /**
   * Ends the walk with an error at frame `index`, after the frames walked so far (`n` handed
   * out, `folded` counted): thrown now when there are none, else by the next call.
   */
  private stop(n: number, folded: number, scanned: number, rootCount: number, pc: number, fp: number, index: number, failure: StackWalkFailure, detail = ''): boolean {
    this.reader.reads += n + folded + scanned;
    this.pc = pc;
    this.fp = fp;
    this.index = index;
    const e = this.stopNow(failure, detail);
    if (n + folded + scanned === 0) throw e;
    this.pending = e;
    return this.handOut(n, folded, scanned, rootCount);
  }

  private stopNow(failure: StackWalkFailure, detail: string): StackWalkError {
    this.done = true;
    return new StackWalkError(failure, this.activation, this.index, BigInt(this.pc), BigInt(this.fp), this.triple!.entrySp, detail);
  }
}

type StackWalkFailure = ConstructorParameters<typeof StackWalkError>[0];

/**
 * A region's bytes as 32-bit words, when those are the guest's little-endian words on this host
 * and the view is 4-aligned (else undefined: callers fall back to DataView reads). Shared with
 * the externref heap, which changes counts through its arenas' words.
 */
export function wordsOf(region: Pick<Region, 'view'>): Uint32Array | undefined {
  const v = region.view;
  return HOST_LITTLE_ENDIAN && v.byteOffset % 4 === 0 ? new Uint32Array(v.buffer, v.byteOffset, v.byteLength >>> 2) : undefined;
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
  const cursor = new V17Cursor(reader, machine.arch);
  const frame: WalkedFrame = { activation: 0, index: 0, pc: 0, fp: 0, entrySp: 0 };
  for (let a = 0; a < activations.length; a++) {
    cursor.begin(activations[a], a);
    while (cursor.nextBatch()) {
      for (let k = 0; k < cursor.count; k++) {
        frame.activation = a;
        frame.index = cursor.indexes[k];
        frame.pc = cursor.pcs[k];
        frame.fp = cursor.fps[k];
        frame.entrySp = cursor.entrySp;
        if (visit(frame) === false) return;
      }
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
