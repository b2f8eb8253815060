/**
 * The host side of an `epqrng record` session, shared by the live command and
 * its replay so that both send the same commands at the same bytes:
 *
 *   START (limit N, or none) -> TRIALS ... -> [STOP when told] -> run ends
 *   -> STOP and its ACK (a no-op on a chip that stopped at its limit)
 *
 * Yields the run's event batches; returns the run's stats.
 */
import type { Device, RunEvent, RunStats } from '../device/index.ts';
import { parseArgs } from 'node:util';

export interface TrialRunOptions {
  /** PROTOCOL 5 START limit: the chip stops by itself after this many trials (0: until STOP). */
  limitTrials: number;
  /** PROTOCOL 5 START rate, trials/s (0: the chip's default). */
  rateTrialsPerS: number;
  /** Asked after each batch; true stops the run (STOP). */
  shouldStop?: () => boolean;
  /** Lets the caller stop the run from outside (a timer, a signal, a replay's host turn). */
  onRun?: (stop: () => void) => void;
}

export async function* trialRun(
  device: Device,
  { limitTrials, rateTrialsPerS, shouldStop, onRun }: TrialRunOptions,
): AsyncGenerator<RunEvent[], RunStats, void> {
  const run = await device.start({ limitTrials, rateTrialsPerS });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Run.stop() is a no-op once the run has ended (limit reached).
    void run.stop().catch(() => undefined);
  };
  onRun?.(stop);
  for await (const batch of run) {
    yield batch;
    if (!stopping && shouldStop?.()) stop();
  }
  // Every session ends with STOP and its ACK.
  await device.stop();
  return run.stats;
}

/** The run options an `epqrng record` command line asked for. */
export function trialRunOptionsFrom(commandLine: readonly string[]): {
  limitTrials: number;
  rateTrialsPerS: number;
  seconds: number;
} {
  const args = commandLine[0] === 'record' ? commandLine.slice(1) : [...commandLine];
  const { values } = parseArgs({
    args,
    strict: false,
    allowPositionals: true,
    options: { trials: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string' } },
  });
  const num = (v: unknown): number =>
    typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : 0;
  return { limitTrials: num(values.trials), rateTrialsPerS: num(values.rate), seconds: num(values.seconds) };
}
