/**
 * The pipeline's one configuration (src/output/config.ts): every default
 * resolved in one function, checked, and a resolved configuration resolves
 * to itself (stream, replay and the library API share it).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BLOCK_TRIALS, DEFAULT_EPS, DEFAULT_MAX_LOST_SHARE } from '../../src/certify/index.ts';
import { DEFAULT_MAX_FFT_SIZE } from '../../src/extract/chunked.ts';
import { DEFAULT_MAX_CONSECUTIVE_REFUSED, resolvePipelineConfig, seedBitsForBlock } from '../../src/output/config.ts';

const seed = new Uint8Array(16);

describe('resolvePipelineConfig', () => {
  it('fills every default', () => {
    expect(resolvePipelineConfig({ seed })).toEqual({
      seed,
      blockTrials: DEFAULT_BLOCK_TRIALS,
      eps: DEFAULT_EPS,
      adversary: 'quantum',
      classicalBound: 'pironio-massar',
      maxLostShare: DEFAULT_MAX_LOST_SHARE,
      bytes: Infinity,
      maxConsecutiveRefused: DEFAULT_MAX_CONSECUTIVE_REFUSED,
      prevCertificateSha256: null,
      offThread: 'auto',
      maxFftSize: DEFAULT_MAX_FFT_SIZE,
      hostSettings: null,
    });
  });

  it('keeps what is given; host settings with gamma as an exact fraction; a resolved config resolves to itself', () => {
    const c = resolvePipelineConfig({
      seed,
      blockTrials: 1 << 20,
      eps: 1e-6,
      adversary: 'classical',
      bytes: 10,
      hostSettings: {},
    });
    expect(c.hostSettings).toEqual({ testRate: { numerator: 1, denominator: 1 } });
    expect(resolvePipelineConfig(c)).toEqual(c);
    const spot = resolvePipelineConfig({ seed, hostSettings: { testRate: '0.05' } });
    expect(spot.hostSettings?.testRate).toEqual({ numerator: 1, denominator: 20 });
    expect(resolvePipelineConfig(spot)).toEqual(spot);
  });

  it('refuses bad values, and an adversary no registered bound certifies with these settings', () => {
    expect(() => resolvePipelineConfig({ seed, eps: 0 })).toThrow('"eps" must be in (0, 1)');
    expect(() => resolvePipelineConfig({ seed, blockTrials: 0.5 })).toThrow('"blockTrials" must be an integer >= 1');
    expect(() => resolvePipelineConfig({ seed, bytes: -1 })).toThrow('"bytes" must be a non-negative number');
    expect(() => resolvePipelineConfig({ seed, maxConsecutiveRefused: 0 })).toThrow('"maxConsecutiveRefused"');
    expect(() => resolvePipelineConfig({ seed, adversary: 'classical', hostSettings: { testRate: 0.5 } })).toThrow(
      /^no bound certifies spot-checking/,
    );
  });

  it('sizes the extractor seed for the block: n + mMax - 1 bits, n = 2 bits and mMax = 1 bit per trial', () => {
    expect(seedBitsForBlock(1000)).toBe(2000 + 1000 - 1);
  });
});
