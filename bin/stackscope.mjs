#!/usr/bin/env node
// Launcher: the esbuild bundle when it has been built (npm run build), else the TypeScript
// sources. tsx is registered either way, because example directories bring TypeScript
// drivers (examples/NAME/run.ts) that `run` and `explain` load at run time.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { register } from 'tsx/esm/api';

register();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'stackscope.mjs');
await import(pathToFileURL(existsSync(bundle) ? bundle : join(root, 'cli', 'main.ts')).href);
