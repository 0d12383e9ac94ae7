/**
 * Module (wasmtime's `module.rs`): a validated module compiled for one engine's architecture,
 * from WAT, Wasm bytes or a compiled image.
 */
import { compileModule, type CompiledImage } from '../compiler/index.ts';
import { parseModuleSource, parseWasm, parseWat } from '../compiler/frontend/index.ts';
import type { WasmModule } from '../compiler/frontend/module.ts';
import type { Engine } from './engine.ts';
import { RuntimeError } from './errors.ts';
import { addressSpaceOf, checkAddressSpace } from './memory.ts';
import { codeOfCompiledImage, moduleFromImageBytes, type ModuleCode } from './image-module.ts';


export interface ImportDescriptor {
  readonly module: string;
  readonly name: string;
  readonly kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
}

/** A validated, compiled module for one engine's architecture. */
export class Module {
  private constructor(
    readonly engine: Engine,
    /** The module's shape (from the front end, or rebuilt from an image's metadata). */
    readonly wasm: WasmModule,
    /** The code: ELF object, function offsets, trap sites, stack maps. */
    readonly code: ModuleCode,
    /** The compiler's output, when the module was compiled here. */
    readonly image: CompiledImage | undefined,
    readonly name: string | undefined,
  ) {
    if (code.arch !== engine.arch) throw new RuntimeError('Module', `image is for ${code.arch}, the engine for ${engine.arch}`);
    // The engine's stores give every memory the engine's address space: refuse code that needs more.
    const space = addressSpaceOf(engine.memoryOptions);
    for (const [k, type] of wasm.memoryTypes.entries()) {
      if (k >= wasm.counts.numImportedMemories) checkAddressSpace(`Module memory ${k}`, type, code.memoryTunables, space);
    }
  }

  /** Compiles an already parsed module, or adopts an image compiled from it. */
  static fromParsed(engine: Engine, wasm: WasmModule, image?: CompiledImage, name?: string): Module {
    const img = image ?? compileModule(wasm, { arch: engine.arch, profile: engine.profile, regalloc: engine.config.regalloc, memoryTunables: engine.memoryTunables });
    return new Module(engine, wasm, codeOfCompiledImage(img), img, name);
  }

  /**
   * A module from a compiled image's bytes (the ELF object `stackscope compile` writes): the
   * shape comes from its `.stackscope.module` section, trap sites and stack maps from the
   * others. Throws ImageModuleError / ImageFormatError / LoaderError on a damaged image.
   */
  static fromImage(engine: Engine, bytes: Uint8Array, name?: string): Module {
    const { wasm, code } = moduleFromImageBytes(bytes, name ?? 'image.o');
    return new Module(engine, wasm, code, undefined, name);
  }

  static async fromWat(engine: Engine, text: string, name?: string): Promise<Module> {
    return Module.fromParsed(engine, await parseWat(text, { fileName: name }), undefined, name);
  }

  static fromBinary(engine: Engine, bytes: Uint8Array, name?: string): Module {
    return Module.fromParsed(engine, parseWasm(bytes), undefined, name);
  }

  /**
   * WAT text (a string, or UTF-8 bytes whose first token is `(`) or a Wasm binary; other bytes,
   * empty ones included, are a binary and get its malformed-module errors (see parseModuleSource).
   */
  static async from(engine: Engine, source: string | Uint8Array, name?: string): Promise<Module> {
    return Module.fromParsed(engine, await parseModuleSource(source, { fileName: name }), undefined, name);
  }

  get imports(): ImportDescriptor[] {
    return this.wasm.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind }));
  }

  get exports(): Array<{ name: string; kind: string }> {
    return this.wasm.exports.map((e) => ({ name: e.name, kind: e.kind }));
  }
}
