import { hex } from '../isa/error.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import type { CallOptions, HostFunction, Machine } from '../simulator/machine.ts';
import { LoaderError } from './elf.ts';
import { DEFAULT_BASE, describeAddress, link, placeImage, symbolAt, type LinkInput, type LinkedImage } from './link.ts';

const alignUp = (x: bigint, a: bigint): bigint => (x + a - 1n) & ~(a - 1n);

/** A TypeScript function offered to loaded objects under a symbol name. */
export interface HostBinding {
  arity: number;
  fn: HostFunction;
}

export interface LoadOptions {
  /** Host functions by symbol name; objects' own definitions win over them. */
  hostFunctions?: ReadonlyMap<string, HostBinding> | Record<string, HostBinding>;
  /** Addresses of data the host provides (e.g. `__stack_chk_guard`), for names no object defines. */
  dataSymbols?: ReadonlyMap<string, bigint>;
}

/** Objects linked and placed in a Machine, ready to call by symbol name. */
export interface LoadedProgram {
  readonly image: LinkedImage;
  readonly machine: Machine;
  /** Address of a global (or, failing that, local) symbol. */
  address(name: string): bigint;
  /** Calls a function symbol with integer arguments; see Machine.call. */
  call(name: string, args?: readonly (bigint | number)[], options?: CallOptions): bigint;
}

/**
 * Links ELF relocatable objects (both arches, from gcc or GNU as) into one image whose
 * undefined symbols are bound to host functions through the Machine's gateway, and places it
 * in the Machine: text read+execute, rodata and the GOT read-only, data and bss read+write,
 * custom sections read-only. Nothing from the objects runs natively; the guest sees only what
 * is mapped. Unresolved names are reported together in one LoaderError.
 */
export function loadObjects(machine: Machine, inputs: readonly LinkInput[], options: LoadOptions = {}): LoadedProgram {
  const bindings = options.hostFunctions instanceof Map
    ? options.hostFunctions
    : new Map(Object.entries(options.hostFunctions ?? {}));
  const stubs = new Map<string, bigint>();
  const externals = (name: string): bigint | undefined => {
    const binding = bindings.get(name);
    if (!binding) return options.dataSymbols?.get(name);
    let stub = stubs.get(name);
    if (stub === undefined) {
      stub = machine.addHostFunction(name, binding.arity, binding.fn);
      stubs.set(name, stub);
    }
    return stub;
  };
  // Layout is position-independent apart from references to host stubs, and the same relative
  // to any base aligned to the image's strictest section alignment: a first link at such a
  // provisional base tells the size; the second links at addresses reserved in the machine.
  let probe = link(inputs, { externals });
  if (probe.base % probe.align !== 0n) probe = link(inputs, { externals, base: alignUp(DEFAULT_BASE, probe.align) });
  const base = machine.reserve(probe.end - probe.base, probe.align);
  const image = link(inputs, { externals, base });
  if (image.end - image.base !== probe.end - probe.base) {
    throw new LoaderError('oversized', inputs[0]?.file ?? '<none>', `image span changed from ${hex(probe.end - probe.base)} to ${hex(image.end - image.base)} bytes when rebased`);
  }
  placeImage(image, {
    mapRegion(kind, address, size, perms) {
      const p = (perms.read ? PROT_READ : 0) | (perms.write ? PROT_WRITE : 0) | (perms.exec ? PROT_EXEC : 0);
      machine.map(`image.${kind}@${hex(address)}`, Number(size), p, address);
    },
    writeBytes(address, bytes) {
      machine.writeBytes(address, bytes);
    },
  });
  machine.addSymbolizer((address) => (address >= image.base && address < image.end && symbolAt(image, address) ? describeAddress(image, address) : undefined));
  const address = (name: string): bigint => {
    const s = image.globals.get(name) ?? image.symbols.find((x) => x.name === name);
    if (!s) throw new LoaderError('unresolved-symbols', inputs.map((i) => i.file).join(', '), `no symbol named ${name}`);
    return s.address;
  };
  return {
    image,
    machine,
    address,
    call: (name, args = [], callOptions) => machine.call(address(name), args, callOptions),
  };
}
