/**
 * `stream --reconnect[=SECONDS]`: a certified stream that rides out a loose
 * cable (src/output/reconnecting-stream.ts), with the chip looked for again
 * here: its USB serial found again (--serial, discovery) or the same --port
 * path reappearing and answering GET_INFO with the same serial. A different
 * serial there is refused (exit 3). With --record, the recording holds every
 * run, with the disconnect and the reconnect as run events
 * (src/record/run-events.ts), so that replay and verify play it run by run.
 */
import { existsSync } from 'node:fs';
import type { BindingInterface } from '../serialport-types.ts';
import { Device, findBySerial } from '../device/index.ts';
import { DeviceError, UsageError } from '../errors.ts';
import type { CertifiedStreamOptions, StreamProgress } from '../output/certified-stream.ts';
import {
  isDisconnect,
  reconnectingStream as streamAcrossRuns,
  sameChip,
  type LostRun,
  type Reopen,
} from '../output/reconnecting-stream.ts';
import { heldBinding } from '../record/run-events.ts';
import { deviceInfoOf } from '../record/session.ts';
import type { RecordingWriter } from '../record/writer.ts';
import { SerialPort } from 'serialport';
import { oneLine } from '../record/ending.ts';
import { noticeOnStderr, type DeviceSelection } from './device-options.ts';
import { integer, validateOption } from './options.ts';
import type { ChipReturn } from '../serve/service.ts';

/** Default wait for the chip to come back (seconds). */
export const DEFAULT_RECONNECT_S = 300;
/** How often the port (or the serial) is looked for while waiting. */
const POLL_MS = 250;

/** --reconnect[=SECONDS] checked: only a chip that can come back. */
export function reconnectOption(raw: string | undefined, selection: DeviceSelection): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = validateOption('reconnect', integer(1, 86_400), raw);
  if (selection.kind === 'simulate')
    throw new UsageError(
      '--reconnect needs a chip that can come back (--port, --serial or a discovered chip), not --simulate',
    );
  return seconds;
}

/** Where the chip is to be looked for again: its path now, the native binding; `recording` when recorded. */
export function reconnectTarget(
  selection: DeviceSelection,
  device: Device,
  timeoutS: number,
  recording?: RecordingWriter,
): ReconnectOptions {
  return {
    selection,
    path: device.path,
    binding: SerialPort.binding as unknown as BindingInterface,
    timeoutS,
    ...(recording ? { recording } : {}),
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

export interface ReconnectOptions {
  selection: DeviceSelection;
  /** Where the chip was (the --port path, or where --serial found it). */
  path: string;
  binding: BindingInterface;
  timeoutS: number;
  notice?: (line: string) => void;
  /** The session's recording (stream --record): every run goes to it, with the run events between. */
  recording?: RecordingWriter;
}

/** Opens the chip at its place again once it answers (`onAnswer` first); a different serial there is refused. */
async function waitForSameChip(
  serial: string,
  o: ReconnectOptions,
  gaveUp: () => boolean,
  onAnswer: (device: Device) => void = () => undefined,
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
        onAnswer(device);
        return sameChip(device, serial);
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}

/** The same chip at its place again; when recorded, the ports tried are held and only the chip's is kept. */
function reopenChip(o: ReconnectOptions): Reopen {
  const writer = o.recording;
  return async (serial: string, lost: LostRun, gaveUp: () => boolean) => {
    let at = '';
    const stamp = (): void => {
      at = new Date().toISOString();
    };
    if (!writer) {
      const device = await waitForSameChip(serial, o, gaveUp, stamp);
      return device ? { device, at } : undefined;
    }
    const held = heldBinding(o.binding, writer);
    const device = await waitForSameChip(serial, { ...o, binding: held.binding }, gaveUp, (d) => {
      stamp();
      const event = { event: 'reconnect', run: lost.runs + 1, at, trialsDropped: lost.trialsDropped } as const;
      held.last()?.commit({ ...event, device: deviceInfoOf(d.info) });
    });
    return device ? { device, at } : undefined;
  };
}

/**
 * certifiedStream(device, opts) run after run across disconnects, the chip
 * looked for again as `o` says (src/output/reconnecting-stream.ts).
 */
export function reconnectingStream(
  first: Device,
  opts: CertifiedStreamOptions,
  o: ReconnectOptions,
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  // Recorded: the disconnect where the port was lost; what closing it still wrote follows (replay skips it).
  const writer = o.recording;
  const onLost = writer
    ? (lost: LostRun) => writer.runEvent({ event: 'disconnect', run: lost.runs, reason: oneLine(lost.cause.message) })
    : undefined;
  return streamAcrossRuns(first, opts, reopenChip(o), onLost);
}
