/**
 * `epqrng simulate --pty PATH [...]`: serves a simulated EPQ-1 on a real
 * pseudo-terminal (through socat) for other processes, e.g.
 *   epqrng simulate --pty /tmp/epq &  epqrng info --port /tmp/epq
 * The chip runs in real time at its trial rate. Serves until SIGINT/SIGTERM
 * (exit 0, socat ended too), or until its PTY bridge dies (exit 3, saying why).
 */
import { DeviceError, UsageError } from '../../errors.ts';
import { servePty } from '../../simulator/index.ts';
import type { CommandIo } from '../framework.ts';
import { integer, oneOf, parseCommandLine, pathValue, validateOption } from '../options.ts';
import { parseFaults, SIM_MODES } from '../device-options.ts';

export const usage = `usage: epqrng simulate --pty PATH [--seed N] [--mode MODE] [--fault K=V ...] [--flash FILE] [--uncalibrated]
  --pty PATH        where to create the chip's serial port (a symlink to a PTY)
  --seed N          seeds the chip's hidden values and serial number (default 1)
  --mode MODE       honest, lhv, postselect, tamper or biased (default honest)
  --fault K=V       fault injection, repeatable: byteDropRate, byteFlipRate,
                    byteDuplicateRate, frameLossRate, overflowRate (probabilities),
                    latchedDetector (0..3), temperatureCentidegrees, pumpUnlocked, atMs
  --flash FILE      the chip's flash (saved calibration) persisted in FILE
  --uncalibrated    a factory-new chip; without it the chip starts calibrated,
                    as if 'epqrng calibrate --save' had been run`;

const specs = {
  pty: { type: 'string' },
  seed: { type: 'string' },
  mode: { type: 'string' },
  fault: { type: 'string', multiple: true },
  flash: { type: 'string' },
  uncalibrated: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  if (values.pty === undefined) throw new UsageError('--pty PATH is required');
  const path = validateOption('pty', pathValue, values.pty);
  const seed = validateOption('seed', integer(0, 0xffffffff), values.seed ?? '1');
  const mode = validateOption('mode', oneOf(SIM_MODES), values.mode ?? 'honest');
  const faults = parseFaults('fault', values.fault ?? []);
  const server = await servePty(path, {
    seed,
    mode,
    calibrated: !values.uncalibrated,
    faults,
    ...(values.flash !== undefined ? { flashFile: validateOption('flash', pathValue, values.flash) } : {}),
  }).catch((e: unknown) => {
    throw new DeviceError(
      'PTY_FAILED',
      `cannot serve a simulated chip on ${path}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  });
  io.stdout.write(`${server.path}\n`);
  io.stderr.write(
    `serving simulated EPQ-1 ${server.chip.serial} (${mode}, seed ${seed}) on ${server.path}; Ctrl-C to stop\n`,
  );
  // Serves until SIGINT/SIGTERM (exit 0; the bridge is ended too) or until the bridge ends by itself (exit 3, why).
  let onSignal: (() => void) | undefined;
  const signalled = new Promise<'signal'>((resolve) => (onSignal = () => resolve('signal')));
  process.once('SIGINT', onSignal!);
  process.once('SIGTERM', onSignal!);
  try {
    const why = await Promise.race([signalled, server.ended]);
    if (why !== 'signal') {
      throw new DeviceError('PTY_ENDED', `stopped serving ${server.path}: the PTY bridge ended: ${why}`);
    }
  } finally {
    process.off('SIGINT', onSignal!);
    process.off('SIGTERM', onSignal!);
    await server.close();
  }
  return 0;
}
