#!/usr/bin/env node
// Launcher: the esbuild bundle when it has been built (npm run build), else the TypeScript
// sources through tsx, so a fresh checkout works either way.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { register } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'stackscope.mjs');
if (existsSync(bundle)) {
  await import(pathToFileURL(bundle).href);
} else {
  register('tsx/esm', pathToFileURL(join(root, 'package.json')));
  await import(pathToFileURL(join(root, 'cli', 'main.ts')).href);
}
