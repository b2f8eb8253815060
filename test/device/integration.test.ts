/**
 * The acceptance scenario of issue 2 over both transports, through ONE
 * shared function: GET_INFO, MEASURE_COUNTS, START with a limit of 1,000,000
 * trials (every trial index exactly once, in order), STOP; then an
 * open-ended run stopped by the host (indices contiguous from 0 up to STOP).
 *
 * - in process: the simulator's serialport binding (virtual clock);
 * - a real pseudo-terminal (socat) with serialport's NATIVE binding, the
 *   chip served by the simulator's servePty in real time (1 M trials/s).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Device, perFrameEvents, type Run } from '../../src/device/index.ts';
import { createSimulatedPort, servePty } from '../../src/simulator/index.ts';
import { DeviceState, TRIALS_FLAG } from '../../src/protocol/types.ts';
import { hasSocat } from '../cli/pty-pair.ts';

const LIMIT = 1_000_000;

interface RunCheck {
  trials: number;
  gapFrames: number;
  linkLost: number;
  invalid: number;
  outOfOrder: number;
  endedIdle: boolean;
}

/** Consumes a run, checking that trial indices are contiguous from 0. */
async function consume(run: Run, onProgress?: (trials: number) => void): Promise<RunCheck> {
  const check: RunCheck = { trials: 0, gapFrames: 0, linkLost: 0, invalid: 0, outOfOrder: 0, endedIdle: false };
  let next = 0;
  for await (const batch of run) {
    for (const e of perFrameEvents(batch)) {
      switch (e.kind) {
        case 'trials':
          if (e.first !== next) check.outOfOrder++;
          if (e.flags & TRIALS_FLAG.GAP) check.gapFrames++;
          next = e.first + e.n;
          check.trials += e.n;
          break;
        case 'linkLoss':
          check.linkLost += e.frames;
          break;
        case 'invalid':
          check.invalid++;
          break;
        case 'status':
          check.endedIdle = e.status.state === DeviceState.IDLE;
          break;
        default:
          break;
      }
    }
    onProgress?.(next);
  }
  return check;
}

async function acceptanceScenario(device: Device): Promise<void> {
  // GET_INFO (open already did one: PROTOCOL 4 INFO)
  const info = await device.getInfo();
  expect(info).toMatchObject({ model: 'EPQ-1', protocol: [1, 0] });
  expect(info.serial).toBe(device.info.serial);

  // MEASURE_COUNTS
  const counts = await device.measureCounts({ id: 77, angleACentideg: 0, angleBCentideg: 2250, integrationMs: 50 });
  expect(counts).toMatchObject({ id: 77, angleA: 0, angleB: 2250, integration: 50 });
  expect(counts.trials).toBe(50_000); // rate 1 M/s * 50 ms (PROTOCOL 7)
  for (let i = 0; i < 4; i++) expect(counts.coincidences[i]).toBeLessThanOrEqual(counts.singles[i >> 1]!);

  // START with a limit: every index exactly once, in order; the chip ends the run with STATUS IDLE.
  const run = await device.start({ limitTrials: LIMIT });
  const limited = await consume(run);
  expect(limited).toEqual({ trials: LIMIT, gapFrames: 0, linkLost: 0, invalid: 0, outOfOrder: 0, endedIdle: true });
  expect(run.stats.trials).toBe(LIMIT);

  // STOP: in IDLE a no-op, still acknowledged (PROTOCOL 5).
  await device.stop();

  // An open-ended run stopped by the host: contiguous from 0 to whatever was flushed before STOP's ACK.
  const open = await device.start();
  let stopping: Promise<void> | undefined;
  const stopped = await consume(open, (n) => {
    if (n >= 100_000 && !stopping) stopping = open.stop();
  });
  await stopping;
  expect(stopped.outOfOrder).toBe(0);
  expect(stopped.gapFrames + stopped.linkLost + stopped.invalid).toBe(0);
  expect(stopped.trials).toBeGreaterThanOrEqual(100_000);
  expect((await device.getStatus()).state).toBe(DeviceState.IDLE);
  expect(device.stats.linkLostFrames).toBe(0);
}

describe('acceptance scenario', () => {
  it('over the in-process binding', async () => {
    const sim = createSimulatedPort({ seed: 11, calibrated: true });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    try {
      await acceptanceScenario(device);
    } finally {
      await device.close();
    }
  });

  it.skipIf(!hasSocat)('over a real pseudo-terminal (socat) with the native binding', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-it-'));
    // Margin for 2 shared cores: the chip's default 64 KiB buffer holds only ~41 ms of trials at 1 M/s,
    // and a host process stalled longer by the machine (not by the driver) would see honest GAPs.
    // 4 MiB (~2.6 s) keeps this test about the driver: every index exactly once, in order.
    const server = await servePty(join(dir, 'epq'), { seed: 11, calibrated: true, deviceBufferFrames: 65536 });
    try {
      const device = await Device.open({ path: server.path });
      try {
        await acceptanceScenario(device);
      } finally {
        await device.close();
      }
    } finally {
      await server.close();
    }
  });
});
