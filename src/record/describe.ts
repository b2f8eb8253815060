/**
 * Human descriptions of recorded link bytes, for replay and verify messages:
 * `SET_DELAY seq 7 (delay 1830)`, or the bytes in hex when they are not a
 * frame.
 */
import { FRAME_SIZE, FrameType } from '../protocol/types.ts';
import { decodeFrame } from '../protocol/decode.ts';

const TYPE_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, code]) => [code, name]));

function hexPreview(bytes: Uint8Array, max = 16): string {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${bytes.length} byte${bytes.length === 1 ? '' : 's'} ${shown}${bytes.length > max ? ' ...' : ''}`;
}

function describeValue(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return v.map(describeValue).join(',');
  return String(v);
}

/** One 64-byte frame: kind, seq and payload fields; or why it is not a frame. */
export function describeFrame(bytes: Uint8Array): string {
  if (bytes.length !== FRAME_SIZE) return hexPreview(bytes);
  try {
    const frame = decodeFrame(bytes) as unknown as Record<string, unknown>;
    const kind = String(frame.kind === 'UNKNOWN' ? `type 0x${Number(frame.type).toString(16)}` : frame.kind);
    const fields = Object.entries(frame)
      .filter(([k]) => k !== 'kind' && k !== 'seq' && k !== 'type' && !(k === 'flags' && frame.flags === 0))
      .map(([k, v]) => `${k} ${describeValue(v)}`);
    return `${kind} seq ${String(frame.seq)}${fields.length ? ` (${fields.join(', ')})` : ''}`;
  } catch (e) {
    const type = TYPE_NAMES.get(bytes[2]!) ?? `type 0x${bytes[2]!.toString(16)}`;
    const reason = e instanceof Error ? e.message : String(e);
    return `a bad ${type} frame (${reason})`;
  }
}

/**
 * The frames around a mismatch between recorded host bytes and written ones.
 * Host writes are whole frames, so the frame holding byte `expectedAt` of the
 * record lines up with the one holding byte `writtenAt` of the write.
 */
export function describeHostMismatch(
  expected: Uint8Array | null,
  expectedAt: number,
  written: Uint8Array,
  writtenAt: number,
): { expected: string; got: string } {
  const within = expected === null ? writtenAt % FRAME_SIZE : expectedAt % FRAME_SIZE;
  const gotStart = writtenAt - within;
  const got =
    gotStart >= 0 && gotStart + FRAME_SIZE <= written.length
      ? describeFrame(written.subarray(gotStart, gotStart + FRAME_SIZE))
      : hexPreview(written.subarray(writtenAt));
  if (expected === null) return { expected: 'nothing more from the host', got };
  const expStart = expectedAt - within;
  const exp =
    expStart + FRAME_SIZE <= expected.length
      ? describeFrame(expected.subarray(expStart, expStart + FRAME_SIZE))
      : hexPreview(expected.subarray(expectedAt));
  return { expected: exp, got };
}
