/**
 * The arch-neutral half of both encoders, on the pattern of Cranelift's `machinst/buffer.rs`:
 * a growing byte buffer with labels and their fix-ups, relocation requests, and trap sites.
 * Only instruction encodings are per arch (isa/x64/encoder.ts and isa/aarch64/encoder.ts each
 * extend CodeBuffer with their instructions and their trap instruction).
 *
 * Islands. Code that is emitted out of line, after the instructions that refer to it, goes into
 * an island: the deferred traps (one trap instruction per trap code that a conditional check
 * branches to, as Cranelift's deferred traps), emitted by `finish()`. Every pending label use
 * records its reach (how far forward its field can point), so `deadline` tells when an island
 * must come before a use goes out of range: `islandCheckpoint`, called by codegen between
 * operators, then emits a branch over an island that also holds AArch64 branch veneers (an
 * unconditional branch that the short-range branches waiting for a label reach instead), as
 * MachBuffer's `emit_island` does.
 */
import type { Arch } from './arch.ts';
import { StackscopeError, hex } from './error.ts';
import type { TrapCode } from './trap-codes.ts';

/** The forward reach of a signed 32-bit byte displacement (x64 rel32, jump-table entries). */
export const INT32_REACH = 0x7fffffff;

/** An operand the instruction cannot encode: out-of-range immediate, sp where not allowed, ... */
export class EncodeError extends StackscopeError {
  override name = 'EncodeError';
  constructor(
    readonly arch: Arch,
    /** Mnemonic (as the encoder's method names it), e.g. `add`, `ldr`, `b.cond`. */
    readonly instruction: string,
    /** Which operand is at fault, e.g. `imm`, `rn`, `label`, `addr.disp`. */
    readonly operand: string,
    /** What is wrong with it, including the offending value. */
    readonly reason: string,
    /** Code offset of the instruction within its buffer. */
    readonly offset: number,
  ) {
    super(`${arch} ${instruction} at +${hex(offset)}: ${operand}: ${reason}`);
  }
}

/**
 * A position in one buffer's code, possibly not yet known. Referencing an unbound label records a
 * fix-up that `bind` patches; a label belongs to the buffer that made it.
 */
export class Label {
  /** Set once by `CodeBuffer.bind`. */
  offset: number | undefined = undefined;
  constructor(
    readonly owner: CodeBuffer,
    readonly id: number,
  ) {}
}

/** ELF relocation types the encoders request, named as readelf prints them. */
export type RelocationKind =
  | 'R_X86_64_PLT32'
  | 'R_X86_64_PC32'
  | 'R_X86_64_64'
  | 'R_AARCH64_CALL26'
  | 'R_AARCH64_JUMP26'
  | 'R_AARCH64_ADR_PREL_PG_HI21'
  | 'R_AARCH64_ADD_ABS_LO12_NC'
  | 'R_AARCH64_LDST32_ABS_LO12_NC'
  | 'R_AARCH64_LDST64_ABS_LO12_NC'
  | 'R_AARCH64_ABS64';

/**
 * A request to patch `code[offset..]` once `symbol`'s address S is known, with ELF RELA meaning:
 * e.g. PLT32/PC32 store S + addend − P (P = address of the patched field).
 */
export interface RelocationRequest {
  offset: number;
  kind: RelocationKind;
  symbol: string;
  addend: bigint;
}

/** A trapping instruction: its offset in the buffer and the trap code it stands for. */
export interface TrapSite {
  readonly offset: number;
  readonly code: TrapCode;
}

/** The finished product of an assembler. */
export interface AssembledCode {
  code: Uint8Array;
  relocations: RelocationRequest[];
  /** Trap sites by offset (the buffer's `trap` and deferred traps). */
  traps: TrapSite[];
}

interface PendingFixup {
  /** Patches the code for the label's now-known offset; throws EncodeError when out of range. */
  apply(target: number): void;
  instruction: string;
  at: number;
  /** The furthest offset this use can reach forward (`at` + the field's positive range). */
  limit: number;
  /** A short conditional branch an island may send through a veneer (an unconditional branch). */
  veneerable: boolean;
}

/**
 * How close (bytes) the code may come to a pending use's reach before `islandCheckpoint` emits
 * an island: more than the longest stretch emitted between two checkpoints.
 */
export const ISLAND_MARGIN = 256 * 1024;

/**
 * The byte array of the last finished buffer (its code was copied out), for the next buffer to
 * start in: compiling a module makes a buffer per function, and each would otherwise grow
 * 256 → 512 → … bytes, a fresh array at every step. Bytes past a buffer's length are never
 * read, so what the array held before does not matter. One spare per process; a buffer made
 * while another is in use (a trampoline during a compile) starts with a fresh array.
 */
let spareBytes: Uint8Array | undefined;
/** The largest array kept as the spare (larger ones are left to the garbage collector). */
const MAX_SPARE_BYTES = 1 << 20;

function takeSpareBytes(): Uint8Array {
  const bytes = spareBytes ?? new Uint8Array(256);
  spareBytes = undefined;
  return bytes;
}

/** A growing byte buffer with labels, fix-ups, relocation requests and trap sites. */
export class CodeBuffer {
  private bytes = takeSpareBytes();
  private length = 0;
  private labelCount = 0;
  private readonly pending = new Map<Label, PendingFixup[]>();
  /** Relocations recorded so far, in emission order. */
  readonly relocations: RelocationRequest[] = [];
  /** Trap sites recorded so far, in emission order. */
  private readonly trapSites: TrapSite[] = [];
  /** The out-of-line trap of each code a conditional trap branches to, in first-use order. */
  private readonly deferredTraps = new Map<TrapCode, Label>();
  /** `deadline`, kept while uses are only added (null: recompute). */
  private cachedDeadline: number | null = Infinity;

  constructor(readonly arch: Arch) {}

  /** Offset the next byte will be written at (a return address right after a call, a trap site). */
  get offset(): number {
    return this.length;
  }

  newLabel(): Label {
    return new Label(this, this.labelCount++);
  }

  /** Binds `label` to the current offset and patches every earlier reference to it. */
  bind(label: Label): void {
    this.checkOwner(label, 'bind');
    if (label.offset !== undefined) {
      throw new EncodeError(this.arch, 'bind', 'label', `label ${label.id} is already bound at +${hex(label.offset)}`, this.length);
    }
    label.offset = this.length;
    const fixups = this.pending.get(label);
    this.pending.delete(label);
    if (fixups !== undefined) this.cachedDeadline = null;
    for (const f of fixups ?? []) f.apply(label.offset);
  }

  labelOffset(label: Label): number {
    this.checkOwner(label, 'labelOffset');
    if (label.offset === undefined) {
      throw new EncodeError(this.arch, 'labelOffset', 'label', `label ${label.id} is not bound`, this.length);
    }
    return label.offset;
  }

  /** The code so far (a copy). */
  code(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  /**
   * Emits the final island, then returns code, relocations and trap sites (sorted by offset);
   * every referenced label must be bound by now.
   */
  finish(): AssembledCode {
    this.emitIsland();
    for (const [label, fixups] of this.pending) {
      const first = fixups[0];
      throw new EncodeError(this.arch, first.instruction, 'label', `label ${label.id} is referenced but never bound`, first.at);
    }
    const code = this.code();
    // The buffer keeps working on its copy; its array becomes the next buffer's.
    if (this.bytes.length <= MAX_SPARE_BYTES && (spareBytes === undefined || spareBytes.length < this.bytes.length)) spareBytes = this.bytes;
    this.bytes = code;
    return { code, relocations: [...this.relocations], traps: [...this.trapSites].sort((p, q) => p.offset - q.offset) };
  }

  // --- traps ------------------------------------------------------------------------------------

  /** Emits the arch's trap instruction here and records it as a trap site for `code`. */
  trap(code: TrapCode): void {
    this.trapSites.push({ offset: this.length, code });
    this.emitTrapInstruction();
  }

  /**
   * Records a trap site for `code` at the current offset without emitting anything: the next
   * instruction is an access whose fault is that trap (a linear-memory access left to the guard
   * pages, as Cranelift records the trap code of a heap load or store).
   */
  trapSiteHere(code: TrapCode): void {
    this.trapSites.push({ offset: this.length, code });
  }

  /**
   * The label of the out-of-line trap instruction for `code`, for a conditional branch to jump
   * to; one per code and buffer, emitted in the next island.
   */
  deferredTrap(code: TrapCode): Label {
    let label = this.deferredTraps.get(code);
    if (label === undefined) {
      label = this.newLabel();
      this.deferredTraps.set(code, label);
    }
    return label;
  }

  /** The arch's trap instruction (x64 `ud2`, AArch64 `udf`); a buffer without one cannot trap. */
  protected emitTrapInstruction(): void {
    throw new EncodeError(this.arch, 'trap', 'buffer', 'this buffer has no trap instruction', this.length);
  }

  // --- islands ----------------------------------------------------------------------------------

  /**
   * The smallest offset some pending label use can still reach: an island (or the label) must
   * come before the code grows past it. Infinity when nothing is pending.
   */
  get deadline(): number {
    if (this.cachedDeadline !== null) return this.cachedDeadline;
    let deadline = Infinity;
    for (const fixups of this.pending.values()) for (const f of fixups) if (f.limit < deadline) deadline = f.limit;
    this.cachedDeadline = deadline;
    return deadline;
  }

  /**
   * A place between instructions where code may be interrupted: when a pending use would go
   * out of range within ISLAND_MARGIN bytes, emits a branch over an island holding the
   * deferred traps used so far and a veneer for every label short conditional branches still
   * wait for (MachBuffer's island_needed / emit_island). Codegen calls it between operators
   * and between the entries of long sequences.
   */
  islandCheckpoint(margin = ISLAND_MARGIN): void {
    const islandBytes = 4 * (this.pending.size + this.deferredTraps.size + 2);
    if (this.length + margin + islandBytes < this.deadline) return;
    const after = this.newLabel();
    this.emitIslandJump(after);
    this.emitIsland({ veneers: true });
    this.bind(after);
  }

  /**
   * Emits an island at the current offset: the deferred traps used so far, in first-use order.
   * Code must not fall through into it (finish() places it after the last instruction).
   */
  emitIsland(options: { veneers?: boolean } = {}): void {
    for (const [code, label] of this.deferredTraps) {
      this.bind(label);
      this.trap(code);
    }
    this.deferredTraps.clear();
    if (!options.veneers) return;
    // One veneer per label: every short branch still waiting for it now branches here, and the
    // veneer's own long-range branch waits for the label instead.
    for (const [label, fixups] of [...this.pending]) {
      const short = fixups.filter((f) => f.veneerable);
      if (short.length === 0) continue;
      this.pending.set(label, fixups.filter((f) => !f.veneerable));
      const veneer = this.length;
      this.emitVeneer(label);
      for (const f of short) f.apply(veneer);
    }
    this.cachedDeadline = null;
  }

  /** An unconditional branch over an island (to `label`, bound right after it). */
  protected emitIslandJump(label: Label): void {
    throw new EncodeError(this.arch, 'island', 'label', `this buffer cannot branch over an island to label ${label.id}`, this.length);
  }

  /** A veneer: an unconditional branch with the arch's longest reach to `label`. */
  protected emitVeneer(label: Label): void {
    throw new EncodeError(this.arch, 'veneer', 'label', `this buffer has no veneers (label ${label.id})`, this.length);
  }

  emit8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value & 0xff;
  }

  emit16(value: number): void {
    this.emit8(value);
    this.emit8(value >>> 8);
  }

  emit32(value: number): void {
    this.reserve(4);
    this.write32(this.length, value);
    this.length += 4;
  }

  emit64(value: bigint): void {
    const v = BigInt.asUintN(64, value);
    this.emit32(Number(v & 0xffffffffn));
    this.emit32(Number(v >> 32n));
  }

  emitBytes(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.emit8(bytes[i]);
  }

  /**
   * Emits the 32-bit signed difference `target − base` between two labels of this buffer, as
   * jump tables store their entries (`.long target - base`). Either label may be bound later.
   */
  emitLabelDelta32(target: Label, base: Label): void {
    const at = this.length;
    this.emit32(0);
    this.useLabel(target, 'label-delta', at, INT32_REACH, (targetOffset) => {
      this.useLabel(base, 'label-delta', at, INT32_REACH, (baseOffset) => this.patch32(at, targetOffset - baseOffset));
    });
  }

  /** Pads with `fill` bytes until the offset is a multiple of `alignment` (a power of two). */
  alignTo(alignment: number, fill = 0): void {
    if (alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      throw new EncodeError(this.arch, 'align', 'alignment', `${alignment} is not a power of two`, this.length);
    }
    while (this.length % alignment !== 0) this.emit8(fill);
  }

  read32(at: number): number {
    this.checkRange(at, 4);
    return (this.bytes[at] | (this.bytes[at + 1] << 8) | (this.bytes[at + 2] << 16) | (this.bytes[at + 3] << 24)) >>> 0;
  }

  /** Overwrites 4 already-emitted bytes (little-endian). */
  patch32(at: number, value: number): void {
    this.checkRange(at, 4);
    this.write32(at, value);
  }

  /** Records a relocation for the field at `at` (defaults to the current offset). */
  protected relocate(kind: RelocationKind, symbol: string, addend: bigint, at = this.length): void {
    this.relocations.push({ offset: at, kind, symbol, addend });
  }

  /**
   * Applies `apply` now if `label` is bound, else when it is. `reach` is how many bytes forward
   * of `at` the use's field can point (for `deadline`).
   */
  protected useLabel(label: Label, instruction: string, at: number, reach: number, apply: (target: number) => void, veneerable = false): void {
    this.checkOwner(label, instruction);
    if (label.offset !== undefined) {
      apply(label.offset);
      return;
    }
    let list = this.pending.get(label);
    if (!list) this.pending.set(label, (list = []));
    list.push({ apply, instruction, at, limit: at + reach, veneerable });
    if (this.cachedDeadline !== null && at + reach < this.cachedDeadline) this.cachedDeadline = at + reach;
  }

  private checkOwner(label: Label, instruction: string): void {
    if (!(label instanceof Label) || label.owner !== this) {
      throw new EncodeError(this.arch, instruction, 'label', 'label belongs to another buffer', this.length);
    }
  }

  private checkRange(at: number, size: number): void {
    if (!Number.isInteger(at) || at < 0 || at + size > this.length) {
      throw new EncodeError(this.arch, 'patch', 'at', `offset ${at} (+${size}) is outside the ${this.length} bytes emitted`, this.length);
    }
  }

  private write32(at: number, value: number): void {
    this.bytes[at] = value & 0xff;
    this.bytes[at + 1] = (value >>> 8) & 0xff;
    this.bytes[at + 2] = (value >>> 16) & 0xff;
    this.bytes[at + 3] = (value >>> 24) & 0xff;
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}
