/**
 * The parts of `@alexaltea/capstone-js` 5.0.9 (an Emscripten build of Capstone 5.0, wasm32)
 * that isa/disasm.ts uses. The package ships no typings. Pointers and `size_t` are wasm32
 * byte offsets (plain numbers); `bool` results come back as 0/1.
 */
declare module '@alexaltea/capstone-js' {
  /** A WebAssembly.Instance (the project's TypeScript libs do not declare the WebAssembly API). */
  export interface WasmInstanceLike {
    readonly exports: Record<string, unknown>;
  }

  /** Emscripten module options; only the instantiation hook is used. */
  export interface CapstoneModuleOptions {
    /**
     * Replaces Emscripten's own instantiation. It is called synchronously while the factory
     * runs; Emscripten waits until `receive` is called.
     */
    instantiateWasm?: (
      imports: object,
      receive: (instance: WasmInstanceLike, module: unknown) => void,
    ) => object;
  }

  export interface CapstoneModule {
    readonly ARCH_X86: number;
    readonly ARCH_ARM64: number;
    readonly MODE_64: number;
    readonly MODE_ARM: number;
    readonly OPT_DETAIL: number;
    readonly OPT_ON: number;
    readonly ERR_OK: number;

    /** `cs_err cs_open(cs_arch, cs_mode, csh *handle)` */
    _cs_open(arch: number, mode: number, handlePtr: number): number;
    /** `cs_err cs_close(csh *handle)` */
    _cs_close(handlePtr: number): number;
    /** `cs_err cs_option(csh, cs_opt_type, size_t value)` */
    _cs_option(handle: number, type: number, value: number): number;
    /** `cs_insn *cs_malloc(csh)`: one cs_insn, with its cs_detail when details are on. */
    _cs_malloc(handle: number): number;
    /** `void cs_free(cs_insn *, size_t count)` */
    _cs_free(insn: number, count: number): void;
    /**
     * `bool cs_disasm_iter(csh, const uint8_t **code, size_t *size, uint64_t *address,
     * cs_insn *insn)`: decodes one instruction and advances the three cursors on success only.
     */
    _cs_disasm_iter(handle: number, codePtr: number, sizePtr: number, addressPtr: number, insn: number): number;
    /** `const char *cs_reg_name(csh, unsigned reg)` (NULL when unknown) */
    _cs_reg_name(handle: number, reg: number): number;
    /** `const char *cs_insn_name(csh, unsigned insn_id)` */
    _cs_insn_name(handle: number, id: number): number;
    /** `const char *cs_group_name(csh, unsigned group)` */
    _cs_group_name(handle: number, group: number): number;
    /**
     * `cs_err cs_regs_access(csh, const cs_insn *, cs_regs regs_read, uint8_t *read_count,
     * cs_regs regs_write, uint8_t *write_count)`; `cs_regs` is `uint16_t[64]`.
     */
    _cs_regs_access(
      handle: number,
      insn: number,
      regsRead: number,
      readCount: number,
      regsWrite: number,
      writeCount: number,
    ): number;
    _cs_errno(handle: number): number;
    _malloc(size: number): number;
    _free(ptr: number): void;
  }

  /** Emscripten factory; always asynchronous (it awaits wasm instantiation internally). */
  export default function MCapstone(options?: CapstoneModuleOptions): Promise<CapstoneModule>;
}
