/**
 * `stream --reconnect[=SECONDS]`: a certified stream that rides out a loose
 * cable. When the chip goes away (DISCONNECTED, PORT_ERROR, WATCHDOG), the
 * unfinished block is dropped with its run (never mixed with the next run's
 * trials), and the same chip is waited for: its USB serial found again
 * (--serial, discovery) or the same --port path reappearing and answering
 * GET_INFO with the same serial. A different serial there is refused
 * (exit 3). The new run continues the certificate chain (its first
 * certificate's prevCertificateSha256 is the hash of the last line before
 * the disconnect) and records the reconnect in that certificate.
 */
import { existsSync } from 'node:fs';
import type { BindingInterface } from '../serialport-types.ts';
import { Device, findBySerial, type Run } from '../device/index.ts';
import { hashCertificate } from '../certify/certificate.ts';
import { DeviceError } from '../errors.ts';
import {
  certifiedStream,
  newProgress,
  type CertifiedStreamOptions,
  type StreamProgress,
} from '../output/certified-stream.ts';
import { SerialPort } from 'serialport';
import { UsageError } from '../errors.ts';
import { noticeOnStderr, type DeviceSelection } from './device-options.ts';
import { integer, validateOption } from './options.ts';
import type { ChipReturn } from '../serve/service.ts';

/** Default wait for the chip to come back (seconds). */
export const DEFAULT_RECONNECT_S = 300;
/** How often the port (or the serial) is looked for while waiting. */
const POLL_MS = 250;

/** --reconnect[=SECONDS] checked: only a chip that can come back, and not (yet) with --record. */
export function reconnectOption(
  raw: string | undefined,
  selection: DeviceSelection,
  recordPath: string | undefined,
): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = validateOption('reconnect', integer(1, 86_400), raw);
  if (selection.kind === 'simulate')
    throw new UsageError(
      '--reconnect needs a chip that can come back (--port, --serial or a discovered chip), not --simulate',
    );
  if (recordPath !== undefined) throw new UsageError('--reconnect cannot be combined with --record yet');
  return seconds;
}

/** Where the chip is to be looked for again: its path now, the native binding. */
export function reconnectTarget(selection: DeviceSelection, device: Device, timeoutS: number): ReconnectOptions {
  return {
    selection,
    path: device.path,
    binding: SerialPort.binding as unknown as BindingInterface,
    timeoutS,
  };
}

/**
 * The same rules for `serve --reconnect`: the service waits with them when
 * its chip goes away. `lost` resolves with the error of a wait that ended
 * without the chip (timeout, or another serial refused), before the service
 * hears it: serve then ends (exit 3) once its in-flight responses are done.
 */
export function chipReturn(
  selection: DeviceSelection,
  device: Device,
  timeoutS: number,
): { reconnect: ChipReturn; lost: Promise<Error> } {
  const target = reconnectTarget(selection, device, timeoutS);
  let onLost: (e: Error) => void = () => undefined;
  const lost = new Promise<Error>((resolve) => (onLost = resolve));
  const reconnect: ChipReturn = {
    isDisconnect,
    wait: (serial, gaveUp) =>
      waitForSameChip(serial, target, gaveUp).catch((e: unknown) => {
        onLost(e instanceof Error ? e : new Error(String(e)));
        throw e;
      }),
  };
  return { reconnect, lost };
}

/** The device errors a replug can cure. */
function isDisconnect(e: unknown): e is DeviceError {
  return e instanceof DeviceError && ['DISCONNECTED', 'PORT_ERROR', 'WATCHDOG'].includes(e.code);
}

export interface ReconnectOptions {
  selection: DeviceSelection;
  /** Where the chip was (the --port path, or where --serial found it). */
  path: string;
  binding: BindingInterface;
  timeoutS: number;
  notice?: (line: string) => void;
}

/** Opens the chip at its place again once it answers; a different serial there is refused. */
async function waitForSameChip(
  serial: string,
  o: ReconnectOptions,
  gaveUp: () => boolean,
): Promise<Device | undefined> {
  const deadline = Date.now() + o.timeoutS * 1000;
  (o.notice ?? noticeOnStderr)(`waiting for ${serial} (the chip at ${o.path} went away)`);
  while (!gaveUp()) {
    if (Date.now() > deadline)
      throw new DeviceError('NOT_FOUND', `${serial} did not come back within ${o.timeoutS} s (--reconnect)`);
    let path: string | undefined;
    if (o.selection.kind === 'port') path = existsSync(o.path) ? o.path : undefined;
    else
      path = await findBySerial(serial).then(
        (d) => d.path,
        () => undefined,
      );
    if (path !== undefined) {
      const device = await Device.open({ path, binding: o.binding, onNotice: o.notice ?? noticeOnStderr }).catch(
        () => undefined, // not ready yet (udev still setting it up, not answering): keep waiting
      );
      if (device) {
        if (device.info.serial === serial) return device;
        const other = device.info.serial;
        await device.close();
        throw new DeviceError(
          'RECONNECT_REFUSED',
          `a different chip (${other}) answered at ${path}, not ${serial}: refused (--reconnect takes the same chip only)`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
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
 * `opts.bytes` are delivered, on any other error, when the chip does not
 * come back in time, or (returning what it has) on SIGINT/SIGTERM while
 * waiting for it.
 */
export async function* reconnectingStream(
  first: Device,
  opts: CertifiedStreamOptions,
  o: ReconnectOptions,
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
        // Closed even when it is still open (a silent chip, WATCHDOG): the port must be free to be opened again.
        await device.close();
        const back = await waitForSameChip(serial, o, () => signalled);
        if (!back) return total ?? addProgress(undefined, newProgress());
        device = back;
        reconnect = { at: new Date().toISOString(), trialsDropped, previousRuns: runs };
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (device !== first) await device.close();
  }
}
