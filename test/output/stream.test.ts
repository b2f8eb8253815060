/**
 * Issue 3 acceptance, at the library level (certifiedStream over the
 * in-process simulator: the very Device code used with hardware):
 * - a calibrated chip streams bytes; bytes per block equal the certificate's
 *   m, and m matches an evaluation of the bound from the block's counts;
 * - defaults deliver the first bytes within 30 s of chip time at 1 M/s;
 * - the uncalibrated, local-hidden-variable, post-selecting and
 *   biased-settings chips produce 0 bytes and a refusal naming the reason.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.ts';
import { createSimulatedPort, type ChipMode } from '../../src/simulator/index.ts';
import { certifiedStream } from '../../src/output/certified-stream.ts';
import {
  blockBound,
  DEFAULT_BLOCK_TRIALS,
  DEFAULT_EPS,
  parseCertificateLine,
  type Certificate,
} from '../../src/certify/index.ts';
import { seedBitsForBlock } from '../../src/output/config.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { CertificationRefusedError } from '../../src/errors.ts';

async function openSim(seed: number, opts: { mode?: ChipMode; calibrated?: boolean } = {}) {
  const sim = createSimulatedPort({
    seed,
    calibrated: opts.calibrated ?? true,
    mode: opts.mode ?? 'honest',
    clock: 'virtual',
  });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  return { sim, device };
}

/**
 * S from the 16 counts N(a,b|x,y) (index 8x+4y+2a+b), written out here
 * independently of src/certify: with uniform settings p(x,y) = 1/4 the
 * per-trial unbiased estimator of S = E00 + E01 + E10 - E11 is
 * 4 (-1)^(a xor b xor xy); a lost trial counts at its worst case, -4.
 */
function sFromCounts(counts: readonly number[], lost: number): number {
  let sum = -4 * lost;
  let trials = lost;
  for (let x = 0; x < 2; x++)
    for (let y = 0; y < 2; y++)
      for (let a = 0; a < 2; a++)
        for (let b = 0; b < 2; b++) {
          const c = counts[8 * x + 4 * y + 2 * a + b]!;
          sum += c * 4 * ((a ^ b ^ (x & y)) === 0 ? 1 : -1);
          trials += c;
        }
  return sum / trials;
}

describe('certifiedStream on a calibrated simulated chip', () => {
  it('delivers exactly m bits per block, m as the bound gives from the block counts, the first bytes within 30 s of chip time', async () => {
    const { sim, device } = await openSim(11);
    const seed = randomSeed(seedBitsForBlock(DEFAULT_BLOCK_TRIALS));
    const lines: string[] = [];
    const chunks: Uint8Array[] = [];
    let chipMsAtFirstBytes = -1;
    try {
      const stream = certifiedStream(device, { seed, onCertificate: (line) => lines.push(line) });
      for await (const bytes of stream) {
        if (chipMsAtFirstBytes < 0) chipMsAtFirstBytes = sim.chip.clockMs;
        chunks.push(bytes);
        if (chunks.length === 2) break;
      }
    } finally {
      await device.close();
    }
    expect(lines).toHaveLength(2);
    // Issue 3: first certified bytes within 30 s of chip time at 1 M trials/s (the chip's default rate).
    expect(chipMsAtFirstBytes).toBeGreaterThan(0);
    expect(chipMsAtFirstBytes).toBeLessThanOrEqual(30_000);

    let prevHash: string | null = null;
    lines.forEach((line, i) => {
      const cert: Certificate = parseCertificateLine(line);
      const bytes = chunks[i]!;
      expect(cert.blockIndex).toBe(i);
      expect(cert.trialRange).toEqual({ first: i * DEFAULT_BLOCK_TRIALS, count: DEFAULT_BLOCK_TRIALS });
      // Bytes per block equal the certificate's m.
      expect(bytes.length * 8).toBe(cert.outputBits);
      expect(cert.extraction.outputBytes).toBe(bytes.length);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(cert.extraction.outputSha256);
      // S recomputed here from the counts, then the bound evaluated from it: same m.
      const s = sFromCounts(cert.counts, cert.lostTrials.total);
      expect(s).toBeCloseTo(cert.sEstimate, 12);
      expect(s).toBeGreaterThan(2.25);
      const bound = blockBound(cert.trialRange.count, s, DEFAULT_EPS, 'quantum');
      expect(bound.outputBits).toBe(cert.outputBits);
      expect(cert.eps.total).toBe(DEFAULT_EPS);
      expect(cert.adversary).toBe('quantum');
      // The chain: each certificate names its predecessor's hash.
      expect(cert.extraction.prevCertificateSha256).toBe(prevHash);
      prevHash = createHash('sha256').update(line).digest('hex');
    });
  });
});

describe('fail closed: chips that must not certify', () => {
  const cases: Array<{ name: string; mode?: ChipMode; calibrated?: boolean; code: string; reason: RegExp }> = [
    {
      name: 'an uncalibrated chip',
      calibrated: false,
      code: 'REFUSED_BELL',
      reason: /S = 0\.\d+ <= 2.*epqrng calibrate/,
    },
    {
      name: 'a local-hidden-variable chip',
      mode: 'lhv',
      code: 'REFUSED_BELL',
      reason: /S (= |lower bound )[12]\.\d+ <= 2/,
    },
    { name: 'a post-selecting chip', mode: 'postselect', code: 'REFUSED_LOST', reason: /lost trials \d+ of \d+/ },
    { name: 'a biased-settings chip', mode: 'biased', code: 'REFUSED_SETTINGS', reason: /settings not uniform/ },
  ];
  for (const c of cases) {
    it(`${c.name}: 0 bytes and a refusal naming the reason`, async () => {
      const { device } = await openSim(5, c);
      const seed = randomSeed(seedBitsForBlock(DEFAULT_BLOCK_TRIALS));
      let delivered = 0;
      let certificates = 0;
      let error: unknown;
      try {
        for await (const bytes of certifiedStream(device, { seed, onCertificate: () => certificates++ }))
          delivered += bytes.length;
      } catch (e) {
        error = e;
      } finally {
        await device.close();
      }
      expect(delivered).toBe(0);
      expect(certificates).toBe(0);
      expect(error).toBeInstanceOf(CertificationRefusedError);
      const err = error as CertificationRefusedError;
      expect(err.exitCode).toBe(1);
      expect(err.code).toBe(c.code);
      expect(err.message).toMatch(c.reason);
      expect(err.message).not.toMatch(/\n/);
    });
  }
});
