/**
 * Simulator speed (issue 2 acceptance: at least 5 M trials/s generated into
 * TRIALS frames on one core), plus the cost of a 60 s MEASURE_COUNTS.
 */
import type { Figure } from './run.ts';
import { encodeFrame } from '../src/protocol/encode.ts';
import { SimulatedChip } from '../src/simulator/chip.ts';

function trialsPerSecond(mode: 'honest' | 'lhv'): number {
  const chip = new SimulatedChip({ seed: 1, calibrated: true, mode });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: 0 }));
  chip.read(); // the ACK
  // warm up, then time whole reads of 64 KiB (1024 frames, 40960 trials)
  for (let i = 0; i < 50; i++) chip.read(65536);
  const before = chip.stats.trialsPerformed;
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  while (process.hrtime.bigint() - t0 < 1_500_000_000n) for (let i = 0; i < 20; i++) bytes += chip.read(65536).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (bytes === 0) throw new Error('no output');
  return (chip.stats.trialsPerformed - before) / seconds;
}

/** The chip's side of host mode: SETTINGS frames in (decoded, FIFO), trials out. Host frames are pre-encoded. */
function hostModeTrialsPerSecond(): number {
  const chip = new SimulatedChip({ seed: 2, calibrated: true });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 1, rate: 0, limit: 0 }));
  chip.read();
  const settings = new Uint8Array(192).map((_, i) => (i * 7) & 3);
  const batch = Buffer.concat(
    Array.from({ length: 300 }, (_, i) =>
      encodeFrame({ kind: 'SETTINGS', flags: 0, seq: i + 1, count: 192, settings }),
    ),
  );
  const t0 = process.hrtime.bigint();
  let trials = 0;
  while (process.hrtime.bigint() - t0 < 1_000_000_000n) {
    chip.receive(batch);
    trials += 300 * 192;
    while (chip.read(65536).length > 0);
  }
  return trials / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function countsMicroseconds(): number {
  const chip = new SimulatedChip({ seed: 3, calibrated: true });
  let seq = 0;
  const t0 = process.hrtime.bigint();
  const n = 2000;
  for (let i = 0; i < n; i++) {
    chip.receive(
      encodeFrame({
        kind: 'MEASURE_COUNTS',
        flags: 0,
        seq: seq++,
        id: i,
        angleA: 0,
        angleB: (i * 97) % 18000,
        integration: 60000,
      }),
    );
    chip.read();
  }
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

export async function run(): Promise<Figure[]> {
  const honest = trialsPerSecond('honest');
  const lhv = trialsPerSecond('lhv');
  const host = hostModeTrialsPerSecond();
  const counts = countsMicroseconds();
  return [
    {
      name: 'simulator: trials into TRIALS frames (honest, internal)',
      value: honest,
      unit: 'trials/s',
      target: '>= 5e6',
      ok: honest >= 5e6,
    },
    { name: 'simulator: trials into TRIALS frames (lhv adversary)', value: lhv, unit: 'trials/s' },
    { name: 'simulator: host-settings mode (SETTINGS decoded, trials out)', value: host, unit: 'trials/s' },
    { name: 'simulator: MEASURE_COUNTS of 60 s (6e7 trials)', value: counts, unit: 'us/command' },
  ];
}
