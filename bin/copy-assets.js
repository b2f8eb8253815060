#!/usr/bin/env node
// The second half of `npm run build` (after tsc -p tsconfig.build.json compiles src/ to dist/): copies the
// files the modules read beside themselves at run time (new URL('./x', import.meta.url)), which tsc does
// not emit.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Run-time files beside the sources, relative to src/. */
const ASSETS = ['serve/dashboard.html'];

for (const a of ASSETS) cpSync(join(root, 'src', a), join(root, 'dist', a));
