import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { formatInspect, formatRelocationTarget, inspectObject, inspectToJson, type InspectReport } from './inspect.ts';
import { assemble, compileC, readelf } from './test-toolchain.ts';
import { C_PROGRAM, RELOC_DEFS, RELOC_USER } from './test-corpus.ts';

interface Parsed {
  sections: string[];
  symbols: string[];
  relocations: Map<string, string[]>;
}

/** Normalizes `readelf -S -s -r --wide` output into comparable lines (whitespace-collapsed). */
function parseReadelf(text: string): Parsed {
  const sections: string[] = [];
  const symbols: string[] = [];
  const relocations = new Map<string, string[]>();
  let mode: 'none' | 'sections' | 'symbols' | 'relocs' = 'none';
  let current: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('Section Headers:')) mode = 'sections';
    else if (line.startsWith('Key to Flags:')) mode = 'none';
    else if (line.startsWith('Symbol table')) mode = 'symbols';
    else if (line.startsWith('Relocation section')) {
      mode = 'relocs';
      current = [];
      relocations.set(/'([^']*)'/.exec(line)![1], current);
    } else if (mode === 'sections') {
      const m = /^\s*\[\s*(\d+)\]\s+(.*)$/.exec(line);
      if (m) sections.push(`${m[1]} ${m[2].trim().split(/\s+/).join(' ')}`);
    } else if (mode === 'symbols') {
      const m = /^\s*(\d+):\s+(.*)$/.exec(line);
      if (m) symbols.push(`${m[1]}: ${m[2].trim().split(/\s+/).join(' ')}`);
    } else if (mode === 'relocs') {
      if (/^[0-9a-f]{16}\s/.test(line)) current.push(line.trim().split(/\s+/).join(' '));
    }
  }
  return { sections, symbols, relocations };
}

function ours(r: InspectReport): Parsed {
  const hx = (v: bigint, n: number): string => v.toString(16).padStart(n, '0');
  const sections = r.sections.map((s) =>
    // Names longer than the column are printed in full by --wide; mirror the fixed-width field.
    [s.index, s.name, s.type, hx(s.address, 16), hx(s.offset, 6), hx(s.size, 6), hx(s.entsize, 2), s.flags, s.link, s.info, s.align]
      .map(String)
      .filter((x) => x !== '')
      .join(' '),
  );
  const symbols = r.symbols.map((s) =>
    [`${s.index}:`, hx(s.value, 16), s.size < 100000n ? s.size.toString() : '0x' + s.size.toString(16), s.type, s.binding, s.visibility, String(s.ndx), s.name]
      .filter((x) => x !== '')
      .join(' '),
  );
  const relocations = new Map<string, string[]>();
  for (const rs of r.relocationSections) {
    relocations.set(
      rs.name,
      rs.entries.map((e) => [hx(e.offset, 16), hx(e.info, 16), e.type, formatRelocationTarget(e)].join(' ').split(/\s+/).join(' ')),
    );
  }
  return { sections, symbols, relocations };
}

function compare(t: import('ava').ExecutionContext, path: string, bytes: Uint8Array): void {
  const expected = parseReadelf(readelf(['-S', '-s', '-r', '--wide'], path));
  const report = inspectObject(bytes, path);
  const got = ours(report);
  // readelf pads a short section name into its column; compare names separately from the rest.
  t.deepEqual(
    got.sections.map((l) => l.split(' ').filter(Boolean).join(' ')),
    expected.sections.map((l) => l.split(' ').filter(Boolean).join(' ')),
    `sections of ${path}`,
  );
  t.deepEqual(got.symbols, expected.symbols, `symbols of ${path}`);
  t.deepEqual([...got.relocations.keys()], [...expected.relocations.keys()], `relocation sections of ${path}`);
  for (const [name, lines] of expected.relocations) t.deepEqual(got.relocations.get(name), lines, `${name} of ${path}`);
  t.true(expected.sections.length > 5);
  // The text rendering, read back by the same parser, says the same as readelf.
  const text = parseReadelf(formatInspect(report));
  t.deepEqual(text.sections, expected.sections, `text sections of ${path}`);
  t.deepEqual(text.symbols, expected.symbols, `text symbols of ${path}`);
  t.deepEqual([...text.relocations], [...expected.relocations], `text relocations of ${path}`);
}

for (const arch of ARCHES) {
  test(`${arch}: inspect agrees with readelf on GNU as relocation sources`, (t) => {
    for (const src of [RELOC_USER[arch], RELOC_DEFS[arch]]) {
      const o = assemble(arch, src);
      compare(t, o.path, o.bytes);
    }
  });

  for (const flags of [['-O0'], ['-O2'], ['-O2', '-g'], ['-O2', '-fPIC', '-fcommon'], ['-Os', '-ffunction-sections', '-fdata-sections']]) {
    test(`${arch}: inspect agrees with readelf on gcc ${flags.join(' ')}`, (t) => {
      const o = compileC(arch as Arch, C_PROGRAM + '\nint common_thing;\n', flags);
      compare(t, o.path, o.bytes);
    });
  }
}

test('aarch64: mapping symbols are reported and flagged', (t) => {
  const o = assemble('aarch64', '.text\n nop\n .quad 1\n$x.7: nop\n');
  const r = inspectObject(o.bytes, o.path);
  const mapping = r.symbols.filter((s) => s.mapping).map((s) => s.name);
  t.true(mapping.includes('$x') && mapping.includes('$d') && mapping.includes('$x.7'));
});

test('JSON form keeps 64-bit values as strings and the text form lists every section', (t) => {
  const o = assemble('x64', RELOC_USER.x64);
  const r = inspectObject(o.bytes, o.path);
  const json = JSON.parse(JSON.stringify(inspectToJson(r))) as { sections: { name: string; address: string }[]; relocationSections: { entries: { addend: string }[] }[] };
  t.is(json.sections.length, r.sections.length);
  t.is(json.sections[1].address, '0x0');
  t.true(json.relocationSections[0].entries.some((e) => e.addend === '-4'));
  const text = formatInspect(r);
  for (const s of r.sections.slice(1)) t.true(text.includes(s.name));
  t.true(text.includes('R_X86_64_REX_GOTPCRELX'));
});
