#!/usr/bin/env node
// The `epqrng` command: the compiled CLI (dist/, built by `npm run build`, which `npm install` runs).
import { setFlagsFromString } from 'node:v8';

// Keep V8's young generation at its first size (the growth factor is read each time new space would grow, so
// setting it before anything else is loaded takes effect): start-up's surviving module objects would otherwise grow
// it to 2 x 16 MB that the run never needs, its trial path allocating nothing per trial. Measured on the shipped
// replay of a 2e7-trial capture: peak RSS 149-153 -> 138-141 MB at the same CPU (README, Performance).
// Checked in Node 20's V8 (11.3); a V8 without the flag prints "unrecognized flag" once and runs as before.
setFlagsFromString('--semi-space-growth-factor=1');
await import('../dist/cli/main.js');
