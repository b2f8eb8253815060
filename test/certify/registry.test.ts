/**
 * The bound registry (src/certify/bounds/registry.ts): a certificate's
 * adversary, assumptions and bound text all come from the bound that was
 * used, and no certificate can name an adversary its bound does not hold
 * against, whatever the adversary asked for and the settings mode.
 */
import { describe, expect, it } from 'vitest';
import { ADVERSARIES, ADVERSARY_ASSUMPTION, settingsModeOf, type Bound } from '../../src/certify/bounds/bound.ts';
import { adfrvEat } from '../../src/certify/bounds/adfrv-eat.ts';
import { DF19_ASSUMPTION } from '../../src/certify/bounds/dupuis-fawzi.ts';
import { BOUNDS, boundsFor, certifyBlockBound, missingBoundReason } from '../../src/certify/bounds/registry.ts';
import { assumptionsFor } from '../../src/certify/certificate.ts';
import { Certifier } from '../../src/certify/certifier.ts';
import { SettingsLedger } from '../../src/certify/echo.ts';

const EPS = 2 ** -64;
const device = { serial: 'EPQ1-TEST', firmware: '1.2.0' };

describe('bound registry', () => {
  it('every bound names one adversary, at least one settings mode, and a distinct name', () => {
    expect(new Set(BOUNDS.map((b) => b.name)).size).toBe(BOUNDS.length);
    for (const b of BOUNDS) {
      expect(ADVERSARIES).toContain(b.adversary);
      expect(b.modes.length).toBeGreaterThan(0);
    }
  });

  it('the bound used holds against the adversary asked for, in the block settings mode, or nothing certifies', () => {
    for (const adversary of ADVERSARIES) {
      for (const gamma of [1, 0.5, 0.01]) {
        for (const [trials, s] of [
          [2 ** 22, 2.4],
          [2 ** 26, 2.5],
          [1e4, 2.1],
        ] as const) {
          const stats = { trials, sEstimate: s, testRate: gamma };
          const valid = boundsFor(adversary, settingsModeOf(gamma));
          if (valid.length === 0) {
            expect(missingBoundReason(adversary, gamma)).toMatch(/^no bound certifies/);
            expect(() => certifyBlockBound(stats, EPS, adversary)).toThrow(RangeError);
            continue;
          }
          const b = certifyBlockBound(stats, EPS, adversary);
          expect(b.used.adversary).toBe(adversary);
          expect(b.adversary).toBe(adversary);
          expect(b.used.modes).toContain(settingsModeOf(gamma));
          // the best valid one: no valid bound certifies more
          for (const other of valid) {
            const k = Math.min(b.inputBits, Math.max(0, other.evaluate(stats, b.eps).entropyBits));
            expect(k).toBeLessThanOrEqual(b.entropyBits);
          }
        }
      }
    }
  });

  it('spot-checking against classical side information has no bound: the certifier refuses to start', () => {
    expect(missingBoundReason('classical', 0.5)).toBe(
      'no bound certifies spot-checking (test rate below 1) against classical side information (only quantum)',
    );
    expect(missingBoundReason('quantum', 0.5)).toBeNull();
    const ledger = new SettingsLedger({ generator: 'os-csprng', testRate: { numerator: 1, denominator: 2 } });
    expect(
      () => new Certifier({ device, adversary: 'classical', settingsSource: 'host', hostSettings: ledger }),
    ).toThrow(/no bound certifies spot-checking/);
    expect(
      () => new Certifier({ device, adversary: 'quantum', settingsSource: 'host', hostSettings: ledger }),
    ).not.toThrow();
  });

  it("a certificate's assumptions are its bound's: the adversary model second, the bound's additions last", () => {
    const df19 = BOUNDS.find((b) => b.assumptions.includes(DF19_ASSUMPTION)) as Bound;
    const list = assumptionsFor('host', df19);
    expect(list[1]).toBe(ADVERSARY_ASSUMPTION.quantum);
    expect(list.at(-1)).toBe(DF19_ASSUMPTION);
    for (const b of BOUNDS) {
      const a = assumptionsFor('internal', b);
      expect(a).toContain(ADVERSARY_ASSUMPTION[b.adversary]);
      for (const other of ADVERSARIES) if (other !== b.adversary) expect(a).not.toContain(ADVERSARY_ASSUMPTION[other]);
      for (const extra of b.assumptions) expect(a).toContain(extra);
    }
  });

  it('a registry with a new bound uses it where it certifies more (one file plus one registry line)', () => {
    const generous: Bound = {
      name: 'test-only',
      adversary: 'classical',
      assumptions: ['a test-only assumption'],
      modes: ['uniform'],
      evaluate: (stats) => ({
        entropyBits: stats.trials / 2,
        details: { formula: 'n / 2 (test only)', sEvaluated: 2 },
      }),
    };
    const b = certifyBlockBound({ trials: 1e6, sEstimate: 2.4, testRate: 1 }, EPS, 'classical', [...BOUNDS, generous]);
    expect(b.used).toBe(generous);
    expect(b.bound).toBe('n / 2 (test only)');
    expect(b.entropyBits).toBe(5e5);
    expect(
      certifyBlockBound({ trials: 1e6, sEstimate: 2.4, testRate: 1 }, EPS, 'quantum', [...BOUNDS, generous]).used.name,
    ).toMatch(/^(adfrv-eat|dupuis-fawzi)$/);
  });
});

describe('Dupuis-Fawzi at gamma = 1 beside ADFRV (uniform settings, quantum)', () => {
  it('is evaluated on every uniform-settings quantum block, and certifies more than ADFRV at 2^22 trials, S = 2.43', () => {
    const names = boundsFor('quantum', 'uniform').map((b) => b.name);
    expect(names).toEqual(['adfrv-eat', 'dupuis-fawzi']);
    const stats = { trials: 2 ** 22, sEstimate: 2.43, testRate: 1 };
    const best = certifyBlockBound(stats, 2 ** -64, 'quantum');
    const adfrv = certifyBlockBound(stats, 2 ** -64, 'quantum', [adfrvEat]);
    expect(best.used.name).toBe('dupuis-fawzi');
    expect(best.outputBits).toBeGreaterThan(1.25 * adfrv.outputBits);
    // 2^20 trials: ADFRV alone certifies about 0.02 bit/trial, DF19 more than 0.1
    expect(certifyBlockBound({ ...stats, trials: 2 ** 20 }, 2 ** -64, 'quantum').outputBits / 2 ** 20).toBeGreaterThan(
      0.1,
    );
  });
});
