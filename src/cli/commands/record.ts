/**
 * `epqrng record [device options] (--trials N | --seconds S) --out FILE`:
 * records one trial run, both directions of the link byte for byte, for
 * `epqrng replay` and `epqrng verify` (src/record/format.ts).
 *
 * The session: open (GET_INFO), START (with limit N for --trials: the chip
 * stops by itself, PROTOCOL 5 START), read every TRIALS frame, STOP and its
 * ACK (for --seconds: after S seconds of chip time on the in-process
 * simulator, wall time otherwise). Nothing is certified here.
 */
import { InputError, UsageError } from '../../errors.ts';
import { seedReference } from '../../record/session.ts';
import { trialRun } from '../../record/trial-run.ts';
import type { CommandIo } from '../framework.ts';
import { count, decimal, parseCommandLine, pathValue, validateOption } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection } from '../device-options.ts';
import { openRecordedDevice } from '../recorded-device.ts';
import { sameFile } from '../certified-sink.ts';
import { readFileSync } from 'node:fs';

export const usage = `usage: epqrng record [device options] (--trials N | --seconds S) --out FILE
  --trials N              START with a limit of N trials (the chip stops by itself), then STOP;
                          1e7, 2^24, 10M = 10 x 2^20, 10MB = 10^7
  --seconds S             START, then STOP after S seconds (chip time on --simulate, wall time otherwise)
  -o, --out FILE          the recording (created or overwritten)
  --rate R                trials/s asked of the chip (default: the chip's own)
  --extractor-seed FILE   name this extractor seed in the header (its SHA-256), for a later replay
  --embed-seed            also embed the seed bytes in the header (anyone holding the file can then verify)

On --simulate the records are stamped with chip time (the virtual clock), and
SOURCE_DATE_EPOCH, when set, is the recorded start time: the same command then
writes the same file byte for byte.

${deviceOptionsUsage}`;

const specs = {
  ...deviceOptionSpecs,
  trials: { type: 'string' },
  seconds: { type: 'string' },
  out: { type: 'string', short: 'o' },
  rate: { type: 'string' },
  'extractor-seed': { type: 'string' },
  'embed-seed': { type: 'boolean' },
} as const;

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const sel = deviceSelection(values);
  if ((values.trials === undefined) === (values.seconds === undefined)) {
    throw new UsageError('pass exactly one of --trials N and --seconds S');
  }
  if (values.out === undefined) throw new UsageError('--out FILE is required');
  const out = validateOption('out', pathValue, values.out);
  // PROTOCOL 5 START: limit is a u64; 2^53 - 1 is this host's ceiling (types.ts).
  const limitTrials =
    values.trials !== undefined ? validateOption('trials', count(1, Number.MAX_SAFE_INTEGER), values.trials) : 0;
  const seconds = values.seconds !== undefined ? validateOption('seconds', decimal(0.001, 1e6), values.seconds) : 0;
  // PROTOCOL 5 START: rate u32 trials/s, 0 = the chip's default.
  const rateTrialsPerS = values.rate !== undefined ? validateOption('rate', count(1, 0xffffffff), values.rate) : 0;
  if (values['embed-seed'] && values['extractor-seed'] === undefined)
    throw new UsageError('--embed-seed needs --extractor-seed FILE');
  let extractorSeed = null;
  if (values['extractor-seed'] !== undefined) {
    const seedPath = validateOption('extractor-seed', pathValue, values['extractor-seed']);
    let bytes: Buffer;
    try {
      bytes = readFileSync(seedPath);
    } catch (e) {
      throw new InputError(
        'SEED_UNREADABLE',
        `cannot read extractor seed file ${seedPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    // The recording is created (truncated) below: never over the seed file it names.
    if (sameFile(out, seedPath))
      throw new UsageError(
        `--out ${out} is the same file as --extractor-seed ${seedPath}: writing it would destroy the other`,
      );
    extractorSeed = seedReference(bytes, { embed: Boolean(values['embed-seed']), source: seedPath });
  }

  const { device, recorder, chipClockMs } = await openRecordedDevice(sel, {
    out,
    tool: 'record',
    commandLine: ['record', ...argv],
    extractorSeed,
  });
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
    io.stderr.write(
      `recorded ${s.trials} trials (${s.trialsFrames} TRIALS frames, ${s.gapFrames} flagged GAP, ${s.linkLostFrames} lost on the link, ${s.invalidFrames} invalid) in ${elapsed}${stopReason} to ${out} (${formatBytes(recorder.writer.stats.fileBytes)})\n`,
    );
    return 0;
  } finally {
    clearTimeout(timer);
    process.removeListener('SIGINT', onSignal);
    await device.close().catch(() => undefined);
    recorder.close();
  }
}
