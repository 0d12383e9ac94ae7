/**
 * The WAT block comment `(; … ;)`, which nests: one scanner for every reader of WAT-like text
 * (the wabt-side tokenizer, the text/binary sniffing, the GC text reader, the .wast reader).
 */

/** The offset just past the block comment that starts at `from`, or null when the text ends first. */
export function blockCommentEnd(text: string, from: number): number | null {
  let depth = 0;
  let i = from;
  while (i < text.length) {
    if (text[i] === '(' && text[i + 1] === ';') {
      depth++;
      i += 2;
    } else if (text[i] === ';' && text[i + 1] === ')') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return null;
}
