/**
 * `epqrng stream`: certified random bytes (issue 3 scope 8).
 *
 * Bytes go to --out (default stdout) block by block, each block only after
 * its certificate line went to --certs; a refused block writes nothing. A
 * live status line goes to stderr when it is a terminal. Exit 1 (with one
 * line saying why) when certification keeps failing.
 */
import type { Device, Run } from '../../device/index.ts';
import { constants } from 'node:os';
import { DeviceError, UsageError } from '../../errors.ts';
import { resolveExtractorSeed } from '../../extract/index.ts';
import { certifiedStream, type CertifiedStreamOptions, type StreamProgress } from '../../output/certified-stream.ts';
import { seedBitsForBlock } from '../../output/config.ts';
import { seedReference } from '../../record/session.ts';
import { SessionLedger } from '../../record/ending.ts';
import type { SessionEnd } from '../../record/format.ts';
import type { RecordingWriter } from '../../record/writer.ts';
import type { CommandIo } from '../framework.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';
import {
  deviceOptionSpecs,
  deviceOptionsUsage,
  deviceSelection,
  openDevice,
  type DeviceSelection,
} from '../device-options.ts';
import { openRecordedDevice } from '../recorded-device.ts';
import { CertifiedSink, type NamedPath, refuseTerminal } from '../certified-sink.ts';
import { DEFAULT_RECONNECT_S, reconnectingStream, reconnectOption, reconnectTarget } from '../reconnect.ts';
import {
  extractorSeedUsage,
  refusedEveryBlock,
  streamOptionSpecs,
  streamOptionsUsage,
  targetBitsUsage,
  streamSettings,
} from '../stream-options.ts';

export const usage = `usage: epqrng stream [--simulate[=SEED] | --port P | --serial S] [-n N] [-o FILE|-]
                     [--certs FILE] [--eps E] [--adversary quantum|classical] [--block-trials N]
                     [--extractor-seed FILE] [--record FILE] [--max-refused K]
                     [--settings internal|host] [--settings-seed FILE] [--test-rate GAMMA]
  -n, --bytes N           stop after N certified bytes (default: until interrupted);
                          1K = 1024, 1KB = 1000, 1M, 1MB, 1G, ..., 1e6, 2^20
  -o, --out FILE|-        where the bytes go (default -: stdout; refused on a terminal)
  --force-tty             write the raw bytes to stdout even when it is a terminal
  --record FILE           record the session (both directions of the link) for replay and verify
  --reconnect[=SECONDS]   when the chip goes away, wait (default ${DEFAULT_RECONNECT_S} s) for the same chip (same
                          USB serial) and go on: the unfinished block is dropped, the certificate chain
                          continues, the next certificate records the reconnect (with --record, the
                          recording holds every run: replay and verify play it run by run); default: exit 3
  --settings S            internal (default): the chip's own generator picks x, y (trusted);
                          host: the host picks every x, y and checks the chip's echo of each
                          (PROTOCOL 6: one mismatch stops the run, exit 1)
  --settings-seed FILE    host settings from ChaCha20 keyed by FILE (>= 16 bytes; replayable;
                          a fresh file per run: the same file repeats the settings);
                          default the OS CSPRNG
  --test-rate GAMMA       host spot-checking (ARV 2019): test rounds with probability GAMMA
                          (uniform x, y), else x = 0, y = 0; about h(GAMMA) + 2 GAMMA setting
                          bits per trial. Default 1 (every trial a test round, 2 bits).
                          Net gain needs big blocks: at GAMMA = 0.01, S = 2.4, eps 2^-64 the
                          certified bits exceed the setting bits from about 1.09e8 trials per
                          block (--block-trials 108707840); see README
${streamOptionsUsage}
${targetBitsUsage}
${extractorSeedUsage('fresh from the OS CSPRNG')}

${deviceOptionsUsage}`;

const specs = {
  ...deviceOptionSpecs,
  ...streamOptionSpecs,
  'force-tty': { type: 'boolean' },
  record: { type: 'string' },
  reconnect: { type: 'string', optionalValue: String(DEFAULT_RECONNECT_S) },
} as const;

function statusLine(p: Readonly<StreamProgress>, elapsedS: number, host = false): string {
  const bitsPerTrial = p.trials > 0 ? p.certifiedBits / p.trials : 0;
  const rate = elapsedS > 0 ? p.certifiedBits / elapsedS : 0;
  const warn = p.detectorWarnings?.length ? `  WARNING ${p.detectorWarnings.join('; ')}` : '';
  const line = `S = ${p.sEstimate.toFixed(3)} (lower ${p.sLowerBound.toFixed(3)})  ${bitsPerTrial.toFixed(3)} bit/trial  ${(rate / 1000).toFixed(1)} kbit/s  blocks ${p.blocksPassed} ok ${p.blocksFailed} failed  lost ${p.lostTrials}  ${p.bytes} B${warn}`;
  // Host settings (issue 6): the run's net gain, certified - setting - extractor seed bits, and starved intervals.
  return host
    ? `${line}  net gain ${p.netGainBits >= 0 ? '+' : ''}${(p.netGainBits / 1000).toFixed(1)} kbit (settings ${(p.settingBits / 1000).toFixed(1)} kbit)  starved ${p.resumedFrames}`
    : line;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const selection = deviceSelection(values);
  const outPath = validateOption('out', pathValue, values.out ?? '-');
  refuseTerminal(outPath, io.stdoutIsTTY, values['force-tty']);
  const { certsPath, extractorSeedFile: seedFile, pipeline } = streamSettings(values);
  const wanted = pipeline.bytes;
  if (outPath !== '-' && certsPath !== undefined && outPath === certsPath)
    throw new UsageError('--out and --certs must be different files');
  const host = pipeline.hostSettings !== null;

  // The seed is read (or drawn) before the chip is touched: a bad seed file costs no run.
  const seed = resolveExtractorSeed({
    ...(seedFile !== undefined ? { file: seedFile } : {}),
    seedBits: seedBitsForBlock(pipeline.blockTrials),
  });
  const recordPath = values.record === undefined ? undefined : validateOption('record', pathValue, values.record);
  const reconnectS = reconnectOption(values.reconnect, selection);

  // The outputs are checked before the chip is touched too: an unwritable --out costs no run, and an
  // output that is the recording or a seed file is refused before it is truncated. They are opened
  // (truncated) once the device is: a run that cannot start leaves an existing --out as it was.
  const others: NamedPath[] = [];
  if (recordPath !== undefined) others.push({ option: '--record', path: recordPath });
  if (seedFile !== undefined) others.push({ option: '--extractor-seed', path: seedFile });
  if (values['settings-seed'] !== undefined) others.push({ option: '--settings-seed', path: values['settings-seed'] });
  CertifiedSink.check(outPath, certsPath, others);

  const { device, closeRecording, recording } = await openStreamDevice(selection, recordPath, argv, seed, seedFile);
  let sink: CertifiedSink;
  try {
    sink = await CertifiedSink.open(outPath, certsPath, io.stdout, others);
  } catch (e) {
    await device.close();
    closeRecording?.();
    throw e;
  }

  const status = statusPrinter(io, host);
  let final: StreamProgress | undefined;
  // Ctrl-C or a kill ends the run the protocol's way (STOP, then its ACK:
  // PROTOCOL 5): the chip stops, every block certified so far is written,
  // and the chip is not left running. The unfinished block writes nothing.
  let activeRun: Run | undefined;
  let interruptedBy: NodeJS.Signals | undefined;
  const interrupt = (signal: NodeJS.Signals): void => {
    interruptedBy ??= signal;
    void activeRun?.stop().catch(() => undefined);
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // The recording's end record says how the session ended and what it delivered (verify checks up to there).
  const ledger = new SessionLedger();
  let failure: unknown;
  try {
    const streamOpts: CertifiedStreamOptions = {
      ...pipeline,
      seed,
      onRun: (r) => {
        ledger.onRun();
        activeRun = r;
        // A signal that came while START was on its way stops the run now.
        if (interruptedBy) void r.stop().catch(() => undefined);
      },
      onCertificate: (line) => {
        ledger.onCertificate(line);
        sink.onCertificate(line);
      },
      onRefused: (b) => {
        if (io.isTTY) io.stderr.write(`\r\x1b[Kblock ${b.blockIndex} refused (${b.test}): ${b.reason}\n`);
      },
      onProgress: status.progress,
    };
    const stream =
      reconnectS === undefined
        ? certifiedStream(device, streamOpts)
        : reconnectingStream(device, streamOpts, reconnectTarget(selection, device, reconnectS, recording));
    final = await sink.pump(stream);
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    status.endLine();
    try {
      await sink.close();
    } finally {
      await device.close();
      closeRecording?.(ledger.end({ wanted, written: sink.bytes, interruptedBy, error: failure }));
    }
  }
  if (final) status.final(final);
  return exitCode(io, final, wanted, interruptedBy);
}

/** The device, recorded to `recordPath` when given (the header names the extractor seed). */
async function openStreamDevice(
  selection: DeviceSelection,
  recordPath: string | undefined,
  argv: string[],
  seed: Uint8Array,
  seedFile: string | undefined,
): Promise<{ device: Device; closeRecording?: (session?: SessionEnd) => void; recording?: RecordingWriter }> {
  if (recordPath === undefined) return { device: await openDevice(selection) };
  const rec = await openRecordedDevice(selection, {
    out: recordPath,
    tool: 'stream',
    commandLine: ['stream', ...argv],
    extractorSeed: seedReference(seed, seedFile !== undefined ? { source: seedFile } : {}),
  });
  return {
    device: rec.device,
    closeRecording: (session) => rec.recorder.close(session),
    recording: rec.recorder.writer,
  };
}

/** The live status line on a terminal stderr (at most every 200 ms), its end, and the final line. */
function statusPrinter(io: CommandIo, host: boolean) {
  const started = Date.now();
  let lastStatus = 0;
  return {
    progress: (p: Readonly<StreamProgress>): void => {
      if (!io.isTTY) return;
      const now = Date.now();
      if (now - lastStatus < 200) return;
      lastStatus = now;
      io.stderr.write(`\r\x1b[K${statusLine(p, (now - started) / 1000, host)}`);
    },
    endLine: (): void => {
      if (io.isTTY && lastStatus > 0) io.stderr.write('\n');
    },
    final: (p: Readonly<StreamProgress>): void => {
      if (io.isTTY) io.stderr.write(`${statusLine(p, (Date.now() - started) / 1000, host)}\n`);
    },
  };
}

/** The exit code of a finished stream (throws the error kind that names it). */
function exitCode(
  io: CommandIo,
  final: StreamProgress | undefined,
  wanted: number,
  interruptedBy: NodeJS.Signals | undefined,
): number {
  // Every block seen refused is a refused certification (exit 1), whatever --max-refused and --bytes say.
  if (final) refusedEveryBlock(final);
  // Fewer bytes than --bytes asked for is never a success: a script must not take a short output for the whole.
  const written = final?.bytes ?? 0;
  if (written >= wanted) return 0;
  const asked = Number.isFinite(wanted) ? `of the ${wanted} asked for ` : '';
  if (interruptedBy) {
    // "until interrupted" (no --bytes) is a normal end; a cut --bytes output is not.
    if (!Number.isFinite(wanted)) return 0;
    io.stderr.write(
      `epqrng: interrupted by ${interruptedBy}: ${written} certified bytes ${asked}written, each block with its certificate\n`,
    );
    return 128 + (constants.signals[interruptedBy] ?? 0);
  }
  // PROTOCOL 5: only STOP (sent by this host once enough is certified) or the chip itself ends a run.
  throw new DeviceError(
    'RUN_ENDED',
    `the chip ended the run after ${written} certified bytes ${asked}(a STATUS in state IDLE that no STOP of this host asked for, PROTOCOL 5)`,
  );
}
