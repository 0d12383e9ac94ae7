/**
 * What a collection reports: GcReport (counts, table before/after, freed objects), the full
 * explanation the collector builds with `explain: true`, and their JSON form. Both the collector
 * (which fills them) and gc/explain.ts (which renders them) import this module, and it imports
 * neither, so the two do not import each other.
 *
 * A GcReport made by the collector carries a non-enumerable `toJSON`: `JSON.stringify(report)`
 * gives reportToJson's data (bigints as 0x-hex strings), the same as `stackscope gc --json`.
 */
import type { Arch } from '../isa/arch.ts';
import { toJsonData } from '../isa/json.ts';
import type { FreedObject, TableSnapshot } from './activations.ts';
import type { RootLocation } from './errors.ts';
import type { CanaryWalkResult } from './walk.ts';

export type GcReason = 'host' | 'store-gc' | 'table-full';

/** A suspected missed root (conservative check). */
export interface SuspectedRoot extends RootLocation {
  value: bigint;
}

export interface GcReport {
  reason: GcReason;
  mode: 'v17' | 'canary';
  /** Set when this call returned early because a collection was already running. */
  skipped?: 'reentrant';
  /** False when the canary was not found (the table was left untouched). */
  swept: boolean;
  warnings: string[];
  activations: number;
  frames: number;
  framesWithMaps: number;
  /** Set bits visited. */
  slotsScanned: number;
  /** Set bits whose word was null. */
  nullSlots: number;
  /** Distinct live references found in frames. */
  roots: number;
  tableBefore: { bump: number; overApproximated: number };
  tableAfter: { bump: number; overApproximated: number };
  freedCount: number;
  /** Objects freed, with host values (only with `explain`). */
  freed: FreedObject[];
  suspects: SuspectedRoot[];
  canary?: { value: bigint | null; found: boolean; stop: CanaryWalkResult['stop'] | 'no-canary' };
  durationMs: number;
  explanation?: GcExplanation;
}

/** One word a stack map covers. */
export interface ExplainedWord {
  /** Bit index = word index from SP. */
  bit: number;
  address: bigint;
  /** Undefined when unreadable. */
  value: bigint | undefined;
  /** The map marks this word as a reference. */
  isRef: boolean;
  /** Whether the (non-null) value is an activations-table entry (debug-check data). */
  inTable: boolean | undefined;
  /** The host value of a marked live reference. */
  hostValue: string | undefined;
}

export interface ExplainedFrame {
  activation: number;
  index: number;
  /** 'wasm' for v17 frames; the canary walk also reports host frames. */
  kind: 'wasm' | 'guest' | 'host-entry' | 'host';
  moduleName: string | undefined;
  functionName: string | undefined;
  pc: bigint;
  pcOffset: number | undefined;
  fp: bigint;
  /** v17: FP − mapped_words·8; canary walk: the unwinder's SP. Undefined without a map (v17). */
  sp: bigint | undefined;
  /** FP − SP in bytes when a map applies. */
  frameSize: number | undefined;
  returnAddress: bigint | undefined;
  callerFp: bigint | undefined;
  map: { mapOffset: number; mappedWords: number; bits: string; words: ExplainedWord[] } | undefined;
}

export interface GcExplanation {
  arch: Arch;
  mode: 'v17' | 'canary';
  reason: GcReason;
  debugChecks: boolean;
  activations: Array<{ index: number; exitPc: bigint; exitFp: bigint; entrySp: bigint }>;
  canary: { value: bigint | null; found: boolean; stop: string } | undefined;
  frames: ExplainedFrame[];
  roots: Array<{
    ref: bigint;
    value: string;
    /** Reference count after the collection. */
    countAfter: number;
    sites: Array<{ activation: number; frame: number; functionName: string; slot: bigint; bit: number }>;
  }>;
  tableBefore: TableSnapshot;
  tableAfter: TableSnapshot;
  freed: Array<{ ref: bigint; value: string; from: string }>;
  suspects: SuspectedRoot[];
  warnings: string[];
  summary: { frames: number; framesWithMaps: number; slotsScanned: number; roots: number; freed: number; swept: boolean; durationMs: number };
}

/** A short printable form of a host value for reports. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value === 'symbol') return value.toString();
  try {
    const json = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
    if (json !== undefined) return json.length > 80 ? json.slice(0, 77) + '...' : json;
  } catch {
    // fall through: cyclic or otherwise unprintable
  }
  return Object.prototype.toString.call(value);
}

/** The explanation as plain JSON data: bigints become 0x-hex strings. */
export function explanationToJson(e: GcExplanation): unknown {
  return toJsonData(e);
}

/** A GcReport as plain JSON data (bigints as 0x-hex strings; host values in `freed` described). */
export function reportToJson(report: GcReport): unknown {
  const { explanation, freed, ...rest } = report;
  return toJsonData({
    ...rest,
    freed: freed.map((f) => ({ ref: f.ref, value: describeValue(f.value), from: f.from })),
    explanation,
  });
}

/** The toJSON every report carries: one function for all of them (a collection that returns
 * early, thousands of times while destructors re-enter Wasm, makes no closure). */
function reportToJsonMethod(this: GcReport): unknown {
  return reportToJson(this);
}
const REPORT_TO_JSON: PropertyDescriptor = { value: reportToJsonMethod, enumerable: false, configurable: true, writable: true };

/** Gives a report made by the collector its toJSON (reportToJson; non-enumerable, as attachToJSON); returns it. */
export function attachReportJson(report: GcReport): GcReport {
  return Object.defineProperty(report, 'toJSON', REPORT_TO_JSON);
}
