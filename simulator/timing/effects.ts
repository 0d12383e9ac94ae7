/**
 * Register dataflow of one instruction, derived from its parsed form: which registers it
 * reads (as data or to form an address) and which it writes. The model uses this only for the
 * loop-carried latency bound, so it follows llvm-mca's view of dependencies: registers and
 * flags, never memory (llvm-mca assumes loads do not alias stores), zero registers and
 * zeroing idioms carry nothing, 8/16-bit x86 writes merge into the old register value.
 */
import type { Operand, ParsedForm } from './forms.ts';
import { isX64ZeroIdiom } from './forms.ts';

export interface RegRead {
  readonly reg: string;
  /** Address operands see the full latency; data operands of x86 load-op forms get a read advance. */
  readonly address: boolean;
  /**
   * The addend of a multiply-accumulate (`fmadd`'s last operand, `fmla`'s destination,
   * `vfmadd231`'s destination): the models forward it late, so it sees a shorter latency.
   */
  readonly accumulator?: boolean;
}

export interface RegWrite {
  readonly reg: string;
  /** Stack-pointer updates and AArch64 base writeback complete in one cycle, not at load latency. */
  readonly pointerUpdate: boolean;
}

export interface Effects {
  readonly reads: readonly RegRead[];
  readonly writes: readonly RegWrite[];
}

const FLAGS = 'flags';

function memAddressReads(ops: readonly Operand[]): RegRead[] {
  const out: RegRead[] = [];
  for (const o of ops) if (o.kind === 'mem') for (const r of o.regs) out.push({ reg: r, address: true });
  return out;
}

// ------------------------------------------------------------------------------------------
// x86-64

const X64_WRITE_ONLY_DEST =
  /^(mov|movsd|movss|movabs|movzx|movsx|movsxd|lea|pop|set[a-z]+|tzcnt|lzcnt|popcnt|bsf|bsr|movaps|movapd|movups|movupd|movdqa|movdqu|movq|movd|cvt[a-z0-9]+|sqrt[sp][sd]|round[sp][sd]|pshufd|pmovmskb|movmskp[sd]|pextr[bwdq]|v[a-z0-9]+|shlx|shrx|sarx|rorx|andn|blsr|blsi|bzhi|pdep|pext|mulx)$/;
const X64_READ_ONLY = /^(cmp|test|bt|u?comis[sd]|ptest|vptest|vu?comis[sd]|push|jmp|call|j[a-z]+)$/;
const X64_FLAG_READERS = /^(adc|sbb|cmov[a-z]+|set[a-z]+|j(?!mp)[a-z]+|rcl|rcr|lahf|adcx|adox|cmc)$/;
const X64_FLAG_WRITERS =
  /^(add|sub|and|or|xor|adc|sbb|cmp|test|inc|dec|neg|shl|shr|sar|sal|rol|ror|rcl|rcr|imul|mul|div|idiv|bt|bts|btr|btc|bsf|bsr|tzcnt|lzcnt|popcnt|u?comis[sd]|vu?comis[sd]|ptest|vptest|sahf|clc|stc|cmc|cmpxchg|xadd|shld|shrd|andn|blsr|blsi|bzhi|adcx|adox|lock .*)$/;
/** VEX forms that also read their destination (FMA accumulators, masked merges). */
const X64_VEX_RMW = /^vfn?m(add|sub)(132|213|231)[sp][sd]$/;
/** FMA forms whose destination is the addend. */
const X64_FMA_ACC_DEST = /^vfn?m(add|sub)231[sp][sd]$/;

function x64Effects(form: ParsedForm): Effects {
  const { mnemonic: mn, operands: ops } = form;
  const reads: RegRead[] = memAddressReads(ops);
  const writes: RegWrite[] = [];
  const regOps = ops.map((o, i) => ({ o, i })).filter((x) => x.o.kind === 'reg');
  const read = (reg: string) => reads.push({ reg, address: false });
  const write = (reg: string, pointerUpdate = false) => writes.push({ reg, pointerUpdate });

  if (isX64ZeroIdiom(mn, ops)) {
    write(ops[0].regs[0]);
    if (X64_FLAG_WRITERS.test(mn)) write(FLAGS);
    return { reads: [], writes };
  }

  switch (mn) {
    case 'push':
    case 'pop':
    case 'call':
    case 'ret':
      read('rsp');
      write('rsp', true);
      break;
    case 'leave':
      read('rbp');
      write('rsp', true);
      write('rbp');
      return { reads, writes };
    case 'mul':
    case 'imul':
    case 'div':
    case 'idiv':
      if (ops.length === 1) {
        read('rax');
        if (mn === 'div' || mn === 'idiv') read('rdx');
        for (const r of ops[0].regs) read(r);
        write('rax');
        if (ops[0].bits !== 8) write('rdx');
        write(FLAGS);
        return { reads, writes };
      }
      if (mn === 'imul' && ops.length === 3) {
        // `imul r, r/m, imm`: the destination is written only (no chain through it).
        if (ops[1].kind === 'reg') read(ops[1].regs[0]);
        if (ops[0].kind === 'reg') write(ops[0].regs[0]);
        write(FLAGS);
        return { reads, writes };
      }
      break;
    case 'cqo':
    case 'cdq':
    case 'cwd':
      read('rax');
      write('rdx');
      return { reads, writes };
    case 'cdqe':
    case 'cwde':
    case 'cbw':
      read('rax');
      write('rax');
      return { reads, writes };
    case 'xchg':
    case 'xadd':
      for (const { o } of regOps) {
        read(o.regs[0]);
        write(o.regs[0]);
      }
      if (mn === 'xadd') write(FLAGS);
      return { reads, writes };
    default:
      if (/^(lock )?cmpxchg$/.test(mn)) {
        read('rax');
        write('rax');
      }
      if (/^rep /.test(mn)) {
        for (const r of ['rcx', 'rdi', 'rsi']) {
          read(r);
          write(r);
        }
        read('rax');
        return { reads, writes };
      }
  }

  const dest = ops[0];
  const readOnly = X64_READ_ONLY.test(mn);
  const writeOnlyDest = !readOnly && X64_WRITE_ONLY_DEST.test(mn) && !X64_VEX_RMW.test(mn);
  // `movsd xmm, xmm` / `movss xmm, xmm` merge into the destination.
  const mergingMove = (mn === 'movsd' || mn === 'movss') && ops.every((o) => o.kind === 'reg');
  ops.forEach((o, i) => {
    if (o.kind !== 'reg') return;
    if (i === 0 && !readOnly) {
      const partial = o.cls === 'r8' || o.cls === 'r16';
      if (X64_FMA_ACC_DEST.test(mn)) reads.push({ reg: o.regs[0], address: false, accumulator: true });
      else if (!writeOnlyDest || partial || mergingMove) read(o.regs[0]);
      return;
    }
    read(o.regs[0]);
  });
  if (dest && dest.kind === 'reg' && !readOnly) write(dest.regs[0]);
  // `blendvpd xmm1, xmm2, xmm0` reads xmm0 implicitly when it has only two operands printed.
  if (X64_FLAG_READERS.test(mn)) read(FLAGS);
  if (X64_FLAG_WRITERS.test(mn)) write(FLAGS);
  return { reads, writes };
}

// ------------------------------------------------------------------------------------------
// AArch64

const A64_STORES = /^(st[a-z0-9]*)$/;
const A64_EXCLUSIVE_STORES = /^st(l?x)[rp][bh]?$/;
const A64_LOADS = /^(ld[a-z0-9]*)$/;
const A64_COMPARES = /^(cmp|cmn|tst|fcmp|fcmpe|ccmp|ccmn|fccmp|fccmpe)$/;
const A64_FLAG_SETTERS = /^(adds|subs|ands|bics|negs|adcs|sbcs|ngcs)$/;
const A64_FLAG_READERS = /^(csel|csinc|csinv|csneg|cset|csetm|cinc|cinv|cneg|fcsel|adc|sbc|adcs|sbcs|ngc|ngcs|b\.[a-z]+|ccmp|ccmn|fccmp|fccmpe)$/;
/** Scalar multiply-accumulates whose addend is the last operand. */
const A64_ACC_LAST = /^(madd|msub|smaddl|umaddl|smsubl|umsubl|fmadd|fmsub|fnmadd|fnmsub)$/;
/** Vector multiply-accumulates whose addend is the destination. */
const A64_ACC_DEST = /^(fmla|fmls|mla|mls)$/;
/** Instructions whose destination is also an input (accumulate, insert, bit-select). */
const A64_RMW_DEST = /^(movk|bfi|bfxil|bfm|fmla|fmls|mla|mls|bsl|bif|bit|ins|sdot|udot|tbx|smlal2?|umlal2?|sadalp|uadalp|usra|ssra)$/;

function a64Effects(form: ParsedForm): Effects {
  const { mnemonic: mn, operands: ops } = form;
  const reads: RegRead[] = memAddressReads(ops);
  const writes: RegWrite[] = [];
  const read = (reg: string) => reads.push({ reg, address: false });
  const write = (reg: string, pointerUpdate = false) => writes.push({ reg, pointerUpdate });
  for (const o of ops) if (o.kind === 'mem' && o.writeback) write(o.regs[0], true);

  const regsOf = (o: Operand) => (o.kind === 'reg' || o.kind === 'list' ? o.regs : []);

  if (mn === 'bl' || mn === 'blr') {
    for (const o of ops) for (const r of regsOf(o)) read(r);
    write('x30');
    return { reads, writes };
  }
  if (mn === 'ret') {
    read(ops[0]?.regs[0] ?? 'x30');
    return { reads, writes };
  }
  if (/^(b|br|cbn?z|tbn?z|b\.[a-z]+|prfm|prfum)$/.test(mn) || A64_COMPARES.test(mn)) {
    for (const o of ops) for (const r of regsOf(o)) read(r);
    if (A64_FLAG_READERS.test(mn)) read(FLAGS);
    if (A64_COMPARES.test(mn)) write(FLAGS);
    return { reads, writes };
  }
  if (mn === 'msr') {
    for (const o of ops.slice(1)) for (const r of regsOf(o)) read(r);
    if (ops[0]?.text === 'nzcv') write(FLAGS);
    return { reads, writes };
  }
  if (mn === 'mrs') {
    if (ops[1]?.text === 'nzcv') read(FLAGS);
    for (const r of ops[0] ? regsOf(ops[0]) : []) write(r);
    return { reads, writes };
  }
  if (A64_STORES.test(mn) && !A64_LOADS.test(mn)) {
    const exclusive = A64_EXCLUSIVE_STORES.test(mn);
    ops.forEach((o, i) => {
      if (exclusive && i === 0) for (const r of regsOf(o)) write(r);
      else for (const r of regsOf(o)) read(r);
    });
    return { reads, writes };
  }
  if (A64_LOADS.test(mn)) {
    // Every register operand before the address is a destination; a lane load (`ld1 {v1.s}[1]`)
    // merges into it.
    const lane = ops[0]?.kind === 'list' && /\]$/.test(ops[0].text);
    for (const o of ops) {
      if (o.kind === 'mem') break;
      for (const r of regsOf(o)) {
        if (lane) read(r);
        write(r);
      }
    }
    return { reads, writes };
  }
  // Data processing: destination first, everything else read.
  const dest = ops[0];
  const partialLane = dest?.kind === 'reg' && /\[\]$/.test(dest.cls);
  ops.forEach((o, i) => {
    if (i === 0) {
      if (A64_ACC_DEST.test(mn)) for (const r of regsOf(o)) reads.push({ reg: r, address: false, accumulator: true });
      else if (A64_RMW_DEST.test(mn) || partialLane) for (const r of regsOf(o)) read(r);
      return;
    }
    if (A64_ACC_LAST.test(mn) && i === ops.length - 1) {
      for (const r of regsOf(o)) reads.push({ reg: r, address: false, accumulator: true });
      return;
    }
    for (const r of regsOf(o)) read(r);
  });
  if (dest) for (const r of regsOf(dest)) write(r);
  if (A64_FLAG_READERS.test(mn)) read(FLAGS);
  if (A64_FLAG_SETTERS.test(mn)) write(FLAGS);
  return { reads, writes };
}

/** Registers read and written by one instruction (see the module comment for the rules). */
export function registerEffects(form: ParsedForm): Effects {
  return form.arch === 'x64' ? x64Effects(form) : a64Effects(form);
}
