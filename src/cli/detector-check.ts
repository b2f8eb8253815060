/**
 * The stuck-detector check of `epqrng info` (certify/detector-health.ts): a
 * short run (DETECTOR_CHECK_TRIALS trials, PROTOCOL 5 START with a limit, so
 * the chip stops by itself) whose records give each detector's click share.
 */
import type { Device } from '../device/index.ts';
import { stuckDetectors, type DetectorWarning } from '../certify/detector-health.ts';

/** 2^17 trials: 0.13 s at 1 M trials/s; a share of 0.01% is then 13 clicks. */
export const DETECTOR_CHECK_TRIALS = 1 << 17;

export async function checkDetectors(device: Device): Promise<{ trials: number; warnings: DetectorWarning[] }> {
  const histogram = new Uint32Array(64);
  let trials = 0;
  const run = await device.start({ limitTrials: DETECTOR_CHECK_TRIALS });
  for await (const batch of run) {
    for (const e of batch) {
      if (e.kind !== 'trialsBatch') continue;
      const b = e.batch;
      for (let f = 0; f < b.frames; f++) {
        const at = b.recordsAt(f);
        for (let i = at; i < at + b.n[f]!; i++) histogram[b.records[i]! & 63]!++;
      }
      trials += b.trials;
    }
  }
  return { trials, warnings: stuckDetectors(histogram, trials) };
}
