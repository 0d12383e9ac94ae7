/**
 * The register-allocation modes (no imports, so the CLI's argument parser can name them
 * without loading the compiler).
 *
 * - `none`: every Wasm value has its own stack slot (the teaching mode: a stack map is the set
 *   of slots of live references, and the frame reads like the operand stack).
 * - `linear-scan`: values live in registers chosen by a linear-scan allocator; references
 *   are spilled to stack slots around every call they survive, as Cranelift does.
 */
export type RegallocMode = 'none' | 'linear-scan';
export const REGALLOC_MODES: readonly RegallocMode[] = ['none', 'linear-scan'];
