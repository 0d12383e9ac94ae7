/**
 * Helpers for tests that build Wasm binaries by hand (to reach encodings wabt never emits).
 * Not used by the compiler itself.
 */

import { sleb, uleb } from './wat-gc.ts';

/** LEB128 writers: the ones the GC WAT reader (wat-gc.ts) writes binaries with. */
export { sleb, uleb };

export function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

export const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

export function moduleBytes(...sections: number[][]): Uint8Array {
  return new Uint8Array([...HEADER, ...sections.flat()]);
}

/** Type section with one `[] -> []` type, function section with one function of it. */
export function oneFunction(body: number[], locals: number[][] = []): Uint8Array {
  const entry = [...vec(locals), ...body];
  return moduleBytes(
    section(1, vec([[0x60, 0x00, 0x00]])),
    section(3, vec([[0x00]])),
    section(10, vec([[...uleb(entry.length), ...entry]])),
  );
}
