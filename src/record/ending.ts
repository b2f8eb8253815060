/**
 * How a recorded session ended and what it delivered (format.ts SessionEnd),
 * for the end record that `stream --record` writes and that `verify` and
 * `replay` read back:
 *
 *   const ledger = new SessionLedger();
 *   certifiedStream(device, { onRun: ledger.onRun, onCertificate: (l) => { ledger.onCertificate(l); ... } })
 *   ... recorder.close(ledger.end({ interruptedBy, wanted, error }))
 *
 * `readSessionEnd` finds the end record of a recording file without reading
 * the file through (the last record of a plain file; a gzip file is read
 * through, it is small).
 */
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { hashCertificate } from '../certify/index.ts';
import { CertificationRefusedError, DeviceError } from '../errors.ts';
import {
  Direction,
  EndRecordSchema,
  RECORD_CRC_BYTES,
  RECORD_HEADER_BYTES,
  SESSION_DETAIL_MAX_CHARS,
  type EndRecord,
  type SessionEnd,
  type SessionEnding,
} from './format.ts';
import { openRecording } from './reader.ts';

/** Device errors that mean the link is gone (src/device: port closed or failed, nothing answers). */
const LINK_LOST = new Set(['DISCONNECTED', 'PORT_ERROR', 'CLOSED', 'WRITE_FAILED', 'NO_ANSWER', 'WATCHDOG']);

export interface SessionOutcome {
  /** --bytes (Infinity without it). */
  wanted: number;
  /** Bytes the user got. */
  written: number;
  /** The signal that made the host stop, if one did. */
  interruptedBy?: NodeJS.Signals | undefined;
  /** What ended the session, when it ended in an error. */
  error?: unknown;
}

/** The ending of a session from what the host saw (see SESSION_ENDINGS in format.ts). */
export function classifyEnding({ wanted, written, interruptedBy, error }: SessionOutcome): {
  ending: SessionEnding;
  signal?: string;
  detail?: string;
} {
  if (error !== undefined) {
    const detail = oneLine(error instanceof Error ? error.message : String(error));
    if (error instanceof CertificationRefusedError) return { ending: 'refused', detail };
    if (error instanceof DeviceError) {
      if (error.code === 'RUN_ENDED') return { ending: 'chip-ended', detail };
      return { ending: LINK_LOST.has(error.code) ? 'device-lost' : 'device-fault', detail };
    }
    if (interruptedBy) return { ending: 'signal', signal: interruptedBy, detail };
    return { ending: 'error', detail };
  }
  if (written >= wanted) return { ending: 'bytes' };
  if (interruptedBy) return { ending: 'signal', signal: interruptedBy };
  // PROTOCOL 5: only STOP (this host's) or the chip itself ends a run.
  return { ending: 'chip-ended' };
}

/** A message as one line of at most SESSION_DETAIL_MAX_CHARS characters (an end record's or run event's detail). */
export function oneLine(s: string): string {
  const line = s.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > SESSION_DETAIL_MAX_CHARS ? `${line.slice(0, SESSION_DETAIL_MAX_CHARS - 3)}...` : line;
}

/** Counts what a session delivered: its runs and its certificates (the chain's head). */
export class SessionLedger {
  runs = 0;
  blocks = 0;
  lastCertificateSha256: string | null = null;

  readonly onRun = (): void => {
    this.runs++;
  };

  /** Each certificate line handed to the output (its bytes follow it). */
  readonly onCertificate = (line: string): void => {
    this.blocks++;
    this.lastCertificateSha256 = hashCertificate(line);
  };

  /** The end record's `session` for this outcome. */
  end(outcome: SessionOutcome): SessionEnd {
    return {
      ...classifyEnding(outcome),
      delivered: { blocks: this.blocks, bytes: outcome.written, lastCertificateSha256: this.lastCertificateSha256 },
      runs: this.runs,
    };
  }
}

/** Longest end record looked for at the tail of a file (its JSON is a few hundred bytes). */
const END_RECORD_MAX_BYTES = 4096;

/**
 * The end record of a recording, or null when it has none (cut, crashed) or
 * is not a recording. Reads only the tail of a plain file.
 */
export async function readSessionEnd(path: string): Promise<EndRecord | null> {
  const fh = await open(path, 'r');
  let tail: Buffer;
  let gzip = false;
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    gzip = head[0] === 0x1f && head[1] === 0x8b;
    const n = Math.min(size, END_RECORD_MAX_BYTES);
    tail = Buffer.alloc(n);
    if (!gzip) await fh.read(tail, 0, n, size - n);
  } finally {
    await fh.close();
  }
  if (gzip) return readThrough(path);
  return endRecordAtTail(tail);
}

/** The end record that finishes `tail` exactly, if any. */
export function endRecordAtTail(tail: Buffer): EndRecord | null {
  for (let p = tail.length - RECORD_HEADER_BYTES - RECORD_CRC_BYTES - 1; p >= 0; p--) {
    if (tail[p] !== Direction.END || tail[p + 1] !== 0 || tail[p + 2] !== 0 || tail[p + 3] !== 0) continue;
    const length = tail.readUInt32LE(p + 4);
    const dataEnd = p + RECORD_HEADER_BYTES + length;
    if (dataEnd + RECORD_CRC_BYTES !== tail.length) continue;
    if (tail.readUInt32LE(dataEnd) !== crc32(tail.subarray(p, dataEnd))) continue;
    try {
      const r = EndRecordSchema.safeParse(JSON.parse(tail.subarray(p + RECORD_HEADER_BYTES, dataEnd).toString('utf8')));
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }
  return null;
}

async function readThrough(path: string): Promise<EndRecord | null> {
  const recording = await openRecording(path);
  for await (const _ of recording.batches()) {
    // records are not needed, only the end record after them
  }
  return recording.end;
}

/** "ended by SIGINT after 3 blocks (12345 bytes)": the ending, in words, for verify's report. */
export function describeEnding(session: SessionEnd): string {
  const what = `${session.delivered.blocks} blocks (${session.delivered.bytes} bytes) delivered`;
  const how: Record<SessionEnding, string> = {
    bytes: 'ended by STOP once --bytes were certified',
    signal: `ended by ${session.signal ?? 'a signal'} (STOP)`,
    'chip-ended': 'ended by the chip (a STATUS in state IDLE no STOP asked for)',
    'device-lost': 'ended when the device was lost',
    'device-fault': 'ended by a device fault',
    refused: 'ended refused by certification',
    error: 'ended by an error',
  };
  const runs = session.runs !== undefined && session.runs > 1 ? `, ${session.runs} runs` : '';
  return `session ${how[session.ending]}${session.detail ? ` (${session.detail})` : ''}: ${what}${runs}`;
}
