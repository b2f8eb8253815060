/**
 * `epqrng replay FILE [stream options]`: certifies a recorded session again,
 * through the same pipeline as the live run (src/output/pipeline.ts), so
 * that with the same extractor seed it writes exactly the live run's bytes
 * and certificate lines.
 *
 * What FILE can be (src/record/format.ts):
 * - a `stream --record` recording: the Device runs `certifiedStream` against
 *   the replay binding with the recorded options (--bytes, --eps, ...), every
 *   host command checked against the recording;
 * - an `epqrng record` recording: record's own host logic replays the run,
 *   the stream defaults (or the options given here) certify it;
 * - a raw capture (no recording magic: device-to-host bytes from any tool):
 *   every trial in it is certified.
 * Options given here override the recorded ones.
 *
 * Also exports the replay pipeline for `epqrng verify`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Device } from '../../device/index.ts';
import { DeviceError, InputError, UsageError } from '../../errors.ts';
import { loadSeedFile, resolveExtractorSeed, seedSha256 } from '../../extract/index.ts';
import { certifiedStream, certifyEvents, type StreamProgress } from '../../output/certified-stream.ts';
import { seedBitsForBlock } from '../../output/config.ts';
import type { ChainedBlock } from '../../output/pipeline.ts';
import type { RefusedBlock } from '../../certify/index.ts';
import { openRecording } from '../../record/reader.ts';
import type { RecordingHeader } from '../../record/format.ts';
import { createReplayBinding, EndOfRecordingError } from '../../record/replay-binding.ts';
import { captureEvents, findCaptureInfo, recordedRunEvents } from '../../record/replay.ts';
import { escapeControls, type CommandIo } from '../framework.ts';
import { CertifiedSink, type NamedPath } from '../certified-sink.ts';
import { parseCommandLine, pathValue, validateOption, type ParsedValues } from '../options.ts';
import {
  refusedEveryBlock,
  streamOptionSpecs,
  streamOptionsUsage,
  streamSettings,
  type StreamSettings,
} from '../stream-options.ts';
import { parseArgs } from 'node:util';

export const summary = "certify a recording or raw capture again: the live run's bytes and certificates";
export const usage = `usage: epqrng replay FILE [--bytes N] [--out FILE|-] [--certs FILE] [--eps E] [--adversary A]
                     [--block-trials N] [--extractor-seed FILE] [--max-refused K]
                     [--settings internal|host] [--settings-seed FILE] [--test-rate GAMMA]
  FILE                    a recording (stream --record, epqrng record) or a raw capture of device bytes
  --bytes N               stop after N certified bytes (default: as recorded; a raw capture: all of it)
  --out FILE|-            where the bytes go (default -: stdout)
  --settings, --settings-seed, --test-rate
                          host-supplied settings, as for stream (default: as recorded); a
                          host-mode run replays only with its settings seed
${streamOptionsUsage}
Options not given are taken from the recorded command line (stream recordings),
else the stream defaults. The extractor seed must be the live run's to reproduce
its bytes: --extractor-seed FILE, the seed embedded in the recording, or the
seed file the recording names if it is here (checked by its SHA-256).`;

/** The same options as stream's (stream-options.ts), given here or taken from the recording. */
export const replayOptionSpecs = streamOptionSpecs;

export type ReplayKind = 'stream' | 'record' | 'raw';

export interface ReplayPlan {
  file: string;
  kind: ReplayKind;
  header: RecordingHeader | null;
  /** The options translated; settings.pipeline.bytes is Infinity: until the recording ends. */
  settings: StreamSettings;
  seed: Uint8Array;
  /** Where the seed came from, and whether it is the recorded one. */
  seedNote: string;
  device: { serial: string; firmware: string };
}

export interface ReplayHooks {
  onWarning?: (message: string) => void;
  onCertificate?: (line: string, block: ChainedBlock) => void;
  onRefused?: (block: RefusedBlock) => void;
}

/**
 * The replay options of a recorded `epqrng stream` command line. Lenient:
 * options this version does not know (a later stream's) are skipped, not
 * refused; if they changed what the host sent, the replay diverges and says
 * where.
 */
function recordedStreamValues(header: RecordingHeader): ParsedValues<typeof replayOptionSpecs> {
  const argv = header.commandLine[0] === 'stream' ? header.commandLine.slice(1) : [...header.commandLine];
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(replayOptionSpecs)) options[name] = { type: spec.type };
  // Optional-value options (--simulate[=SEED]) must not swallow the next word.
  const args = argv.map((a) => (a === '--simulate' ? '--simulate=1' : a));
  const { values } = parseArgs({ args, options, strict: false, allowPositionals: true });
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(replayOptionSpecs)) if (typeof values[k] === 'string') out[k] = values[k];
  return out as ParsedValues<typeof replayOptionSpecs>;
}

/**
 * Decides how to replay `file`: its kind, the options (given here, else
 * recorded, else defaults) and the extractor seed.
 */
export async function planReplay(
  file: string,
  values: ParsedValues<typeof replayOptionSpecs>,
  { requireRecordedSeed = false, onWarning }: { requireRecordedSeed?: boolean; onWarning?: (m: string) => void } = {},
): Promise<ReplayPlan> {
  const recording = await openRecording(file);
  const header = recording.header;
  const rawKind = recording.kind;
  await recording.close();
  let kind: ReplayKind;
  if (rawKind === 'raw') kind = 'raw';
  else if (header!.tool === 'stream') kind = 'stream';
  else if (header!.tool === 'record') kind = 'record';
  else
    throw new UsageError(
      `${file} was recorded by '${header!.tool}': it holds no trial run to certify (replay it with the host code that made it)`,
    );

  const merged: ParsedValues<typeof replayOptionSpecs> =
    kind === 'stream' ? { ...pick(recordedStreamValues(header!)), ...defined(values) } : { ...values };
  const settings = streamSettings(merged);
  if (settings.pipeline.hostSettings && kind !== 'stream')
    throw new UsageError(
      `--settings host replays only stream recordings (${file} is a ${kind === 'raw' ? 'raw capture' : `${kind} recording`})`,
    );
  const seedBits = seedBitsForBlock(settings.pipeline.blockTrials);
  const recorded = header?.extractorSeed ?? null;
  let seed: Uint8Array;
  let seedNote: string;
  // The seed file given here wins; a recorded file name is only a hint (it may not exist here).
  const givenSeedFile = values['extractor-seed'];
  if (givenSeedFile !== undefined) {
    seed = loadSeedFile(validateOption('extractor-seed', pathValue, givenSeedFile), seedBits);
    seedNote = `extractor seed from ${givenSeedFile}`;
    // The header names the seed as used (stream: the bits the extractor reads) or as a whole file (record).
    if (recorded && seedSha256(seed) !== recorded.sha256 && sha256File(givenSeedFile) !== recorded.sha256) {
      const msg = `extractor seed ${givenSeedFile} (SHA-256 ${seedSha256(seed)}) is not the recorded one (SHA-256 ${recorded.sha256})`;
      if (requireRecordedSeed) throw new InputError('SEED_MISMATCH', msg);
      onWarning?.(`${msg}: the bytes and certificates will differ from the live run's`);
    }
  } else if (recorded?.bytes !== undefined) {
    const embedded = Buffer.from(recorded.bytes, 'base64');
    if (embedded.length * 8 < seedBits)
      throw new InputError(
        'SEED_TOO_SHORT',
        `recording header: field extractorSeed.bytes: ${seedBits} bits needed, ${embedded.length * 8} bits embedded`,
      );
    seed = loadSeedFile('(embedded)', seedBits, () => embedded);
    if (seedSha256(seed) !== recorded.sha256 && seedSha256(embedded) !== recorded.sha256) {
      throw new InputError(
        'RECORDING_HEADER',
        'recording header: field extractorSeed.bytes: does not hash to extractorSeed.sha256',
      );
    }
    seedNote = 'extractor seed embedded in the recording';
  } else if (
    recorded?.source !== undefined &&
    existsSync(recorded.source) &&
    seedMatches(recorded.source, seedBits, recorded.sha256)
  ) {
    // The seed file the recording names is here, and it is the same seed: use it.
    seed = loadSeedFile(recorded.source, seedBits);
    seedNote = `extractor seed from ${recorded.source} (named in the recording)`;
  } else if (recorded) {
    throw new UsageError(
      `the recording's extractor seed (SHA-256 ${recorded.sha256}${recorded.source ? `, file ${recorded.source}` : ''}) is not embedded in it: pass --extractor-seed FILE`,
    );
  } else if (requireRecordedSeed) {
    throw new UsageError(
      `${file} names no extractor seed: pass --extractor-seed FILE (the one the certificates were made with)`,
    );
  } else {
    seed = resolveExtractorSeed({ seedBits });
    seedNote = 'fresh extractor seed from the OS CSPRNG';
  }

  let device: { serial: string; firmware: string };
  if (header?.device) device = { serial: header.device.serial, firmware: header.device.firmware.join('.') };
  else {
    const info = kind === 'raw' ? await findCaptureInfo(file) : null;
    device = info
      ? { serial: info.serial, firmware: info.firmware.join('.') }
      : { serial: 'unknown (raw capture)', firmware: '0.0.0' };
  }
  return { file, kind, header, settings, seed, seedNote, device };
}

/** Whether the seed file hashes to `sha256` (as the bits the extractor reads, or as a whole file). */
function seedMatches(path: string, seedBits: number, sha256: string): boolean {
  try {
    return seedSha256(loadSeedFile(path, seedBits)) === sha256 || sha256File(path) === sha256;
  } catch {
    return false;
  }
}

/** SHA-256 of a whole file (hex), or null when it cannot be read (loadSeedFile has said why). */
function sha256File(path: string): string | null {
  try {
    return seedSha256(readFileSync(path));
  } catch {
    return null;
  }
}

/** Only the replay options of a recorded command line. */
function pick(v: Record<string, unknown>): ParsedValues<typeof replayOptionSpecs> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(replayOptionSpecs))
    if (v[k] !== undefined && k !== 'out' && k !== 'certs' && k !== 'extractor-seed') out[k] = v[k];
  return out as ParsedValues<typeof replayOptionSpecs>;
}

function defined<T extends object>(v: T): Partial<T> {
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) as Partial<T>;
}

/**
 * The replayed pipeline: certified bytes, as the live run yielded them.
 * A recording cut by a crash ends where it was cut (the warning says where).
 */
export async function* replayBytes(
  plan: ReplayPlan,
  hooks: ReplayHooks = {},
): AsyncGenerator<Uint8Array, StreamProgress | undefined, void> {
  const { onWarning, onCertificate, onRefused } = hooks;
  const delivery = { ...(onCertificate ? { onCertificate } : {}), ...(onRefused ? { onRefused } : {}) };
  const options = { ...plan.settings.pipeline, seed: plan.seed };
  if (plan.kind === 'raw') {
    return yield* certifyEvents(captureEvents(plan.file, { onWarning }), options, { device: plan.device }, delivery);
  }
  if (plan.kind === 'record') {
    const { events, session } = recordedRunEvents(plan.file, plan.header!.commandLine, { onWarning });
    try {
      return yield* certifyEvents(events, options, { device: plan.device }, delivery);
    } catch (e) {
      throw session.divergence ?? e;
    }
  }
  // A stream recording: the live host code, against the recording.
  let cut = false;
  const session = createReplayBinding(plan.file, {
    atEnd: 'disconnect',
    onWarning: (m) => {
      cut = true;
      onWarning?.(m);
    },
  });
  let device: Device | undefined;
  try {
    device = await Device.open({ path: session.path, binding: session.binding as never });
    return yield* certifiedStream(device, { ...options, ...delivery });
  } catch (e) {
    if (session.divergence) throw session.divergence;
    const ended = session.port?.atEnd && isEndOfRecording(e);
    if (ended && cut) return undefined; // played to the cut: the warning was given
    if (ended)
      throw new DeviceError(
        'REPLAY_ENDED',
        `${plan.file} ended before the replayed session did (the live run stopped earlier than these options ask for)`,
        { cause: e },
      );
    throw e;
  } finally {
    await device?.close().catch(() => undefined);
  }
}

function isEndOfRecording(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof EndOfRecordingError) return true;
    if (c instanceof Error && /end of the recording/.test(c.message)) return true;
  }
  return false;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, replayOptionSpecs, { minPositionals: 1, maxPositionals: 1 });
  const file = positionals[0]!;
  const outPath = validateOption('out', pathValue, values.out ?? '-');
  const certsPath = values.certs;
  if (outPath !== '-' && certsPath !== undefined && outPath === certsPath)
    throw new UsageError('--out and --certs must be different files');
  const warn = (m: string): void => void io.stderr.write(`epqrng: warning: ${escapeControls(m)}\n`);
  const plan = await planReplay(file, values, { onWarning: warn });

  // Never truncate the recording being replayed, nor a seed it needs.
  const others: NamedPath[] = [{ option: 'FILE', path: file }];
  if (values['extractor-seed'] !== undefined)
    others.push({ option: '--extractor-seed', path: values['extractor-seed'] });
  if (values['settings-seed'] !== undefined) others.push({ option: '--settings-seed', path: values['settings-seed'] });
  const sink = await CertifiedSink.open(outPath, certsPath, io.stdout, others);
  let blocksRefused = 0;
  let blocksCertified = 0;
  try {
    await sink.pump(
      replayBytes(plan, {
        onWarning: warn,
        onCertificate: (line) => {
          blocksCertified++;
          sink.onCertificate(line);
        },
        onRefused: (b) => {
          blocksRefused++;
          io.stderr.write(`block ${b.blockIndex} refused (${b.test}): ${b.reason}\n`);
        },
      }),
    );
  } finally {
    await sink.close();
  }
  const bytesOut = sink.bytes;
  io.stderr.write(
    `replayed ${plan.kind === 'raw' ? 'raw capture' : `${plan.kind} recording`} ${file}: ${bytesOut} certified bytes, ${blocksRefused} blocks refused (${plan.seedNote})\n`,
  );
  // Every block seen refused is a refused certification (exit 1), whatever --max-refused and --bytes say.
  refusedEveryBlock({ blocksPassed: blocksCertified, blocksFailed: blocksRefused });
  // --bytes given here is a request, as for stream: a recording that certifies fewer is not a success (exit 0
  // would let a script take the short --out for the whole).
  if (values.bytes !== undefined && bytesOut < plan.settings.pipeline.bytes) {
    throw new InputError(
      'RECORDING_SHORT',
      `${file} certifies ${bytesOut} bytes, fewer than the ${plan.settings.pipeline.bytes} asked for with --bytes`,
    );
  }
  return 0;
}
