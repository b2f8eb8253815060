/**
 * `calibrate(port, options)`: takes a chip from whatever state it is in
 * (typically new: UNCALIBRATED, B's photons outside the gate, no Bell
 * violation) to its best certified rate, and returns the profile.
 *
 * Order (each step needs the ones before it):
 *   0. preflight: a RUNNING chip is stopped only with `forceStop`; then RESET
 *      (PROTOCOL 5: stop, clear faults, reload the saved calibration), so the
 *      chip is at its previous calibration;
 *   1. before: verification run of the previous calibration;
 *   2. dark: dark curves, pump off (needs nothing);
 *   3. pump: Rabi curve from A's singles (needs no gate), set P_pi;
 *   4. delay: coincidences versus gate delay, set D (every later step needs
 *      B's photons inside the gate);
 *   5. fringes: rot and V (needs coincidences);
 *   6. bias: efficiency curves (the Klyshko heralds need coincidences, and
 *      rot to make the pairs uncorrelated);
 *   7. operating-point: biases and window from the model, all settings applied;
 *   8. after: verification run of the new calibration.
 * Then SAVE_CALIBRATION if asked and the new calibration beats the previous
 * one (more certified bits per trial; or higher S when neither certifies
 * anything), else RESET: the chip is left as it was found.
 *
 * Any failure (a device error, a fault STATUS, a fit the data cannot support)
 * aborts: RESET (the chip back to IDLE with its previous calibration), then a
 * DeviceError naming the step.
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

function settingsFromStatus(s: {
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

/** Whether the new calibration beats the previous one (issue 4 Saving). */
export function beatsPrevious(
  after: { bitsPerTrial: number; s: number },
  before: { bitsPerTrial: number; s: number },
): boolean {
  if (after.bitsPerTrial > 0 || before.bitsPerTrial > 0) return after.bitsPerTrial > before.bitsPerTrial;
  return after.s > before.s;
}

export async function calibrate(port: CalibrationPort, opts: CalibrateOptions): Promise<CalibrationProfile> {
  const { plan } = opts;
  const now = opts.now ?? (() => new Date());
  const ctx = new CalibrationContext(port, opts.onProgress);
  const wallStart = Date.now();

  // ---- preflight ----
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
  const previous = settingsFromStatus(previousStatus);
  const previousUncalibrated = (previousStatus.faults & Fault.UNCALIBRATED) !== 0;

  const wallMs: Partial<Record<StepName, number>> = {};
  async function step<T>(name: StepName, body: () => Promise<T>): Promise<T> {
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
      // A refused command often means the chip went to FAULT: say which fault (PROTOCOL 4 STATUS).
      const faults = await port.getStatus().then(
        (st) => st.faults & FATAL_FAULTS,
        () => 0,
      );
      if (faults !== 0 && !cause.message.includes(describeFaults(faults))) {
        cause = new DeviceError('DEVICE_FAULT', `${cause.message} (chip fault ${describeFaults(faults)})`, { cause });
      }
      throw new CalibrationFailedError(name, cause, await resetAfterFailure(port));
    }
  }

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

  const pump: PumpResult = await step('pump', async () => {
    const r = await measurePump(ctx, plan, plan.workingWindowPs);
    await port.setPump(Math.max(1, Math.min(1000, Math.round(r.piPulseMicrowatts.value)))); // PROTOCOL 5 SET_PUMP 0..1000
    return r;
  });
  const pumpMicrowatts = Math.max(1, Math.min(1000, Math.round(pump.piPulseMicrowatts.value)));

  const delay: DelayResult = await step('delay', async () => {
    const r = await scanDelay(ctx, plan);
    await port.setDelay(Math.max(-10000, Math.min(10000, Math.round(r.fit.pathDelayPs.value)))); // PROTOCOL 5 SET_DELAY
    await port.setWindow(plan.workingWindowPs);
    return r;
  });
  const delayPs = Math.max(-10000, Math.min(10000, Math.round(delay.fit.pathDelayPs.value)));
  const pathDelayPs = delay.fit.pathDelayPs.value;
  const jitterPs = delay.fit.jitterPs.value;

  const fringes: FringeResult = await step('fringes', () => measureFringes(ctx, plan));
  const rotDeg = fringes.rotDeg.value;

  let bias!: BiasResult;
  let estimates!: ChipEstimates;
  bias = await step('bias', async () => {
    const bc: BiasContext = {
      dark,
      rotDeg,
      gateFraction: gateFraction(delayPs, pathDelayPs, jitterPs, plan.workingWindowPs),
      g2: g2.value,
      // First pass with A's singles at the pi pulse over a typical efficiency; refined below.
      brightness: Math.min(1, (pump.amplitude.value + pump.background.value) / 0.9),
      windowPs: plan.workingWindowPs,
      heraldBiasMv: plan.heraldBiasMv,
    };
    let r = await sweepBias(ctx, plan, bc);
    // Brightness from A's singles at the pi pulse, with the fitted efficiencies; then refit with it.
    const est0: ChipEstimates = {
      darkCurves: dark.curves,
      efficiencyCurves: r.curves,
      brightness: bc.brightness,
      g2: g2.value,
      visibility: fringes.visibility.value,
      rotDeg,
      pathDelayPs,
      jitterPs,
    };
    const brightness = brightnessFromSingles(
      est0,
      pump.amplitude.value + pump.background.value,
      workingBiasMv,
      plan.workingWindowPs,
    );
    r = { ...r, ...fitBiasSweep(r.points, { ...bc, brightness }) };
    estimates = {
      ...est0,
      efficiencyCurves: r.curves,
      brightness: brightnessFromSingles(
        { ...est0, efficiencyCurves: r.curves },
        pump.amplitude.value + pump.background.value,
        workingBiasMv,
        plan.workingWindowPs,
      ),
    };
    return r;
  });

  let op!: OperatingPoint;
  let settings!: ProfileSettings;
  await step('operating-point', async () => {
    const visibility = visibilityFromFringe(estimates, fringes.visibility.value, {
      biasMv: [plan.heraldBiasMv, plan.heraldBiasMv, plan.heraldBiasMv, plan.heraldBiasMv],
      windowPs: plan.workingWindowPs,
      delayPs,
    });
    estimates = { ...estimates, visibility };
    const maxBias = [0, 1, 2, 3].map((d) => {
      const visited = bias.points.filter((p) => p.station === (d < 2 ? 'A' : 'B')).map((p) => p.biasMv);
      return Math.max(plan.heraldBiasMv, ...visited) + 1000;
    }) as Quad;
    op = chooseOperatingPoint(estimates, delayPs, maxBias, workingBiasMv);
    settings = {
      anglesCentideg: chshAnglesCentideg(rotDeg),
      windowPs: op.windowPs,
      delayPs,
      pumpMicrowatts,
      biasMv: op.biasMv,
    };
    for (let d = 0; d < 4; d++) await port.setBias(d, settings.biasMv[d]!);
    await port.setWindow(settings.windowPs);
    await port.setDelay(settings.delayPs);
    await port.setPump(settings.pumpMicrowatts);
    await port.setAngles(settings.anglesCentideg);
    await ctx.assertHealthy();
  });

  const after = await step('after', () => verifyRun(ctx, plan.verifyAfterTrials));

  // ---- save or leave as found ----
  const better = beatsPrevious(after, before);
  let saved = false;
  let outcome: string;
  if (opts.save && better) {
    try {
      await port.saveCalibration(); // PROTOCOL 5 SAVE_CALIBRATION: stores angles, window, delay, bias, pump; clears UNCALIBRATED
    } catch (e) {
      const reset = await resetAfterFailure(port);
      throw new DeviceError(
        'CALIBRATION_FAILED',
        `calibration verified (S ${after.s.toFixed(3)}) but SAVE_CALIBRATION failed: ${e instanceof Error ? e.message : String(e)}; ${reset.ok ? 'chip reset to its previous calibration' : reset.why}`,
        { cause: e },
      );
    }
    saved = true;
    outcome = `saved: S ${after.s.toFixed(3)} beats the previous ${before.s.toFixed(3)}`;
  } else {
    await port.reset(); // PROTOCOL 5 RESET: reload the saved calibration (the chip as found)
    outcome = opts.save
      ? `not saved: S ${after.s.toFixed(3)} (${after.bitsPerTrial.toFixed(4)} bits/trial) does not beat the previous ${before.s.toFixed(3)} (${before.bitsPerTrial.toFixed(4)} bits/trial); chip reset to its previous calibration`
      : `not saved (no --save): chip reset to its previous calibration`;
  }

  const chipSteps = { ...ctx.chipMs };
  const profile: CalibrationProfile = {
    kind: 'epqrng-calibration-profile',
    version: 1,
    createdAt: now().toISOString(),
    device: {
      serial: info.serial,
      model: info.model,
      firmware: info.firmware.join('.'),
      protocol: info.protocol.join('.'),
    },
    mode: plan.mode,
    chipTimeMs: { total: Object.values(chipSteps).reduce((a, b) => a + (b ?? 0), 0), steps: chipSteps },
    wallTimeMs: { total: Date.now() - wallStart, steps: wallMs },
    previous: { ...previous, uncalibrated: previousUncalibrated },
    settings,
    saved,
    outcome,
    estimates: {
      rotDeg: fringes.rotDeg,
      visibility: { value: estimates.visibility, error: fringes.visibility.error },
      fringeVisibility: fringes.visibility,
      pathDelayPs: delay.fit.pathDelayPs,
      jitterPs: delay.fit.jitterPs,
      piPulseMicrowatts: pump.piPulseMicrowatts,
      brightness: Math.min(1, Math.max(0, estimates.brightness)),
      g2,
      g2Source: measuredG2 ? 'measured' : 'assumed',
      predictedS: op.predictedS,
      predictedBitsPerTrial: op.predictedBitsPerTrial,
    },
    steps: {
      dark: { windowPs: dark.windowPs, integrationMs: dark.integrationMs, points: dark.points, curves: dark.curves },
      pump,
      delay,
      fringes,
      bias,
      operatingPoint: { biasScan: op.biasScan, windowScan: op.windowScan },
    },
    before: verification(before),
    after: verification(after),
  };
  // The profile must match its own schema: a bug here is caught before anything is written.
  return parseProfile(profile, 'calibration profile');
}
