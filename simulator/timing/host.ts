/**
 * Which microarchitecture is this host, and which of the model's tables is closest to it.
 *
 * Source: the CPU identification the kernel exposes in /proc/cpuinfo — on x86-64 the CPUID
 * vendor string and display family/model (`vendor_id`, `cpu family`, `model`: base plus
 * extended fields, as CPUID leaf 1 defines them), on AArch64 the MIDR_EL1 fields
 * (`CPU implementer`, `CPU part`). Elsewhere (no /proc/cpuinfo) the host is `unknown` and the
 * closest table is the arch's default.
 *
 * Family/model → core, from the vendors' documents: AMD's Processor Programming Reference and
 * software optimization guides (family 17h = Zen 1/2, 19h = Zen 3/4, 1Ah = Zen 5; Zen 4 in
 * family 19h at models 10h–1Fh, 60h–7Fh, A0h–AFh), Intel's SDM vol. 4 "Processor Signatures"
 * table (family 6 models) and Arm's TRMs (MIDR part numbers: 0xd08 Cortex-A72, 0xd0b A76,
 * 0xd0c Neoverse N1, 0xd0d A77, 0xd41 A78, 0xd40 Neoverse V1, 0xd47 A710, 0xd49 Neoverse N2,
 * 0xd4f Neoverse V2).
 */
import { readFileSync } from 'node:fs';
import type { Arch } from '../../isa/arch.ts';
import type { UarchName } from './table.ts';

export interface HostCpu {
  /** The host's architecture (`x64`, `aarch64`), or undefined for any other. */
  readonly arch: Arch | undefined;
  /** `AuthenticAMD`, `GenuineIntel`, an Arm implementer code (`0x41`), or `unknown`. */
  readonly vendor: string;
  /** x86: display family; AArch64: implementer code. */
  readonly family: number;
  /** x86: display model; AArch64: part number. */
  readonly model: number;
  /** The marketing name when the kernel gives one. */
  readonly modelName: string | undefined;
  /** The core's own name (`znver5`, `golden-cove`, `neoverse-n1`, …), or `unknown`. */
  readonly core: string;
  /** The table the model compares with: the host's own, or the closest one there is. */
  readonly uarch: UarchName | undefined;
  /** Whether `uarch` models this very core (not only the closest table). */
  readonly exact: boolean;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** One line for reports: `AMD family 0x1a model 0x2 (Zen 5): znver5`. */
export function describeHost(h: HostCpu): string {
  if (h.arch === undefined || h.vendor === 'unknown') return 'unknown host';
  const who = h.arch === 'x64' ? `${h.vendor === 'AuthenticAMD' ? 'AMD' : h.vendor === 'GenuineIntel' ? 'Intel' : h.vendor} family ${hex(h.family)} model ${hex(h.model)}`
    : `AArch64 implementer ${hex(h.family)} part ${hex(h.model)}`;
  const table = h.uarch === undefined ? 'no table' : h.exact ? h.uarch : `closest table ${h.uarch}`;
  return `${who} (${h.core}): ${table}`;
}

/** x86-64: core and closest table from CPUID vendor, family and model. */
export function x86Core(vendor: string, family: number, model: number): { core: string; uarch: UarchName; exact: boolean } {
  if (vendor === 'AuthenticAMD' || vendor === 'HygonGenuine') {
    if (family === 0x1a) return { core: 'znver5', uarch: 'znver5', exact: true };
    if (family === 0x19) {
      const zen4 = (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0xa0 && model <= 0xaf);
      return zen4 ? { core: 'znver4', uarch: 'znver4', exact: true } : { core: 'znver3', uarch: 'znver3', exact: true };
    }
    if (family === 0x17) return { core: model >= 0x30 ? 'znver2' : 'znver1', uarch: 'znver3', exact: false };
    if (family > 0x1a) return { core: 'unknown', uarch: 'znver5', exact: false };
    return { core: 'unknown', uarch: 'znver3', exact: false };
  }
  if (vendor === 'GenuineIntel' && family === 6) {
    // Golden Cove / Raptor Cove and later big cores: Alder Lake, Raptor Lake, Sapphire and
    // Emerald Rapids, Meteor Lake, Granite Rapids, Arrow/Lunar Lake.
    const goldenCove = [0x97, 0x9a, 0xb7, 0xba, 0xbf, 0x8f, 0xcf, 0xaa, 0xac, 0xad, 0xae, 0xc5, 0xc6, 0xbd];
    if (goldenCove.includes(model)) return { core: model === 0x8f || model === 0xcf ? 'sapphirerapids' : 'golden-cove-class', uarch: 'sapphirerapids', exact: model === 0x8f || model === 0xcf };
    // Skylake and its derivatives (Kaby/Coffee/Comet Lake, Skylake-SP, Cascade/Cooper Lake).
    const skylake = [0x4e, 0x5e, 0x55, 0x8e, 0x9e, 0xa5, 0xa6];
    if (skylake.includes(model)) return { core: 'skylake', uarch: 'skylake', exact: true };
    // Ice Lake / Tiger Lake / Rocket Lake (Sunny/Willow/Cypress Cove) sit between the two.
    const sunnyCove = [0x6a, 0x6c, 0x7d, 0x7e, 0x8c, 0x8d, 0xa7];
    if (sunnyCove.includes(model)) return { core: 'sunny-cove-class', uarch: 'skylake', exact: false };
    return { core: 'unknown', uarch: model > 0x97 ? 'sapphirerapids' : 'skylake', exact: false };
  }
  if (vendor === 'GenuineIntel') return { core: 'unknown', uarch: 'sapphirerapids', exact: false };
  return { core: 'unknown', uarch: 'skylake', exact: false };
}

/** AArch64: core and closest table from the MIDR implementer and part number. */
export function aarch64Core(implementer: number, part: number): { core: string; uarch: UarchName; exact: boolean } {
  if (implementer === 0x41) {
    const parts: Record<number, [string, UarchName, boolean]> = {
      0xd08: ['cortex-a72', 'cortex-a72', true],
      0xd09: ['cortex-a73', 'cortex-a72', false],
      0xd0b: ['cortex-a76', 'neoverse-n1', false],
      0xd0c: ['neoverse-n1', 'neoverse-n1', true],
      0xd0d: ['cortex-a77', 'neoverse-n1', false],
      0xd41: ['cortex-a78', 'neoverse-n1', false],
      0xd4b: ['cortex-a78c', 'neoverse-n1', false],
      0xd40: ['neoverse-v1', 'neoverse-v2', false],
      0xd44: ['cortex-x1', 'neoverse-v2', false],
      0xd47: ['cortex-a710', 'neoverse-n2', false],
      0xd49: ['neoverse-n2', 'neoverse-n2', true],
      0xd48: ['cortex-x2', 'neoverse-v2', false],
      0xd4f: ['neoverse-v2', 'neoverse-v2', true],
      0xd4e: ['cortex-x3', 'neoverse-v2', false],
    };
    const hit = parts[part];
    if (hit) return { core: hit[0], uarch: hit[1], exact: hit[2] };
  }
  // Apple (0x61) and other wide cores: the widest table; anything else the default.
  if (implementer === 0x61) return { core: 'apple', uarch: 'neoverse-v2', exact: false };
  return { core: 'unknown', uarch: 'neoverse-n2', exact: false };
}

/** Parses /proc/cpuinfo text (the first processor's fields) for a host of `arch`. */
export function parseCpuinfo(text: string, arch: Arch | undefined): HostCpu {
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'mi').exec(text);
    return m ? m[1].trim() : undefined;
  };
  const num = (s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  };
  if (arch === 'x64') {
    const vendor = field('vendor_id');
    const family = num(field('cpu family'));
    const model = num(field('model'));
    if (vendor && family !== undefined && model !== undefined) {
      const c = x86Core(vendor, family, model);
      return { arch, vendor, family, model, modelName: field('model name'), ...c };
    }
  }
  if (arch === 'aarch64') {
    const implementer = num(field('CPU implementer'));
    const part = num(field('CPU part'));
    if (implementer !== undefined && part !== undefined) {
      const c = aarch64Core(implementer, part);
      return { arch, vendor: hex(implementer), family: implementer, model: part, modelName: undefined, ...c };
    }
  }
  return unknownHost(arch);
}

function unknownHost(arch: Arch | undefined): HostCpu {
  return { arch, vendor: 'unknown', family: 0, model: 0, modelName: undefined, core: 'unknown', uarch: undefined, exact: false };
}

function processArch(): Arch | undefined {
  return process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'aarch64' : undefined;
}

let cached: HostCpu | undefined;

/** The host this process runs on (read once). */
export function detectHost(): HostCpu {
  if (cached) return cached;
  const arch = processArch();
  let text: string | undefined;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    text = undefined;
  }
  cached = text === undefined ? unknownHost(arch) : parseCpuinfo(text, arch);
  return cached;
}
