/**
 * The instruction-form corpus measured by scripts/gen-timing-tables.ts: one concrete
 * instruction per form that our compiler emits or that gcc -O0/-O2 typically produces.
 * x86-64 lines are Intel syntax (both GNU as and llvm-mca accept `.intel_syntax noprefix`),
 * AArch64 lines are ARM syntax. Several lines may collapse to one form key after Capstone
 * decoding; the generator keeps the first. Lines that an assembler or llvm-mca rejects are
 * dropped by the generator and listed in its output, never silently.
 */

const X64_CONDS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

function x64Corpus(): string[] {
  const out: string[] = [];
  const add = (...lines: string[]) => out.push(...lines);

  // Two-operand integer ALU in every register/immediate/memory shape.
  for (const op of ['add', 'sub', 'and', 'or', 'xor', 'adc', 'sbb', 'cmp', 'test', 'mov']) {
    add(
      `${op} rbx, rsi`,
      `${op} ebx, esi`,
      `${op} bx, si`,
      `${op} bl, sil`,
      `${op} rbx, 7`,
      `${op} rbx, 1000`,
      `${op} ebx, 7`,
      `${op} ebx, 1000`,
      `${op} bl, 7`,
      `${op} bx, 7`,
      `${op} rbx, qword ptr [rdi + 8]`,
      `${op} ebx, dword ptr [rdi + 8]`,
      `${op} bx, word ptr [rdi + 8]`,
      `${op} bl, byte ptr [rdi + 8]`,
      `${op} qword ptr [rdi + 8], rsi`,
      `${op} dword ptr [rdi + 8], esi`,
      `${op} word ptr [rdi + 8], si`,
      `${op} byte ptr [rdi + 8], sil`,
      `${op} qword ptr [rdi + 8], 7`,
      `${op} dword ptr [rdi + 8], 7`,
      `${op} word ptr [rdi + 8], 7`,
      `${op} byte ptr [rdi + 8], 7`,
    );
  }
  for (const op of ['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test', 'mov']) add(`${op} qword ptr [rdi + 8], 1000`, `${op} dword ptr [rdi + 8], 1000`, `${op} word ptr [rdi + 8], 1000`, `${op} bx, 1000`);
  add('xor ebx, ebx', 'xor rbx, rbx', 'sub ebx, ebx', 'sub rbx, rbx', 'sbb ebx, ebx', 'sbb rbx, rbx');
  add('movabs rbx, 0x123456789abc', 'mov rbx, -1');
  for (const op of ['movzx', 'movsx']) {
    add(`${op} ebx, sil`, `${op} ebx, si`, `${op} rbx, sil`, `${op} rbx, si`, `${op} bx, sil`);
    add(`${op} ebx, byte ptr [rdi + 8]`, `${op} ebx, word ptr [rdi + 8]`, `${op} rbx, byte ptr [rdi + 8]`, `${op} rbx, word ptr [rdi + 8]`);
  }
  add('movsxd rbx, esi', 'movsxd rbx, dword ptr [rdi + 8]');
  // LEA: the models distinguish the number of address components.
  add(
    'lea rbx, [rsi]',
    'lea rbx, [rsi + 8]',
    'lea rbx, [rsi + rdx]',
    'lea rbx, [rsi + rdx*4]',
    'lea rbx, [rsi + rdx*4 + 8]',
    'lea rbx, [rsi + rdx + 8]',
    'lea ebx, [rsi + rdx*4]',
    'lea ebx, [rsi + rdx + 8]',
    'lea ebx, [rdx*8]',
    'lea ebx, [rip + 0x100]',
    'lea rbx, [rdx*8]',
    'lea rbx, [rdx*8 + 8]',
    'lea rbx, [rip + 0x100]',
    'lea ebx, [rsi + 8]',
    'lea ebx, [rsi + rdx]',
    'lea ebx, [rsi + rdx*4 + 8]',
    'lea ebx, [rdx*8 + 8]',
  );
  for (const op of ['inc', 'dec', 'neg', 'not']) {
    add(`${op} rbx`, `${op} ebx`, `${op} bx`, `${op} bl`, `${op} qword ptr [rdi + 8]`, `${op} dword ptr [rdi + 8]`, `${op} byte ptr [rdi + 8]`);
  }
  for (const op of ['shl', 'shr', 'sar', 'rol', 'ror']) {
    add(`${op} rbx, 5`, `${op} rbx, 1`, `${op} rbx, cl`, `${op} ebx, 5`, `${op} ebx, 1`, `${op} ebx, cl`, `${op} bl, 5`, `${op} bx, 5`);
    add(`${op} qword ptr [rdi + 8], 5`, `${op} dword ptr [rdi + 8], 5`, `${op} qword ptr [rdi + 8], cl`);
  }
  add('shld rbx, rsi, 5', 'shrd rbx, rsi, 5', 'shld rbx, rsi, cl', 'shrd rbx, rsi, cl');
  for (const op of ['shlx', 'shrx', 'sarx', 'rorx']) {
    if (op === 'rorx') add('rorx rbx, rsi, 5', 'rorx ebx, esi, 5');
    else add(`${op} rbx, rsi, rdx`, `${op} ebx, esi, edx`, `${op} rbx, qword ptr [rdi + 8], rdx`);
  }
  add('andn rbx, rsi, rdx', 'blsr rbx, rsi', 'blsi rbx, rsi', 'bzhi rbx, rsi, rdx', 'pdep rbx, rsi, rdx', 'pext rbx, rsi, rdx');
  add(
    'imul rbx, rsi',
    'imul ebx, esi',
    'imul bx, si',
    'imul rbx, qword ptr [rdi + 8]',
    'imul ebx, dword ptr [rdi + 8]',
    'imul rbx, rsi, 7',
    'imul rbx, rsi, 1000',
    'imul ebx, esi, 7',
    'imul ebx, esi, 1000',
    'imul rbx, qword ptr [rdi + 8], 7',
    'imul ebx, dword ptr [rdi + 8], 1000',
    'imul rsi',
    'imul esi',
    'mul rsi',
    'mul esi',
    'mul qword ptr [rdi + 8]',
    'imul qword ptr [rdi + 8]',
    'mulx rbx, rsi, rdi',
  );
  for (const op of ['div', 'idiv']) add(`${op} rsi`, `${op} esi`, `${op} si`, `${op} sil`, `${op} qword ptr [rdi + 8]`, `${op} dword ptr [rdi + 8]`);
  add('cqo', 'cdq', 'cdqe', 'cwde', 'cbw', 'cwd');
  for (const c of X64_CONDS) add(`set${c} bl`, `cmov${c} rbx, rsi`, `cmov${c} ebx, esi`, `cmov${c} rbx, qword ptr [rdi + 8]`, `cmov${c} ebx, dword ptr [rdi + 8]`, `j${c} .Ltarget`);
  add('sete byte ptr [rdi + 8]', 'setne byte ptr [rdi + 8]');
  add('jmp .Ltarget', 'jmp rsi', 'jmp qword ptr [rdi + 8]', 'call .Ltarget', 'call rsi', 'call qword ptr [rdi + 8]', 'ret', 'ret 8');
  add('push rbx', 'push 7', 'push 1000', 'push qword ptr [rdi + 8]', 'pop rbx', 'pop qword ptr [rdi + 8]', 'leave', 'nop', 'nop dword ptr [rax]', 'nop word ptr [rax + rax]');
  add('xchg dword ptr [rdi + 8], esi', 'lock cmpxchg dword ptr [rdi + 8], esi', 'lock xadd dword ptr [rdi + 8], esi', 'bts qword ptr [rdi + 8], 5', 'hlt', 'stmxcsr dword ptr [rdi + 8]', 'ldmxcsr dword ptr [rdi + 8]', 'movhps xmm1, qword ptr [rdi + 8]', 'movlps xmm1, qword ptr [rdi + 8]', 'movhlps xmm1, xmm2', 'movlhps xmm1, xmm2', 'movmskps esi, xmm1');
  // x87, as glibc's long-double code uses it.
  add('fld tbyte ptr [rdi + 8]', 'fld qword ptr [rdi + 8]', 'fld dword ptr [rdi + 8]', 'fld st(1)', 'fstp tbyte ptr [rdi + 8]', 'fstp qword ptr [rdi + 8]', 'fstp st(1)', 'fxch st(1)', 'faddp st(1)', 'fsubp st(1)', 'fsubrp st(1)', 'fmulp st(1)', 'fdivp st(1)', 'fadd st, st(1)', 'fmul st, st(1)', 'fild dword ptr [rdi + 8]', 'fild qword ptr [rdi + 8]', 'fistp qword ptr [rdi + 8]', 'fldz', 'fld1', 'fabs', 'fchs', 'fsqrt', 'fxam', 'fucomi st, st(1)', 'fucomip st, st(1)', 'fnstcw word ptr [rdi + 8]', 'fldcw word ptr [rdi + 8]', 'fnstsw ax');
  add('xchg rbx, rsi', 'xchg ebx, esi', 'xchg qword ptr [rdi + 8], rsi', 'bswap rbx', 'bswap ebx');
  for (const op of ['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']) add(`${op} rbx, rsi`, `${op} ebx, esi`, `${op} rbx, qword ptr [rdi + 8]`);
  add('bt rbx, rsi', 'bt rbx, 5', 'bt ebx, esi', 'bts rbx, rsi', 'btr rbx, 5', 'btc rbx, 5', 'bt qword ptr [rdi + 8], 5');
  add('lahf', 'sahf', 'clc', 'stc', 'cmc', 'cld', 'ud2', 'int3', 'pause', 'lfence', 'mfence', 'sfence', 'rdtsc', 'cpuid', 'syscall');
  add('xadd qword ptr [rdi + 8], rsi', 'lock xadd qword ptr [rdi + 8], rsi', 'lock add qword ptr [rdi + 8], rsi', 'lock cmpxchg qword ptr [rdi + 8], rsi', 'cmpxchg qword ptr [rdi + 8], rsi');
  add('rep stosb', 'rep movsb', 'rep stosq', 'rep movsq');
  add('crc32 rbx, rsi', 'crc32 ebx, esi', 'crc32 ebx, sil', 'adcx rbx, rsi', 'adox rbx, rsi', 'prefetcht0 byte ptr [rdi + 8]');

  // SSE/AVX scalar and packed floating point.
  add(
    'movsd xmm1, qword ptr [rdi + 8]',
    'movsd qword ptr [rdi + 8], xmm1',
    'movsd xmm1, xmm2',
    'movss xmm1, dword ptr [rdi + 8]',
    'movss dword ptr [rdi + 8], xmm1',
    'movss xmm1, xmm2',
    'movq xmm1, rsi',
    'movq rsi, xmm1',
    'movq xmm1, qword ptr [rdi + 8]',
    'movq qword ptr [rdi + 8], xmm1',
    'movq xmm1, xmm2',
    'movd xmm1, esi',
    'movd esi, xmm1',
    'movd xmm1, dword ptr [rdi + 8]',
    'movd dword ptr [rdi + 8], xmm1',
  );
  for (const op of ['movaps', 'movapd', 'movups', 'movupd', 'movdqa', 'movdqu']) add(`${op} xmm1, xmm2`, `${op} xmm1, xmmword ptr [rdi + 16]`, `${op} xmmword ptr [rdi + 16], xmm1`);
  for (const op of ['add', 'sub', 'mul', 'div', 'min', 'max', 'sqrt']) {
    for (const t of ['sd', 'ss']) add(`${op}${t} xmm1, xmm2`, `${op}${t} xmm1, ${t === 'sd' ? 'qword' : 'dword'} ptr [rdi + 8]`);
    for (const t of ['pd', 'ps']) add(`${op}${t} xmm1, xmm2`, `${op}${t} xmm1, xmmword ptr [rdi + 16]`);
  }
  for (const op of ['and', 'andn', 'or', 'xor']) for (const t of ['ps', 'pd']) add(`${op}${t} xmm1, xmm2`, `${op}${t} xmm1, xmmword ptr [rdi + 16]`);
  add('xorps xmm1, xmm1', 'xorpd xmm1, xmm1', 'pxor xmm1, xmm1');
  for (const op of ['ucomisd', 'comisd']) add(`${op} xmm1, xmm2`, `${op} xmm1, qword ptr [rdi + 8]`);
  for (const op of ['ucomiss', 'comiss']) add(`${op} xmm1, xmm2`, `${op} xmm1, dword ptr [rdi + 8]`);
  add(
    'cvtsi2sd xmm1, rsi',
    'cvtsi2sd xmm1, esi',
    'cvtsi2sd xmm1, qword ptr [rdi + 8]',
    'cvtsi2ss xmm1, rsi',
    'cvtsi2ss xmm1, esi',
    'cvttsd2si rsi, xmm1',
    'cvttsd2si esi, xmm1',
    'cvttss2si rsi, xmm1',
    'cvttss2si esi, xmm1',
    'cvtsd2si rsi, xmm1',
    'cvtsd2ss xmm1, xmm2',
    'cvtsd2ss xmm1, qword ptr [rdi + 8]',
    'cvtss2sd xmm1, dword ptr [rdi + 8]',
    'cvtsi2ss xmm1, dword ptr [rdi + 8]',
    'cvtsi2ss xmm1, qword ptr [rdi + 8]',
    'cvtsi2sd xmm1, dword ptr [rdi + 8]',
    'cvttsd2si rsi, qword ptr [rdi + 8]',
    'cvttss2si esi, dword ptr [rdi + 8]',
    'cvtss2sd xmm1, xmm2',
    'cvtdq2pd xmm1, xmm2',
    'cvtdq2ps xmm1, xmm2',
    'cvttps2dq xmm1, xmm2',
    'roundsd xmm1, xmm2, 9',
    'roundss xmm1, xmm2, 9',
    'cmpsd xmm1, xmm2, 1',
    'cmpltpd xmm1, xmm2',
  );
  for (const op of ['paddb', 'paddw', 'paddd', 'paddq', 'psubb', 'psubd', 'psubq', 'pmulld', 'pmullw', 'pmuludq', 'pand', 'pandn', 'por', 'pxor', 'pcmpeqb', 'pcmpeqd', 'pcmpgtd', 'pminsd', 'pmaxsd', 'punpcklqdq', 'punpckldq', 'unpcklpd', 'unpcklps', 'pshufb']) {
    add(`${op} xmm1, xmm2`, `${op} xmm1, xmmword ptr [rdi + 16]`);
  }
  add('pshufd xmm1, xmm2, 27', 'shufps xmm1, xmm2, 27', 'shufpd xmm1, xmm2, 1', 'psllq xmm1, 3', 'psrlq xmm1, 3', 'pslld xmm1, 3', 'psrad xmm1, 3', 'pmovmskb esi, xmm1', 'movmskpd esi, xmm1', 'pextrq rsi, xmm1, 1', 'pinsrq xmm1, rsi, 1', 'ptest xmm1, xmm2', 'blendvpd xmm1, xmm2, xmm0', 'pblendw xmm1, xmm2, 3');
  // Byte-wise SIMD of string routines (memchr/strlen-style loops).
  for (const op of ['pcmpeqb', 'pcmpgtb', 'pminub', 'pmaxub', 'psubusb', 'paddb', 'psadbw', 'pavgb']) add(`${op} xmm1, xmm2`);
  add('pmovmskb esi, xmm1', 'psrldq xmm1, 3', 'pslldq xmm1, 3', 'palignr xmm1, xmm2, 3', 'palignr xmm1, xmmword ptr [rdi + 16], 3', 'pcmpistri xmm1, xmm2, 12', 'pcmpistri xmm1, xmmword ptr [rdi + 16], 12', 'movntps xmmword ptr [rdi + 16], xmm1', 'movntdq xmmword ptr [rdi + 16], xmm1', 'prefetcht1 byte ptr [rdi + 8]', 'prefetchnta byte ptr [rdi + 8]', 'blsmsk ebx, esi', 'lock sub dword ptr [rdi + 8], 1', 'lock dec dword ptr [rdi + 8]', 'lock inc dword ptr [rdi + 8]', 'xor bl, bl');
  for (const op of ['vpcmpeqb', 'vpcmpgtb', 'vpminub', 'vpmaxub', 'vpaddb', 'vpsubb', 'vpandn', 'vpminud', 'vpor', 'vpand']) add(`${op} ymm1, ymm2, ymm3`, `${op} xmm1, xmm2, xmm3`, `${op} ymm1, ymm2, ymmword ptr [rdi + 32]`);
  add('vpmovmskb esi, ymm1', 'vpmovmskb esi, xmm1', 'vmovq xmm1, qword ptr [rdi + 8]', 'vmovd xmm1, dword ptr [rdi + 8]', 'vmovntdq ymmword ptr [rdi + 32], ymm1', 'vpbroadcastb ymm1, xmm2', 'vpbroadcastb xmm1, xmm2', 'vzeroall', 'vptest ymm1, ymmword ptr [rdi + 32]', 'vpalignr ymm1, ymm2, ymm3, 3', 'vpshufb ymm1, ymm2, ymm3', 'vpermq ymm1, ymm2, 27', 'vpsrldq ymm1, ymm2, 3', 'vpslldq ymm1, ymm2, 3');
  for (const op of ['vaddsd', 'vsubsd', 'vmulsd', 'vdivsd', 'vminsd', 'vmaxsd', 'vsqrtsd']) add(`${op} xmm1, xmm2, xmm3`, `${op} xmm1, xmm2, qword ptr [rdi + 8]`);
  for (const op of ['vaddss', 'vmulss', 'vdivss']) add(`${op} xmm1, xmm2, xmm3`, `${op} xmm1, xmm2, dword ptr [rdi + 8]`);
  for (const op of ['vaddpd', 'vsubpd', 'vmulpd', 'vdivpd', 'vaddps', 'vmulps', 'vdivps', 'vandpd', 'vxorpd', 'vxorps', 'vandps', 'vorps', 'vmaxpd', 'vminpd', 'vpaddd', 'vpaddq', 'vpsubd', 'vpmulld', 'vpand', 'vpor', 'vpxor', 'vpcmpeqd', 'vpcmpgtq', 'vunpcklpd', 'vpermilpd']) {
    if (op === 'vpermilpd') {
      add('vpermilpd ymm1, ymm2, 5', 'vpermilpd xmm1, xmm2, 1');
      continue;
    }
    add(`${op} xmm1, xmm2, xmm3`, `${op} ymm1, ymm2, ymm3`, `${op} xmm1, xmm2, xmmword ptr [rdi + 16]`, `${op} ymm1, ymm2, ymmword ptr [rdi + 32]`);
  }
  add('vxorps xmm1, xmm1, xmm1', 'vxorps ymm1, ymm1, ymm1', 'vpxor xmm1, xmm1, xmm1', 'vxorpd xmm1, xmm1, xmm1');
  for (const op of ['vfmadd231sd', 'vfmadd213sd', 'vfmadd132sd', 'vfnmadd231sd', 'vfmsub231sd']) add(`${op} xmm1, xmm2, xmm3`, `${op} xmm1, xmm2, qword ptr [rdi + 8]`);
  for (const op of ['vfmadd231ss']) add(`${op} xmm1, xmm2, xmm3`, `${op} xmm1, xmm2, dword ptr [rdi + 8]`);
  for (const op of ['vfmadd231pd', 'vfmadd231ps', 'vfmadd213pd']) add(`${op} xmm1, xmm2, xmm3`, `${op} ymm1, ymm2, ymm3`, `${op} ymm1, ymm2, ymmword ptr [rdi + 32]`, `${op} xmm1, xmm2, xmmword ptr [rdi + 16]`);
  for (const op of ['vmovapd', 'vmovaps', 'vmovupd', 'vmovups', 'vmovdqu', 'vmovdqa']) add(`${op} ymm1, ymm2`, `${op} ymm1, ymmword ptr [rdi + 32]`, `${op} ymmword ptr [rdi + 32], ymm1`, `${op} xmm1, xmmword ptr [rdi + 16]`, `${op} xmmword ptr [rdi + 16], xmm1`, `${op} xmm1, xmm2`);
  add(
    'vmovsd xmm1, qword ptr [rdi + 8]',
    'vmovsd qword ptr [rdi + 8], xmm1',
    'vmovsd xmm1, xmm2, xmm3',
    'vmovss xmm1, dword ptr [rdi + 8]',
    'vmovss dword ptr [rdi + 8], xmm1',
    'vmovq xmm1, rsi',
    'vmovq rsi, xmm1',
    'vmovd xmm1, esi',
    'vbroadcastsd ymm1, qword ptr [rdi + 8]',
    'vbroadcastss ymm1, dword ptr [rdi + 8]',
    'vbroadcastsd ymm1, xmm2',
    'vpbroadcastd ymm1, xmm2',
    'vextractf128 xmm1, ymm2, 1',
    'vinsertf128 ymm1, ymm2, xmm3, 1',
    'vperm2f128 ymm1, ymm2, ymm3, 1',
    'vpermpd ymm1, ymm2, 27',
    'vhaddpd ymm1, ymm2, ymm3',
    'vcvtsi2sd xmm1, xmm2, rsi',
    'vcvttsd2si rsi, xmm1',
    'vcvtsd2ss xmm1, xmm2, xmm3',
    'vcvtss2sd xmm1, xmm2, xmm3',
    'vroundsd xmm1, xmm2, xmm3, 9',
    'vucomisd xmm1, xmm2',
    'vzeroupper',
    'vblendvpd ymm1, ymm2, ymm3, ymm4',
    'vmovmskpd esi, ymm1',
    'vptest ymm1, ymm2',
  );
  return out;
}

function a64Corpus(): string[] {
  const out: string[] = [];
  const add = (...lines: string[]) => out.push(...lines);
  for (const op of ['add', 'sub', 'adds', 'subs']) {
    add(
      `${op} x1, x2, x3`,
      `${op} w1, w2, w3`,
      `${op} x1, x2, #16`,
      `${op} w1, w2, #16`,
      `${op} x1, x2, #1, lsl #12`,
      `${op} x1, x2, x3, lsl #2`,
      `${op} x1, x2, x3, lsl #7`,
      `${op} w1, w2, w3, lsl #2`,
      `${op} w1, w2, w3, lsl #7`,
      `${op} x1, x2, x3, lsr #2`,
      `${op} x1, x2, x3, lsr #7`,
      `${op} x1, x2, x3, asr #2`,
      `${op} x1, x2, x3, asr #7`,
      `${op} x1, x2, w3, sxtw`,
      `${op} x1, x2, w3, uxtw #2`,
      `${op} x1, x2, w3, uxtb`,
      `${op} x1, x2, x3, sxtx #3`,
    );
  }
  add('add x1, sp, #16', 'sub sp, sp, #32', 'add sp, sp, #32', 'mov x29, sp', 'mov sp, x29', 'add x29, sp, #0');
  for (const op of ['and', 'orr', 'eor', 'bic', 'orn', 'eon', 'ands', 'bics']) {
    add(`${op} x1, x2, x3`, `${op} w1, w2, w3`, `${op} x1, x2, x3, lsl #2`, `${op} x1, x2, x3, lsl #7`, `${op} x1, x2, x3, lsr #7`, `${op} w1, w2, w3, lsl #2`, `${op} x1, x2, x3, ror #7`);
    if (!['bic', 'orn', 'eon', 'bics'].includes(op)) add(`${op} x1, x2, #0xff`, `${op} w1, w2, #0xff`);
  }
  for (const op of ['cmp', 'cmn']) add(`${op} x1, x2`, `${op} w1, w2`, `${op} x1, #7`, `${op} w1, #7`, `${op} x1, x2, lsl #2`, `${op} x1, x2, lsl #7`, `${op} x1, w2, sxtw`, `${op} x1, w2, uxtw #2`);
  add('tst x1, x2', 'tst w1, w2', 'tst x1, #0xff', 'tst w1, #0xff', 'tst x1, x2, lsl #2');
  add('mov x1, x2', 'mov w1, w2', 'mov x1, #7', 'mov w1, #7', 'mov x1, #-7', 'mov x1, #0x10000', 'movz x1, #0x1234, lsl #16', 'movk x1, #0x1234, lsl #16', 'movk w1, #0x1234', 'movn x1, #0x1234', 'mov x1, xzr', 'mov w1, wzr');
  add('neg x1, x2', 'neg w1, w2', 'negs x1, x2', 'mvn x1, x2', 'mvn w1, w2', 'neg x1, x2, lsl #3');
  add(
    'mul x1, x2, x3',
    'mul w1, w2, w3',
    'madd x1, x2, x3, x4',
    'madd w1, w2, w3, w4',
    'msub x1, x2, x3, x4',
    'msub w1, w2, w3, w4',
    'mneg x1, x2, x3',
    'smull x1, w2, w3',
    'umull x1, w2, w3',
    'smaddl x1, w2, w3, x4',
    'umaddl x1, w2, w3, x4',
    'smulh x1, x2, x3',
    'umulh x1, x2, x3',
    'sdiv x1, x2, x3',
    'sdiv w1, w2, w3',
    'udiv x1, x2, x3',
    'udiv w1, w2, w3',
  );
  for (const op of ['lsl', 'lsr', 'asr', 'ror']) add(`${op} x1, x2, #5`, `${op} w1, w2, #5`, `${op} x1, x2, x3`, `${op} w1, w2, w3`);
  add('ubfx x1, x2, #3, #7', 'ubfx w1, w2, #3, #7', 'sbfx x1, x2, #3, #7', 'ubfiz x1, x2, #3, #7', 'sbfiz x1, x2, #3, #7', 'bfi x1, x2, #3, #7', 'bfi w1, w2, #3, #7', 'bfxil x1, x2, #3, #7', 'extr x1, x2, x3, #7', 'extr w1, w2, w3, #7');
  add('sxtw x1, w2', 'sxtb x1, w2', 'sxth x1, w2', 'sxtb w1, w2', 'sxth w1, w2', 'uxtb w1, w2', 'uxth w1, w2');
  for (const op of ['csel', 'csinc', 'csinv', 'csneg']) add(`${op} x1, x2, x3, eq`, `${op} w1, w2, w3, lt`);
  add('cset x1, eq', 'cset w1, ne', 'csetm x1, eq', 'csetm w1, lt', 'cinc x1, x2, eq', 'cinc w1, w2, ne', 'cinv x1, x2, eq', 'cneg x1, x2, mi', 'cneg w1, w2, mi');
  add('ccmp x1, x2, #0, ne', 'ccmp w1, w2, #4, eq', 'ccmp x1, #5, #0, ne', 'ccmp w1, #5, #0, ne', 'ccmn x1, x2, #0, ne', 'ccmn w1, #5, #0, ne', 'ccmn x1, #5, #0, ne');
  add('movk w1, #0x1234, lsl #16', 'movk x1, #0x1234', 'cmp w1, #1, lsl #12', 'cmp x1, #1, lsl #12', 'cmn x1, #1, lsl #12', 'cmn w1, #1, lsl #12', 'add x1, sp, #1, lsl #12', 'sub sp, sp, x1', 'add sp, sp, x1', 'add x1, sp, x2', 'sub x1, sp, x2');
  for (const op of ['cmp', 'cmn']) add(`${op} x1, x2, asr #2`, `${op} x1, x2, lsr #2`, `${op} x1, x2, asr #7`, `${op} x1, x2, lsr #7`, `${op} w1, w2, lsl #7`, `${op} w1, w2, lsr #7`, `${op} w1, w2, asr #2`, `${op} w1, w2, uxtb`, `${op} w1, w2, sxth`);
  for (const op of ['add', 'sub', 'and', 'orr', 'eor', 'bic', 'adds', 'subs', 'ands']) add(`${op} w1, w2, w3, lsl #7`, `${op} w1, w2, w3, lsr #2`, `${op} w1, w2, w3, lsr #7`, `${op} w1, w2, w3, asr #2`, `${op} w1, w2, w3, asr #7`, `${op} x1, x2, x3, asr #2`, `${op} x1, x2, x3, asr #7`, `${op} x1, x2, x3, lsr #2`);
  add('neg x1, x2, lsl #7', 'neg x1, x2, asr #3', 'neg x1, x2, lsr #3', 'neg w1, w2, lsl #3', 'negs w1, w2', 'mvn x1, x2, lsl #3', 'ubfiz w1, w2, #3, #7', 'sbfiz w1, w2, #3, #7', 'sbfx w1, w2, #3, #7', 'bfxil w1, w2, #3, #7', 'rev16 w1, w2', 'cls w1, w2', 'tbz x1, #40, .Ltarget', 'tbnz x1, #40, .Ltarget');
  add('adc x1, x2, x3', 'adc w1, w2, w3', 'adcs x1, x2, x3', 'sbc x1, x2, x3', 'sbcs x1, x2, x3', 'ngc x1, x2');
  add('clz x1, x2', 'clz w1, w2', 'cls x1, x2', 'rbit x1, x2', 'rbit w1, w2', 'rev x1, x2', 'rev w1, w2', 'rev16 x1, x2', 'rev32 x1, x2');
  add('adr x1, .Ltarget', 'adrp x1, .Ltarget');
  const addrX = ['[x2]', '[x2, #8]', '[x2, x3]', '[x2, x3, lsl #3]', '[x2, w3, sxtw]', '[x2, w3, sxtw #3]', '[x2, w3, uxtw #3]', '[x2, #8]!', '[x2], #8'];
  const addrW = ['[x2]', '[x2, #4]', '[x2, x3]', '[x2, x3, lsl #2]', '[x2, w3, sxtw]', '[x2, w3, uxtw #2]', '[x2, #4]!', '[x2], #4'];
  const addrB = ['[x2]', '[x2, #1]', '[x2, x3]', '[x2, w3, sxtw]', '[x2, #1]!', '[x2], #1'];
  const addrH = ['[x2]', '[x2, #2]', '[x2, x3]', '[x2, x3, lsl #1]', '[x2, w3, uxtw #1]', '[x2, #2]!', '[x2], #2'];
  for (const a of addrX) add(`ldr x1, ${a}`, `str x1, ${a}`, `ldr d1, ${a}`, `str d1, ${a}`);
  for (const a of addrW) add(`ldr w1, ${a}`, `str w1, ${a}`, `ldrsw x1, ${a}`, `ldr s1, ${a}`, `str s1, ${a}`);
  for (const a of addrB) add(`ldrb w1, ${a}`, `strb w1, ${a}`, `ldrsb w1, ${a}`, `ldrsb x1, ${a}`);
  for (const a of addrH) add(`ldrh w1, ${a}`, `strh w1, ${a}`, `ldrsh w1, ${a}`, `ldrsh x1, ${a}`);
  for (const a of ['[x2]', '[x2, #16]', '[x2, x3]', '[x2, x3, lsl #4]', '[x2, #16]!', '[x2], #16']) add(`ldr q1, ${a}`, `str q1, ${a}`);
  add('ldur q1, [x2, #-16]', 'stur q1, [x2, #-16]', 'ldur s1, [x2, #-4]', 'stur s1, [x2, #-4]', 'ldurh w1, [x2, #-2]', 'sturh w1, [x2, #-2]', 'ldursb w1, [x2, #-1]', 'ldursh w1, [x2, #-2]');
  add('ldur x1, [x2, #-8]', 'stur x1, [x2, #-8]', 'ldur w1, [x2, #-4]', 'stur w1, [x2, #-4]', 'ldur d1, [x2, #-8]', 'stur d1, [x2, #-8]', 'ldurb w1, [x2, #-1]', 'sturb w1, [x2, #-1]', 'ldursw x1, [x2, #-4]');
  add('str xzr, [x2, #8]', 'str wzr, [x2, #8]', 'strb wzr, [x2]', 'stp xzr, xzr, [x2]');
  add('ldr x1, .Ltarget', 'ldr w1, .Ltarget', 'ldr d1, .Ltarget');
  for (const a of ['[x2]', '[x2, #16]', '[x2, #16]!', '[x2], #16']) add(`ldp x1, x3, ${a}`, `stp x1, x3, ${a}`, `ldp w1, w3, ${a}`, `stp w1, w3, ${a}`, `ldp d1, d3, ${a}`, `stp d1, d3, ${a}`, `ldp q1, q3, ${a}`, `stp q1, q3, ${a}`, `ldpsw x1, x3, ${a}`);
  add('ldp x29, x30, [sp], #16', 'stp x29, x30, [sp, #-16]!', 'ldp x29, x30, [sp, #16]', 'stp x29, x30, [sp, #16]');
  add('ldar x1, [x2]', 'stlr x1, [x2]', 'ldar w1, [x2]', 'stlr w1, [x2]', 'ldaxr x1, [x2]', 'stlxr w4, x1, [x2]', 'ldxr x1, [x2]', 'stxr w4, x1, [x2]', 'prfm pldl1keep, [x2]');
  add('b .Ltarget', 'bl .Ltarget', 'br x2', 'blr x2', 'ret', 'cbz x1, .Ltarget', 'cbz w1, .Ltarget', 'cbnz x1, .Ltarget', 'cbnz w1, .Ltarget', 'tbz x1, #3, .Ltarget', 'tbz w1, #3, .Ltarget', 'tbnz x1, #3, .Ltarget', 'tbnz w1, #3, .Ltarget');
  for (const c of ['eq', 'ne', 'hs', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le']) add(`b.${c} .Ltarget`);
  add('nop', 'brk #0', 'svc #0', 'dmb ish', 'dsb sy', 'isb', 'mrs x1, tpidr_el0', 'mrs x1, nzcv', 'msr nzcv, x1', 'yield');
  for (const op of ['fadd', 'fsub', 'fmul', 'fdiv', 'fnmul', 'fmax', 'fmin', 'fmaxnm', 'fminnm', 'fabd']) add(`${op} d1, d2, d3`, `${op} s1, s2, s3`);
  for (const op of ['fsqrt', 'fabs', 'fneg', 'frintm', 'frintp', 'frintz', 'frinta', 'frintn', 'frintx', 'frinti']) add(`${op} d1, d2`, `${op} s1, s2`);
  for (const op of ['fmadd', 'fmsub', 'fnmadd', 'fnmsub']) add(`${op} d1, d2, d3, d4`, `${op} s1, s2, s3, s4`);
  add('fcmp d1, d2', 'fcmp s1, s2', 'fcmp d1, #0.0', 'fcmpe d1, d2', 'fccmp d1, d2, #0, ne', 'fcsel d1, d2, d3, eq', 'fcsel s1, s2, s3, lt');
  add('fmov d1, d2', 'fmov s1, s2', 'fmov d1, x2', 'fmov x1, d2', 'fmov s1, w2', 'fmov w1, s2', 'fmov d1, #1.0', 'fmov s1, #1.0', 'fmov d1, xzr', 'movi d1, #0', 'fmov v1.d[1], x2', 'fmov x1, v2.d[1]');
  for (const op of ['scvtf', 'ucvtf']) add(`${op} d1, x2`, `${op} d1, w2`, `${op} s1, w2`, `${op} s1, x2`, `${op} d1, d2`, `${op} s1, s2`);
  add('addv b1, v2.8b', 'addv h1, v2.4h', 'addv h1, v2.8h', 'uaddlv h1, v2.16b', 'uaddlv s1, v2.8h');
  for (const op of ['fcvtzs', 'fcvtzu', 'fcvtas', 'fcvtms']) add(`${op} x1, d2`, `${op} w1, d2`, `${op} w1, s2`, `${op} x1, s2`, `${op} d1, d2`);
  add('fcvt d1, s2', 'fcvt s1, d2', 'fcvt h1, s2', 'fcvt s1, h2');
  for (const op of ['add', 'sub', 'mul', 'mla', 'and', 'orr', 'eor', 'bic', 'cmeq', 'cmgt', 'cmhi', 'umax', 'smin', 'addp', 'zip1', 'zip2', 'uzp1', 'trn1']) {
    const arrs = op === 'and' || op === 'orr' || op === 'eor' || op === 'bic' ? ['16b', '8b'] : op === 'mul' || op === 'mla' || op === 'umax' || op === 'smin' ? ['4s', '8h', '16b'] : ['4s', '2d', '8h', '16b'];
    for (const t of arrs) add(`${op} v1.${t}, v2.${t}, v3.${t}`);
  }
  for (const op of ['fadd', 'fsub', 'fmul', 'fdiv', 'fmla', 'fmls', 'fmax', 'fmin', 'faddp', 'fcmeq', 'fcmgt']) for (const t of ['2d', '4s']) add(`${op} v1.${t}, v2.${t}, v3.${t}`);
  add('fmla v1.2d, v2.2d, v3.d[1]', 'fmul v1.4s, v2.4s, v3.s[1]', 'mul v1.4s, v2.4s, v3.s[1]');
  for (const op of ['fsqrt', 'fabs', 'fneg', 'frintm', 'scvtf', 'fcvtzs']) add(`${op} v1.2d, v2.2d`, `${op} v1.4s, v2.4s`);
  add('neg v1.4s, v2.4s', 'abs v1.4s, v2.4s', 'not v1.16b, v2.16b', 'cnt v1.8b, v2.8b', 'rev64 v1.4s, v2.4s', 'mov v1.16b, v2.16b', 'addv s1, v2.4s', 'addv b1, v2.16b', 'uaddlv h1, v2.8b', 'umaxv s1, v2.4s', 'faddp d1, v2.2d', 'fmaxnmv s1, v2.4s');
  add('shl v1.4s, v2.4s, #3', 'ushr v1.2d, v2.2d, #3', 'sshr v1.4s, v2.4s, #3', 'ushl v1.4s, v2.4s, v3.4s', 'xtn v1.2s, v2.2d', 'uxtl v1.2d, v2.2s', 'sxtl v1.4s, v2.4h', 'ext v1.16b, v2.16b, v3.16b, #8', 'tbl v1.16b, {v2.16b}, v3.16b', 'bsl v1.16b, v2.16b, v3.16b', 'bif v1.16b, v2.16b, v3.16b', 'bit v1.16b, v2.16b, v3.16b');
  add('movi v1.2s, #7', 'movi v1.2s, #7, lsl #8', 'mvni v1.2s, #7', 'mvni v1.2s, #7, lsl #8', 'mvni v1.4s, #7, msl #8', 'movi v1.4s, #7, lsl #8', 'movi v1.8b, #7', 'bif v1.8b, v2.8b, v3.8b', 'bit v1.8b, v2.8b, v3.8b', 'bsl v1.8b, v2.8b, v3.8b', 'add v1.2s, v2.2s, v3.2s', 'add v1.8b, v2.8b, v3.8b', 'rev64 v1.2s, v2.2s', 'rev32 v1.8b, v2.8b', 'sshll v1.2d, v2.2s, #0', 'ushll v1.2d, v2.2s, #0', 'shl v1.2d, v2.2d, #3', 'ushr d1, d2, #3', 'shl d1, d2, #3', 'uaddw v1.2d, v2.2d, v3.2s', 'fcmp s1, #0.0', 'fcmpe d1, #0.0', 'fcmpe s1, s2', 'str h1, [x2]', 'ldr h1, [x2]', 'ldr b1, [x2]', 'str b1, [x2]');
  add('dup v1.4s, w2', 'dup v1.2d, x2', 'dup v1.4s, v2.s[1]', 'dup v1.2d, v2.d[0]', 'movi v1.2d, #0', 'movi v1.4s, #7', 'movi v1.16b, #7', 'mov v1.d[1], x2', 'mov v1.s[1], w2', 'mov x1, v2.d[1]', 'mov w1, v2.s[1]', 'umov w1, v2.b[1]', 'smov x1, v2.s[1]', 'mov v1.d[1], v2.d[0]', 'ins v1.s[1], v2.s[0]');
  add('ld1 {v1.4s}, [x2]', 'ld1 {v1.2d}, [x2], #16', 'ld1 {v1.16b, v2.16b}, [x2]', 'st1 {v1.4s}, [x2]', 'st1 {v1.2d}, [x2], #16', 'st1 {v1.16b, v2.16b}, [x2]', 'ld1r {v1.4s}, [x2]', 'ld1 {v1.s}[1], [x2]', 'st1 {v1.d}[1], [x2]', 'ld2 {v1.4s, v2.4s}, [x2]', 'st2 {v1.4s, v2.4s}, [x2]');
  return out;
}

/** The corpus for one architecture, in a fixed order (the generator's output depends on it). */
export function instructionCorpus(arch: 'x64' | 'aarch64'): string[] {
  return arch === 'x64' ? x64Corpus() : a64Corpus();
}
