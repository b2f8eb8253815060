/**
 * The measurement plan: which points each step measures and for how long. The integration times are budgeted so that a
 * whole calibration takes well under 120 s of chip time (the calibration requirement), `--quick` about half;
 * `chipTimeMs` adds the plan up before anything runs. More in README.md (plan.ts).
 */

export type StepName = 'before' | 'dark' | 'pump' | 'delay' | 'fringes' | 'bias' | 'operating-point' | 'after';

/** The steps in the order they run; the delay must be found before any coincidence-based step. */
export const STEP_ORDER: readonly StepName[] = [
  'before',
  'dark',
  'pump',
  'delay',
  'fringes',
  'bias',
  'operating-point',
  'after',
];

export const STEP_TITLES: Record<StepName, string> = {
  before: 'verify previous calibration',
  dark: 'dark counts vs bias',
  pump: 'pump sweep (Rabi)',
  delay: 'delay scan',
  fringes: 'polarization fringes',
  bias: 'bias sweep (efficiency)',
  'operating-point': 'operating point',
  after: 'verify new calibration',
};

export interface CalibrationPlan {
  mode: 'normal' | 'quick';
  /** Trials of the verification runs before and after (at least 10^6 each, as the calibration requires). */
  verifyBeforeTrials: number;
  verifyAfterTrials: number;
  /** Dark step: pump off, widest window, all four biases together. */
  darkBiasesMv: number[];
  darkWindowPs: number;
  darkIntegrationMs: number;
  /** Stop raising the bias once a detector clicks in this share of the wide gates (far from latching). */
  darkMaxClickProbability: number;
  pumpMicrowatts: number[];
  pumpIntegrationMs: number;
  /** Coarse delay scan: wide window stepped at half its width across the PROTOCOL 7 range of D. */
  coarseDelaysPs: number[];
  coarseWindowPs: number;
  coarseIntegrationMs: number;
  /** Fine delay scan: narrow window around the coarse centre, to resolve the jitter. */
  fineHalfSpanPs: number;
  fineStepPs: number;
  fineWindowPs: number;
  fineIntegrationMs: number;
  /** Fringes: B swept at A in two bases. */
  fringeAlphasDeg: number[];
  fringeBetasDeg: number[];
  fringeIntegrationMs: number;
  /** Window in force for the fringe and bias steps (wide enough to keep every photon of a centred gate). */
  workingWindowPs: number;
  /**
   * Bias sweep of one station while the other stays at `heraldBiasMv`; every
   * other measuring step runs with all four detectors at `heraldBiasMv`.
   */
  biasSweepMv: number[];
  heraldBiasMv: number;
  biasIntegrationMs: number;
  /** Skip bias points whose fitted dark rate would click in more than this share of working gates. */
  biasMaxDarkProbability: number;
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to + 1e-9; v += step) out.push(Math.round(v));
  return out;
}

export function makePlan(mode: 'normal' | 'quick'): CalibrationPlan {
  const quick = mode === 'quick';
  return {
    mode,
    verifyBeforeTrials: 1_000_000,
    verifyAfterTrials: quick ? 1_000_000 : 2_000_000,
    darkBiasesMv: range(27000, 38000, 1000),
    darkWindowPs: 20000, // PROTOCOL 5 SET_WINDOW: at most 20000
    darkIntegrationMs: quick ? 300 : 600,
    darkMaxClickProbability: 0.2,
    pumpMicrowatts: range(20, 900, quick ? 55 : 40),
    pumpIntegrationMs: quick ? 50 : 100,
    coarseDelaysPs: range(-4000, 4000, 500),
    coarseWindowPs: 1000,
    coarseIntegrationMs: quick ? 20 : 40,
    fineHalfSpanPs: 700,
    fineStepPs: quick ? 50 : 35,
    fineWindowPs: 200,
    fineIntegrationMs: quick ? 50 : 100,
    fringeAlphasDeg: [0, 45],
    fringeBetasDeg: range(0, 165, 15),
    fringeIntegrationMs: quick ? 100 : 200,
    workingWindowPs: 1000,
    biasSweepMv: range(24000, 38000, quick ? 1000 : 750),
    heraldBiasMv: 30000,
    biasIntegrationMs: quick ? 100 : 200,
    biasMaxDarkProbability: 0.01,
  };
}

/** Upper bound of the chip time of a plan (ms at the default 1 M trials/s; dark and bias steps may stop early). */
export function plannedChipTimeMs(plan: CalibrationPlan): number {
  const finePoints = Math.floor((2 * plan.fineHalfSpanPs) / plan.fineStepPs) + 1;
  return (
    ((plan.verifyBeforeTrials + plan.verifyAfterTrials) / 1e6) * 1000 +
    plan.darkBiasesMv.length * plan.darkIntegrationMs +
    plan.pumpMicrowatts.length * plan.pumpIntegrationMs +
    plan.coarseDelaysPs.length * plan.coarseIntegrationMs +
    finePoints * plan.fineIntegrationMs +
    plan.fringeAlphasDeg.length * plan.fringeBetasDeg.length * plan.fringeIntegrationMs +
    2 * plan.biasSweepMv.length * plan.biasIntegrationMs
  );
}
