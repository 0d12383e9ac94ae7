/**
 * Static archives (`ar`, as GNU ar and llvm-ar write them: the GNU `/` symbol index, the `//`
 * long-name table, BSD-less) and the choice of members a link needs: like ld, a member is
 * pulled in when it defines a symbol that is still undefined, and the archives are searched
 * again until nothing more is pulled (as if they were inside --start-group/--end-group).
 */
import { LoaderError, readElf, SHN_UNDEF, type ElfObject } from '../loader/index.ts';
import type { LinkInput } from '../loader/link.ts';

export const AR_MAGIC = '!<arch>\n';

export function isArchive(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && String.fromCharCode(...bytes.subarray(0, 8)) === AR_MAGIC;
}

export interface ArchiveMember {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The object members of an archive, in order (the symbol index and name table skipped). */
export function readArchive(bytes: Uint8Array, file: string): ArchiveMember[] {
  if (!isArchive(bytes)) throw new LoaderError('bad-magic', file, 'not an ar archive (no !<arch> header)');
  const text = (a: number, b: number) => String.fromCharCode(...bytes.subarray(a, b));
  const members: ArchiveMember[] = [];
  let longNames = '';
  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 60 > bytes.length) throw new LoaderError('truncated', file, `member header at offset ${pos} is cut off`, { offset: pos });
    if (bytes[pos + 58] !== 0x60 || bytes[pos + 59] !== 0x0a) throw new LoaderError('bad-header', file, `member header at offset ${pos} does not end in \`\\n`, { offset: pos });
    const rawName = text(pos, pos + 16).trimEnd();
    const sizeText = text(pos + 48, pos + 58).trim();
    if (!/^\d+$/.test(sizeText)) throw new LoaderError('bad-header', file, `member at offset ${pos} has a bad size '${sizeText}'`, { offset: pos });
    const size = Number(sizeText);
    const start = pos + 60;
    if (start + size > bytes.length) throw new LoaderError('truncated', file, `member at offset ${pos} (${size} bytes) runs past the end`, { offset: pos });
    const data = bytes.subarray(start, start + size);
    if (rawName === '/' || rawName === '/SYM64/' || rawName === '__.SYMDEF' || rawName === '__.SYMDEF SORTED') {
      // symbol index: the members' own symbol tables say the same
    } else if (rawName === '//') {
      longNames = String.fromCharCode(...data);
    } else {
      let name = rawName;
      const long = /^\/(\d+)$/.exec(rawName);
      if (long) {
        const at = Number(long[1]);
        const endAt = longNames.indexOf('\n', at);
        name = longNames.slice(at, endAt < 0 ? undefined : endAt).replace(/\/$/, '');
      } else name = name.replace(/\/$/, '');
      members.push({ name, bytes: data });
    }
    pos = start + size + (size & 1);
  }
  return members;
}

function definedGlobals(o: ElfObject): string[] {
  return o.symbols.filter((s) => s.index !== 0 && s.name !== '' && s.binding !== 0 && s.shndx !== SHN_UNDEF).map((s) => s.name);
}

function undefinedGlobals(o: ElfObject): string[] {
  return o.symbols.filter((s) => s.index !== 0 && s.name !== '' && s.binding !== 0 && s.shndx === SHN_UNDEF).map((s) => s.name);
}

/**
 * Object files and archives in command-line order → the objects to link: every plain object,
 * plus each archive member that defines a symbol some chosen object leaves undefined.
 * `provided` names symbols that need no member (host functions the caller binds itself are
 * NOT in it: an archive's definition wins over a host function, as a library's would).
 */
export function selectObjects(inputs: readonly LinkInput[]): LinkInput[] {
  const chosen: LinkInput[] = [];
  const archives: Array<{ file: string; members: Array<ArchiveMember & { obj: ElfObject; used: boolean }> }> = [];
  const defined = new Set<string>();
  const wanted = new Set<string>();
  const add = (input: LinkInput, obj: ElfObject) => {
    chosen.push(input);
    for (const n of definedGlobals(obj)) defined.add(n);
    for (const n of undefinedGlobals(obj)) wanted.add(n);
  };
  for (const input of inputs) {
    if (isArchive(input.bytes)) {
      const members = readArchive(input.bytes, input.file).map((m) => ({ ...m, obj: readElf(m.bytes, `${input.file}(${m.name})`), used: false }));
      archives.push({ file: input.file, members });
    } else {
      add(input, readElf(input.bytes, input.file));
    }
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const a of archives) {
      for (const m of a.members) {
        if (m.used) continue;
        if (!definedGlobals(m.obj).some((n) => wanted.has(n) && !defined.has(n))) continue;
        m.used = true;
        changed = true;
        add({ file: `${a.file}(${m.name})`, bytes: m.bytes }, m.obj);
      }
    }
  }
  return chosen;
}
