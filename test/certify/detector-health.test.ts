/**
 * Stuck detectors (> 99% or < 0.01% of a block's gates clicking) are flagged
 * as a warning in the certificate; certification still decides the bytes,
 * and a certificate with sound detectors has no such field (so every
 * existing certificate stays byte-identical).
 */
import { describe, expect, it } from 'vitest';
import { clickCounts, stuckDetectors } from '../../src/certify/detector-health.ts';
import { Device } from '../../src/device/index.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/output/config.ts';
import { certifiedStream } from '../../src/output/certified-stream.ts';
import { createSimulatedPort } from '../../src/simulator/index.ts';

/** A histogram of `trials` records where each detector clicks in the given share of them (independent bits). */
function histogram(trials: number, shares: { A0: number; A1: number; B0: number; B1: number }): Uint32Array {
  const h = new Uint32Array(64);
  for (let k = 0; k < trials; k++) {
    // deterministic low-discrepancy assignment: detector d clicks in trial k when frac(k * phi_d) < share
    const click = (phi: number, share: number) => (k * phi) % 1 < share;
    const r =
      (click(0.6180339887, shares.B0) ? 1 : 0) |
      (click(0.4142135623, shares.B1) ? 2 : 0) |
      (click(0.7320508075, shares.A0) ? 4 : 0) |
      (click(0.2360679774, shares.A1) ? 8 : 0);
    h[r]!++;
  }
  return h;
}

describe('stuckDetectors', () => {
  it('counts clicks per detector from the record histogram (PROTOCOL 4 TRIALS bits 3..0 = A1 A0 B1 B0)', () => {
    const h = new Uint32Array(64);
    h[0b1000] = 5; // A1
    h[0b0100] = 7; // A0
    h[0b0011] = 2; // B1 and B0
    h[0b111111] = 1; // x, y set, every detector
    expect(clickCounts(h)).toEqual([8, 6, 3, 3]); // A0 A1 B0 B1
  });

  it('flags > 99% and < 0.01% and nothing in between, at the exact thresholds', () => {
    const n = 1_000_000;
    expect(stuckDetectors(histogram(n, { A0: 0.3, A1: 0.3, B0: 0.3, B1: 0.3 }), n)).toEqual([]);
    const h = new Uint32Array(64);
    h[0b1110] = 300_000; // A1 A0 B1
    h[0b1010] = 690_000; // A1 B1
    h[0b1000] = 5_000; // A1
    h[0b0001] = 50; // B0
    h[0] = n - 995_050;
    // A0 30%, A1 99.5% (flagged), B1 exactly 99% (not: "more than"), B0 0.005% (flagged)
    const w = stuckDetectors(h, n);
    expect(w.map((x) => x.detector)).toEqual(['A1', 'B0']);
    expect(w[0]!.warning).toBe('detector A1 clicks in 99.50% of gates (> 99%): latched?');
    expect(w[1]!.warning).toBe('detector B0 clicks in 0.0050% of gates (< 0.01%): dead?');
    h[0b0001] = 100; // B0 exactly 0.01%: not "fewer than"
    h[0] -= 50;
    expect(stuckDetectors(h, n).map((x) => x.detector)).toEqual(['A1']);
    expect(stuckDetectors(new Uint32Array(64), 0)).toEqual([]);
  });
});

describe('a latched detector on a simulated chip', () => {
  it('certifies as the Bell test says, and every certificate carries the warning', async () => {
    const base = createSimulatedPort({ seed: 41, calibrated: true }).chip.hidden;
    const dark = [...base.darkRateAtBreakdownHz] as [number, number, number, number];
    dark[3] = 1e13; // B1 dark-counts in every gate
    const sim = createSimulatedPort({ seed: 41, calibrated: true, hidden: { darkRateAtBreakdownHz: dark } });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    const blockTrials = 1 << 22;
    const lines: string[] = [];
    const progress: (string[] | undefined)[] = [];
    try {
      for await (const _ of certifiedStream(device, {
        seed: randomSeed(seedBitsForBlock(blockTrials)),
        blockTrials,
        bytes: 1,
        onCertificate: (l) => lines.push(l),
        onProgress: (p) => progress.push(p.detectorWarnings),
      }));
    } finally {
      await device.close();
    }
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const cert = JSON.parse(lines[0]!);
    expect(cert.sEstimate).toBeGreaterThan(2);
    expect(cert.detectorWarnings).toEqual([
      { detector: 'B1', clickShare: 1, warning: 'detector B1 clicks in 100.00% of gates (> 99%): latched?' },
    ]);
    expect(progress.at(-1)).toEqual(['detector B1 clicks in 100.00% of gates (> 99%): latched?']);
  }, 120_000);

  it('a sound chip: no detectorWarnings field at all', async () => {
    const sim = createSimulatedPort({ seed: 42, calibrated: true });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    const lines: string[] = [];
    try {
      for await (const _ of certifiedStream(device, {
        seed: randomSeed(seedBitsForBlock(1 << 20)),
        blockTrials: 1 << 20,
        bytes: 1,
        onCertificate: (l) => lines.push(l),
      }));
    } finally {
      await device.close();
    }
    expect(lines[0]).not.toContain('detectorWarnings');
  });
});
