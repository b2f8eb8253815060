/**
 * Recording a session, for the commands that do it (`record`, `stream
 * --record`, `calibrate`): a writer, the binding wrapper that feeds it, and
 * the header filled from the device's INFO once Device.open has read it.
 *
 *   const rec = new SessionRecorder({ out, tool: 'record', commandLine: argv });
 *   const device = await Device.open({ path, binding: rec.wrap(binding) });
 *   rec.begin(device.info);              // header written; records so far follow it
 *   ... the session ...
 *   rec.close();                         // end record, fsync
 */
import type { BindingInterface } from '../serialport-types.ts';
import { createHash } from 'node:crypto';
import type { InfoFrame } from '../protocol/types.ts';
import {
  FORMAT_VERSION,
  type RecordedDeviceInfo,
  type RecordingHeader,
  type SeedReference,
  type SessionEnd,
} from './format.ts';
import { RecordingWriter } from './writer.ts';
import { recordingBinding } from './recording-binding.ts';

export interface SessionRecorderOptions {
  /** The recording file (created or truncated). */
  out: string;
  /** What records: 'record', 'stream', 'calibrate', a test name. */
  tool: string;
  /** argv after the program name. */
  commandLine: readonly string[];
  /** The extractor seed reference (see seedReference()), when there is one. */
  extractorSeed?: SeedReference | null;
  /** Free-form facts (simulator seed and mode, options). */
  notes?: Record<string, unknown>;
  /** Timestamps from chip time (virtual simulator) instead of host monotonic time. */
  chipClockUs?: () => number;
  /** Leave the wall-clock start time out. */
  omitStartTime?: boolean;
}

/**
 * The session's wall-clock start: now, or SOURCE_DATE_EPOCH (seconds) when
 * set, the reproducible-builds convention, so regenerated fixtures are
 * byte-identical.
 */
function startTime(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  return new Date();
}

/** The INFO fields a header keeps (PROTOCOL 4 INFO). */
export function deviceInfoOf(info: InfoFrame): RecordedDeviceInfo {
  const { protocol, firmware, serial, model, maxTrialRate, capabilities, settingsFifo } = info;
  return {
    protocol: [protocol[0], protocol[1]],
    firmware: [firmware[0], firmware[1], firmware[2]],
    serial,
    model,
    maxTrialRate,
    capabilities,
    settingsFifo,
  };
}

/**
 * The header's reference to an extractor seed: its SHA-256, and the bytes
 * when `embed`. By default a seed with no `source` file (drawn from the OS
 * CSPRNG for this run) is embedded: nothing else could ever replay the run.
 * Embedding is safe: the Toeplitz family is a strong extractor, its seed may
 * be public (src/extract/stream.ts); it must only be independent of the chip.
 */
export function seedReference(
  seed: Uint8Array,
  { embed, source }: { embed?: boolean; source?: string } = {},
): SeedReference {
  embed ??= source === undefined;
  const ref: SeedReference = { sha256: createHash('sha256').update(seed).digest('hex') };
  if (embed) ref.bytes = Buffer.from(seed).toString('base64');
  if (source !== undefined) ref.source = source;
  return ref;
}

export class SessionRecorder {
  readonly writer: RecordingWriter;
  private readonly opts: SessionRecorderOptions;
  private readonly startedAt: string;
  private extractorSeed: SeedReference | null;

  constructor(opts: SessionRecorderOptions) {
    this.opts = opts;
    this.startedAt = startTime().toISOString();
    this.extractorSeed = opts.extractorSeed ?? null;
    this.writer = new RecordingWriter(opts.out, opts.chipClockUs ? { clockUs: opts.chipClockUs } : {});
  }

  get path(): string {
    return this.writer.path;
  }

  /** `binding` with every port it opens recorded. */
  wrap(binding: BindingInterface): BindingInterface {
    return recordingBinding(binding, this.writer) as unknown as BindingInterface;
  }

  /** Sets the seed reference before the header is written (the seed may be drawn after the device is open). */
  setExtractorSeed(ref: SeedReference | null): void {
    if (this.writer.hasHeader) throw new Error('recording header already written');
    this.extractorSeed = ref;
  }

  header(info: InfoFrame | null): RecordingHeader {
    const h: RecordingHeader = {
      format: 'epqrng-recording',
      version: FORMAT_VERSION,
      tool: this.opts.tool,
      commandLine: [...this.opts.commandLine],
      clock: this.opts.chipClockUs ? 'chip' : 'host-monotonic',
      device: info ? deviceInfoOf(info) : null,
      extractorSeed: this.extractorSeed,
    };
    if (!this.opts.omitStartTime) h.startedAt = this.startedAt;
    if (this.opts.notes) h.notes = this.opts.notes;
    return h;
  }

  /** Writes the header with the device's INFO; the records held so far follow it. */
  begin(info: InfoFrame): void {
    this.writer.begin(this.header(info));
  }

  /**
   * Ends the recording (a header without device info if begin() never ran:
   * the device never answered), with how the session ended when known.
   */
  close(session?: SessionEnd): void {
    this.writer.close(this.header(null), session);
  }
}
