// Writes a raw capture: the device-to-host bytes of a calibrated simulated chip (seed 7, not the recording's
// chip) running TRIALS trials from START to its limit (START's ACK, TRIALS frames, STATUS frames), with no
// recording magic, as any tool that tees a serial port would save them. In a process of its own, so the
// simulator's memory is no part of anything measured. Streamed to the file in 1 MiB reads of the chip.
//   node bench/lib/capture-child.mjs TRIALS FILE
import { closeSync, openSync, writeSync } from 'node:fs';
import { encodeFrame } from '../../dist/protocol/encode.js';
import { SimulatedChip } from '../../dist/simulator/chip.js';

const [trialsArg, file] = process.argv.slice(2);
const trials = Number(trialsArg);
if (!Number.isSafeInteger(trials) || trials < 1 || file === undefined)
  throw new Error('usage: capture-child.mjs TRIALS FILE');
const chip = new SimulatedChip({ seed: 7, calibrated: true });
// PROTOCOL 5 START: internal settings, the default rate, and the limit (the chip then stops by itself).
chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: trials }));
const fd = openSync(file, 'w');
try {
  for (let b = chip.read(1 << 20); b.length > 0; b = chip.read(1 << 20)) writeSync(fd, b);
} finally {
  closeSync(fd);
}
