/**
 * The adversarial firmware modes (ChipMode other than 'honest'): what each
 * one changes in a trial. The driver must refuse every one of them.
 *
 * - 'lhv': a local hidden-variable strategy, S = 2 (or lower) in expectation;
 * - 'postselect': drops the trials that lose the CHSH game, flagged GAP;
 * - 'tamper': host settings, a share of the trials measured at other settings;
 * - 'biased': internal settings with P(x = 1) != 1/2.
 */
import { outcomeA, outcomeB } from './physics.ts';
import type { Rng } from './rng.ts';

/**
 * 'lhv': the share q of trials with random outcomes that brings the local
 * strategy's S = 2 down to the target, S = 2(1 - q).
 */
export function lhvRandomShare(targetS: number): number {
  return 1 - Math.min(2, targetS) / 2;
}

/**
 * 'lhv': a deterministic local strategy per trial chosen by shared
 * randomness, a(x) = c xor (s & x), b(y) = c xor (t & y) with
 * (s, t) != (1, 1), each winning the CHSH game in exactly 3 of 4 setting
 * pairs, so S = 2 exactly in expectation; c uniform makes the outcomes
 * uniform. With probability q the outcomes are random instead (S = 2(1 - q)).
 */
export function lhvPattern(rng: Rng, xy: number, q: number): number {
  const x = xy >> 1;
  const y = xy & 1;
  const r = rng.u32();
  let a: number;
  let b: number;
  if (q > 0 && rng.float() < q) {
    a = r & 1;
    b = (r >>> 1) & 1;
  } else {
    const c = r & 1;
    const st = (r >>> 1) % 3; // (0,0), (1,0), (0,1)
    const s = st === 1 ? 1 : 0;
    const t = st === 2 ? 1 : 0;
    a = c ^ (s & x);
    b = c ^ (t & y);
  }
  // Outcome 1 is a lone click in detector 1, outcome 0 a lone click in detector 0.
  return (a ? 0x08 : 0x04) | (b ? 0x02 : 0x01);
}

/** 'postselect': whether a trial loses the CHSH game (a xor b != x and y), the trials this adversary drops. */
export function losesChsh(xy: number, pattern: number): boolean {
  const x = xy >> 1;
  const y = xy & 1;
  return (outcomeA(pattern) ^ outcomeB(pattern)) !== (x & y);
}

/** 'tamper': the settings measured instead of the host's: the other A setting. */
export function tamperedSetting(xy: number): number {
  return xy ^ 2;
}

/** 'biased': x = 1 with probability p, y uniform. */
export function biasedSetting(rng: Rng, p: number): number {
  return ((rng.float() < p ? 1 : 0) << 1) | (rng.u32() >>> 31);
}
