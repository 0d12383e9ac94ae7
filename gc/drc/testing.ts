/**
 * Test and benchmark support: Wasm-shaped v31 frames written straight into a guest stack region
 * (FP chain ending at an entry trampoline's FP, return addresses into one registered "module"),
 * each depth with a user stack map of `slotsPerFrame` i32 entries, and the VMStoreContext's exit
 * record kept pointing at the youngest frame, so `V31Collector` walks exactly the frames pushed.
 */
import type { Machine, Region } from '../../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { VMStoreContextLayout } from '../../compiler/v31/vmoffsets.ts';
import type { UserStackMapRecord } from '../../compiler/user-stackmaps.ts';
import type { DrcHeap } from './heap.ts';
import { UserStackMapRegistry } from './user-stackmap-registry.ts';
import { V31Collector } from './v31-collector.ts';
import { writeStoreContext } from './walk.ts';

/** Where the fake module's text starts (never executed: only its addresses matter). */
const TEXT_START = 0x7000_0000n;

export class V31SyntheticStack {
  readonly registry = new UserStackMapRegistry();
  readonly storeContext: bigint;
  readonly stack: Region;
  readonly frameSize: number;
  readonly entryFp: number;
  private readonly depthRefs: number[][] = [];

  constructor(
    readonly machine: Machine,
    readonly options: { slotsPerFrame: number; maxFrames: number; name?: string },
  ) {
    const name = options.name ?? 'v31-synthetic';
    this.frameSize = Math.max(16, Math.ceil((options.slotsPerFrame * 4) / 16) * 16);
    this.stack = machine.map(`${name}-stack`, options.maxFrames * (this.frameSize + 16) + 64, PROT_READ | PROT_WRITE);
    this.entryFp = Number(this.stack.address) + this.stack.size - 16;
    this.storeContext = machine.map(`${name}-store-context`, VMStoreContextLayout.size, PROT_READ | PROT_WRITE).address;
    const maps: UserStackMapRecord[] = Array.from({ length: options.maxFrames }, (_, d) => ({
      funcIndex: d,
      textReturnOffset: 4 * (d + 1),
      returnOffset: 4 * (d + 1),
      frameSize: this.frameSize,
      entries: Array.from({ length: options.slotsPerFrame }, (_, k) => ({ type: 'i32' as const, offset: 4 * k })),
    }));
    this.registry.register({ name, textStart: TEXT_START, textSize: 4 * (options.maxFrames + 1), maps });
    this.sync();
  }

  /** Frames on the stack. */
  get depth(): number {
    return this.depthRefs.length;
  }

  /** The refs each frame holds, oldest frame first. */
  get frames(): readonly (readonly number[])[] {
    return this.depthRefs;
  }

  fpOf(depth: number): number {
    return this.entryFp - (depth + 1) * (16 + this.frameSize);
  }

  /** A new youngest frame holding `refs` (0 = null) in its first slots. */
  push(refs: readonly number[]): void {
    const d = this.depthRefs.length;
    if (d >= this.options.maxFrames) throw new RangeError('synthetic v31 stack is full');
    if (refs.length > this.options.slotsPerFrame) throw new RangeError(`a frame has ${this.options.slotsPerFrame} slots`);
    const fp = this.fpOf(d);
    this.machine.writeU64(BigInt(fp), BigInt(d === 0 ? this.entryFp : this.fpOf(d - 1)));
    this.machine.writeU64(BigInt(fp + 8), d === 0 ? 0x7ead_0000n : TEXT_START + BigInt(4 * d));
    const sp = fp - this.frameSize;
    for (let k = 0; k < this.options.slotsPerFrame; k++) this.machine.writeU32(BigInt(sp + 4 * k), refs[k] ?? 0);
    this.depthRefs.push([...refs]);
    this.sync();
  }

  pop(): void {
    this.depthRefs.pop();
    this.sync();
  }

  /** A collector over this stack and `heap`. */
  collector(heap: DrcHeap): V31Collector {
    return new V31Collector({ machine: this.machine, heap, registry: this.registry, storeContext: this.storeContext });
  }

  /** The exit record: the youngest frame (as an exit trampoline leaves it), or none. */
  private sync(): void {
    const d = this.depthRefs.length;
    if (d === 0) writeStoreContext(this.machine, this.storeContext, { exitPc: 0n, exitFp: 0n, entryFp: 0n });
    else writeStoreContext(this.machine, this.storeContext, { exitPc: TEXT_START + BigInt(4 * d), exitFp: BigInt(this.fpOf(d - 1)), entryFp: BigInt(this.entryFp) });
  }
}
