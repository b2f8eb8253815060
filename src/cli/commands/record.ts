/**
 * `epqrng record [device options] (--trials N | --seconds S) --out FILE`:
 * records one trial run, both directions of the link byte for byte, for
 * `epqrng replay` and `epqrng verify` (src/record/format.ts).
 *
 * The session: open (GET_INFO), START (with limit N for --trials: the chip
 * stops by itself, PROTOCOL 5 START), read every TRIALS frame, STOP and its
 * ACK (for --seconds: after S seconds of chip time on the in-process
 * simulator, wall time otherwise). Nothing is certified here.
 *
 * Also exports `openRecordedDevice`, the device options' openDevice with the
 * link recorded, for the other commands that record (`stream --record`).
 */
import { SerialPort } from 'serialport';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { Device, findBySerial, listDevices, type DeviceOpenOptions, type PortLister } from '../../device/index.ts';
import { createSimulatedPort } from '../../simulator/index.ts';
import { DeviceError, InputError, UsageError } from '../../errors.ts';
import { SessionRecorder, seedReference, type SessionRecorderOptions } from '../../record/session.ts';
import { trialRun } from '../../record/trial-run.ts';
import type { CommandIo } from '../framework.ts';
import { decimal, integer, parseCommandLine, pathValue, validateOption } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, type DeviceSelection } from '../device-options.ts';
import { readFileSync, rmSync } from 'node:fs';

export const summary = 'record a trial run (both directions of the link, byte-exact) for replay and verify';
export const usage = `usage: epqrng record [device options] (--trials N | --seconds S) --out FILE
  --trials N              START with a limit of N trials (the chip stops by itself), then STOP
  --seconds S             START, then STOP after S seconds (chip time on --simulate, wall time otherwise)
  --out FILE              the recording (created or overwritten)
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
  out: { type: 'string' },
  rate: { type: 'string' },
  'extractor-seed': { type: 'string' },
  'embed-seed': { type: 'boolean' },
} as const;

export interface RecordedDevice {
  device: Device;
  recorder: SessionRecorder;
  /** Chip time in ms, when the device is the in-process simulator. */
  chipClockMs?: () => number;
}

/**
 * Opens the selected device with its link recorded to `rec.out`; the header
 * is written with the device's INFO. On failure the recording is closed (it
 * holds what the link carried; removed if that is nothing) and the error
 * rethrown.
 */
export async function openRecordedDevice(
  sel: DeviceSelection,
  rec: Omit<SessionRecorderOptions, 'chipClockUs'>,
  { lister, ...deviceOpts }: Omit<DeviceOpenOptions, 'path' | 'binding'> & { lister?: PortLister } = {},
): Promise<RecordedDevice> {
  let path: string;
  let binding: BindingInterface;
  let chipClockMs: (() => number) | undefined;
  let notes = rec.notes;
  switch (sel.kind) {
    case 'port':
      path = sel.path;
      binding = SerialPort.binding as unknown as BindingInterface;
      break;
    case 'serial':
      path = (await findBySerial(sel.serial, lister)).path;
      binding = SerialPort.binding as unknown as BindingInterface;
      break;
    case 'discover': {
      const found = await listDevices(lister);
      if (found.length === 0) throw new DeviceError('NOT_FOUND', 'no EPQ-1 found on USB; pass --port PATH, --serial S or --simulate');
      if (found.length > 1) {
        throw new UsageError(`${found.length} EPQ-1 found (${found.map((d) => d.serialNumber ?? d.path).join(', ')}); choose one with --serial S or --port PATH`);
      }
      path = found[0]!.path;
      binding = SerialPort.binding as unknown as BindingInterface;
      break;
    }
    case 'simulate': {
      const sim = createSimulatedPort({
        seed: sel.seed,
        mode: sel.mode,
        calibrated: sel.calibrated,
        faults: sel.faults,
        ...(sel.flashFile !== undefined ? { flashFile: sel.flashFile } : {}),
      });
      path = sim.path;
      binding = sim.binding;
      chipClockMs = () => sim.chip.clockMs;
      notes = { simulator: { seed: sel.seed, mode: sel.mode, calibrated: sel.calibrated, faults: sel.faults }, ...notes };
      break;
    }
  }
  const recorder = new SessionRecorder({
    ...rec,
    notes,
    // The in-process simulator runs on a virtual clock: its chip time is the session's only meaningful time.
    ...(chipClockMs ? { chipClockUs: () => Math.round(chipClockMs!() * 1000) } : {}),
  });
  let device: Device;
  try {
    device = await Device.open({ ...deviceOpts, path, binding: recorder.wrap(binding) });
  } catch (e) {
    const empty = recorder.writer.stats.records === 0;
    recorder.close();
    // Nothing crossed the link (the port did not open): leave no empty recording behind.
    if (empty) rmSync(recorder.path, { force: true });
    throw e;
  }
  recorder.begin(device.info);
  return chipClockMs ? { device, recorder, chipClockMs } : { device, recorder };
}

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
  const limitTrials = values.trials !== undefined ? validateOption('trials', integer(1, Number.MAX_SAFE_INTEGER), values.trials) : 0;
  const seconds = values.seconds !== undefined ? validateOption('seconds', decimal(0.001, 1e6), values.seconds) : 0;
  // PROTOCOL 5 START: rate u32 trials/s, 0 = the chip's default.
  const rateTrialsPerS = values.rate !== undefined ? validateOption('rate', integer(1, 0xffffffff), values.rate) : 0;
  if (values['embed-seed'] && values['extractor-seed'] === undefined) throw new UsageError('--embed-seed needs --extractor-seed FILE');
  let extractorSeed = null;
  if (values['extractor-seed'] !== undefined) {
    const seedPath = validateOption('extractor-seed', pathValue, values['extractor-seed']);
    let bytes: Buffer;
    try {
      bytes = readFileSync(seedPath);
    } catch (e) {
      throw new InputError('SEED_UNREADABLE', `cannot read extractor seed file ${seedPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
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
    const elapsed = chipClockMs ? `${((chipClockMs() - t0Chip) / 1000).toFixed(3)} s of chip time` : `${((performance.now() - t0Wall) / 1000).toFixed(3)} s`;
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
