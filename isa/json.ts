/**
 * JSON for data that holds bigints (guest addresses, raw words), which JSON.stringify refuses.
 * Reports and errors that users serialise carry a `toJSON` built from these: bigints become
 * 0x-prefixed hex strings, as in every `--json` output of the CLI.
 */
import { hex } from './error.ts';

/** Plain JSON data of `value`: bigints as 0x-hex strings, `toJSON` methods honoured. */
export function toJsonData(value: unknown): unknown {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? hex(v) : v));
  return text === undefined ? undefined : JSON.parse(text);
}

/**
 * Defines a non-enumerable `toJSON` on `target` (so spreading or iterating the object does not
 * see it) returning `toJSON(target)`, by default toJsonData of the object's own fields.
 */
export function attachToJSON<T extends object>(target: T, toJSON: (t: T) => unknown = (t) => toJsonData({ ...t })): T {
  Object.defineProperty(target, 'toJSON', { value: () => toJSON(target), enumerable: false, configurable: true, writable: true });
  return target;
}
