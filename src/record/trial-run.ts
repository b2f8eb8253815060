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
import type { SessionRecorder } from './session.ts';
import { parseNumber, type NumberKind } from '../math/numbers.ts';

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
  // The grammar `epqrng record` read them with (2^24, 16M, 1e7 ...); a value it could not read asks for nothing (0),
  // and replay then reports the divergence at START.
  const num = (v: unknown, kind: NumberKind): number => {
    if (typeof v !== 'string') return 0;
    const r = parseNumber(v, { kind, min: 0, max: Number.MAX_SAFE_INTEGER });
    return r.ok ? r.value : 0;
  };
  return {
    limitTrials: num(values.trials, 'count'),
    rateTrialsPerS: num(values.rate, 'count'),
    seconds: num(values.seconds, 'real'),
  };
}

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

/**
 * `epqrng record`'s session on a device whose link `recorder` records: one
 * trial run (START with `limitTrials`, or STOP after `seconds` of chip time
 * on the in-process simulator, wall time otherwise; SIGINT stops it too),
 * then the recording closed. Resolves to the one-line summary.
 */
export async function recordTrialRun(
  { device, recorder, chipClockMs }: { device: Device; recorder: SessionRecorder; chipClockMs?: () => number },
  {
    limitTrials,
    rateTrialsPerS,
    seconds,
    out,
  }: { limitTrials: number; rateTrialsPerS: number; seconds: number; out: string },
): Promise<string> {
  let stopReason = '';
  let stopRun: (() => void) | undefined;
  const onSignal = (): void => {
    stopReason = ' (interrupted)';
    stopRun?.();
  };
  let timer: NodeJS.Timeout | undefined;
  process.once('SIGINT', onSignal);
  const t0Wall = performance.now();
  let t0Chip = 0;
  try {
    const session = trialRun(device, {
      limitTrials,
      rateTrialsPerS,
      shouldStop: () => seconds > 0 && chipClockMs !== undefined && chipClockMs() - t0Chip >= seconds * 1000,
      onRun: (stop) => {
        stopRun = stop;
        t0Chip = chipClockMs?.() ?? 0;
        if (seconds > 0 && !chipClockMs) timer = setTimeout(stop, seconds * 1000);
      },
    });
    let result = await session.next();
    while (!result.done) result = await session.next();
    const s = result.value;
    const elapsed = chipClockMs
      ? `${((chipClockMs() - t0Chip) / 1000).toFixed(3)} s of chip time`
      : `${((performance.now() - t0Wall) / 1000).toFixed(3)} s`;
    await device.close();
    recorder.close();
    return `recorded ${s.trials} trials (${s.trialsFrames} TRIALS frames, ${s.gapFrames} flagged GAP, ${s.linkLostFrames} lost on the link, ${s.invalidFrames} invalid) in ${elapsed}${stopReason} to ${out} (${formatBytes(recorder.writer.stats.fileBytes)})`;
  } finally {
    clearTimeout(timer);
    process.removeListener('SIGINT', onSignal);
    await device.close().catch(() => undefined);
    recorder.close();
  }
}
