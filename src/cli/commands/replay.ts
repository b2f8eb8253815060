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
import { Device, type Run } from '../../device/index.ts';
import { CertificationRefusedError, DeviceError, InputError, UsageError } from '../../errors.ts';
import { loadSeedFile, resolveExtractorSeed, seedSha256 } from '../../extract/index.ts';
import { certifyEvents, type CertifiedStreamOptions, type StreamProgress } from '../../output/certified-stream.ts';
import { seedBitsForBlock } from '../../output/config.ts';
import type { ChainedBlock } from '../../output/pipeline.ts';
import type { RefusedBlock } from '../../certify/index.ts';
import { inspectInput } from '../../record/inspect.ts';
import type { RecordingHeader } from '../../record/format.ts';
import { createReplayBinding } from '../../record/replay-binding.ts';
import { captureEvents, HOST_TURN_TIMEOUT_MS, isEndOfRecording, recordedRunEvents } from '../../record/replay.ts';
import { recordedRuns } from '../../record/replay-runs.ts';
import { escapeControls, type CommandIo } from '../framework.ts';
import { CertifiedSink, type NamedPath, refuseTerminal } from '../certified-sink.ts';
import { parseCommandLine, pathValue, validateOption, type ParsedValues } from '../options.ts';
import {
  extractorSeedUsage,
  streamOptionSpecs,
  streamOptionsUsage,
  targetBitsUsage,
  streamSettings,
  type StreamSettings,
} from '../stream-options.ts';
import { parseArgs } from 'node:util';

export const usage = `usage: epqrng replay FILE [--bytes N] [--out FILE|-] [--certs FILE] [--eps E] [--adversary A]
                     [--block-trials N] [--extractor-seed FILE] [--max-refused K]
                     [--settings internal|host] [--settings-seed FILE] [--test-rate GAMMA]
  FILE                    a recording (stream --record, epqrng record) or a raw capture of device bytes
  -n, --bytes N           stop after N certified bytes (default: as recorded; a raw capture: all of it);
                          1K = 1024, 1KB = 1000, 1M, 1MB, ..., 1e6, 2^20
  -o, --out FILE|-        where the bytes go (default -: stdout; refused on a terminal)
  --force-tty             write the raw bytes to stdout even when it is a terminal
  --settings, --settings-seed, --test-rate
                          host-supplied settings, as for stream (default: as recorded); a
                          host-mode run replays only with its settings seed
${streamOptionsUsage}
${targetBitsUsage}
${extractorSeedUsage('the recorded one, else fresh from the OS CSPRNG')}
Options not given are taken from the recorded command line (stream recordings),
else the stream defaults. The extractor seed must be the live run's to reproduce
its bytes: --extractor-seed FILE, the seed embedded in the recording, or the
seed file the recording names if it is here (checked by its SHA-256).
Exit 0: at least one block certified (and --bytes, if given, met); 1: no block
certified (every block refused, or no whole block); 2: bad input (a file with no
EPQ-1 frame in its first 1 MiB, a recording with no usable record).`;

/** stream's options (stream-options.ts), given here or taken from the recording. */
export const replayOptionSpecs = { ...streamOptionSpecs, 'force-tty': { type: 'boolean' } } as const;

export type ReplayKind = 'stream' | 'serve' | 'record' | 'raw';

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
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(replayOptionSpecs))
    options[name] = { type: spec.type, ...('short' in spec ? { short: spec.short } : {}) };
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
  const input = await inspectInput(file);
  const { kind: rawKind, header, info } = input;
  let kind: ReplayKind;
  if (rawKind === 'raw') kind = 'raw';
  else if (header!.tool === 'stream' || header!.tool === 'serve') kind = header!.tool;
  else if (header!.tool === 'record') kind = 'record';
  else
    throw new UsageError(
      `${file} was recorded by '${header!.tool}': it holds no trial run to certify (replay it with the host code that made it)`,
    );
  input.requireRecords();

  const merged: ParsedValues<typeof replayOptionSpecs> =
    kind === 'stream' || kind === 'serve'
      ? { ...pick(recordedStreamValues(header!), kind), ...defined(values) }
      : { ...values };
  const settings = streamSettings(merged);
  if (settings.pipeline.hostSettings && kind !== 'stream')
    throw new UsageError(
      `--settings host replays only stream recordings (${file} is a ${kind === 'raw' ? 'raw capture' : `${kind} recording`})`,
    );

  const { seed, seedNote } = replaySeed(
    file,
    values['extractor-seed'],
    header,
    seedBitsForBlock(settings.pipeline.blockTrials),
    {
      requireRecordedSeed,
      onWarning,
    },
  );

  let device: { serial: string; firmware: string };
  if (header?.device) device = { serial: header.device.serial, firmware: header.device.firmware.join('.') };
  else {
    device = info
      ? { serial: info.serial, firmware: info.firmware.join('.') }
      : { serial: 'unknown (raw capture)', firmware: '0.0.0' };
  }
  return { file, kind, header, settings, seed, seedNote, device };
}

/**
 * The extractor seed of a replay: --extractor-seed FILE (checked against the
 * recorded hash), else the seed embedded in the recording, else the seed file
 * the recording names when it is here and hashes right; else a fresh seed
 * (replay) or a UsageError (verify, which needs the recorded one).
 */
function replaySeed(
  file: string,
  givenSeedFile: string | undefined,
  header: RecordingHeader | null,
  seedBits: number,
  { requireRecordedSeed, onWarning }: { requireRecordedSeed: boolean; onWarning?: ((m: string) => void) | undefined },
): { seed: Uint8Array; seedNote: string } {
  const recorded = header?.extractorSeed ?? null;
  let seed: Uint8Array;
  let seedNote: string;
  // The seed file given here wins; a recorded file name is only a hint (it may not exist here).
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

  return { seed, seedNote };
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

/** Only the replay options of a recorded command line (serve certifies with internal settings, no --bytes). */
function pick(v: Record<string, unknown>, kind: ReplayKind): ParsedValues<typeof replayOptionSpecs> {
  const skip = ['out', 'certs', 'extractor-seed', ...(kind === 'serve' ? SERVE_IGNORES : [])];
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(replayOptionSpecs)) if (v[k] !== undefined && !skip.includes(k)) out[k] = v[k];
  return out as ParsedValues<typeof replayOptionSpecs>;
}

/** Stream options serve's pipeline does not take (src/cli/commands/serve.ts). */
const SERVE_IGNORES = ['bytes', 'settings', 'settings-seed', 'test-rate'];

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
  return yield* replayStreamRecording(plan, { ...options, ...delivery }, onWarning);
}

/**
 * A stream recording: the live host code (certifiedStream on a Device over
 * the replay binding), against the recording. Where the live host sent STOP
 * for a reason a replay does not see (a signal, a clock), the replayed host
 * stops at the same byte; a recording that ends while the host still reads
 * (a crash, a lost device: the end record says so) ends the replay there.
 */
async function* replayStreamRecording(
  plan: ReplayPlan,
  common: Omit<CertifiedStreamOptions, 'onRun'>,
  onWarning: ((m: string) => void) | undefined,
): AsyncGenerator<Uint8Array, StreamProgress | undefined, void> {
  let cut = false;
  let run: Run | undefined;
  // STOP recorded before START's ACK (a signal while START was on its way): stop the run as soon as it starts.
  let stopWanted = false;
  const stop = (): void => {
    // A STOP while no run is going (START on its way) is for the run that starts next (serve: several runs).
    stopWanted = run?.active !== true;
    void run?.stop().catch(() => undefined);
  };
  const session = createReplayBinding(plan.file, {
    atEnd: 'disconnect',
    runs: 'many',
    hostTurnTimeoutMs: HOST_TURN_TIMEOUT_MS,
    onWarning: (m) => {
      cut = true;
      onWarning?.(m);
    },
    // The host takes in the bytes delivered before the STOP (pending I/O callbacks) before it stops.
    onHostTurn: (kind) => {
      if (kind === 'STOP') setImmediate(() => setImmediate(stop));
    },
  });
  let device: Device | undefined;
  try {
    device = await Device.open({ path: session.path, binding: session.binding as never });
    return yield* recordedRuns(plan.header!, device, session, {
      ...common,
      onRun: (r) => {
        run = r;
        if (stopWanted) stop();
      },
    });
  } catch (e) {
    // A recording the port could not read on (a malformed run event) is bad input, as when planned (exit 2).
    if (session.divergence?.cause instanceof InputError) throw session.divergence.cause;
    if (session.divergence) throw session.divergence;
    const ended = session.port?.atEnd && isEndOfRecording(e);
    // Played to where the live session ended without a STOP: a cut (the warning was given), a lost device.
    const ending = session.port?.end?.session?.ending;
    if (ended && (cut || (ending !== undefined && ending !== 'bytes'))) return undefined;
    if (ended)
      throw new DeviceError(
        'REPLAY_ENDED',
        `${plan.file} ended before the replayed session did (the live run stopped earlier than these options ask for)`,
        { cause: e },
      );
    throw e;
  } finally {
    await device?.close().catch(() => undefined);
    await session.close();
  }
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, replayOptionSpecs, { minPositionals: 1, maxPositionals: 1 });
  const file = positionals[0]!;
  const outPath = validateOption('out', pathValue, values.out ?? '-');
  refuseTerminal(outPath, io.stdoutIsTTY, values['force-tty']);
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
  let lastRefusal = '';
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
          lastRefusal = `block ${b.blockIndex}: ${b.reason}`;
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
  // Exit 0 only when something was certified: a run refused throughout, or with no whole block, is no success.
  if (blocksCertified === 0) {
    throw blocksRefused > 0
      ? new CertificationRefusedError(
          'ALL_REFUSED',
          `certification refused every block of ${file} (${blocksRefused} of ${blocksRefused}); ${lastRefusal}`,
        )
      : new CertificationRefusedError('NOTHING_CERTIFIED', `${file} holds no whole block: nothing certified`);
  }
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
