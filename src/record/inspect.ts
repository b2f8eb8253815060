/**
 * What a file given to `replay` or `verify` is, decided before anything is
 * replayed, so that input which is neither a recording nor a capture ends at
 * once as bad input (exit 2) instead of being scanned to its end:
 *
 * - an empty file (or /dev/null): not a recording or capture;
 * - a raw capture (no recording magic) with no valid EPQ-1 frame (PROTOCOL 3:
 *   magic, CRC-32, fields) in its first FRAME_SCAN_BYTES: not a capture
 *   (random bytes, text, /dev/zero, another file type);
 * - a recording whose first record is already damaged, or that holds no
 *   record at all: nothing in it can be replayed.
 *
 * A raw capture's INFO frame, when it lies in the scanned bytes, names the
 * device in the certificates.
 */
import { InputError } from '../errors.ts';
import { FrameSync } from '../protocol/sync.ts';
import type { InfoFrame } from '../protocol/types.ts';
import type { RecordedDeviceInfo, RecordingHeader } from './format.ts';
import { deviceBytes, openRecording, type Recording, type RecordingKind } from './reader.ts';
import { deviceInfoOf } from './session.ts';

/** How far into a raw capture the first valid frame must lie (1 MiB: a capture starts with frames). */
export const FRAME_SCAN_BYTES = 1 << 20;

export interface InputSummary {
  kind: RecordingKind;
  /** The recording's header (null for a raw capture). */
  header: RecordingHeader | null;
  /** A raw capture's INFO frame, if one lies in its first FRAME_SCAN_BYTES. */
  info: RecordedDeviceInfo | null;
  /** Throws the InputError of a recording with no usable record (checked by the caller after the header). */
  requireRecords(): void;
}

/** Opens `path`, checks it holds something to replay (see above), and closes it. */
export async function inspectInput(path: string, scanBytes = FRAME_SCAN_BYTES): Promise<InputSummary> {
  const recording = await openRecording(path, { chunkBytes: Math.min(scanBytes, 1 << 20) });
  try {
    if (recording.kind === 'recording') {
      const problem = await firstRecord(recording);
      const requireRecords = (): void => {
        if (problem) throw problem;
      };
      return { kind: 'recording', header: recording.header, info: null, requireRecords };
    }
    return { kind: 'raw', header: null, info: await scanCapture(recording, scanBytes), requireRecords: () => {} };
  } finally {
    await recording.close();
  }
}

/** The error of a recording whose first record is damaged or missing, or null when it has one. */
async function firstRecord(recording: Recording): Promise<InputError | null> {
  for await (const batch of recording.batches()) if (batch.length > 0) return null;
  const cut = recording.cut;
  const why = cut && cut.reason !== 'end of file without the end record' ? `: ${cut.reason} at byte ${cut.offset}` : '';
  return new InputError('RECORDING_EMPTY', `${recording.path}: the recording holds no usable record${why}`);
}

async function scanCapture(recording: Recording, scanBytes: number): Promise<RecordedDeviceInfo | null> {
  let info: InfoFrame | null = null;
  const sync = new FrameSync({
    accept: 'device',
    onFrame: (f) => {
      if (!info && f.kind === 'INFO') info = f;
    },
    // TRIALS (most of a capture) are counted in place: no object per frame in a scan of 16,000 of them.
    onTrials: () => undefined,
  });
  let seen = 0;
  for await (const chunk of deviceBytes(recording)) {
    sync.feed(chunk.subarray(0, Math.max(0, scanBytes - seen)));
    seen += chunk.length;
    if (info || seen >= scanBytes) break;
  }
  const frames = sync.stats.frames;
  if (seen === 0) throw new InputError('INPUT_EMPTY', `${recording.path} is empty: not an EPQ-1 recording or capture`);
  if (frames === 0) {
    const scanned = Math.min(seen, scanBytes);
    throw new InputError(
      'INPUT_NOT_CAPTURE',
      `${recording.path} is not an EPQ-1 recording or capture: no valid frame in its first ${scanned} bytes` +
        (seen >= scanBytes ? ` (the limit: a capture has frames from its start)` : ''),
    );
  }
  const found = info as InfoFrame | null;
  return found ? deviceInfoOf(found) : null;
}
