/**
 * The device options' openDevice with the link recorded: for every command
 * that records a session (`record`, `stream --record`, and tests making
 * fixtures). Both directions of the link go to the recording byte for byte
 * (src/record), and its header is written with the device's INFO.
 */
import { rmSync } from 'node:fs';
import { Device, type DeviceOpenOptions, type PortLister } from '../device/index.ts';
import { SessionRecorder, type SessionRecorderOptions } from '../record/session.ts';
import { noticeOnStderr, resolvePort, type DeviceSelection } from './device-options.ts';

export interface RecordedDevice {
  device: Device;
  recorder: SessionRecorder;
  /** Chip time in ms, when the device is the in-process simulator. */
  chipClockMs?: () => number;
}

/**
 * Opens the selected device with its link recorded to `rec.out`. On failure
 * the recording is closed (it holds what the link carried; removed if that
 * is nothing) and the error rethrown.
 */
export async function openRecordedDevice(
  sel: DeviceSelection,
  rec: Omit<SessionRecorderOptions, 'chipClockUs'>,
  { lister, ...deviceOpts }: Omit<DeviceOpenOptions, 'path' | 'binding'> & { lister?: PortLister } = {},
): Promise<RecordedDevice> {
  const port = await resolvePort(sel, { lister });
  const sim = port.sim;
  const chipClockMs = sim ? () => sim.chip.clockMs : undefined;
  const notes =
    sel.kind === 'simulate'
      ? { simulator: { seed: sel.seed, mode: sel.mode, calibrated: sel.calibrated, faults: sel.faults }, ...rec.notes }
      : rec.notes;
  const recorder = new SessionRecorder({
    ...rec,
    ...(notes !== undefined ? { notes } : {}),
    // The in-process simulator runs on a virtual clock: its chip time is the session's only meaningful time.
    ...(chipClockMs ? { chipClockUs: () => Math.round(chipClockMs() * 1000) } : {}),
  });
  let device: Device;
  try {
    device = await Device.open({
      onNotice: noticeOnStderr,
      ...deviceOpts,
      path: port.path,
      binding: recorder.wrap(port.binding),
    });
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
