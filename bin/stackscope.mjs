#!/usr/bin/env node
// The installed command: runs the compiled CLI (dist/cli/main.js, built by `npm pack`'s prepack
// and, in a checkout, by scripts/setup.sh). No TypeScript loader at run time. A checkout that
// has not been built yet falls back to the sources through tsx, a development dependency.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  const { runCommandLine } = await import(compiled.href);
  await runCommandLine();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { runCommandLine } = await import(new URL('../cli/main.ts', import.meta.url).href);
  await runCommandLine();
}
