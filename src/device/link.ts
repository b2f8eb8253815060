/**
 * The device layer's view of the protocol's resynchronising scanner
 * (src/protocol/sync.ts, PROTOCOL 3): bytes in, checked device frames out,
 * synchronously, so that one chunk read gives one batch of events.
 *
 * PROTOCOL 3: a frame with a wrong CRC, magic, reserved bit, undefined flag
 * or out-of-range field is not a frame: the scanner drops it and re-locks.
 * CRC-valid frames that failed a check are reported through `onInvalid`
 * (they become 'invalid' run events), with their device seq so that they do
 * not look like frames lost on the link. Frames of undefined types go to
 * `onFrame` as UnknownFrame (PROTOCOL 3: skipped and counted by the caller).
 */
import { FrameSync, type FrameSyncStats, type TrialsSink } from '../protocol/sync.ts';
import type { FrameError } from '../protocol/errors.ts';
import type { DeviceFrame, UnknownFrame } from '../protocol/types.ts';

export interface InvalidFrameReport {
  reason: string;
  field?: string;
  type?: number;
  /** The device seq of the dropped frame (absent for host-direction frames: not the device's counter). */
  seq?: number;
  message: string;
}

export interface LinkScanner {
  /** Scans one chunk; calls onFrame / onInvalid synchronously, in link order. */
  push(chunk: Uint8Array): void;
  /** The scanner's counters (CRC errors, bytes skipped, invalid by reason). */
  readonly stats: FrameSyncStats;
}

/**
 * `onTrials`, when given, takes every valid TRIALS frame in place (FrameSync's TRIALS sink: no decoded object per
 * frame, the hot path of a run); `onFrame` then gets every other frame.
 */
export function createLinkScanner(
  onFrame: (frame: DeviceFrame | UnknownFrame) => void,
  onInvalid: (report: InvalidFrameReport) => void,
  onTrials?: TrialsSink,
): LinkScanner {
  const sync = new FrameSync({
    accept: 'device',
    ...(onTrials ? { onTrials } : {}),
    onFrame: (frame) => onFrame(frame as DeviceFrame),
    onUnknown: (frame) => onFrame(frame),
    onInvalid: (e: FrameError) => {
      const report: InvalidFrameReport = { reason: e.reason, message: e.message };
      if (e.field !== undefined) report.field = e.field;
      if (e.type !== undefined) report.type = e.type;
      if (e.seq !== undefined && e.reason !== 'direction') report.seq = e.seq;
      onInvalid(report);
    },
  });
  return {
    push(chunk) {
      sync.feed(chunk);
    },
    get stats() {
      return sync.stats;
    },
  };
}
