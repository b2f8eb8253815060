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
import { seedBitsForBlock } from '../../extract/stream.ts';
import {
  certifiedStream,
  type CertifiedStreamOptions,
  type HostSettingsOptions,
  type StreamProgress,
} from '../../output/certified-stream.ts';
import { seedReference } from '../../record/session.ts';
import { SessionLedger } from '../../record/ending.ts';
import type { SessionEnd } from '../../record/format.ts';
import type { CommandIo } from '../framework.ts';
import { count, oneOf, parseCommandLine, pathValue, validateOption } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, openDevice } from '../device-options.ts';
import { openRecordedDevice } from '../recorded-device.ts';
import { CertifiedSink, type NamedPath, refuseTerminal } from '../certified-sink.ts';
import { DEFAULT_RECONNECT_S, reconnectingStream, reconnectOption, reconnectTarget } from '../reconnect.ts';
import {
  extractorSeedUsage,
  settingsSeedOption,
  streamOptionSpecs,
  streamOptionsUsage,
  streamSettings,
  testRateValue,
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
                          continues, the next certificate records the reconnect; default: exit 3
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
${extractorSeedUsage('fresh from the OS CSPRNG')}

${deviceOptionsUsage}`;

const specs = {
  ...deviceOptionSpecs,
  ...streamOptionSpecs,
  bytes: { type: 'string', short: 'n' },
  out: { type: 'string', short: 'o' },
  'force-tty': { type: 'boolean' },
  settings: { type: 'string' },
  'settings-seed': { type: 'string' },
  'test-rate': { type: 'string' },
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

/** The host-settings options, or undefined for internal settings (one-line UsageError / InputError on a problem). */
function hostSettingsOptions(values: {
  settings?: string;
  'settings-seed'?: string;
  'test-rate'?: string;
}): HostSettingsOptions | undefined {
  const source = validateOption('settings', oneOf(['internal', 'host'] as const), values.settings ?? 'internal');
  if (source === 'internal') {
    const extra = (['settings-seed', 'test-rate'] as const).find((k) => values[k] !== undefined);
    if (extra) throw new UsageError(`--${extra} needs --settings host`);
    return undefined;
  }
  const opts: HostSettingsOptions = {};
  if (values['test-rate'] !== undefined)
    opts.testRate = validateOption('test-rate', testRateValue, values['test-rate']);
  if (values['settings-seed'] !== undefined) opts.seed = settingsSeedOption(values['settings-seed']);
  return opts;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const selection = deviceSelection(values);
  const wanted =
    values.bytes === undefined ? Infinity : validateOption('bytes', count(1, Number.MAX_SAFE_INTEGER), values.bytes);
  const outPath = validateOption('out', pathValue, values.out ?? '-');
  refuseTerminal(outPath, io.stdoutIsTTY, values['force-tty']);
  const {
    certsPath,
    eps,
    adversary,
    classicalBound,
    blockTrials,
    maxConsecutiveRefused,
    extractorSeedFile: seedFile,
  } = streamSettings(values);
  if (outPath !== '-' && certsPath !== undefined && outPath === certsPath)
    throw new UsageError('--out and --certs must be different files');
  const hostSettings = hostSettingsOptions(values);
  const host = hostSettings !== undefined;
  // spot-check.ts certifies against quantum side information (ADFRV/ARV EAT) only.
  if (hostSettings?.testRate !== undefined && Number(hostSettings.testRate) < 1 && adversary === 'classical') {
    throw new UsageError(
      '--test-rate below 1 is certified against quantum side information only; drop --adversary classical',
    );
  }

  // The seed is read (or drawn) before the chip is touched: a bad seed file costs no run.
  const seed = resolveExtractorSeed({
    ...(seedFile !== undefined ? { file: seedFile } : {}),
    seedBits: seedBitsForBlock(blockTrials),
  });
  const recordPath = values.record === undefined ? undefined : validateOption('record', pathValue, values.record);
  const reconnectS = reconnectOption(values.reconnect, selection, recordPath);

  // The outputs are checked before the chip is touched too: an unwritable --out costs no run, and an
  // output that is the recording or a seed file is refused before it is truncated. They are opened
  // (truncated) once the device is: a run that cannot start leaves an existing --out as it was.
  const others: NamedPath[] = [];
  if (recordPath !== undefined) others.push({ option: '--record', path: recordPath });
  if (seedFile !== undefined) others.push({ option: '--extractor-seed', path: seedFile });
  if (values['settings-seed'] !== undefined) others.push({ option: '--settings-seed', path: values['settings-seed'] });
  CertifiedSink.check(outPath, certsPath, others);

  let device: Device;
  let closeRecording: ((session?: SessionEnd) => void) | undefined;
  if (recordPath !== undefined) {
    const rec = await openRecordedDevice(selection, {
      out: recordPath,
      tool: 'stream',
      commandLine: ['stream', ...argv],
      extractorSeed: seedReference(seed, seedFile !== undefined ? { source: seedFile } : {}),
    });
    device = rec.device;
    closeRecording = (session) => rec.recorder.close(session);
  } else {
    device = await openDevice(selection);
  }
  let sink: CertifiedSink;
  try {
    sink = await CertifiedSink.open(outPath, certsPath, io.stdout, others);
  } catch (e) {
    await device.close();
    closeRecording?.();
    throw e;
  }

  const started = Date.now();
  let lastStatus = 0;
  const progress = (p: Readonly<StreamProgress>): void => {
    if (!io.isTTY) return;
    const now = Date.now();
    if (now - lastStatus < 200) return;
    lastStatus = now;
    io.stderr.write(`\r\x1b[K${statusLine(p, (now - started) / 1000, host)}`);
  };
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
      onRun: (r) => {
        ledger.onRun();
        activeRun = r;
        // A signal that came while START was on its way stops the run now.
        if (interruptedBy) void r.stop().catch(() => undefined);
      },
      bytes: wanted,
      eps,
      adversary,
      ...(classicalBound === 'pef' ? { classicalBound } : {}),
      blockTrials,
      seed,
      maxConsecutiveRefused,
      ...(hostSettings ? { hostSettings } : {}),
      onCertificate: (line) => {
        ledger.onCertificate(line);
        sink.onCertificate(line);
      },
      onRefused: (b) => {
        if (io.isTTY) io.stderr.write(`\r\x1b[Kblock ${b.blockIndex} refused (${b.test}): ${b.reason}\n`);
      },
      onProgress: progress,
    };
    const stream =
      reconnectS === undefined
        ? certifiedStream(device, streamOpts)
        : reconnectingStream(device, streamOpts, reconnectTarget(selection, device, reconnectS));
    final = await sink.pump(stream);
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    if (io.isTTY && lastStatus > 0) io.stderr.write('\n');
    try {
      await sink.close();
    } finally {
      await device.close();
      closeRecording?.(ledger.end({ wanted, written: sink.bytes, interruptedBy, error: failure }));
    }
  }
  if (io.isTTY && final) io.stderr.write(`${statusLine(final, (Date.now() - started) / 1000, host)}\n`);
  // Fewer bytes than --bytes asked for is never a success: a script must not take a short output for the whole.
  const written = final?.bytes ?? 0;
  if (written < wanted) {
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
  return 0;
}
