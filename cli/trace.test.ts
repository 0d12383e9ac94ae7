/** The frame diagram (renderFrame) on synthetic frames: exact layout, and big frames abbreviated. */
import test from 'ava';
import { renderFrame, type FrameView, type FrameWord } from '../viewer/trace.ts';

function frame(mapped: number, refs: ReadonlySet<number>): FrameView {
  const fp = 0x1000n + BigInt(8 * mapped);
  const words: FrameWord[] = [
    { address: fp + 8n, offset: 'fp+8', value: 0x4242n, bit: undefined, isRef: false, slot: 'return address (into the caller)', gcRead: undefined },
    { address: fp, offset: 'fp+0', value: 0x2000n, bit: undefined, isRef: false, slot: 'caller fp', gcRead: undefined },
  ];
  for (let bit = mapped - 1; bit >= 0; bit--) {
    const isRef = refs.has(bit);
    words.push({
      address: 0x1000n + BigInt(8 * bit), offset: `sp+${8 * bit}`, value: isRef ? 0x5000n + BigInt(bit) : 0n, bit, isRef,
      slot: `stack[${bit}]`, gcRead: isRef ? `root ${0x5000 + bit}` : undefined,
    });
  }
  return {
    arch: 'x64', at: 'safepoint', functionName: 'f', moduleName: 'm.wat', pc: 0x400010n, pcOffset: 0x10, fp, sp: 0x1000n,
    returnAddress: 0x400015n, mappedWords: mapped, bits: Array.from({ length: mapped }, (_, i) => (refs.has(i) ? '1' : '0')).join(''), words,
  };
}

test('a small frame: every word, highest address first, the frame record fenced off', (t) => {
  t.deepEqual(renderFrame(frame(2, new Set([1])), ''), [
    'frame of f+0x10 [m.wat] on x64, at the call: pc 0x400010  fp 0x1010  sp 0x1000  (16 bytes)',
    '  stack map for return address 0x400015: 2 words, bits (sp word first) 01',
    '  address            offset  | word               | map      slot                       GC would read',
    '  ------------------ ------- +--------------------+ -------- -------------------------- ------------------------',
    '  0x1018             fp+8    | 0x0000000000004242 |          return address (into the caller)',
    '  0x1010             fp+0    | 0x0000000000002000 |          caller fp',
    '  ------------------ ------- +--------------------+ -------- -------------------------- ------------------------',
    '  0x1008             sp+8    | 0x0000000000005001 | REF 1    stack[1]                   root 20481',
    '  0x1000             sp+0    | 0x0000000000000000 |     0    stack[0]',
    '  ------------------ ------- +--------------------+ -------- -------------------------- ------------------------',
  ]);
});

test('a frame of more than 64 mapped words shows only its marked words, and abbreviates its bits', (t) => {
  const lines = renderFrame(frame(200, new Set([3, 150])), '');
  t.regex(lines[1], /bits \(sp word first\) 0001(0){92}\.\.\. \(200 bits, 2 set\)$/);
  t.true(lines.includes('  (198 unmarked words of 200 not shown; --json has them all)'));
  t.deepEqual(lines.filter((l) => /\| REF /.test(l)).map((l) => l.split(/\s+/)[2]), ['sp+1200', 'sp+24']);
  t.is(lines.length, 4 + 2 + 1 + 1 + 2 + 1);
  // The limit is an option.
  t.is(renderFrame(frame(200, new Set([3])), '', { maxWords: 1000 }).filter((l) => / sp\+/.test(l)).length, 200);
});
