/**
 * Device layer throughput: a raw capture in memory (TRIALS frames with a
 * STATUS every 1000 frames, as a chip at full rate sends them) turned into
 * RunEvent batches by runEventsFromBytes, the path replay shares with live
 * runs. Replay aims at 25 M trials/s (issue 5: a saturated USB 2.0 link),
 * so this stage alone must go well beyond it.
 *
 * Also a live run end to end in process: simulated chip (virtual clock, as
 * fast as it generates) -> serialport binding -> Device -> Run batches. No
 * target: it is bounded by the simulator's generation rate.
 *
 * And the host's cost of a real-time run over a pseudo-terminal: a chip
 * served by `epqrng simulate --pty` in another process at 1 M trials/s, read
 * by Device with the native binding; CPU time of this process per second of
 * run (share of one core), and whether every trial arrived.
 */
import { Device, runEventsFromBytes, emptyRunStats } from '../src/device/index.ts';
import { createSimulatedPort } from '../src/simulator/index.ts';
import { encodeFrame, encodeTrialsInto } from '../src/protocol/encode.ts';
import { FRAME_SIZE } from '../src/protocol/types.ts';
import type { Figure } from './run.ts';
import { baseStatus } from '../test/device/fake-chip.ts';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function capture(trials: number): Buffer {
  const frames = Math.ceil(trials / 40);
  const statuses = Math.floor(frames / 1000);
  const buf = Buffer.alloc((frames + statuses) * FRAME_SIZE);
  const records = new Uint8Array(40).map((_, k) => (k * 7) % 64);
  let o = 0;
  let seq = 0;
  for (let f = 0; f < frames; f++) {
    o = encodeTrialsInto(buf, o, seq++, 0, f * 40, records, 0, 40);
    if (f % 1000 === 999) {
      encodeFrame({ ...baseStatus, seq: seq++, flags: 0, trials: (f + 1) * 40, state: 1 }, buf, o);
      o += FRAME_SIZE;
    }
  }
  return buf;
}

function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let o = 0; o < buf.length; o += size) yield buf.subarray(o, Math.min(buf.length, o + size));
}

export async function run(): Promise<Figure[]> {
  const trials = 20_000_000;
  const buf = capture(trials);
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const stats = emptyRunStats();
    let seen = 0;
    const t0 = performance.now();
    for await (const batch of runEventsFromBytes(chunks(buf, 64 * 1024), stats)) {
      for (const e of batch) if (e.kind === 'trialsBatch') seen += e.batch.trials;
    }
    const s = (performance.now() - t0) / 1000;
    if (seen !== trials || stats.linkLostFrames !== 0)
      throw new Error(`bench capture decoded wrong: ${seen} trials, ${stats.linkLostFrames} lost`);
    best = Math.max(best, trials / s);
  }
  const live = await liveRun(5_000_000);
  const pty = await ptyRun(2_000_000);
  return [
    ...pty,
    { name: 'device: in-process run, simulator + Device (virtual clock)', value: live, unit: 'trials/s' },
    {
      name: 'device: runEventsFromBytes (capture -> RunEvent batches)',
      value: best,
      unit: 'trials/s',
      target: '>= 2.5e7',
      ok: best >= 25e6,
    },
    { name: 'device: runEventsFromBytes bytes', value: ((best / 40) * FRAME_SIZE) / 1e6, unit: 'MB/s' },
  ];
}

async function liveRun(limitTrials: number): Promise<number> {
  const sim = createSimulatedPort({ seed: 1, calibrated: true });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  try {
    const t0 = performance.now();
    const run = await device.start({ limitTrials });
    let seen = 0;
    for await (const batch of run) for (const e of batch) if (e.kind === 'trialsBatch') seen += e.batch.trials;
    const s = (performance.now() - t0) / 1000;
    if (seen !== limitTrials) throw new Error(`live run delivered ${seen} of ${limitTrials} trials`);
    return seen / s;
  } finally {
    await device.close();
  }
}

async function ptyRun(limitTrials: number): Promise<Figure[]> {
  if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).status !== 0) return [];
  const root = fileURLToPath(new URL('..', import.meta.url));
  const path = join(mkdtempSync(join(tmpdir(), 'epqrng-bench-')), 'epq');
  const child = spawn(process.execPath, ['bin/epqrng.js', 'simulate', '--pty', path, '--seed', '2'], {
    cwd: root,
    stdio: 'ignore',
  });
  try {
    const deadline = Date.now() + 20_000;
    while (!existsSync(path)) {
      if (Date.now() > deadline) throw new Error('epqrng simulate did not create its PTY');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const device = await Device.open({ path });
    try {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const run = await device.start({ limitTrials });
      let seen = 0;
      let gaps = 0;
      for await (const batch of run) {
        for (const e of batch) {
          if (e.kind !== 'trialsBatch') continue;
          seen += e.batch.trials;
          for (let i = 0; i < e.batch.frames; i++) if (e.batch.flags[i]! & 1) gaps++;
        }
      }
      const wallS = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuShare = (cpu.user + cpu.system) / 1e6 / wallS;
      return [
        { name: 'device: PTY run at 1 M trials/s, trials/s received', value: seen / wallS, unit: 'trials/s' },
        { name: 'device: PTY run, host CPU (share of one core)', value: cpuShare * 100, unit: '%' },
        {
          name: 'device: PTY run, trials lost (GAP frames + missing)',
          value: gaps + (limitTrials - seen),
          unit: 'count',
          target: '0',
          ok: gaps === 0 && seen === limitTrials,
        },
      ];
    } finally {
      await device.close();
    }
  } finally {
    child.kill('SIGINT');
  }
}
