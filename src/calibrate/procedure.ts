/**
 * `calibrate(port, options)`: takes a chip from whatever state it is in (typically new: UNCALIBRATED, B's photons
 * outside the gate, no Bell violation) to its best certified rate, and returns the profile. More in README.md
 * (procedure.ts).
 */
import { DeviceError, isEpqError } from '../errors.ts';
import { DeviceState, FATAL_FAULTS, Fault, type InfoFrame } from '../protocol/types.ts';
import { chshAnglesCentideg } from './angles.ts';
import { CalibrationContext, describeFaults, type ProgressListener } from './context.ts';
import { darkClickProbability, gateFraction } from './models.ts';
import { STEP_TITLES, type CalibrationPlan, type StepName } from './plan.ts';
import type { CalibrationPort } from './port.ts';
import { type CalibrationProfile, type ProfileSettings, parseProfile } from './profile.ts';
import { g2FromTally } from './tally.ts';
import { darkRate, measureDarkCounts, type DarkResult } from './steps/dark.ts';
import { measurePump, type PumpResult } from './steps/pump.ts';
import { scanDelay, type DelayResult } from './steps/delay.ts';
import { measureFringes, type FringeResult } from './steps/fringes.ts';
import { fitBiasSweep, sweepBias, type BiasContext, type BiasResult } from './steps/bias.ts';
import {
  brightnessFromSingles,
  chooseOperatingPoint,
  visibilityFromFringe,
  type ChipEstimates,
  type OperatingPoint,
} from './steps/operating-point.ts';
import { verifyRun, type VerifyResult } from './steps/verify.ts';
import { assembleProfile, settingsFromStatus } from './profile-assembly.ts';
import type { Quad } from './click-model.ts';

/** PROTOCOL 7 table: g2 ranges over 0.005..0.02; its middle stands in when too few double clicks were seen. */
const ASSUMED_G2 = { value: 0.0125, error: 0.0075 };

export interface CalibrateOptions {
  plan: CalibrationPlan;
  /** Store the new calibration (SAVE_CALIBRATION) if it beats the previous one. */
  save?: boolean;
  /** Stop a chip that is running trials (or RESET one in FAULT) instead of refusing. */
  forceStop?: boolean;
  onProgress?: ProgressListener;
  /** Called when a step ends, with its chip time. */
  onStepDone?: (step: StepName, chipMs: number) => void;
  now?: () => Date;
}

/** A calibration that failed at a step; the chip was reset to its previous calibration. */
export class CalibrationFailedError extends DeviceError {
  constructor(
    readonly step: StepName,
    cause: unknown,
    /** What RESET achieved: 'ok' (IDLE, previous calibration), the faults still set, or that RESET failed. */
    readonly resetOutcome: { ok: true } | { ok: false; why: string },
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      'CALIBRATION_FAILED',
      `calibration failed at step '${step}' (${STEP_TITLES[step]}): ${why}; ${resetOutcome.ok ? 'chip reset to its previous calibration' : resetOutcome.why}`,
      { cause, detail: { step } },
    );
  }
}

/** RESET after a failed step (PROTOCOL 5: stop, clear faults, reload the saved calibration), and what it achieved. */
async function resetAfterFailure(port: CalibrationPort): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await port.reset();
  } catch (e) {
    return { ok: false, why: `RESET failed too (${e instanceof Error ? e.message : String(e)}): power-cycle the chip` };
  }
  try {
    const status = await port.getStatus();
    if (status.state !== DeviceState.IDLE || (status.faults & FATAL_FAULTS) !== 0) {
      return {
        ok: false,
        why: `the chip stays in FAULT after RESET (${describeFaults(status.faults & FATAL_FAULTS)}): fix the cause, then RESET it`,
      };
    }
  } catch (e) {
    return { ok: false, why: `no STATUS after RESET (${e instanceof Error ? e.message : String(e)})` };
  }
  return { ok: true };
}

/**
 * Whether the new calibration beats the previous one: more certified bits per trial, or higher S when neither
 * certifies.
 */
export function beatsPrevious(
  after: { bitsPerTrial: number; s: number },
  before: { bitsPerTrial: number; s: number },
): boolean {
  if (after.bitsPerTrial > 0 || before.bitsPerTrial > 0) return after.bitsPerTrial > before.bitsPerTrial;
  return after.s > before.s;
}

/** The previous calibration as preflight found it (after RESET). */
interface Preflight {
  info: InfoFrame;
  previous: ProfileSettings;
  previousUncalibrated: boolean;
}

/** Everything the steps measured, in the order they measure it. */
interface Measured {
  before: VerifyResult;
  dark: DarkResult;
  g2: { value: number; error: number };
  g2Measured: boolean;
  pump: PumpResult;
  pumpMicrowatts: number;
  delay: DelayResult;
  delayPs: number;
  fringes: FringeResult;
  bias: BiasResult;
  estimates: ChipEstimates;
  op: OperatingPoint;
  settings: ProfileSettings;
  after: VerifyResult;
}

type StepRunner = <T>(name: StepName, body: () => Promise<T>) => Promise<T>;

export async function calibrate(port: CalibrationPort, opts: CalibrateOptions): Promise<CalibrationProfile> {
  const now = opts.now ?? (() => new Date());
  const ctx = new CalibrationContext(port, opts.onProgress);
  const wallStart = Date.now();
  const found = await preflight(port, ctx, opts);
  const wallMs: Partial<Record<StepName, number>> = {};
  const m = await runSteps(ctx, opts.plan, stepRunner(port, ctx, opts, wallMs));
  const { saved, outcome } = await saveOrRestore(port, opts, m.before, m.after);
  const profile = assembleProfile({
    ...found,
    ...m,
    plan: opts.plan,
    createdAt: now(),
    chipMs: { ...ctx.chipMs },
    wallMs: { total: Date.now() - wallStart, steps: wallMs },
    saved,
    outcome,
  });
  // The profile must match its own schema: a bug here is caught before anything is written.
  return parseProfile(profile, 'calibration profile');
}

/**
 * Step 0: refuses a busy or faulty chip unless `forceStop`, stops a running
 * one, then RESET (PROTOCOL 5: stop, clear faults, reload the saved
 * calibration) and reads the previous calibration from STATUS.
 */
async function preflight(port: CalibrationPort, ctx: CalibrationContext, opts: CalibrateOptions): Promise<Preflight> {
  const info: InfoFrame = await port.getInfo();
  const found = await port.getStatus();
  if (found.state === DeviceState.RUNNING || found.state === DeviceState.MEASURING) {
    const what = found.state === DeviceState.RUNNING ? 'running trials' : 'measuring counts';
    if (!opts.forceStop)
      throw new DeviceError(
        'DEVICE_BUSY',
        `the chip is ${what}: stop it first, or pass --force-stop to let calibrate stop it`,
      );
  }
  if (found.state === DeviceState.FAULT && !opts.forceStop) {
    throw new DeviceError(
      'DEVICE_FAULT',
      `the chip is in FAULT (${describeFaults(found.faults)}): fix the cause, or pass --force-stop to RESET it first`,
    );
  }
  if (found.state === DeviceState.RUNNING) await port.stop();
  // PROTOCOL 5 RESET: stop, clear faults, reload saved calibration.
  await port.reset();
  const previousStatus = await ctx.assertHealthy().catch((e: unknown) => {
    throw new DeviceError(
      'DEVICE_FAULT',
      `the chip still reports a fault after RESET: ${e instanceof Error ? e.message : String(e)}`,
    );
  });
  return {
    info,
    previous: settingsFromStatus(previousStatus),
    previousUncalibrated: (previousStatus.faults & Fault.UNCALIBRATED) !== 0,
  };
}

/**
 * Runs one step: progress, chip and wall time, and on failure RESET and a
 * CalibrationFailedError naming the step (and the chip fault, when a refused
 * command was one: PROTOCOL 4 STATUS).
 */
function stepRunner(
  port: CalibrationPort,
  ctx: CalibrationContext,
  opts: CalibrateOptions,
  wallMs: Partial<Record<StepName, number>>,
): StepRunner {
  return async (name, body) => {
    ctx.step = name;
    const t0 = Date.now();
    ctx.progress(0, 1);
    try {
      const result = await body();
      wallMs[name] = Date.now() - t0;
      opts.onStepDone?.(name, ctx.chipMs[name] ?? 0);
      return result;
    } catch (e) {
      let cause = isEpqError(e) || e instanceof Error ? e : new Error(String(e));
      const faults = await port.getStatus().then(
        (st) => st.faults & FATAL_FAULTS,
        () => 0,
      );
      if (faults !== 0 && !cause.message.includes(describeFaults(faults))) {
        cause = new DeviceError('DEVICE_FAULT', `${cause.message} (chip fault ${describeFaults(faults)})`, { cause });
      }
      throw new CalibrationFailedError(name, cause, await resetAfterFailure(port));
    }
  };
}

/** Steps 1 to 8, in order; each applies what it found before the next one measures. */
async function runSteps(ctx: CalibrationContext, plan: CalibrationPlan, step: StepRunner): Promise<Measured> {
  const port = ctx.port;
  const before = await step('before', () => verifyRun(ctx, plan.verifyBeforeTrials));
  // From here on every measurement runs at the plan's working biases and window, whatever the previous
  // calibration was, so each step sees the same, known conditions.
  const workingBiasMv: Quad = [plan.heraldBiasMv, plan.heraldBiasMv, plan.heraldBiasMv, plan.heraldBiasMv];
  const dark: DarkResult = await step('dark', () => measureDarkCounts(ctx, plan, workingBiasMv));
  // g2 from the before run's double clicks, less the accidental ones of dark counts at its biases.
  const beforeDark = [0, 1, 2, 3].map((d) =>
    darkClickProbability(darkRate(dark.curves[d]!, before.settings.biasMv[d]!), before.settings.windowPs),
  );
  const measuredG2 = g2FromTally(before.tally, beforeDark);
  const g2 = measuredG2 ?? ASSUMED_G2;

  const pumpMicrowatts = (r: PumpResult) => Math.max(1, Math.min(1000, Math.round(r.piPulseMicrowatts.value)));
  const pump: PumpResult = await step('pump', async () => {
    const r = await measurePump(ctx, plan, plan.workingWindowPs);
    await port.setPump(pumpMicrowatts(r)); // PROTOCOL 5 SET_PUMP 0..1000
    return r;
  });
  const gateDelayPs = (r: DelayResult) => Math.max(-10000, Math.min(10000, Math.round(r.fit.pathDelayPs.value)));
  const delay: DelayResult = await step('delay', async () => {
    const r = await scanDelay(ctx, plan);
    await port.setDelay(gateDelayPs(r)); // PROTOCOL 5 SET_DELAY
    await port.setWindow(plan.workingWindowPs);
    return r;
  });
  const delayPs = gateDelayPs(delay);
  const fringes: FringeResult = await step('fringes', () => measureFringes(ctx, plan));
  const measured = { dark, g2: g2.value, pump, delay, delayPs, fringes, workingBiasMv };
  const { bias, estimates } = await step('bias', () => calibrateBias(ctx, plan, measured));
  const chosen = await step('operating-point', () => applyOperatingPoint(ctx, plan, measured, bias, estimates));
  const after = await step('after', () => verifyRun(ctx, plan.verifyAfterTrials));
  return {
    ...{ before, dark, g2, g2Measured: measuredG2 !== undefined, pump, pumpMicrowatts: pumpMicrowatts(pump) },
    ...{ delay, delayPs, fringes, bias, after },
    ...chosen,
  };
}

/** What the bias and operating-point steps need from the steps before them. */
interface EarlierSteps {
  dark: DarkResult;
  g2: number;
  pump: PumpResult;
  delay: DelayResult;
  delayPs: number;
  fringes: FringeResult;
  workingBiasMv: Quad;
}

/**
 * Step 6: efficiency curves from a bias sweep, fitted once with a first
 * brightness guess, then again with the brightness that A's singles at the
 * pi pulse imply for the fitted efficiencies.
 */
async function calibrateBias(
  ctx: CalibrationContext,
  plan: CalibrationPlan,
  e: EarlierSteps,
): Promise<{ bias: BiasResult; estimates: ChipEstimates }> {
  const { pathDelayPs, jitterPs } = e.delay.fit;
  const rotDeg = e.fringes.rotDeg.value;
  const singlesAtPi = e.pump.amplitude.value + e.pump.background.value;
  const bc: BiasContext = {
    dark: e.dark,
    rotDeg,
    gateFraction: gateFraction(e.delayPs, pathDelayPs.value, jitterPs.value, plan.workingWindowPs),
    g2: e.g2,
    // First pass with A's singles at the pi pulse over a typical efficiency; refined below.
    brightness: Math.min(1, singlesAtPi / 0.9),
    windowPs: plan.workingWindowPs,
    heraldBiasMv: plan.heraldBiasMv,
  };
  let r = await sweepBias(ctx, plan, bc);
  const est0: ChipEstimates = {
    darkCurves: e.dark.curves,
    efficiencyCurves: r.curves,
    brightness: bc.brightness,
    g2: e.g2,
    visibility: e.fringes.visibility.value,
    rotDeg,
    pathDelayPs: pathDelayPs.value,
    jitterPs: jitterPs.value,
  };
  const brightness = brightnessFromSingles(est0, singlesAtPi, e.workingBiasMv, plan.workingWindowPs);
  r = { ...r, ...fitBiasSweep(r.points, { ...bc, brightness }) };
  const withCurves = { ...est0, efficiencyCurves: r.curves };
  const refined = brightnessFromSingles(withCurves, singlesAtPi, e.workingBiasMv, plan.workingWindowPs);
  return { bias: r, estimates: { ...withCurves, brightness: refined } };
}

/**
 * Step 7: the visibility at the working settings, biases and window from the
 * model (each bias at most 1 V above the highest its sweep visited: no blind
 * extrapolation), and every setting applied to the chip.
 */
async function applyOperatingPoint(
  ctx: CalibrationContext,
  plan: CalibrationPlan,
  e: EarlierSteps,
  bias: BiasResult,
  fitted: ChipEstimates,
): Promise<{ op: OperatingPoint; settings: ProfileSettings; estimates: ChipEstimates }> {
  const port = ctx.port;
  const visibility = visibilityFromFringe(fitted, e.fringes.visibility.value, {
    biasMv: e.workingBiasMv,
    windowPs: plan.workingWindowPs,
    delayPs: e.delayPs,
  });
  const estimates = { ...fitted, visibility };
  const maxBias = [0, 1, 2, 3].map((d) => {
    const visited = bias.points.filter((p) => p.station === (d < 2 ? 'A' : 'B')).map((p) => p.biasMv);
    return Math.max(plan.heraldBiasMv, ...visited) + 1000;
  }) as Quad;
  const op = chooseOperatingPoint(estimates, e.delayPs, maxBias, e.workingBiasMv);
  const settings: ProfileSettings = {
    anglesCentideg: chshAnglesCentideg(e.fringes.rotDeg.value),
    windowPs: op.windowPs,
    delayPs: e.delayPs,
    pumpMicrowatts: Math.max(1, Math.min(1000, Math.round(e.pump.piPulseMicrowatts.value))),
    biasMv: op.biasMv,
  };
  for (let d = 0; d < 4; d++) await port.setBias(d, settings.biasMv[d]!);
  await port.setWindow(settings.windowPs);
  await port.setDelay(settings.delayPs);
  await port.setPump(settings.pumpMicrowatts);
  await port.setAngles(settings.anglesCentideg);
  await ctx.assertHealthy();
  return { op, settings, estimates };
}

/**
 * SAVE_CALIBRATION when asked and the new calibration beats the previous one,
 * else RESET: the chip is left as it was found.
 */
async function saveOrRestore(
  port: CalibrationPort,
  opts: CalibrateOptions,
  before: VerifyResult,
  after: VerifyResult,
): Promise<{ saved: boolean; outcome: string }> {
  if (opts.save && beatsPrevious(after, before)) {
    try {
      // PROTOCOL 5 SAVE_CALIBRATION: stores angles, window, delay, bias, pump; clears UNCALIBRATED
      await port.saveCalibration();
    } catch (e) {
      const reset = await resetAfterFailure(port);
      throw new DeviceError(
        'CALIBRATION_FAILED',
        `calibration verified (S ${after.s.toFixed(3)}) but SAVE_CALIBRATION failed: ${e instanceof Error ? e.message : String(e)}; ${reset.ok ? 'chip reset to its previous calibration' : reset.why}`,
        { cause: e },
      );
    }
    return { saved: true, outcome: `saved: S ${after.s.toFixed(3)} beats the previous ${before.s.toFixed(3)}` };
  }
  await port.reset(); // PROTOCOL 5 RESET: reload the saved calibration (the chip as found)
  const outcome = opts.save
    ? `not saved: S ${after.s.toFixed(3)} (${after.bitsPerTrial.toFixed(4)} bits/trial) does not beat the previous ${before.s.toFixed(3)} (${before.bitsPerTrial.toFixed(4)} bits/trial); chip reset to its previous calibration`
    : `not saved (no --save): chip reset to its previous calibration`;
  return { saved: false, outcome };
}
