/** The two instruction-set architectures stackscope simulates. */
export type Arch = 'x64' | 'aarch64';

export const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

/** Accepts the names people type for each architecture. Returns undefined for anything else. */
export function parseArch(name: string): Arch | undefined {
  switch (name.toLowerCase()) {
    case 'x64':
    case 'x86-64':
    case 'x86_64':
    case 'amd64':
      return 'x64';
    case 'aarch64':
    case 'arm64':
      return 'aarch64';
    default:
      return undefined;
  }
}
