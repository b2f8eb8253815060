/**
 * The public API of the `epqrng` package (`import { ... } from 'epqrng'`):
 * a thin facade over the internals, which stay private.
 *
 *   Device.open(target)         a chip: by port, by USB serial, the one on USB, or the simulator with a seed
 *   device.certifiedBytes(opts) certified bytes as an async iterable of { bytes, certificate }
 *   device.calibrate(opts)      the calibration procedure (README "Calibration")
 *   device.entropyService(opts) what `epqrng serve` runs: a pool and a request handler for any Node server;
 *                               fetchRandom(url, n) is its client
 *   device.close() / await using   ends any run with STOP and its ACK, then closes the port
 *   record / replay / verify    the recording functions (src/record), with the checks and errors of
 *                               `epqrng record|replay|verify`
 *
 * Fail closed as the CLI does: a refused block yields nothing; certification
 * that keeps failing throws CertificationRefusedError.
 */
import { makePlan, calibrate as runCalibration, type CalibrationProfile } from './calibrate/index.ts';
import type { Adversary, Certificate, RefusedBlock } from './certify/index.ts';
import { escapeControls } from './cli/framework.ts';
import type { ParsedValues } from './cli/options.ts';
import { openDevice, type DeviceSelection } from './cli/device-options.ts';
import { planReplay, replayBytes } from './cli/commands/replay.ts';
import { recordSession, recordSettings, type recordOptionSpecs } from './cli/commands/record.ts';
import { plannedReplay } from './cli/commands/verify.ts';
import { VerifyMismatch } from './record/block-check.ts';
import { verifyRecording } from './record/verify.ts';
import type { Device as LinkDevice, Run } from './device/index.ts';
import { randomSeed } from './extract/index.ts';
import { pipelineDefaults, seedBitsForBlock } from './output/config.ts';
import { certifiedStream } from './output/certified-stream.ts';
import { withCertificates } from './output/with-certificates.ts';
import { createHandler, type EntropyHandler } from './serve/http.ts';
import { EntropyService } from './serve/service.ts';

export { certificateSchema, parseCertificateLine, type Certificate } from './certify/index.ts';
export {
  CertificationRefusedError,
  DeviceError,
  EpqError,
  ExitCode,
  InputError,
  isEpqError,
  UsageError,
  type ExitCodeValue,
} from './errors.ts';
export type { CalibrationProfile } from './calibrate/index.ts';
export { fetchRandom, type CertificateReference, type RandomResult } from './serve/client.ts';
export type { EntropyHandler } from './serve/http.ts';
export type { EntropyService } from './serve/service.ts';

/** Which chip: its serial port, its USB serial number, the one EPQ-1 on USB, or the built-in simulator. */
export type DeviceTarget =
  | { port: string }
  | { serial: string }
  | { usb: true }
  | { simulate: { seed?: number; calibrated?: boolean } | true };

/** One certified block's output (cut to fit `bytes` for the last one) and the certificate that covers it. */
export interface CertifiedBlock {
  bytes: Uint8Array;
  certificate: Certificate;
  /** The certificate as the JSON line `epqrng stream --certs` writes (the hash chain is over these lines). */
  line: string;
  /** SHA-256 of `line`: the name the next certificate's prevCertificateSha256 and `epqrng serve` give it. */
  sha256: string;
}

export interface CertifiedBytesOptions {
  /** Stop after this many bytes (default: until the loop ends). */
  bytes?: number;
  /** Total error per block (default 2^-64). */
  eps?: number;
  adversary?: Adversary;
  /** Trials per block (default 2^22). */
  blockTrials?: number;
  /** Toeplitz seed, n + m - 1 = 3 blockTrials - 1 bits at least (default: fresh from the OS CSPRNG). */
  extractorSeed?: Uint8Array;
  /** Refused blocks in a row that end the stream with CertificationRefusedError (default 3). */
  maxConsecutiveRefused?: number;
  /** Host-supplied settings (README "Host-supplied settings"); default the chip's own generator. */
  hostSettings?: { seed?: Uint8Array; testRate?: number | string };
  /** Each refused block (it output nothing). */
  onRefused?: (block: RefusedBlock) => void;
}

/** Options of device.entropyService (the pipeline's as for certifiedBytes, and the service's own). */
export interface EntropyServiceOptions
  extends Pick<CertifiedBytesOptions, 'eps' | 'adversary' | 'blockTrials' | 'extractorSeed'> {
  /** Certified bytes kept ready (default 4 MiB); when full the chip is paused with STOP. */
  poolBytes?: number;
  /** Writes one certificate line durably (e.g. appends it to a file). */
  writeCertificate?: (line: string) => Promise<void>;
  /** Bearer token every request must carry. */
  token?: string;
}

function selectionOf(target: DeviceTarget): DeviceSelection {
  if ('port' in target) return { kind: 'port', path: target.port };
  if ('serial' in target) return { kind: 'serial', serial: target.serial };
  if ('usb' in target) return { kind: 'discover' };
  const sim = target.simulate === true ? {} : target.simulate;
  return { kind: 'simulate', seed: sim.seed ?? 1, mode: 'honest', calibrated: sim.calibrated ?? true, faults: {} };
}

/** An EPQ-1 chip (or the simulator) and what it does for a user. */
export class Device {
  private run: Run | undefined;

  private constructor(private readonly link: LinkDevice) {}

  /** Opens the chip; `{ usb: true }` (the default) is the one EPQ-1 found on USB. */
  static async open(target: DeviceTarget = { usb: true }): Promise<Device> {
    return new Device(await openDevice(selectionOf(target)));
  }

  /** Serial number, model and firmware, as the chip reported them (PROTOCOL 4 INFO). */
  get info(): { serial: string; model: string; firmware: string; protocol: string } {
    const i = this.link.info;
    return { serial: i.serial, model: i.model, firmware: i.firmware.join('.'), protocol: i.protocol.join('.') };
  }

  /**
   * Certified bytes, block by block, each with its certificate. Ending the
   * loop early (break, return, an error) stops the chip with STOP/ACK.
   */
  certifiedBytes(opts: CertifiedBytesOptions = {}): AsyncGenerator<CertifiedBlock, void, void> {
    // The pipeline's own default block size (output/config.ts), so the seed fits it.
    const { blockTrials } = pipelineDefaults(opts.blockTrials !== undefined ? { blockTrials: opts.blockTrials } : {});
    const seed = opts.extractorSeed ?? randomSeed(seedBitsForBlock(blockTrials));
    return withCertificates((onCertificate) =>
      certifiedStream(this.link, {
        ...(opts.bytes !== undefined ? { bytes: opts.bytes } : {}),
        ...(opts.eps !== undefined ? { eps: opts.eps } : {}),
        ...(opts.adversary !== undefined ? { adversary: opts.adversary } : {}),
        ...(opts.maxConsecutiveRefused !== undefined ? { maxConsecutiveRefused: opts.maxConsecutiveRefused } : {}),
        ...(opts.hostSettings !== undefined ? { hostSettings: opts.hostSettings } : {}),
        ...(opts.onRefused !== undefined ? { onRefused: opts.onRefused } : {}),
        blockTrials,
        seed,
        onCertificate,
        onRun: (r) => {
          this.run = r;
        },
      }),
    );
  }

  /**
   * The entropy service `epqrng serve` runs, on this chip: `service.start()`,
   * then mount `handler` in any Node http server (it answers /random,
   * /certificates, /status, /metrics, /events and the dashboard at /);
   * `service.stop()` ends it with STOP/ACK. A block's bytes enter the pool
   * only once `writeCertificate` (if given) has resolved for its line.
   */
  entropyService(opts: EntropyServiceOptions = {}): { service: EntropyService; handler: EntropyHandler } {
    const { blockTrials } = pipelineDefaults(opts.blockTrials !== undefined ? { blockTrials: opts.blockTrials } : {});
    const service = new EntropyService(this.link, {
      pipeline: {
        blockTrials,
        seed: opts.extractorSeed ?? randomSeed(seedBitsForBlock(blockTrials)),
        ...(opts.eps !== undefined ? { eps: opts.eps } : {}),
        ...(opts.adversary !== undefined ? { adversary: opts.adversary } : {}),
      },
      ...(opts.poolBytes !== undefined ? { poolBytes: opts.poolBytes } : {}),
      ...(opts.writeCertificate !== undefined ? { writeCertificate: opts.writeCertificate } : {}),
    });
    return { service, handler: createHandler(service, opts.token !== undefined ? { token: opts.token } : {}) };
  }

  /** Calibrates the chip (about 30 s of chip time, `quick`: 14 s); with `save` it is stored only if it beats the previous one. */
  calibrate(opts: { quick?: boolean; save?: boolean } = {}): Promise<CalibrationProfile> {
    return runCalibration(this.link, { plan: makePlan(opts.quick ? 'quick' : 'normal'), save: opts.save === true });
  }

  /** Ends a run still going with STOP and its ACK (PROTOCOL 5), then closes the port. */
  async close(): Promise<void> {
    try {
      if (this.run?.active) await this.run.stop();
    } finally {
      await this.link.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Options of replay and verify, as `epqrng replay` / `verify` take them (the recorded ones when not given). */
export interface ReplayOptions {
  bytes?: number;
  adversary?: Adversary;
  /** The live run's extractor seed file (default: the one the recording embeds or names). */
  extractorSeedFile?: string;
  eps?: number;
  blockTrials?: number;
}

function replayValues(opts: ReplayOptions): Record<string, string> {
  const v: Record<string, string> = {};
  if (opts.bytes !== undefined) v.bytes = String(opts.bytes);
  if (opts.extractorSeedFile !== undefined) v['extractor-seed'] = opts.extractorSeedFile;
  if (opts.eps !== undefined) v.eps = String(opts.eps);
  if (opts.adversary !== undefined) v.adversary = opts.adversary;
  if (opts.blockTrials !== undefined) v['block-trials'] = String(opts.blockTrials);
  return v;
}

/** Certifies a recording (or raw capture) again: the live run's blocks and certificates. */
export async function* replay(file: string, opts: ReplayOptions = {}): AsyncGenerator<CertifiedBlock, void, void> {
  const plan = await planReplay(file, replayValues(opts));
  yield* withCertificates((onCertificate) => replayBytes(plan, { onCertificate }));
}

function targetArgs(target: DeviceTarget): string[] {
  const s = selectionOf(target);
  if (s.kind === 'port') return ['--port', s.path];
  if (s.kind === 'serial') return ['--serial', s.serial];
  if (s.kind === 'simulate') return [`--simulate=${s.seed}`, ...(s.calibrated ? [] : ['--sim-uncalibrated'])];
  return [];
}

/** Records a trial run (both directions of the link) to `out`, as `epqrng record` does; resolves to its summary line. */
export async function record(
  target: DeviceTarget,
  opts: { out: string; trials?: number; seconds?: number; extractorSeedFile?: string },
): Promise<string> {
  const values: ParsedValues<typeof recordOptionSpecs> = {
    out: opts.out,
    ...(opts.trials !== undefined ? { trials: String(opts.trials) } : {}),
    ...(opts.seconds !== undefined ? { seconds: String(opts.seconds) } : {}),
    ...(opts.extractorSeedFile !== undefined ? { 'extractor-seed': opts.extractorSeedFile } : {}),
  };
  const settings = recordSettings(values);
  // The recording's header holds the command line `epqrng record` would have had: its replay reads it.
  const argv = [...targetArgs(target), '--out', opts.out];
  for (const k of ['trials', 'seconds', 'extractor-seed'] as const)
    if (values[k] !== undefined) argv.push(`--${k}`, values[k]);
  return recordSession(selectionOf(target), settings, argv);
}

/**
 * Recomputes every certificate (and with `output`, every byte) of a run
 * from its recording, as `epqrng verify` does: `{ ok: true }` when all
 * match, else the first mismatch. Bad input throws (InputError, UsageError).
 */
export async function verify(
  file: string,
  opts: ReplayOptions & { certs: string; output?: string },
): Promise<{ ok: true } | { ok: false; mismatch: string }> {
  const plan = plannedReplay(() => planReplay(file, replayValues(opts), { requireRecordedSeed: true }));
  try {
    await verifyRecording({ file, certsPath: opts.certs, outputPath: opts.output, plan, onWarning: () => undefined });
    return { ok: true };
  } catch (e) {
    // A mismatch is a result (the CLI's exit 1 and its one line); anything else is thrown, as the CLI does.
    if (e instanceof VerifyMismatch) return { ok: false, mismatch: escapeControls(e.message) };
    throw e;
  }
}
