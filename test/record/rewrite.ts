/**
 * Reads a recording's records, and writes a changed copy that is a
 * well-formed recording (every CRC right, the end record's counts redone):
 * the edits a tamperer who knows the format would make.
 */
import { FRAME_SIZE } from '../../src/protocol/types.ts';
import { Direction, type DirectionCode, type EndRecord, type RecordingHeader } from '../../src/record/format.ts';
import { openRecording } from '../../src/record/reader.ts';
import { RecordingWriter } from '../../src/record/writer.ts';

export interface Entry {
  direction: DirectionCode;
  timeUs: number;
  bytes: Buffer;
}

export async function readEntries(
  path: string,
): Promise<{ header: RecordingHeader | null; entries: Entry[]; end: EndRecord | null }> {
  const recording = await openRecording(path);
  const entries: Entry[] = [];
  for await (const batch of recording.batches())
    for (const e of batch) entries.push({ direction: e.direction, timeUs: e.timeUs, bytes: Buffer.from(e.bytes) });
  return { header: recording.header, entries, end: recording.end };
}

/** `src` with its records changed by `change`, to `dst` (the end record keeps its `session`). */
export async function rewriteRecording(src: string, dst: string, change: (e: Entry[]) => Entry[]): Promise<void> {
  const { header, entries, end } = await readEntries(src);
  const w = new RecordingWriter(dst, { header: header!, fsyncOnClose: false });
  for (const e of change(entries)) w.append(e.direction, e.bytes, e.timeUs);
  w.close(undefined, end?.session);
}

/**
 * `entries` with one bit flipped in a trial byte (the second frame of the
 * first device chunk of two frames or more at index `from` or later); throws
 * when there is none, so a test cannot pass by flipping nothing.
 */
export function flipTrialByte(entries: Entry[], from: number): Entry[] {
  const at = entries.findIndex(
    (e, i) => i >= from && e.direction === Direction.DEVICE_TO_HOST && e.bytes.length >= 2 * FRAME_SIZE,
  );
  if (at < 0) throw new Error(`no device chunk of two frames from record ${from} on`);
  const bytes = Buffer.from(entries[at]!.bytes);
  bytes[FRAME_SIZE + 20]! ^= 0x01;
  return entries.map((e, i) => (i === at ? { ...e, bytes } : e));
}
