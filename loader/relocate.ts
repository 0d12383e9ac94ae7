/**
 * Applies one relocation to a section's bytes, following the x86-64 and AArch64 ELF psABIs.
 * Notation as in the psABIs: S = symbol address, A = addend, P = address of the patched place,
 * GOT = address of the symbol's GOT slot (G + GOT in the x86-64 document, G(GDAT(S+A)) in the
 * AArch64 one), Page(x) = x & ~0xfff. Checked types that overflow raise a LoaderError naming the
 * relocation type, section, offset and symbol; `_NC` types are deliberately unchecked.
 */
import { hex } from '../isa/error.ts';
import type { Arch } from '../isa/arch.ts';
import { LoaderError } from './elf.ts';
import { R_AARCH64, R_X86_64, relocationInfo } from './reloc-types.ts';

export interface RelocationValues {
  /** Guest address of the patched place. */
  readonly place: bigint;
  /** Guest address the symbol resolved to (0 for relocations against symbol 0). */
  readonly symbol: bigint;
  readonly addend: bigint;
  /** Guest address of the symbol's GOT slot; required for GOT-using types. */
  readonly gotSlot?: bigint;
  /** Guest address of the GOT itself; required for GOTPC32/GOTPC64/GOTOFF64. */
  readonly gotBase?: bigint;
}

/** Where a relocation sits, for error messages. */
export interface RelocationSite {
  readonly file: string;
  readonly section: string;
  /** Offset of the place inside `section`. */
  readonly offset: bigint;
  readonly symbolName: string;
}

const MASK64 = (1n << 64n) - 1n;
const page = (x: bigint): bigint => x & ~0xfffn & MASK64;

function fail(site: RelocationSite, typeName: string, detail: string, kind: 'relocation-overflow' | 'misaligned-relocation' = 'relocation-overflow'): never {
  throw new LoaderError(kind, site.file, `${typeName} against symbol '${site.symbolName}': ${detail}`, {
    section: site.section,
    offset: site.offset,
  });
}

function checkRange(site: RelocationSite, typeName: string, x: bigint, lo: bigint, hiExclusive: bigint): void {
  if (x < lo || x >= hiExclusive) {
    fail(site, typeName, `value ${x < 0n ? '-' + hex(-x) : hex(x)} is outside [${lo < 0n ? '-' + hex(-lo) : hex(lo)}, ${hex(hiExclusive)})`);
  }
}

function checkAligned(site: RelocationSite, typeName: string, x: bigint, align: bigint): void {
  if ((x & (align - 1n)) !== 0n) fail(site, typeName, `value ${hex(x)} is not a multiple of ${align}`, 'misaligned-relocation');
}

function rd32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function wr(b: Uint8Array, o: number, value: bigint, width: number): void {
  let v = value & ((1n << BigInt(width * 8)) - 1n);
  for (let i = 0; i < width; i++) {
    b[o + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** Replaces the bits `mask << shift` of the 32-bit instruction at `o` with `field`. */
function patchField(b: Uint8Array, o: number, field: bigint, bits: number, shift: number): void {
  const mask = (1 << bits) - 1;
  const f = Number(field & BigInt(mask));
  const insn = rd32(b, o);
  wr32(b, o, ((insn & ~(mask << shift)) | (f << shift)) >>> 0);
}

/** ADR/ADRP immediate: 21 bits split into immlo (29..30) and immhi (5..23). */
function patchAdrImm(b: Uint8Array, o: number, imm21: bigint): void {
  const imm = Number(imm21 & 0x1fffffn);
  const insn = rd32(b, o);
  const cleared = insn & ~((3 << 29) | (0x7ffff << 5));
  wr32(b, o, (cleared | ((imm & 3) << 29) | ((imm >>> 2) << 5)) >>> 0);
}

const S32 = [-(1n << 31n), 1n << 31n] as const;

/** The displacement a 26-bit AArch64 branch (±128 MiB) or an x86-64 rel32 (±2 GiB) can reach. */
export function branchReaches(arch: Arch, from: bigint, to: bigint): boolean {
  const x = BigInt.asIntN(64, to - from);
  return arch === 'aarch64' ? x >= -(1n << 27n) && x < 1n << 27n && (x & 3n) === 0n : x >= S32[0] && x < S32[1];
}

/**
 * Patches `bytes` (the section's final contents) at `offset` for relocation `type`.
 * Throws LoaderError on overflow, misalignment, a missing GOT slot or an unknown type.
 */
export function applyRelocation(arch: Arch, type: number, bytes: Uint8Array, offset: number, v: RelocationValues, site: RelocationSite): void {
  const info = relocationInfo(arch, type);
  if (info === undefined) {
    throw new LoaderError('unknown-relocation', site.file, `unknown ${arch} relocation type ${type}`, { section: site.section, offset: site.offset });
  }
  const name = info.name;
  if (offset < 0 || offset + info.width > bytes.length) {
    throw new LoaderError('relocation-out-of-section', site.file, `${name} does not fit in its section`, { section: site.section, offset: site.offset });
  }
  let got = 0n;
  if (info.usesGot) {
    if (v.gotSlot === undefined) fail(site, name, 'no GOT slot was allocated');
    got = v.gotSlot;
  }
  let gotBase = 0n;
  if (info.usesGotBase) {
    if (v.gotBase === undefined) fail(site, name, 'no GOT was allocated');
    gotBase = v.gotBase;
  }
  const S = v.symbol;
  const A = v.addend;
  const P = v.place;
  const abs = BigInt.asIntN(64, S + A);
  const rel = BigInt.asIntN(64, S + A - P);

  if (arch === 'x64') {
    switch (type) {
      case R_X86_64.NONE:
        return;
      case R_X86_64._64:
        return wr(bytes, offset, abs, 8);
      case R_X86_64.PC64:
        return wr(bytes, offset, rel, 8);
      case R_X86_64.PC32:
      case R_X86_64.PLT32: // No PLT: calls bind directly (or through a veneer chosen by the linker).
        checkRange(site, name, rel, S32[0], S32[1]);
        return wr(bytes, offset, rel, 4);
      case R_X86_64.GOTPCREL:
      case R_X86_64.GOTPCRELX:
      case R_X86_64.REX_GOTPCRELX: {
        // The GOT slot is kept (no relaxation to lea): always correct, never needs rewriting code.
        const x = BigInt.asIntN(64, got + A - P);
        checkRange(site, name, x, S32[0], S32[1]);
        return wr(bytes, offset, x, 4);
      }
      case R_X86_64.GOTPC32: {
        const x = BigInt.asIntN(64, gotBase + A - P);
        checkRange(site, name, x, S32[0], S32[1]);
        return wr(bytes, offset, x, 4);
      }
      case R_X86_64.GOTPC64:
        return wr(bytes, offset, gotBase + A - P, 8);
      case R_X86_64.GOTOFF64:
        return wr(bytes, offset, S + A - gotBase, 8);
      case R_X86_64._32:
        checkRange(site, name, abs, 0n, 1n << 32n);
        return wr(bytes, offset, abs, 4);
      case R_X86_64._32S:
        checkRange(site, name, abs, S32[0], S32[1]);
        return wr(bytes, offset, abs, 4);
      case R_X86_64._16:
        checkRange(site, name, abs, -(1n << 15n), 1n << 16n);
        return wr(bytes, offset, abs, 2);
      case R_X86_64.PC16:
        checkRange(site, name, rel, -(1n << 15n), 1n << 15n);
        return wr(bytes, offset, rel, 2);
      case R_X86_64._8:
        checkRange(site, name, abs, -(1n << 7n), 1n << 8n);
        return wr(bytes, offset, abs, 1);
      case R_X86_64.PC8:
        checkRange(site, name, rel, -(1n << 7n), 1n << 7n);
        return wr(bytes, offset, rel, 1);
    }
  } else {
    switch (type) {
      case R_AARCH64.NONE:
      case R_AARCH64.NONE_OLD:
        return;
      case R_AARCH64.ABS64:
        return wr(bytes, offset, abs, 8);
      case R_AARCH64.ABS32:
        checkRange(site, name, abs, -(1n << 31n), 1n << 32n);
        return wr(bytes, offset, abs, 4);
      case R_AARCH64.ABS16:
        checkRange(site, name, abs, -(1n << 15n), 1n << 16n);
        return wr(bytes, offset, abs, 2);
      case R_AARCH64.PREL64:
        return wr(bytes, offset, rel, 8);
      case R_AARCH64.PREL32:
        checkRange(site, name, rel, -(1n << 31n), 1n << 32n);
        return wr(bytes, offset, rel, 4);
      case R_AARCH64.PREL16:
        checkRange(site, name, rel, -(1n << 15n), 1n << 16n);
        return wr(bytes, offset, rel, 2);
      case R_AARCH64.MOVW_UABS_G0:
      case R_AARCH64.MOVW_UABS_G0_NC:
      case R_AARCH64.MOVW_UABS_G1:
      case R_AARCH64.MOVW_UABS_G1_NC:
      case R_AARCH64.MOVW_UABS_G2:
      case R_AARCH64.MOVW_UABS_G2_NC:
      case R_AARCH64.MOVW_UABS_G3: {
        const group = [0, 0, 1, 1, 2, 2, 3][type - R_AARCH64.MOVW_UABS_G0];
        const checked = type === R_AARCH64.MOVW_UABS_G0 || type === R_AARCH64.MOVW_UABS_G1 || type === R_AARCH64.MOVW_UABS_G2;
        const u = abs & MASK64;
        if (checked) checkRange(site, name, abs, 0n, 1n << BigInt(16 * (group + 1)));
        return patchField(bytes, offset, u >> BigInt(16 * group), 16, 5);
      }
      case R_AARCH64.ADR_PREL_LO21:
        checkRange(site, name, rel, -(1n << 20n), 1n << 20n);
        return patchAdrImm(bytes, offset, rel);
      case R_AARCH64.ADR_PREL_PG_HI21:
      case R_AARCH64.ADR_PREL_PG_HI21_NC: {
        const x = BigInt.asIntN(64, page(S + A) - page(P));
        if (type === R_AARCH64.ADR_PREL_PG_HI21) checkRange(site, name, x, -(1n << 32n), 1n << 32n);
        return patchAdrImm(bytes, offset, x >> 12n);
      }
      case R_AARCH64.ADR_GOT_PAGE: {
        const x = BigInt.asIntN(64, page(got) - page(P));
        checkRange(site, name, x, -(1n << 32n), 1n << 32n);
        return patchAdrImm(bytes, offset, x >> 12n);
      }
      case R_AARCH64.ADD_ABS_LO12_NC:
        return patchField(bytes, offset, abs & 0xfffn, 12, 10);
      case R_AARCH64.LDST8_ABS_LO12_NC:
      case R_AARCH64.LDST16_ABS_LO12_NC:
      case R_AARCH64.LDST32_ABS_LO12_NC:
      case R_AARCH64.LDST64_ABS_LO12_NC:
      case R_AARCH64.LDST128_ABS_LO12_NC: {
        const shift = {
          [R_AARCH64.LDST8_ABS_LO12_NC]: 0n,
          [R_AARCH64.LDST16_ABS_LO12_NC]: 1n,
          [R_AARCH64.LDST32_ABS_LO12_NC]: 2n,
          [R_AARCH64.LDST64_ABS_LO12_NC]: 3n,
          [R_AARCH64.LDST128_ABS_LO12_NC]: 4n,
        }[type];
        const lo12 = abs & 0xfffn;
        // The scaled immediate drops the low bits: a misaligned address would be silently wrong.
        checkAligned(site, name, lo12, 1n << shift);
        return patchField(bytes, offset, lo12 >> shift, 12, 10);
      }
      case R_AARCH64.LD64_GOT_LO12_NC: {
        const lo12 = got & 0xfffn;
        checkAligned(site, name, lo12, 8n);
        return patchField(bytes, offset, lo12 >> 3n, 12, 10);
      }
      case R_AARCH64.TSTBR14:
        checkRange(site, name, rel, -(1n << 15n), 1n << 15n);
        checkAligned(site, name, rel, 4n);
        return patchField(bytes, offset, rel >> 2n, 14, 5);
      case R_AARCH64.CONDBR19:
        checkRange(site, name, rel, -(1n << 20n), 1n << 20n);
        checkAligned(site, name, rel, 4n);
        return patchField(bytes, offset, rel >> 2n, 19, 5);
      case R_AARCH64.JUMP26:
      case R_AARCH64.CALL26:
        checkRange(site, name, rel, -(1n << 27n), 1n << 27n);
        checkAligned(site, name, rel, 4n);
        return patchField(bytes, offset, rel >> 2n, 26, 0);
    }
  }
  throw new LoaderError('unknown-relocation', site.file, `relocation ${name} is not implemented`, { section: site.section, offset: site.offset });
}

/**
 * A range-extension veneer that jumps to an absolute 64-bit address, clobbering only the
 * registers each psABI reserves for that purpose (AArch64 x16/IP0; x86-64 nothing).
 */
export function veneerBytes(arch: Arch, target: bigint): Uint8Array {
  const b = new Uint8Array(16);
  if (arch === 'aarch64') {
    wr32(b, 0, 0x58000050); // ldr x16, #8  (the literal right after br)
    wr32(b, 4, 0xd61f0200); // br x16
  } else {
    b.set([0xff, 0x25, 2, 0, 0, 0], 0); // jmp qword ptr [rip+2]: skips the padding, reads the quad
    b.set([0xcc, 0xcc], 6); // padding so the quad is 8-aligned: never executed
  }
  wr(b, 8, target & MASK64, 8);
  return b;
}
export const VENEER_SIZE = 16;
