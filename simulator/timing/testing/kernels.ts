/**
 * Validation kernels for the static block model: loop bodies as assembly (Intel syntax on
 * x86-64, ARM syntax on AArch64), each ending in a branch back to its start (`LOOP`).
 * scripts/gen-timing-tables.ts assembles them and records llvm-mca's Total Cycles for 100
 * iterations in kernel-goldens.ts; model.test.ts compares the model against those goldens.
 * They mix the shapes our compiler and gcc -O0/-O2 produce: dependency chains, throughput-
 * bound ALU mixes, loads/stores in several addressing modes, stack traffic, FP and SIMD.
 */
import type { Arch } from '../../../isa/arch.ts';

export interface KernelSource {
  readonly name: string;
  readonly arch: Arch;
  readonly asm: string;
}

const x64 = (name: string, asm: string): KernelSource => ({ name, arch: 'x64', asm });
const a64 = (name: string, asm: string): KernelSource => ({ name, arch: 'aarch64', asm });

export const KERNELS: readonly KernelSource[] = [
  x64('x64-dep-add8', `
    add rax, rbx
    add rax, rbx
    add rax, rbx
    add rax, rbx
    add rax, rbx
    add rax, rbx
    add rax, rbx
    add rax, rbx
    dec rcx
    jne LOOP`),
  x64('x64-add8-4regs', `
    add rax, 1
    add rbx, 1
    add rdx, 1
    add rsi, 1
    add rax, 1
    add rbx, 1
    add rdx, 1
    add rsi, 1
    dec rcx
    jne LOOP`),
  x64('x64-dep-imul4', `
    imul rax, rbx
    imul rax, rbx
    imul rax, rbx
    imul rax, rbx
    dec rcx
    jne LOOP`),
  x64('x64-pointer-chase4', `
    mov rax, qword ptr [rax]
    mov rax, qword ptr [rax]
    mov rax, qword ptr [rax]
    mov rax, qword ptr [rax]
    dec rcx
    jne LOOP`),
  x64('x64-dep-addsd4', `
    addsd xmm0, xmm1
    addsd xmm0, xmm1
    addsd xmm0, xmm1
    addsd xmm0, xmm1
    dec rcx
    jne LOOP`),
  x64('x64-dep-divsd2', `
    divsd xmm0, xmm1
    divsd xmm0, xmm1
    dec rcx
    jne LOOP`),
  x64('x64-fma8-indep', `
    vfmadd231pd ymm0, ymm8, ymm9
    vfmadd231pd ymm1, ymm8, ymm9
    vfmadd231pd ymm2, ymm8, ymm9
    vfmadd231pd ymm3, ymm8, ymm9
    vfmadd231pd ymm4, ymm8, ymm9
    vfmadd231pd ymm5, ymm8, ymm9
    vfmadd231pd ymm6, ymm8, ymm9
    vfmadd231pd ymm7, ymm8, ymm9
    dec rcx
    jne LOOP`),
  x64('x64-sum-array', `
    add rax, qword ptr [rdi + rcx*8]
    add rcx, 1
    cmp rcx, rdx
    jne LOOP`),
  x64('x64-copy-qwords', `
    mov rax, qword ptr [rsi + rcx*8]
    mov qword ptr [rdi + rcx*8], rax
    mov rbx, qword ptr [rsi + rcx*8 + 8]
    mov qword ptr [rdi + rcx*8 + 8], rbx
    add rcx, 2
    cmp rcx, rdx
    jb LOOP`),
  x64('x64-dot-scalar', `
    movsd xmm1, qword ptr [rdi + rcx*8]
    mulsd xmm1, qword ptr [rsi + rcx*8]
    addsd xmm0, xmm1
    add rcx, 1
    cmp rcx, rdx
    jb LOOP`),
  x64('x64-daxpy-avx', `
    vmovupd ymm1, ymmword ptr [rsi + rcx]
    vfmadd231pd ymm1, ymm0, ymmword ptr [rdi + rcx]
    vmovupd ymmword ptr [rsi + rcx], ymm1
    add rcx, 32
    cmp rcx, rdx
    jb LOOP`),
  x64('x64-hash-mix', `
    imul rax, rax, 0x1e3779b1
    mov rbx, rax
    shr rbx, 17
    xor rax, rbx
    rol rax, 5
    add rax, rdx
    dec rcx
    jne LOOP`),
  x64('x64-o0-counter', `
    mov eax, dword ptr [rbp - 4]
    add eax, 1
    mov dword ptr [rbp - 4], eax
    mov edx, dword ptr [rbp - 8]
    mov eax, dword ptr [rbp - 4]
    cmp eax, edx
    jl LOOP`),
  x64('x64-o0-sum', `
    mov eax, dword ptr [rbp - 12]
    cdqe
    lea rdx, [rax*4]
    mov rax, qword ptr [rbp - 24]
    add rax, rdx
    mov eax, dword ptr [rax]
    add dword ptr [rbp - 4], eax
    add dword ptr [rbp - 12], 1
    mov eax, dword ptr [rbp - 12]
    cmp eax, dword ptr [rbp - 28]
    jl LOOP`),
  x64('x64-fib', `
    mov rdx, rax
    add rax, rbx
    mov rbx, rdx
    dec rcx
    jne LOOP`),
  x64('x64-select', `
    cmp rax, rbx
    cmovl rax, rbx
    setg dl
    movzx edx, dl
    add rsi, rdx
    add rbx, 3
    dec rcx
    jne LOOP`),
  x64('x64-lea-chain', `
    lea rax, [rax + rax*4]
    lea rax, [rbx + rax*2 + 7]
    lea rdx, [rax + 8]
    lea rsi, [rdx + rdi]
    dec rcx
    jne LOOP`),
  x64('x64-div32', `
    mov eax, esi
    xor edx, edx
    div ebx
    add esi, edx
    dec rcx
    jne LOOP`),
  x64('x64-shift-cl', `
    shl rax, cl
    shr rbx, cl
    sar rdx, 3
    or rax, rbx
    xor rdx, rax
    dec r8
    jne LOOP`),
  x64('x64-push-pop', `
    push rbx
    push rbp
    push r12
    mov r12, rdi
    pop r12
    pop rbp
    pop rbx
    dec rcx
    jne LOOP`),
  x64('x64-bitcount', `
    popcnt rax, qword ptr [rdi + rcx*8]
    add rdx, rax
    tzcnt rbx, rsi
    add r8, rbx
    inc rcx
    cmp rcx, r9
    jne LOOP`),
  x64('x64-sse-packed', `
    movaps xmm1, xmmword ptr [rdi + rcx]
    mulps xmm1, xmm2
    addps xmm0, xmm1
    movaps xmm3, xmmword ptr [rdi + rcx + 16]
    mulps xmm3, xmm2
    addps xmm4, xmm3
    add rcx, 32
    cmp rcx, rdx
    jb LOOP`),
  x64('x64-wasm-heap', `
    mov eax, dword ptr [r15 + rsi + 8]
    lea ecx, [rax + 1]
    cmp ecx, dword ptr [rdi + 0x40]
    ja LOOP
    mov dword ptr [r15 + rsi + 8], ecx
    add esi, 4
    cmp esi, edx
    jne LOOP`),
  x64('x64-int-fp-convert', `
    cvtsi2sd xmm1, rax
    mulsd xmm1, xmm2
    cvttsd2si rbx, xmm1
    add rax, rbx
    dec rcx
    jne LOOP`),
  x64('x64-strlen-bytes', `
    movzx eax, byte ptr [rdi + rcx]
    inc rcx
    test al, al
    jne LOOP`),
  x64('x64-mixed-alu-mem', `
    mov r8, qword ptr [rdi]
    add r8, qword ptr [rdi + 8]
    imul r8, r9
    mov qword ptr [rdi + 16], r8
    sub r10, r8
    and r11, r10
    add rdi, 24
    dec rcx
    jne LOOP`),

  // Loop bodies gcc 12 -O2 emits for the C sample in tables.test.ts (syntax normalised).
  x64('gcc-x64-dot', `
    movsd xmm0, qword ptr [rdi + rax*8]
    mulsd xmm0, qword ptr [rsi + rax*8]
    add rax, 1
    addsd xmm1, xmm0
    cmp rdx, rax
    jne LOOP`),
  x64('gcc-x64-sum', `
    movsxd rdx, dword ptr [rdi]
    add rdi, 4
    add rax, rdx
    cmp rdi, rcx
    jne LOOP`),
  x64('gcc-x64-hash', `
    movzx edx, byte ptr [rdi]
    add rdi, 1
    xor rax, rdx
    imul rax, rcx
    cmp rdi, rsi
    jne LOOP`),
  x64('gcc-x64-norm', `
    movsd xmm1, qword ptr [rdi]
    movsd xmm0, qword ptr [rdi + 8]
    add rdi, 24
    mulsd xmm0, xmm0
    mulsd xmm1, xmm1
    addsd xmm0, xmm1
    cvttsd2si rax, xmm0
    movapd xmm3, xmm0
    maxsd xmm3, xmm2
    mov qword ptr [rdi - 8], rax
    movapd xmm2, xmm3
    cmp rdx, rdi
    jne LOOP`),
  x64('gcc-x64-copy', `
    mov rcx, qword ptr [rsi + rax*8]
    mov qword ptr [rdi + rax*8], rcx
    add rax, 1
    cmp rdx, rax
    jne LOOP`),
  x64('gcc-x64-fib', `
    mov rcx, rax
    add edx, 1
    add rax, rsi
    mov rsi, rcx
    cmp edi, edx
    jne LOOP`),
  x64('gcc-x64-minmax', `
    mov edx, dword ptr [rcx]
    cmp r8d, edx
    cmovg r8d, edx
    cmp eax, edx
    cmovl eax, edx
    add rcx, 4
    cmp rcx, rsi
    jne LOOP`),
  x64('gcc-x64-scale', `
    movss xmm1, dword ptr [rdi]
    add rdi, 4
    mulss xmm1, xmm0
    movss dword ptr [rdi - 4], xmm1
    cmp rdi, rax
    jne LOOP`),

  a64('a64-dep-add8', `
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    add x0, x0, x1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-add8-4regs', `
    add x0, x0, #1
    add x1, x1, #1
    add x2, x2, #1
    add x3, x3, #1
    add x0, x0, #1
    add x1, x1, #1
    add x2, x2, #1
    add x3, x3, #1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-dep-mul4', `
    mul x0, x0, x1
    mul x0, x0, x1
    mul x0, x0, x1
    mul x0, x0, x1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-pointer-chase4', `
    ldr x0, [x0]
    ldr x0, [x0]
    ldr x0, [x0]
    ldr x0, [x0]
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-dep-fadd4', `
    fadd d0, d0, d1
    fadd d0, d0, d1
    fadd d0, d0, d1
    fadd d0, d0, d1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-dep-fdiv2', `
    fdiv d0, d0, d1
    fdiv d0, d0, d1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-fmla8-indep', `
    fmla v0.2d, v8.2d, v9.2d
    fmla v1.2d, v8.2d, v9.2d
    fmla v2.2d, v8.2d, v9.2d
    fmla v3.2d, v8.2d, v9.2d
    fmla v4.2d, v8.2d, v9.2d
    fmla v5.2d, v8.2d, v9.2d
    fmla v6.2d, v8.2d, v9.2d
    fmla v7.2d, v8.2d, v9.2d
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-sum-array', `
    ldr x3, [x1, x2, lsl #3]
    add x0, x0, x3
    add x2, x2, #1
    cmp x2, x4
    b.ne LOOP`),
  a64('a64-sum-postinc', `
    ldr x3, [x1], #8
    add x0, x0, x3
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-copy-ldp-stp', `
    ldp x3, x4, [x1], #16
    stp x3, x4, [x2], #16
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-dot-scalar', `
    ldr d1, [x1, x3, lsl #3]
    ldr d2, [x2, x3, lsl #3]
    fmadd d0, d1, d2, d0
    add x3, x3, #1
    cmp x3, x4
    b.lo LOOP`),
  a64('a64-daxpy-neon', `
    ldr q1, [x1, x3]
    ldr q2, [x2, x3]
    fmla v2.2d, v1.2d, v0.2d
    str q2, [x2, x3]
    add x3, x3, #16
    cmp x3, x4
    b.lo LOOP`),
  a64('a64-hash-mix', `
    mul x0, x0, x5
    eor x0, x0, x0, lsr #17
    ror x0, x0, #5
    add x0, x0, x1
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-o0-counter', `
    ldr w0, [sp, #12]
    add w0, w0, #1
    str w0, [sp, #12]
    ldr w1, [sp, #8]
    ldr w0, [sp, #12]
    cmp w0, w1
    b.lt LOOP`),
  a64('a64-o0-sum', `
    ldrsw x0, [sp, #28]
    lsl x0, x0, #2
    ldr x1, [sp, #8]
    add x0, x1, x0
    ldr w0, [x0]
    ldr w1, [sp, #24]
    add w0, w1, w0
    str w0, [sp, #24]
    ldr w0, [sp, #28]
    add w0, w0, #1
    str w0, [sp, #28]
    ldr w1, [sp, #28]
    ldr w0, [sp, #4]
    cmp w1, w0
    b.lt LOOP`),
  a64('a64-fib', `
    mov x2, x0
    add x0, x0, x1
    mov x1, x2
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-select', `
    cmp x0, x1
    csel x0, x0, x1, lt
    cset x2, gt
    add x3, x3, x2
    add x1, x1, #3
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-shifted-ops', `
    add x0, x1, x0, lsl #2
    add x2, x0, x2, lsl #3
    sub x3, x3, x2, lsr #1
    orr x4, x4, x3, lsl #7
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-udiv', `
    udiv w0, w1, w2
    msub w3, w0, w2, w1
    add w1, w1, w3
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-frame-push-pop', `
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-bitfield', `
    ubfx x1, x0, #3, #7
    bfi x2, x1, #8, #7
    clz x3, x2
    rbit x4, x3
    add x0, x0, x4
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-neon-packed', `
    ldr q1, [x1], #32
    ldr q3, [x1, #-16]
    fmul v1.4s, v1.4s, v2.4s
    fadd v0.4s, v0.4s, v1.4s
    fmul v3.4s, v3.4s, v2.4s
    fadd v4.4s, v4.4s, v3.4s
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-wasm-heap', `
    ldr w0, [x21, w1, uxtw]
    add w2, w0, #1
    ldr w3, [x20, #64]
    cmp w2, w3
    b.hi LOOP
    str w2, [x21, w1, uxtw]
    add w1, w1, #4
    cmp w1, w4
    b.ne LOOP`),
  a64('a64-int-fp-convert', `
    scvtf d1, x0
    fmul d1, d1, d2
    fcvtzs x3, d1
    add x0, x0, x3
    subs x9, x9, #1
    b.ne LOOP`),
  a64('a64-strlen-bytes', `
    ldrb w0, [x1, x2]
    add x2, x2, #1
    cbnz w0, LOOP`),
  a64('a64-mixed-alu-mem', `
    ldr x8, [x0]
    ldr x10, [x0, #8]
    add x8, x8, x10
    mul x8, x8, x11
    str x8, [x0, #16]
    sub x12, x12, x8
    and x13, x13, x12
    add x0, x0, #24
    subs x9, x9, #1
    b.ne LOOP`),
  a64('gcc-a64-dot', `
    ldr d2, [x0, x3, lsl #3]
    ldr d1, [x1, x3, lsl #3]
    add x3, x3, #1
    fmadd d0, d2, d1, d0
    cmp x2, x3
    b.ne LOOP`),
  a64('gcc-a64-sum', `
    ldrsw x1, [x2], #4
    add x0, x0, x1
    cmp x2, x3
    b.ne LOOP`),
  a64('gcc-a64-hash', `
    ldrb w1, [x2], #1
    eor x0, x1, x0
    mul x0, x0, x4
    cmp x2, x3
    b.ne LOOP`),
  a64('gcc-a64-norm', `
    ldp d1, d2, [x0]
    fmul d2, d2, d2
    fmadd d1, d1, d1, d2
    fcmpe d1, d0
    b.gt LOOP
    fcvtzs d1, d1
    add x0, x0, #24
    str d1, [x0, #-8]
    cmp x1, x0
    b.ne LOOP`),
  a64('gcc-a64-copy', `
    ldr x4, [x1, x3, lsl #3]
    str x4, [x0, x3, lsl #3]
    add x3, x3, #1
    cmp x2, x3
    b.ne LOOP`),
  a64('gcc-a64-fib', `
    mov x0, x1
    add w2, w2, #1
    add x1, x1, x3
    mov x3, x0
    cmp w4, w2
    b.ne LOOP`),
  a64('gcc-a64-minmax', `
    ldr w2, [x0, x3, lsl #2]
    add x3, x3, #1
    cmp w5, w2
    csel w5, w5, w2, le
    cmp w4, w2
    csel w4, w4, w2, ge
    cmp w1, w3
    b.gt LOOP`),
  a64('gcc-a64-scale', `
    ldr s1, [x0]
    fmul s1, s1, s0
    str s1, [x0], #4
    cmp x0, x1
    b.ne LOOP`),
];

/**
 * Deterministic 0/1 flag bytes from xorshift32, for branch kernels whose outcome must not
 * repeat within a run. bench/timing's C harness generates the same sequence from the same seed.
 */
export function xorshiftFlags(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x >>> 16) & 1;
  }
  return out;
}
