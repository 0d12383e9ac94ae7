/**
 * Test support: lays out Cranelift-shaped frames directly in a guest stack region (FP chain,
 * return addresses into one registered function, mapped words), so properties of the walk and
 * the collector can be checked over arbitrary shapes without assembling code per case.
 */
import type { Region } from '../../simulator/machine.ts';
import type { ActivationTriple } from '../walk.ts';
import { stackMapBits, type ModuleStackMapsInput } from '../stackmap-registry.ts';

export interface SyntheticFrame {
  /** The frame's words from SP up (index = stack-map bit); the map covers exactly these. */
  words: bigint[];
  /** Set bits of its stack map. */
  bits: number[];
}

/** Frames youngest first. */
export type SyntheticActivation = SyntheticFrame[];

export interface SyntheticStack {
  /** Activations youngest first: [0] belongs in VMRuntimeLimits, the rest are the saved chain. */
  triples: ActivationTriple[];
  maps: ModuleStackMapsInput;
  /** FP of every frame, activations youngest first, frames youngest first. */
  fps: bigint[][];
}

/**
 * Writes `activations` (youngest first) below `top` in `stack`. Frame sizes are rounded up to
 * an even number of words so every FP is 16-byte aligned; every frame gets its own map at
 * return offset 4·(n+1) of one function starting at `textStart`.
 */
export function layOutSyntheticStack(stack: Region, top: bigint, textStart: bigint, activations: readonly SyntheticActivation[]): SyntheticStack {
  const base = Number(stack.address);
  const data = stack.data;
  const write = (address: number, value: bigint) => {
    if (address < base || address + 8 > base + stack.size) throw new RangeError(`synthetic stack overflows the region at 0x${address.toString(16)}`);
    data.setBigUint64(address - base, BigInt.asUintN(64, value), true);
  };
  const maps: ModuleStackMapsInput['functions'][number]['maps'] = [];
  let mapCount = 0;
  const triples: ActivationTriple[] = new Array(activations.length);
  const fps: bigint[][] = new Array(activations.length);
  let cursor = Number(top) & ~15;
  for (let a = activations.length - 1; a >= 0; a--) {
    const frames = activations[a];
    const entrySp = cursor;
    let fp = entrySp - 16;
    let olderFp = entrySp;
    let olderPc = 0x7ead_0000n;
    const frameFps: number[] = [];
    const framePcs: bigint[] = [];
    for (let k = frames.length - 1; k >= 0; k--) {
      const f = frames[k];
      const words = f.words.length % 2 === 0 ? f.words.length : f.words.length + 1;
      const offset = 4 * ++mapCount;
      maps.push({ returnAddressOffset: offset, callOffset: offset - 1, mappedWords: words, bits: stackMapBits(Math.max(words, 1), f.bits) });
      write(fp, BigInt(olderFp));
      write(fp + 8, olderPc);
      for (let w = 0; w < words; w++) write(fp - words * 8 + w * 8, f.words[w] ?? 0x235n);
      frameFps.unshift(fp);
      const pc = textStart + BigInt(offset);
      framePcs.unshift(pc);
      olderFp = fp;
      olderPc = pc;
      fp = fp - words * 8 - 16;
    }
    triples[a] = frames.length
      ? { exitPc: framePcs[0], exitFp: BigInt(frameFps[0]), entrySp: BigInt(entrySp) }
      : { exitPc: 0n, exitFp: 0n, entrySp: 0n };
    fps[a] = frameFps.map((x) => BigInt(x));
    cursor = (fp - 256) & ~15; // host frames between activations
  }
  return {
    triples, fps,
    maps: { moduleName: 'synthetic', textStart, functions: [{ name: 'synthetic', start: 0n, length: 4 * (mapCount + 1), maps }] },
  };
}
