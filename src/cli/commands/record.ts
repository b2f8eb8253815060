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
import type { SeedReference } from '../../record/format.ts';
import { seedReference } from '../../record/session.ts';
import { recordTrialRun } from '../../record/trial-run.ts';
import type { CommandIo } from '../framework.ts';
import { count, decimal, parseCommandLine, pathValue, validateOption, type ParsedValues } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, type DeviceSelection } from '../device-options.ts';
import { openRecordedDevice } from '../recorded-device.ts';
import { sameFile } from '../certified-sink.ts';
import { outputOptionSpecs } from '../stream-options.ts';
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

export const recordOptionSpecs = {
  ...deviceOptionSpecs,
  ...outputOptionSpecs,
  trials: { type: 'string' },
  seconds: { type: 'string' },
  rate: { type: 'string' },
  'embed-seed': { type: 'boolean' },
} as const;

/** What a record command asks for, checked: the options as `epqrng record` parses them (the package API's too). */
export interface RecordSettings {
  out: string;
  limitTrials: number;
  seconds: number;
  rateTrialsPerS: number;
  extractorSeed: SeedReference | null;
}

export function recordSettings(values: ParsedValues<typeof recordOptionSpecs>): RecordSettings {
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
  return { out, limitTrials, seconds, rateTrialsPerS, extractorSeed: seedOf(values, out) };
}

/** The header's reference to --extractor-seed FILE (read now: a missing file costs no run), or null. */
function seedOf(values: ParsedValues<typeof recordOptionSpecs>, out: string): SeedReference | null {
  if (values['extractor-seed'] === undefined) return null;
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
  return seedReference(bytes, { embed: Boolean(values['embed-seed']), source: seedPath });
}

/** Records one trial run as `settings` say from the selected device; resolves to the summary line. */
export async function recordSession(sel: DeviceSelection, settings: RecordSettings, argv: string[]): Promise<string> {
  const { out, extractorSeed } = settings;
  const rec = await openRecordedDevice(sel, { out, tool: 'record', commandLine: ['record', ...argv], extractorSeed });
  return recordTrialRun(rec, settings);
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, recordOptionSpecs);
  const sel = deviceSelection(values);
  io.stderr.write(`${await recordSession(sel, recordSettings(values), argv)}\n`);
  return 0;
}
