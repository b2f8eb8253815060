/**
 * The calibration profile (profile.ts schema) assembled from what the
 * procedure's steps measured and chose (procedure.ts).
 */
import type { InfoFrame } from '../protocol/types.ts';
import type { Quad } from './click-model.ts';
import type { CalibrationPlan, StepName } from './plan.ts';
import type { CalibrationProfile, ProfileSettings } from './profile.ts';
import type { BiasResult } from './steps/bias.ts';
import type { DarkResult } from './steps/dark.ts';
import type { DelayResult } from './steps/delay.ts';
import type { FringeResult } from './steps/fringes.ts';
import type { ChipEstimates, OperatingPoint } from './steps/operating-point.ts';
import type { PumpResult } from './steps/pump.ts';
import type { VerifyResult } from './steps/verify.ts';

/** Everything the profile records. */
export interface ProfileParts {
  info: InfoFrame;
  plan: CalibrationPlan;
  createdAt: Date;
  chipMs: Partial<Record<StepName, number>>;
  wallMs: { total: number; steps: Partial<Record<StepName, number>> };
  previous: ProfileSettings;
  previousUncalibrated: boolean;
  settings: ProfileSettings;
  saved: boolean;
  outcome: string;
  before: VerifyResult;
  after: VerifyResult;
  dark: DarkResult;
  g2: { value: number; error: number };
  g2Measured: boolean;
  pump: PumpResult;
  delay: DelayResult;
  fringes: FringeResult;
  bias: BiasResult;
  estimates: ChipEstimates;
  op: OperatingPoint;
}

/** The profile as the schema describes it (the caller validates it with parseProfile). */
export function assembleProfile(p: ProfileParts): CalibrationProfile {
  const { info, dark, op } = p;
  return {
    kind: 'epqrng-calibration-profile',
    version: 1,
    createdAt: p.createdAt.toISOString(),
    device: {
      serial: info.serial,
      model: info.model,
      firmware: info.firmware.join('.'),
      protocol: info.protocol.join('.'),
    },
    mode: p.plan.mode,
    chipTimeMs: { total: Object.values(p.chipMs).reduce((a, b) => a + (b ?? 0), 0), steps: p.chipMs },
    wallTimeMs: p.wallMs,
    previous: { ...p.previous, uncalibrated: p.previousUncalibrated },
    settings: p.settings,
    saved: p.saved,
    outcome: p.outcome,
    estimates: {
      rotDeg: p.fringes.rotDeg,
      visibility: { value: p.estimates.visibility, error: p.fringes.visibility.error },
      fringeVisibility: p.fringes.visibility,
      pathDelayPs: p.delay.fit.pathDelayPs,
      jitterPs: p.delay.fit.jitterPs,
      piPulseMicrowatts: p.pump.piPulseMicrowatts,
      brightness: Math.min(1, Math.max(0, p.estimates.brightness)),
      g2: p.g2,
      g2Source: p.g2Measured ? 'measured' : 'assumed',
      predictedS: op.predictedS,
      predictedBitsPerTrial: op.predictedBitsPerTrial,
    },
    steps: {
      dark: { windowPs: dark.windowPs, integrationMs: dark.integrationMs, points: dark.points, curves: dark.curves },
      pump: p.pump,
      delay: p.delay,
      fringes: p.fringes,
      bias: p.bias,
      operatingPoint: { biasScan: op.biasScan, windowScan: op.windowScan },
    },
    before: verification(p.before),
    after: verification(p.after),
  };
}

/** The settings a STATUS reports, as a profile records them. */
export function settingsFromStatus(s: {
  angles: number[];
  window: number;
  delay: number;
  pump: number;
  bias: number[];
}): ProfileSettings {
  return {
    anglesCentideg: [...s.angles] as Quad,
    windowPs: s.window,
    delayPs: s.delay,
    pumpMicrowatts: s.pump,
    biasMv: [...s.bias] as Quad,
  };
}

/** A verification run as the profile records it. */
function verification(v: VerifyResult) {
  return {
    trials: v.trials,
    lostTrials: v.lostTrials,
    s: v.s,
    sError: v.sError,
    correlators: v.correlators,
    bitsPerTrial: v.bitsPerTrial,
    quantumBitsPerTrial: v.quantumBitsPerTrial,
    counts: v.tally.counts as [Quad, Quad, Quad, Quad],
    singles: v.tally.singles,
    doublesA: v.tally.doublesA,
    doublesB: v.tally.doublesB,
    settings: {
      anglesCentideg: v.settings.anglesCentideg,
      windowPs: v.settings.windowPs,
      delayPs: v.settings.delayPs,
      pumpMicrowatts: v.settings.pumpMicrowatts,
      biasMv: v.settings.biasMv,
    },
    uncalibrated: v.settings.uncalibrated,
  };
}
