/**
 * One measurement of the whole certified pipeline over an in-memory capture,
 * in its own process so that its peak RSS is its own:
 *   decode (FrameSync) -> run events -> account, estimate, bound, health
 *   (certifyRun) -> Toeplitz extraction -> bytes (certifyEvents)
 * argv: <blocks>; prints one JSON line.
 */
import { encodeFrame } from '../../src/protocol/encode.ts';
import { SimulatedChip } from '../../src/simulator/chip.ts';
import { runEventsFromBytes } from '../../src/device/run.ts';
import { certifyEvents } from '../../src/output/certified-stream.ts';
import { DEFAULT_BLOCK_TRIALS } from '../../src/certify/index.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/extract/stream.ts';

const blocks = Number(process.argv[2] ?? 4);
const trials = blocks * DEFAULT_BLOCK_TRIALS;

// The capture: a calibrated chip's device-to-host bytes for a run of `trials`.
const chip = new SimulatedChip({ seed: 7, calibrated: true });
chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: trials }));
const parts: Uint8Array[] = [];
let size = 0;
for (;;) {
  const b = chip.read(1 << 20);
  if (b.length === 0) break;
  parts.push(b);
  size += b.length;
}
const capture = Buffer.concat(parts, size);
parts.length = 0;

function* chunks(): Generator<Uint8Array> {
  for (let i = 0; i < capture.length; i += 65536) yield capture.subarray(i, Math.min(capture.length, i + 65536));
}

const seed = randomSeed(seedBitsForBlock(DEFAULT_BLOCK_TRIALS));
const t0 = process.hrtime.bigint();
let bytesOut = 0;
const stream = certifyEvents(runEventsFromBytes(chunks()), { seed, device: { serial: 'EPQ1-BENCH000', firmware: '1.0.3' } });
for await (const b of stream) bytesOut += b.length;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(
  JSON.stringify({
    blocks,
    trials,
    captureBytes: capture.length,
    seconds,
    trialsPerSecond: trials / seconds,
    bytesOut,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
