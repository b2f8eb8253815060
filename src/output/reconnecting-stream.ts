/**
 * A certified stream that rides out a lost chip: certifiedStream run after
 * run, each on the device `reopen` brings back. When the chip goes away
 * (DISCONNECTED, PORT_ERROR, WATCHDOG), the unfinished block is dropped
 * with its run (never mixed with the next run's trials); the next run
 * continues the certificate chain (its first certificate's
 * prevCertificateSha256 is the hash of the last line before the loss) and
 * records the reconnect in that certificate (certificate.ts `reconnect`).
 *
 * Where the chip comes back from is the caller's: the live CLI waits for the
 * same chip at its place (src/cli/reconnect.ts), a replay opens the next run
 * of the recording (src/record/replay-runs.ts).
 */
import type { Device, Run } from '../device/index.ts';
import { hashCertificate } from '../certify/certificate.ts';
import { DeviceError } from '../errors.ts';
import { certifiedStream, newProgress, type CertifiedStreamOptions, type StreamProgress } from './certified-stream.ts';

/** The run that was lost. */
export interface LostRun {
  /** The device error that ended it. */
  cause: DeviceError;
  /** Trials received after its last finished block, dropped with it. */
  trialsDropped: number;
  /** Runs so far, this one included. */
  runs: number;
}

/** The chip back: its device and when it answered (ISO 8601, UTC). */
export interface Reopened {
  device: Device;
  at: string;
}

/** Brings the chip with `serial` back, or undefined when `gaveUp()` turned true first; throws to end the stream. */
export type Reopen = (serial: string, lost: LostRun, gaveUp: () => boolean) => Promise<Reopened | undefined>;

/** The device errors a replug can cure. */
export function isDisconnect(e: unknown): e is DeviceError {
  return e instanceof DeviceError && ['DISCONNECTED', 'PORT_ERROR', 'WATCHDOG'].includes(e.code);
}

/** `device` when it is the chip with `serial`; a different chip is closed and refused (exit 3). */
export async function sameChip(device: Device, serial: string): Promise<Device> {
  if (device.info.serial === serial) return device;
  const other = device.info.serial;
  await device.close();
  throw new DeviceError(
    'RECONNECT_REFUSED',
    `a different chip (${other}) answered at ${device.path}, not ${serial}: refused (--reconnect takes the same chip only)`,
  );
}

function addProgress(total: StreamProgress | undefined, p: StreamProgress): StreamProgress {
  if (!total) return { ...p };
  return {
    ...p,
    blocksPassed: total.blocksPassed + p.blocksPassed,
    blocksFailed: total.blocksFailed + p.blocksFailed,
    bytes: total.bytes + p.bytes,
    trials: total.trials + p.trials,
    lostTrials: total.lostTrials + p.lostTrials,
    certifiedBits: total.certifiedBits + p.certifiedBits,
    settingBits: total.settingBits + p.settingBits,
    netGainBits: total.netGainBits + p.netGainBits,
    resumedFrames: total.resumedFrames + p.resumedFrames,
  };
}

/**
 * certifiedStream(device, opts) run after run across disconnects. Ends when
 * `opts.bytes` are delivered, on any other error, when `reopen` throws, or
 * (returning what it has) on SIGINT/SIGTERM while waiting for the chip.
 * `onLost` hears of each lost run before its device is closed.
 */
export async function* reconnectingStream(
  first: Device,
  opts: CertifiedStreamOptions,
  reopen: Reopen,
  onLost?: (lost: LostRun) => void,
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  const wanted = opts.bytes ?? Infinity;
  const serial = first.info.serial;
  let device = first;
  let prev: string | null = opts.prevCertificateSha256 ?? null;
  let total: StreamProgress | undefined;
  let reconnect: CertifiedStreamOptions['reconnect'];
  let runs = 0;
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (;;) {
      let run: Run | undefined;
      let progress: StreamProgress | undefined;
      const stream = certifiedStream(device, {
        ...opts,
        bytes: wanted - (total?.bytes ?? 0),
        prevCertificateSha256: prev,
        ...(reconnect ? { reconnect } : {}),
        onRun: (r) => {
          run = r;
          opts.onRun?.(r);
        },
        onCertificate: (line, block) => {
          prev = hashCertificate(line);
          opts.onCertificate?.(line, block);
        },
        onProgress: (p) => {
          progress = p;
          opts.onProgress?.(addProgress(total, p));
        },
      });
      runs++;
      try {
        for (;;) {
          const r = await stream.next();
          if (r.done) return addProgress(total, r.value);
          yield r.value;
        }
      } catch (e) {
        if (!isDisconnect(e) || signalled) throw e;
        // The unfinished block's trials are dropped with the run: received minus those in finished blocks.
        const trialsDropped = Math.max(0, (run?.stats.trials ?? 0) - (progress?.trials ?? 0));
        if (progress) total = addProgress(total, progress);
        const lost = { cause: e, trialsDropped, runs };
        onLost?.(lost);
        // Closed even when it is still open (a silent chip, WATCHDOG): the port must be free to be opened again.
        await device.close();
        const back = await reopen(serial, lost, () => signalled);
        if (!back) return total ?? addProgress(undefined, newProgress());
        device = back.device;
        reconnect = { at: back.at, trialsDropped, previousRuns: runs };
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (device !== first) await device.close();
  }
}
