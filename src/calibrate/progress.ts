/**
 * Terminal output of `epqrng calibrate`: a progress bar per step, redrawn in
 * place on stderr (only when stderr is a terminal), and the closing summary.
 */
import { STEP_TITLES, type StepName } from './plan.ts';
import type { CalibrationProfile } from './profile.ts';

const BAR_WIDTH = 28;

export function progressLine(step: StepName, done: number, total: number, chipMs: number): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(frac * BAR_WIDTH);
  const bar = '#'.repeat(filled) + '.'.repeat(BAR_WIDTH - filled);
  return `${STEP_TITLES[step].padEnd(30)} [${bar}] ${String(Math.round(frac * 100)).padStart(3)}%  chip ${(chipMs / 1000).toFixed(1).padStart(5)} s`;
}

/** Draws one bar per step on a TTY stream: the current step's line is redrawn; a finished step keeps its line. */
export class ProgressBars {
  private current: StepName | undefined;
  private lastDraw = 0;

  private chipMs = 0;

  constructor(private readonly out: NodeJS.WritableStream) {}

  update(step: StepName, done: number, total: number, chipMs: number): void {
    this.chipMs = chipMs;
    if (this.current !== undefined && this.current !== step) this.out.write('\n');
    const now = Date.now();
    if (this.current === step && done < total && now - this.lastDraw < 50) return;
    this.current = step;
    this.lastDraw = now;
    this.out.write(`\r${progressLine(step, done, total, chipMs)}`);
  }

  finish(step: StepName, chipMs: number = this.chipMs): void {
    this.out.write(`\r${progressLine(step, 1, 1, chipMs)}\n`);
    this.current = undefined;
  }

  /** Ends a line left open by a failure. */
  abort(): void {
    if (this.current !== undefined) this.out.write('\n');
    this.current = undefined;
  }
}

/** The closing summary: what was found, what it gives, what happened to the chip. */
export function summaryText(p: CalibrationProfile): string {
  const e = p.estimates;
  const lines = [
    `calibrated ${p.device.serial} (${p.mode}): ${p.outcome}`,
    `  S before ${p.before.s.toFixed(3)} +- ${p.before.sError.toFixed(3)} (${p.before.bitsPerTrial.toFixed(4)} bits/trial), after ${p.after.s.toFixed(3)} +- ${p.after.sError.toFixed(3)} (${p.after.bitsPerTrial.toFixed(4)} bits/trial)`,
    `  rot ${e.rotDeg.value.toFixed(2)} +- ${e.rotDeg.error.toFixed(2)} deg, V ${e.visibility.value.toFixed(4)}, D ${e.pathDelayPs.value.toFixed(1)} +- ${e.pathDelayPs.error.toFixed(1)} ps, sigma ${e.jitterPs.value.toFixed(1)} +- ${e.jitterPs.error.toFixed(1)} ps, P_pi ${e.piPulseMicrowatts.value.toFixed(1)} +- ${e.piPulseMicrowatts.error.toFixed(1)} uW`,
    `  settings: angles ${p.settings.anglesCentideg.join(' ')} cdeg, window ${p.settings.windowPs} ps, delay ${p.settings.delayPs} ps, pump ${p.settings.pumpMicrowatts} uW, bias ${p.settings.biasMv.join(' ')} mV`,
    `  chip time ${(p.chipTimeMs.total / 1000).toFixed(1)} s, wall ${(p.wallTimeMs.total / 1000).toFixed(1)} s`,
  ];
  return `${lines.join('\n')}\n`;
}
