/**
 * Early stopping in the certifier (targetBits, src/certify/bounds/pef-stopping.ts
 * and src/certify/variable-blocks.ts): variable-length blocks that end when
 * the stopping rule fires at a segment's end, contiguous, each certifying
 * exactly the target; the certificate states the rule and the trial count;
 * a lost trial or a source without a Bell violation certifies nothing; a
 * run that ends inside a block refuses it as incomplete.
 */
import { describe, expect, it } from 'vitest';
import { certificateDraftSchema } from '../../src/certify/certificate.ts';
import { Certifier, type BlockResult } from '../../src/certify/certifier.ts';
import { STOPPING_SEGMENT_TRIALS } from '../../src/certify/bounds/pef-stopping.ts';
import { pefEntropyBits } from '../../src/certify/pef/entropy.ts';
import { chshRecords, lhvRecords, toBatches } from './helpers.ts';

const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
const options = { device, adversary: 'classical', classicalBound: 'pef', targetBits: 512 } as const;

function certify(c: Certifier, records: Uint8Array, lost: Array<[number, number]> = []): BlockResult[] {
  const out = toBatches(records, { framesPerBatch: 256, lost }).flatMap((b) => c.push(b));
  return [...out, ...c.finish()];
}

describe('early stopping (targetBits) in the certifier', () => {
  it('ends each block when the rule fires: contiguous blocks of a few segments, 512 bits each, the rule in the certificate', () => {
    const records = chshRecords(2 ** 18, 2.43, 20261205);
    const results = certify(new Certifier(options), records);
    const certified = results.filter((r) => r.ok);
    expect(certified.length).toBeGreaterThanOrEqual(4);
    let next = 0;
    for (const r of results) {
      const range = r.ok ? r.draft.trialRange : r.trialRange;
      expect(range.first).toBe(next);
      next += range.count;
    }
    const first = certified[0];
    if (!first?.ok) throw new Error('nothing certified');
    // first bytes well within 2^18 trials (they come after about 1.6e4 at S = 2.43)
    expect(first.draft.trialRange.first).toBe(0);
    expect(first.draft.trialRange.count).toBeLessThanOrEqual(2 ** 18);
    for (const r of certified) {
      if (!r.ok) continue;
      const d = certificateDraftSchema.parse(r.draft);
      expect(d.outputBits).toBe(512);
      expect(d.trialRange.count % STOPPING_SEGMENT_TRIALS).toBe(0);
      expect(d.inputBits).toBe(2 * d.trialRange.count);
      expect(r.inputBits).toBe(d.inputBits);
      expect(r.input.length).toBe(d.inputBits / 8);
      expect(d.stopping?.firedAtTrial).toBe(d.trialRange.count);
      expect(d.stopping?.targetBits).toBe(512);
      expect(d.stopping?.rule).toMatch(/first multiple tau of 4096 trials/);
      expect(d.assumptions.join('\n')).toMatch(/early stopping \(--target-bits 512\)/);
      const p = d.pef;
      if (!p) throw new Error('no pef record');
      // the rule fired: the product reached L*, and the entropy is the statement at L* with kappa = eps_EA
      expect(p.log2Product / p.beta).toBeGreaterThanOrEqual(p.thresholdBits);
      const k = pefEntropyBits(p.thresholdBits, p.beta, d.eps.smoothing, d.eps.estimation);
      expect(d.entropyBits).toBeCloseTo(k, 6);
      expect(k).toBeGreaterThanOrEqual(512 + 2 * Math.log2(1 / d.eps.extraction));
    }
  });

  it('the same records give the same block boundaries and inputs (what replay and verify rely on)', () => {
    const records = chshRecords(2 ** 17, 2.43, 7);
    const a = certify(new Certifier(options), records);
    const c = new Certifier(options);
    const b2 = [...toBatches(records, { framesPerBatch: 3 }).flatMap((x) => c.push(x)), ...c.finish()];
    expect(b2.map((r) => (r.ok ? r.draft.trialRange : r.trialRange))).toEqual(
      a.map((r) => (r.ok ? r.draft.trialRange : r.trialRange)),
    );
    for (const [i, r] of a.entries()) {
      const s = b2[i];
      if (r.ok && s?.ok) expect(Buffer.from(s.input).equals(Buffer.from(r.input))).toBe(true);
    }
  });

  it('a lost trial stops the rule (F = 0): its block ends with that segment and certifies nothing', () => {
    const records = chshRecords(2 ** 16, 2.43, 8);
    const results = certify(new Certifier({ ...options, blockTrials: 2 ** 15 }), records, [[100, 40]]);
    const r0 = results[0];
    expect(r0?.ok).toBe(false);
    if (r0 && !r0.ok) {
      expect(r0.trialRange).toEqual({ first: 0, count: STOPPING_SEGMENT_TRIALS });
      // one segment: too few trials for the Bell test as well
      expect(['bell', 'entropy']).toContain(r0.test);
    }
    // the next block starts afresh and certifies
    expect(results.slice(1).some((r) => r.ok)).toBe(true);
  });

  it('a local-hidden-variable source (S = 2) never fires: nothing is certified', () => {
    const results = certify(new Certifier({ ...options, blockTrials: 2 ** 16 }), lhvRecords(2 ** 18, 99));
    expect(results).toHaveLength(4);
    expect(results.every((r) => !r.ok)).toBe(true);
  });

  it('a run that ends inside a block refuses it as incomplete', () => {
    // 6000 trials: one whole segment (the rule cannot fire on 4096 trials for 512 bits) and a partial one
    const results = certify(new Certifier(options), chshRecords(6000, 2.43, 9));
    expect(results).toHaveLength(1);
    const r = results[0];
    expect(r?.ok).toBe(false);
    if (r && !r.ok) {
      expect(r.test).toBe('incomplete');
      expect(r.trialRange).toEqual({ first: 0, count: 6000 });
    }
  });

  it('refuses what it cannot certify: another bound, host settings, a block not a multiple of the segment', () => {
    expect(() => new Certifier({ ...options, classicalBound: 'pironio-massar' })).toThrow(/needs classicalBound pef/);
    expect(() => new Certifier({ ...options, targetBits: 100 })).toThrow(/multiple of 8/);
    expect(() => new Certifier({ ...options, blockTrials: 10_000 })).toThrow(/multiple of 4096/);
  });
});
