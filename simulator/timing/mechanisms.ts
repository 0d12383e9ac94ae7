/**
 * Core mechanisms llvm-mca's scheduling models leave out, applied on top of the tables by the
 * static model (model.ts) and detailed mode's dataflow summaries (blocks.ts). Which core has
 * which is `UarchSpec.mechanisms` (table.ts), each with its source:
 *
 * - stack engine: push/pop/call/ret update rsp in the front end — no latency, and the update
 *   depends on the old rsp only (not on the data pushed);
 * - move elimination: register-to-register moves are renamed away — latency 0, no port;
 * - simple-address loads: a load whose address is base + displacement (or base + index) is a
 *   cycle faster than the table's load latency (the AMD Zen guides' 4- vs 5-cycle loads); the
 *   Zen tables price an integer load-op's load part at the simple 4 already, so such a form
 *   gets the cycle back instead (`loadOpExtra`): 4 + ALU with a simple address, 5 + ALU with a
 *   complex one, as measured on the host;
 * - memory renaming / store-to-load forwarding: a load of the same address expression a
 *   store wrote (same base, index, scale and displacement with the registers unchanged, no
 *   wider than the store; stack slots by their offset from the stack engine's rsp) takes the
 *   stored value `storeForward`
 *   cycles after the store's data was ready, instead of a cache access.
 *
 * Only x86-64 forms are tracked for memory; AArch64 blocks get none of these rules.
 */
import type { ParsedForm } from './forms.ts';
import type { Effects } from './effects.ts';
import type { FormEntry, Mechanisms } from './table.ts';

/** The mechanisms a model applies: none (llvm-mca's semantics) or the core's. */
export const NO_MECHANISMS: Mechanisms = { stackEngine: false, moveElimination: false, simpleAddressSaving: 0, storeForward: undefined };

const ELIMINABLE_MOVES = /^v?mov(aps|apd|dqa|dqu|ups|upd|dqa64|dqu64)$/;

/** A register-to-register move the renamer removes (same width GPR moves of 32/64 bits, full vector moves). */
export function isEliminableMove(form: ParsedForm): boolean {
  if (form.arch !== 'x64' || form.operands.length !== 2) return false;
  const [d, s] = form.operands;
  if (d.kind !== 'reg' || s.kind !== 'reg') return false;
  if (form.mnemonic === 'mov') return (d.bits === 64 || d.bits === 32) && d.bits === s.bits;
  return ELIMINABLE_MOVES.test(form.mnemonic) && d.cls === s.cls;
}

interface AddressParts {
  readonly base: string | undefined;
  readonly index: string | undefined;
  readonly scale: number;
  readonly disp: number;
}

/** `[rdi + rsi*8 - 0x10]` → parts; undefined for rip-relative, segment or unparsable text. */
export function x64Address(text: string): AddressParts | undefined {
  const m = /\[([^\]]*)\]/.exec(text);
  if (!m || /:\[/.test(text)) return undefined;
  let base: string | undefined;
  let index: string | undefined;
  let scale = 1;
  let disp = 0;
  for (const raw of m[1].replace(/\s*-\s*/g, ' + -').split('+')) {
    const t = raw.trim();
    if (t === '') continue;
    const scaled = /^([a-z0-9]+)\*(\d)$/.exec(t);
    if (scaled) {
      index = scaled[1];
      scale = Number(scaled[2]);
    } else if (/^-?(0x[0-9a-f]+|\d+)$/.test(t)) {
      disp += t.startsWith('-') ? -Number(t.slice(1)) : Number(t);
    } else if (/^[a-z][a-z0-9]*$/.test(t)) {
      if (t === 'rip') return undefined;
      if (base === undefined) base = t;
      else if (index === undefined) index = t;
      else return undefined;
    } else return undefined;
  }
  return { base, index, scale, disp };
}

/**
 * The AMD Zen guides' simple addressing modes: base + displacement, base + index and
 * displacement only, without a scale; base + index + displacement and any scale are complex.
 */
export function isSimpleAddress(a: AddressParts): boolean {
  if (a.scale !== 1) return false;
  return !(a.base !== undefined && a.index !== undefined && a.disp !== 0);
}

export interface MemoryAccess {
  /** Address expression: equal keys name the same first byte (within one tracker's run). */
  readonly key: string;
  /** Access width in bits (0: unknown). */
  readonly bits: number;
  readonly load: boolean;
  readonly store: boolean;
  /** Simple addressing (isSimpleAddress), for the load-latency saving. */
  readonly simple: boolean;
}

const STACK_OPS: Record<string, { delta: number; load: boolean; store: boolean }> = {
  push: { delta: -8, load: false, store: true },
  call: { delta: -8, load: false, store: true },
  pop: { delta: 8, load: true, store: false },
  ret: { delta: 8, load: true, store: false },
};

/**
 * Names memory accesses by address expression through a run of instructions: registers get
 * a version per write, so an address is the same only while its registers are; rsp is
 * tracked as an offset from its value at the start (push/pop/call/ret, add/sub rsp, imm),
 * so stack slots match across pushes and pops.
 */
export class MemoryTracker {
  private readonly versions = new Map<string, number>();
  private rspOffset = 0;
  private rspEpoch = 0;
  private readonly lastStore = new Map<string, { ready: number; bits: number }>();

  /** The instruction's data access (before its own register writes), if any. */
  access(form: ParsedForm, entry: FormEntry): MemoryAccess | undefined {
    if (form.arch !== 'x64') return undefined;
    const stack = STACK_OPS[form.mnemonic];
    if (stack && !form.operands.some((o) => o.kind === 'mem')) {
      const offset = stack.store ? this.rspOffset + stack.delta : this.rspOffset;
      return { key: `rsp${this.rspEpoch}:${offset}`, bits: 64, load: stack.load, store: stack.store, simple: true };
    }
    const mem = form.operands.find((o) => o.kind === 'mem');
    if (!mem || form.mnemonic === 'lea' || form.mnemonic === 'nop' || (!entry.load && !entry.store)) return undefined;
    const a = x64Address(mem.text);
    if (!a) return undefined;
    const simple = isSimpleAddress(a);
    let key: string;
    if (a.base === 'rsp' && a.index === undefined) key = `rsp${this.rspEpoch}:${this.rspOffset + a.disp}`;
    else key = `${this.reg(a.base)}|${this.reg(a.index)}*${a.scale}|${a.disp}`;
    return { key, bits: mem.bits, load: entry.load, store: entry.store, simple };
  }

  private reg(r: string | undefined): string {
    return r === undefined ? '-' : `${r}.${this.versions.get(r) ?? 0}`;
  }

  /** Applies the instruction's register writes after it. */
  retire(form: ParsedForm, effects: Effects): void {
    if (form.arch !== 'x64') return;
    const stack = STACK_OPS[form.mnemonic];
    for (const w of effects.writes) {
      if (w.reg !== 'rsp') {
        this.versions.set(w.reg, (this.versions.get(w.reg) ?? 0) + 1);
        continue;
      }
      if (stack && w.pointerUpdate) this.rspOffset += stack.delta;
      else if ((form.mnemonic === 'add' || form.mnemonic === 'sub') && form.operands[1]?.kind === 'imm') {
        const v = Number(form.operands[1].text);
        this.rspOffset += form.mnemonic === 'add' ? v : -v;
      } else {
        this.rspEpoch++;
        this.rspOffset = 0;
      }
    }
  }

  /** Records when the data a store wrote to `access` was ready. */
  stored(access: MemoryAccess, ready: number): void {
    this.lastStore.set(access.key, { ready, bits: access.bits });
  }

  /**
   * When the data last stored at `access`'s address was ready, if a store in this run wrote
   * at least the bytes the load reads (same first byte, no wider than the store: Zen 5 renames
   * a 64-bit store into a 32-bit load of its low half too, measured as for equal widths).
   */
  storedAt(access: MemoryAccess): number | undefined {
    const s = this.lastStore.get(access.key);
    return s !== undefined && (access.bits === 0 || s.bits === 0 || access.bits <= s.bits) ? s.ready : undefined;
  }
}

/**
 * The load's share of an instruction's latency: all of it for a plain load, less the ALU part
 * (the register-source latency, `regLat`) for a load-op that also reads a data register.
 */
export function loadLatencyPart(entry: FormEntry, effects: Effects): number {
  const loadOp = entry.regLat !== undefined && effects.reads.some((r) => !r.address);
  return loadOp ? entry.lat - entry.regLat! : entry.lat;
}

/**
 * Cycles an integer load-op form (`add eax, [mem]`, `imul rdx, [mem]`, `cmp rax, [mem]`: a
 * general-purpose data register beside the load) takes beyond its table latency on a core with
 * simple-address loads. The Zen tables give these forms a 4-cycle load part, the simple-address
 * latency, while their plain loads have the complex 5; the model subtracts the simple-address
 * saving from every load, so it adds it back here. Measured on this project's Zen 5 host
 * (chains through the address, 2026-12-07): `add`/`and`/`xor` with a simple address 5 cycles
 * (table 5, model before 4), `xor` with a scaled index 6 (table 5), `imul` 7 (table 7, model
 * before 6); plain loads 4 and 5 as the tables with the saving. Not measured for vector forms,
 * which keep the table's latency.
 */
export function loadOpExtra(mech: Mechanisms, entry: FormEntry, effects: Effects): number {
  if (mech.simpleAddressSaving === 0 || entry.regLat === undefined || !entry.load) return 0;
  return effects.reads.some((r) => !r.address && GPR.test(r.reg)) ? mech.simpleAddressSaving : 0;
}

/** Register names of the general-purpose registers in Effects (canonical 64-bit names). */
const GPR = /^r(ax|bx|cx|dx|si|di|bp|sp|[89]|1[0-5])$/;
