/**
 * `.eh_frame` call-frame information (the DWARF CFI subset gcc and clang emit) for unwinding
 * guest stacks: CIEs and FDEs with pointer encodings, and the CFA programs (advance_loc,
 * def_cfa*, offset*, restore*, register, same_value, undefined, remember/restore_state,
 * GNU_args_size; expressions make a frame unknown rather than wrong). gcc's -O2 omits frame
 * pointers on x86-64 and leaf functions keep the return address in LR on AArch64: CFI is the
 * only record of where their callers' registers are.
 */
import type { Arch } from '../isa/arch.ts';
import { abiOf } from '../isa/abi.ts';
import { PROT_READ } from '../simulator/engine.ts';
import type { Machine, UnwindState, Unwinder } from '../simulator/machine.ts';

type Rule = { kind: 'offset'; n: bigint } | { kind: 'val-offset'; n: bigint } | { kind: 'register'; reg: number } | { kind: 'same' } | { kind: 'undefined' } | { kind: 'unknown' };

interface Cie {
  codeAlign: bigint;
  dataAlign: bigint;
  raReg: number;
  pointerEncoding: number;
  initial: Uint8Array;
}

interface Fde {
  start: bigint;
  end: bigint;
  cie: Cie;
  program: Uint8Array;
}

class Reader {
  pos: number;
  constructor(readonly bytes: Uint8Array, readonly base: bigint, pos = 0) {
    this.pos = pos;
  }
  private dv(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u8(): number {
    if (this.pos >= this.bytes.length) throw new RangeError('eh_frame: truncated');
    return this.bytes[this.pos++];
  }
  u16(): number { const v = this.dv().getUint16(this.pos, true); this.pos += 2; return v; }
  u32(): number { const v = this.dv().getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): bigint { const v = this.dv().getBigUint64(this.pos, true); this.pos += 8; return v; }
  uleb(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.u8();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return result;
      if (shift > 70n) throw new RangeError('eh_frame: LEB128 too long');
    }
  }
  sleb(): bigint {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.u8();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (shift > 70n) throw new RangeError('eh_frame: LEB128 too long');
    } while (b & 0x80);
    if (b & 0x40) result -= 1n << shift;
    return result;
  }
  /** A pointer in DW_EH_PE encoding `enc` (absolute or PC-relative; the only forms compilers use here). */
  pointer(enc: number): bigint {
    const at = this.base + BigInt(this.pos);
    let v: bigint;
    switch (enc & 0x0f) {
      case 0x00: v = this.u64(); break;
      case 0x01: v = this.uleb(); break;
      case 0x02: v = BigInt(this.u16()); break;
      case 0x03: v = BigInt(this.u32()); break;
      case 0x04: v = this.u64(); break;
      case 0x09: v = this.sleb(); break;
      case 0x0a: v = BigInt.asIntN(16, BigInt(this.u16())); break;
      case 0x0b: v = BigInt.asIntN(32, BigInt(this.u32())); break;
      case 0x0c: v = BigInt.asIntN(64, this.u64()); break;
      default: throw new RangeError(`eh_frame: pointer encoding ${enc}`);
    }
    if ((enc & 0x70) === 0x10) v += at;
    return BigInt.asUintN(64, v);
  }
}

/** The FDEs of an `.eh_frame` section placed at `address`, sorted by start. */
export function parseEhFrame(bytes: Uint8Array, address: bigint): Fde[] {
  const cies = new Map<number, Cie>();
  const fdes: Fde[] = [];
  let pos = 0;
  while (pos + 4 <= bytes.length) {
    const r = new Reader(bytes, address, pos);
    let length = BigInt(r.u32());
    if (length === 0n) {
      // A terminator, or alignment padding between the objects' sections: keep going.
      pos += 4;
      continue;
    }
    if (length === 0xffffffffn) length = r.u64();
    const bodyStart = r.pos;
    const end = bodyStart + Number(length);
    if (end > bytes.length) break;
    const idPos = r.pos;
    const id = r.u32();
    try {
      if (id === 0) {
        const version = r.u8();
        let aug = '';
        for (let c = r.u8(); c !== 0; c = r.u8()) aug += String.fromCharCode(c);
        if (version === 4) r.pos += 2; // address and segment sizes
        const codeAlign = r.uleb();
        const dataAlign = r.sleb();
        const raReg = version === 1 ? r.u8() : Number(r.uleb());
        let pointerEncoding = 0;
        if (aug.startsWith('z')) {
          const augLen = Number(r.uleb());
          const augEnd = r.pos + augLen;
          for (const ch of aug.slice(1)) {
            if (ch === 'R') pointerEncoding = r.u8();
            else if (ch === 'P') r.pointer(r.u8());
            else if (ch === 'L') r.u8();
            else if (ch === 'S' || ch === 'B') continue;
            else break;
          }
          r.pos = augEnd;
        }
        cies.set(pos, { codeAlign, dataAlign, raReg, pointerEncoding, initial: bytes.subarray(r.pos, end) });
      } else {
        const cie = cies.get(idPos - id);
        if (cie) {
          const start = r.pointer(cie.pointerEncoding);
          const range = r.pointer(cie.pointerEncoding & 0x0f);
          const augLen = Number(r.uleb());
          r.pos += augLen;
          if (start !== 0n) fdes.push({ start, end: start + range, cie, program: bytes.subarray(r.pos, end) });
        }
      }
    } catch {
      // A malformed entry: skip it (the FP chain still covers its code).
    }
    pos = end;
  }
  return fdes.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

interface Row {
  cfaReg: number;
  cfaOffset: bigint;
  cfaUnknown: boolean;
  rules: Map<number, Rule>;
}

/** Runs CIE initial instructions then the FDE's up to (and including rows at) `target`. */
function rowAt(fde: Fde, target: bigint): Row {
  const row: Row = { cfaReg: -1, cfaOffset: 0n, cfaUnknown: false, rules: new Map() };
  let initialRules = new Map<number, Rule>();
  const stack: Row[] = [];
  let loc = fde.start;
  const { codeAlign, dataAlign } = fde.cie;
  const run = (program: Uint8Array, isInitial: boolean): boolean => {
    const r = new Reader(program, 0n);
    while (r.pos < program.length) {
      const op = r.u8();
      const high = op & 0xc0;
      const low = op & 0x3f;
      if (high === 0x40) {
        loc += BigInt(low) * codeAlign;
        if (loc > target) return false;
        continue;
      }
      if (high === 0x80) {
        row.rules.set(low, { kind: 'offset', n: r.uleb() * dataAlign });
        continue;
      }
      if (high === 0xc0) {
        const rule = initialRules.get(low);
        if (rule) row.rules.set(low, rule);
        else row.rules.delete(low);
        continue;
      }
      switch (op) {
        case 0x00: break; // nop
        case 0x01: loc = r.u64(); if (loc > target) return false; break;
        case 0x02: loc += BigInt(r.u8()) * codeAlign; if (loc > target) return false; break;
        case 0x03: loc += BigInt(r.u16()) * codeAlign; if (loc > target) return false; break;
        case 0x04: loc += BigInt(r.u32()) * codeAlign; if (loc > target) return false; break;
        case 0x05: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'offset', n: r.uleb() * dataAlign }); break; }
        case 0x06: { const reg = Number(r.uleb()); const rule = initialRules.get(reg); if (rule) row.rules.set(reg, rule); else row.rules.delete(reg); break; }
        case 0x07: row.rules.set(Number(r.uleb()), { kind: 'undefined' }); break;
        case 0x08: row.rules.set(Number(r.uleb()), { kind: 'same' }); break;
        case 0x09: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'register', reg: Number(r.uleb()) }); break; }
        case 0x0a: stack.push({ ...row, rules: new Map(row.rules) }); break;
        case 0x0b: { const s = stack.pop(); if (s) { row.cfaReg = s.cfaReg; row.cfaOffset = s.cfaOffset; row.cfaUnknown = s.cfaUnknown; row.rules = s.rules; } break; }
        case 0x0c: row.cfaReg = Number(r.uleb()); row.cfaOffset = r.uleb(); row.cfaUnknown = false; break;
        case 0x0d: row.cfaReg = Number(r.uleb()); row.cfaUnknown = false; break;
        case 0x0e: row.cfaOffset = r.uleb(); break;
        case 0x0f: { const n = Number(r.uleb()); r.pos += n; row.cfaUnknown = true; break; }
        case 0x10: { const reg = Number(r.uleb()); const n = Number(r.uleb()); r.pos += n; row.rules.set(reg, { kind: 'unknown' }); break; }
        case 0x11: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'offset', n: r.sleb() * dataAlign }); break; }
        case 0x12: row.cfaReg = Number(r.uleb()); row.cfaOffset = r.sleb() * dataAlign; row.cfaUnknown = false; break;
        case 0x13: row.cfaOffset = r.sleb() * dataAlign; break;
        case 0x14: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'val-offset', n: r.uleb() * dataAlign }); break; }
        case 0x15: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'val-offset', n: r.sleb() * dataAlign }); break; }
        case 0x16: { const reg = Number(r.uleb()); const n = Number(r.uleb()); r.pos += n; row.rules.set(reg, { kind: 'unknown' }); break; }
        case 0x2d: break; // AArch64 negate_ra_state (pointer authentication): addresses are not signed here
        case 0x2e: r.uleb(); break; // GNU_args_size
        case 0x2f: { const reg = Number(r.uleb()); row.rules.set(reg, { kind: 'offset', n: -r.uleb() * dataAlign }); break; }
        default: row.cfaUnknown = true; return false;
      }
      if (isInitial) initialRules = new Map(row.rules);
    }
    return true;
  };
  run(fde.cie.initial, true);
  initialRules = new Map(row.rules);
  run(fde.program, false);
  return row;
}

/** CFI for the code of loaded objects, as a Machine unwinder. */
export class CfiUnwinder {
  private readonly fdes: Fde[];

  constructor(readonly arch: Arch, sections: ReadonlyArray<{ bytes: Uint8Array; address: bigint }>) {
    this.fdes = sections.flatMap((s) => parseEhFrame(s.bytes, s.address)).sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  get size(): number {
    return this.fdes.length;
  }

  find(pc: bigint): Fde | undefined {
    let lo = 0;
    let hi = this.fdes.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = this.fdes[mid];
      if (pc < f.start) hi = mid - 1;
      else if (pc >= f.end) lo = mid + 1;
      else return f;
    }
    return undefined;
  }

  readonly unwinder: Unwinder = (state: UnwindState, youngest: boolean, machine: Machine): UnwindState | undefined => {
    const lookup = youngest ? state.pc : state.pc - 1n;
    const fde = this.find(lookup);
    if (!fde) return undefined;
    let row: Row;
    try {
      row = rowAt(fde, lookup);
    } catch {
      return undefined;
    }
    if (row.cfaUnknown || row.cfaReg < 0) return undefined;
    const base = state.regs.get(row.cfaReg);
    if (base === undefined) return undefined;
    const cfa = BigInt.asUintN(64, base + row.cfaOffset);
    const read = (address: bigint): bigint | undefined => (machine.accessible(address, 8, PROT_READ) ? machine.readU64(address) : undefined);
    const regs = new Map(state.regs);
    for (const [reg, rule] of row.rules) {
      switch (rule.kind) {
        case 'offset': {
          const v = read(BigInt.asUintN(64, cfa + rule.n));
          if (v === undefined) return undefined;
          regs.set(reg, v);
          break;
        }
        case 'val-offset': regs.set(reg, BigInt.asUintN(64, cfa + rule.n)); break;
        case 'register': {
          const v = state.regs.get(rule.reg);
          if (v === undefined) regs.delete(reg);
          else regs.set(reg, v);
          break;
        }
        case 'undefined': case 'unknown': regs.delete(reg); break;
        case 'same': break;
      }
    }
    const { sp: spReg, lr: lrReg } = abiOf(this.arch).dwarf;
    const ra = regs.get(fde.cie.raReg);
    const undefinedRa = row.rules.get(fde.cie.raReg)?.kind === 'undefined';
    if (ra === undefined || undefinedRa) return undefined;
    regs.set(spReg, cfa);
    // The return-address column is the caller's PC, not one of its registers (x86-64: 16).
    if (lrReg === undefined) regs.delete(fde.cie.raReg);
    else if (!row.rules.has(lrReg)) regs.delete(lrReg);
    return { pc: ra, regs };
  };
}
