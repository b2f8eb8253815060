/**
 * One measurement of the whole certified pipeline over an in-memory capture,
 * in its own process so that its peak RSS is its own:
 *   decode (FrameSync) -> run events -> account, estimate, bound, health
 *   (certifyRun) -> Toeplitz extraction -> bytes (certifyEvents)
 *
 *   node bench/lib/pipeline-child.mjs <blocks> [--max-fft N]    prints one JSON line
 *   node bench/lib/pipeline-child.mjs --capture <blocks> FILE   writes the capture only
 *
 * It runs the compiled package (dist/) under plain node: what ships, with no
 * loader holding memory that is no part of the pipeline.
 *
 * The capture (a calibrated chip's device-to-host bytes for <blocks> blocks
 * of the default 2^22 trials) is made by the simulator in a process of its
 * own and read back whole into memory here: the simulator's modules and its
 * garbage are no part of the pipeline, and would otherwise set this
 * process's peak RSS before the pipeline starts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_BLOCK_TRIALS } from '../../dist/certify/index.js';

/** VmHWM of this process (peak-rss.ts says why not getrusage maxRSS). */
const peakRssBytes = () =>
  Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

const args = process.argv.slice(2);

if (args[0] === '--capture') {
  const { encodeFrame } = await import('../../dist/protocol/encode.js');
  const { SimulatedChip } = await import('../../dist/simulator/chip.js');
  const trials = Number(args[1]) * DEFAULT_BLOCK_TRIALS;
  const chip = new SimulatedChip({ seed: 7, calibrated: true });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: trials }));
  const parts = [];
  for (;;) {
    const b = chip.read(1 << 20);
    if (b.length === 0) break;
    parts.push(b);
  }
  const out = args[2];
  if (out === undefined) throw new Error('pipeline-child --capture <blocks> <file>: the output file is missing');
  writeFileSync(out, Buffer.concat(parts));
} else {
  const blocks = Number(args[0] ?? 4);
  // the extract stage's FFT bound (stream.ts maxFftSize); default its own default
  const maxFftArg = args.indexOf('--max-fft');
  const maxFftSize = maxFftArg >= 0 ? Number(args[maxFftArg + 1]) : undefined;
  const trials = blocks * DEFAULT_BLOCK_TRIALS;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-pipeline-'));
  let capture;
  try {
    const file = join(dir, 'capture.bin');
    execFileSync(process.execPath, ['bench/lib/pipeline-child.mjs', '--capture', String(blocks), file], {
      cwd: root,
      stdio: 'inherit',
    });
    capture = readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const { runEventsFromBytes } = await import('../../dist/device/run.js');
  const { certifyEvents } = await import('../../dist/output/certified-stream.js');
  const { randomSeed } = await import('../../dist/extract/index.js');
  const { seedBitsForBlock } = await import('../../dist/extract/stream.js');

  function* chunks() {
    for (let i = 0; i < capture.length; i += 65536) yield capture.subarray(i, Math.min(capture.length, i + 65536));
  }

  const seed = randomSeed(seedBitsForBlock(DEFAULT_BLOCK_TRIALS));
  // The peak so far (loader, modules, capture) and the CPU time so far: the pipeline's own figures start here.
  const rssBeforeBytes = peakRssBytes();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let bytesOut = 0;
  const stream = certifyEvents(runEventsFromBytes(chunks()), {
    seed,
    device: { serial: 'EPQ1-BENCH000', firmware: '1.0.3' },
    ...(maxFftSize ? { maxFftSize } : {}),
  });
  for await (const b of stream) bytesOut += b.length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(
    JSON.stringify({
      blocks,
      trials,
      captureBytes: capture.length,
      seconds,
      trialsPerSecond: trials / seconds,
      cpuSeconds,
      trialsPerCpuSecond: trials / cpuSeconds,
      rssBeforeBytes,
      bytesOut,
      maxRssBytes: peakRssBytes(),
    }),
  );
}
