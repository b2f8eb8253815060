/**
 * The EPQ-1 physics of PROTOCOL section 7, in closed form. More in README.md (physics.ts).
 */
import { Rng } from './rng.ts';
import { maximiseInteger, normalCdf, normalUpperTail } from '../math/index.ts';

/** Per-device hidden values (PROTOCOL 7 table), fixed at manufacture. Detector arrays are A0, A1, B0, B1. */
export interface HiddenParams {
  /** b_max: pair probability per trial at the pi pulse, 0.90..0.98. */
  bMax: number;
  /** P_pi: pump power of the pi pulse, 200..400 uW. */
  piPumpMicrowatts: number;
  /** g2: multi-pair parameter, 0.005..0.02. */
  g2: number;
  /** V: state visibility, 0.96..0.995. */
  visibility: number;
  /** rot: polarization rotation between the stations, -20..20 degrees. */
  rotDegrees: number;
  /** D: true path delay of B's photon, -3000..3000 ps. */
  pathDelayPs: number;
  /** sigma: Gaussian timing jitter, 40..90 ps. */
  jitterPs: number;
  /** eta_max per detector, 0.92..0.98. */
  etaMax: [number, number, number, number];
  /** U_bd per detector, 24000..26000 mV. */
  breakdownMillivolts: [number, number, number, number];
  /** U_s per detector (efficiency rise scale), 1500..2500 mV. */
  efficiencyScaleMillivolts: [number, number, number, number];
  /** R0 per detector (dark rate at breakdown), 20..200 counts/s. */
  darkRateAtBreakdownHz: [number, number, number, number];
  /** U_d per detector (dark rate growth scale), 1000..1500 mV. */
  darkScaleMillivolts: [number, number, number, number];
}

/** PROTOCOL 7: "range across devices" of each hidden value. */
export const HIDDEN_RANGES = {
  bMax: [0.9, 0.98],
  piPumpMicrowatts: [200, 400],
  g2: [0.005, 0.02],
  visibility: [0.96, 0.995],
  rotDegrees: [-20, 20],
  pathDelayPs: [-3000, 3000],
  jitterPs: [40, 90],
  etaMax: [0.92, 0.98],
  breakdownMillivolts: [24000, 26000],
  efficiencyScaleMillivolts: [1500, 2500],
  darkRateAtBreakdownHz: [20, 200],
  darkScaleMillivolts: [1000, 1500],
} as const satisfies Record<keyof HiddenParams, readonly [number, number]>;

type Quad = [number, number, number, number];

/** What the host controls (the values SAVE_CALIBRATION stores, PROTOCOL 5). */
export interface ChipSettings {
  /** A(x=0), A(x=1), B(y=0), B(y=1), centidegrees 0..17999. */
  anglesCentidegrees: Quad;
  windowPs: number;
  delayPs: number;
  pumpMicrowatts: number;
  /** A0, A1, B0, B1. */
  biasMillivolts: Quad;
}

/** PROTOCOL 7: the factory values of a new chip. */
export const FACTORY_SETTINGS: Readonly<ChipSettings> = Object.freeze({
  anglesCentidegrees: [0, 4500, 2250, 15750] as Quad,
  windowPs: 1000,
  delayPs: 0,
  pumpMicrowatts: 300,
  biasMillivolts: [30000, 30000, 30000, 30000] as Quad,
});

export function cloneSettings(s: Readonly<ChipSettings>): ChipSettings {
  return {
    anglesCentidegrees: [...s.anglesCentidegrees] as Quad,
    windowPs: s.windowPs,
    delayPs: s.delayPs,
    pumpMicrowatts: s.pumpMicrowatts,
    biasMillivolts: [...s.biasMillivolts] as Quad,
  };
}

/** The centre of every PROTOCOL 7 range: a mid-range device. */
export function midRangeHidden(overrides: Partial<HiddenParams> = {}): HiddenParams {
  const mid = (r: readonly [number, number]) => (r[0] + r[1]) / 2;
  const quad = (r: readonly [number, number]): Quad => [mid(r), mid(r), mid(r), mid(r)];
  return {
    bMax: mid(HIDDEN_RANGES.bMax),
    piPumpMicrowatts: mid(HIDDEN_RANGES.piPumpMicrowatts),
    g2: mid(HIDDEN_RANGES.g2),
    visibility: mid(HIDDEN_RANGES.visibility),
    rotDegrees: mid(HIDDEN_RANGES.rotDegrees),
    pathDelayPs: mid(HIDDEN_RANGES.pathDelayPs),
    jitterPs: mid(HIDDEN_RANGES.jitterPs),
    etaMax: quad(HIDDEN_RANGES.etaMax),
    breakdownMillivolts: quad(HIDDEN_RANGES.breakdownMillivolts),
    efficiencyScaleMillivolts: quad(HIDDEN_RANGES.efficiencyScaleMillivolts),
    darkRateAtBreakdownHz: quad(HIDDEN_RANGES.darkRateAtBreakdownHz),
    darkScaleMillivolts: quad(HIDDEN_RANGES.darkScaleMillivolts),
    ...overrides,
  };
}

/** Hidden values drawn uniformly over the PROTOCOL 7 ranges, deterministic for a seed; `overrides` replace draws. */
export function drawHiddenParams(seed: number, overrides: Partial<HiddenParams> = {}): HiddenParams {
  const rng = new Rng(seed, 0x41dde);
  const u = (r: readonly [number, number]) => rng.uniform(r[0], r[1]);
  const quad = (r: readonly [number, number]): Quad => [u(r), u(r), u(r), u(r)];
  const drawn: HiddenParams = {
    bMax: u(HIDDEN_RANGES.bMax),
    piPumpMicrowatts: u(HIDDEN_RANGES.piPumpMicrowatts),
    g2: u(HIDDEN_RANGES.g2),
    visibility: u(HIDDEN_RANGES.visibility),
    rotDegrees: u(HIDDEN_RANGES.rotDegrees),
    pathDelayPs: u(HIDDEN_RANGES.pathDelayPs),
    jitterPs: u(HIDDEN_RANGES.jitterPs),
    etaMax: quad(HIDDEN_RANGES.etaMax),
    breakdownMillivolts: quad(HIDDEN_RANGES.breakdownMillivolts),
    efficiencyScaleMillivolts: quad(HIDDEN_RANGES.efficiencyScaleMillivolts),
    darkRateAtBreakdownHz: quad(HIDDEN_RANGES.darkRateAtBreakdownHz),
    darkScaleMillivolts: quad(HIDDEN_RANGES.darkScaleMillivolts),
  };
  return { ...drawn, ...overrides };
}

// ---------------------------------------------------------------------------
// Per-component formulas of PROTOCOL 7.

/** PROTOCOL 7: b = b_max sin^2(pi/2 P/P_pi). */
export function brightness(h: HiddenParams, pumpMicrowatts: number): number {
  const s = Math.sin((Math.PI / 2) * (pumpMicrowatts / h.piPumpMicrowatts));
  return h.bMax * s * s;
}

/** PROTOCOL 7: eta(U) = eta_max (1 - exp(-(U - U_bd)/U_s)) for U > U_bd, else 0. Detector 0..3 = A0 A1 B0 B1. */
export function detectorEfficiency(h: HiddenParams, detector: number, biasMillivolts: number): number {
  const over = biasMillivolts - h.breakdownMillivolts[detector]!;
  if (over <= 0) return 0;
  return h.etaMax[detector]! * (1 - Math.exp(-over / h.efficiencyScaleMillivolts[detector]!));
}

/** PROTOCOL 7: dark_rate(U) = R0 exp((U - U_bd)/U_d), counts/s. */
export function darkRateHz(h: HiddenParams, detector: number, biasMillivolts: number): number {
  return (
    h.darkRateAtBreakdownHz[detector]! *
    Math.exp((biasMillivolts - h.breakdownMillivolts[detector]!) / h.darkScaleMillivolts[detector]!)
  );
}

/** PROTOCOL 7: a detector dark-clicks in a gate w.p. 1 - exp(-dark_rate w), w in seconds. */
export function darkClickProbability(
  h: HiddenParams,
  detector: number,
  biasMillivolts: number,
  windowPs: number,
): number {
  return -Math.expm1(-darkRateHz(h, detector, biasMillivolts) * windowPs * 1e-12);
}

/**
 * PROTOCOL 7: the probability that B's photon falls inside B's gate,
 * g = Phi((w/2 - (D - d))/sigma) - Phi((-w/2 - (D - d))/sigma),
 * computed from the nearer tail so that it keeps its relative precision far
 * from the peak.
 */
export function gateProbability(h: HiddenParams, windowPs: number, delayPs: number): number {
  const offset = h.pathDelayPs - delayPs;
  const hi = (windowPs / 2 - offset) / h.jitterPs;
  const lo = (-windowPs / 2 - offset) / h.jitterPs;
  if (lo > 0) return normalUpperTail(lo) - normalUpperTail(hi);
  if (hi < 0) return normalCdf(hi) - normalCdf(lo);
  return 1 - normalUpperTail(hi) - normalCdf(lo);
}

/** Record bits of the four detectors, in detector order A0 A1 B0 B1 (PROTOCOL 4 TRIALS). */
export const DETECTOR_BIT = [0x04, 0x08, 0x01, 0x02] as const;

/** Everything of a chip's state that shapes one trial's click distribution, precomputed. */
export interface TrialModel {
  /** P(k = 1), P(k = 2). */
  pOnePair: number;
  pTwoPairs: number;
  visibility: number;
  rotDegrees: number;
  /** detection probability of a photon at A0, A1, B0, B1 (B's include the gate factor g). */
  detect: Quad;
  /** dark-click probability per gate of A0, A1, B0, B1. */
  dark: Quad;
  /** a detector latched by a fault clicks in every gate (mask of record bits). */
  latchedMask: number;
}

/** Build the per-trial model for the settings in force (angles are applied per trial). */
export function trialModel(h: HiddenParams, s: Readonly<ChipSettings>, latchedMask = 0): TrialModel {
  const b = brightness(h, s.pumpMicrowatts);
  const pTwo = (h.g2 * b * b) / 2; // PROTOCOL 7: k = 2 w.p. g2 b^2 / 2
  const g = gateProbability(h, s.windowPs, s.delayPs);
  const eff = (i: number) => detectorEfficiency(h, i, s.biasMillivolts[i]!);
  return {
    pOnePair: b - pTwo, // PROTOCOL 7: k = 1 w.p. b - g2 b^2 / 2
    pTwoPairs: pTwo,
    visibility: h.visibility,
    rotDegrees: h.rotDegrees,
    detect: [eff(0), eff(1), eff(2) * g, eff(3) * g],
    dark: [0, 1, 2, 3].map((i) => darkClickProbability(h, i, s.biasMillivolts[i]!, s.windowPs)) as Quad,
    latchedMask,
  };
}

/**
 * The exact distribution of the 16 click patterns (index = record bits
 * A1 A0 B1 B0) for analyzer angles alphaDeg at A and betaDeg at B.
 */
export function clickDistribution(
  m: TrialModel,
  alphaDeg: number,
  betaDeg: number,
  out = new Float64Array(16),
): Float64Array {
  const c = m.visibility * Math.cos((2 * Math.PI * (alphaDeg - betaDeg + m.rotDegrees)) / 180);
  // One pair: photon-hit pattern over the 9 combinations of (A none/A0/A1) x (B none/B0/B1).
  const pair = new Float64Array(16);
  for (let pa = 0; pa < 2; pa++) {
    for (let pb = 0; pb < 2; pb++) {
      const pj = (1 + (pa === pb ? c : -c)) / 4; // PROTOCOL 7: P(pa = pb) = (1 + V cos 2(...))/2, uniform marginals
      const ea = m.detect[pa]!;
      const eb = m.detect[2 + pb]!;
      const bitA = DETECTOR_BIT[pa]!;
      const bitB = DETECTOR_BIT[2 + pb]!;
      pair[bitA | bitB]! += pj * ea * eb;
      pair[bitA]! += pj * ea * (1 - eb);
      pair[bitB]! += pj * (1 - ea) * eb;
      pair[0]! += pj * (1 - ea) * (1 - eb);
    }
  }
  // Photon hits over k pairs.
  const hits = new Float64Array(16);
  hits[0] = 1 - m.pOnePair - m.pTwoPairs;
  for (let i = 0; i < 16; i++) hits[i]! += m.pOnePair * pair[i]!;
  if (m.pTwoPairs > 0) {
    for (let i = 0; i < 16; i++) {
      if (pair[i] === 0) continue;
      for (let j = 0; j < 16; j++) hits[i | j]! += m.pTwoPairs * pair[i]! * pair[j]!;
    }
  }
  // Dark counts: each detector independently ORs its bit in.
  let cur = hits;
  for (let d = 0; d < 4; d++) {
    const bit = DETECTOR_BIT[d]!;
    const pd = (m.latchedMask & bit) !== 0 ? 1 : m.dark[d]!;
    if (pd === 0) continue;
    const next = new Float64Array(16);
    for (let i = 0; i < 16; i++) {
      next[i]! += cur[i]! * (1 - pd);
      next[i | bit]! += cur[i]! * pd;
    }
    cur = next;
  }
  out.set(cur);
  return out;
}

/** Distributions for the four setting pairs, index (x << 1) | y, at the chip's angles. */
export function settingDistributions(m: TrialModel, anglesCentidegrees: Readonly<Quad>): Float64Array[] {
  const out: Float64Array[] = [];
  for (let x = 0; x < 2; x++) {
    for (let y = 0; y < 2; y++)
      out.push(clickDistribution(m, anglesCentidegrees[x]! / 100, anglesCentidegrees[2 + y]! / 100));
  }
  return out;
}

/** Outcome binning of the certification (certify/outcomes.ts): a = 1 iff A1 clicked and A0 did not; the same for b. */
export function outcomeA(pattern: number): number {
  return (pattern & 0x0c) === 0x08 ? 1 : 0;
}
export function outcomeB(pattern: number): number {
  return (pattern & 0x03) === 0x02 ? 1 : 0;
}

/** E = P(a = b) - P(a != b) under a click distribution. */
export function correlator(dist: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < 16; i++) e += outcomeA(i) === outcomeB(i) ? dist[i]! : -dist[i]!;
  return e;
}

/** CHSH S = E00 + E01 + E10 - E11 over all trials (no post-selection) for a chip with these settings. */
export function expectedS(h: HiddenParams, s: Readonly<ChipSettings>): number {
  const d = settingDistributions(trialModel(h, s), s.anglesCentidegrees);
  return correlator(d[0]!) + correlator(d[1]!) + correlator(d[2]!) - correlator(d[3]!);
}

/** Angle in centidegrees reduced to 0..17999 (a polarizer angle is defined mod 180 degrees). */
export function wrapCentidegrees(c: number): number {
  const r = Math.round(c) % 18000;
  return r < 0 ? r + 18000 : r;
}

/**
 * idealSettings' golden-section searches scan the last 8 integers exhaustively
 * (the simulator's flash and every fixture depend on the values found).
 */
const SCAN_WIDTH = 8;

/**
 * The best settings of a device, from its hidden values: starting from pump at the pi pulse, gate delay at D and
 * analyzers compensating rot (B's angles shifted by rot, which keeps alpha - beta + rot at the factory CHSH
 * differences), every knob (per-detector bias, window, pump, delay, the four angles) is refined by coordinate ascent
 * on expectedS until a sweep gains nothing. More in README.md (physics.ts: idealSettings).
 */
export function idealSettings(h: HiddenParams): ChipSettings {
  const s: ChipSettings = {
    anglesCentidegrees: [
      0,
      4500,
      wrapCentidegrees(2250 + h.rotDegrees * 100),
      wrapCentidegrees(15750 + h.rotDegrees * 100),
    ],
    windowPs: 1000,
    delayPs: Math.max(-10000, Math.min(10000, Math.round(h.pathDelayPs))),
    pumpMicrowatts: Math.max(0, Math.min(1000, Math.round(h.piPumpMicrowatts))),
    biasMillivolts: [30000, 30000, 30000, 30000],
  };
  // Coordinate ascent: each knob by an integer golden-section search with the
  // others fixed, sweeping until a whole round gains nothing (bias and window
  // are coupled through the dark counts, so one sweep is not enough).
  const clampInt = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(v)));
  let best = expectedS(h, s);
  for (let round = 0; round < 12; round++) {
    const before = best;
    for (let d = 0; d < 4; d++) {
      s.biasMillivolts[d] = maximiseInteger(
        (v) => {
          const t = cloneSettings(s);
          t.biasMillivolts[d] = v;
          return expectedS(h, t);
        },
        Math.max(20000, Math.ceil(h.breakdownMillivolts[d]!)),
        40000,
        SCAN_WIDTH,
      );
    }
    s.windowPs = maximiseInteger(
      (v) => expectedS(h, { ...s, windowPs: v }),
      Math.max(100, Math.ceil(4 * h.jitterPs)),
      20000,
      SCAN_WIDTH,
    );
    s.pumpMicrowatts = maximiseInteger(
      (v) => expectedS(h, { ...s, pumpMicrowatts: v }),
      clampInt(h.piPumpMicrowatts * 0.8, 0, 1000),
      clampInt(h.piPumpMicrowatts * 1.2, 0, 1000),
      SCAN_WIDTH,
    );
    s.delayPs = maximiseInteger(
      (v) => expectedS(h, { ...s, delayPs: v }),
      clampInt(h.pathDelayPs - 300, -10000, 10000),
      clampInt(h.pathDelayPs + 300, -10000, 10000),
      SCAN_WIDTH,
    );
    for (let i = 0; i < 4; i++) {
      const centre = s.anglesCentidegrees[i]!;
      const at = (v: number) => {
        const t = cloneSettings(s);
        t.anglesCentidegrees[i] = wrapCentidegrees(v);
        return expectedS(h, t);
      };
      s.anglesCentidegrees[i] = wrapCentidegrees(maximiseInteger(at, centre - 200, centre + 200, SCAN_WIDTH));
    }
    best = expectedS(h, s);
    if (best - before < 1e-12) break;
  }
  return s;
}
