/**
 * The epqrng recording format, version 1: one EPQ-1 session, both directions
 * of the link, byte for byte, with host timestamps. Written as it streams and
 * readable up to its last complete record after a crash.
 *
 * ```
 * file
 * +0      8  magic            89 45 50 51 52 45 43 0A   ("\x89EPQREC\n")
 * +8      4  headerLength     u32 LE, H in 2..HEADER_MAX_BYTES
 * +12     H  header           UTF-8 JSON, RecordingHeader (zod schema below)
 * +12+H   4  headerCrc        u32 LE, CRC-32 (zlib) over bytes 8..12+H-1
 * +16+H   .. records, until end of file
 *
 * record (RECORD_OVERHEAD = 20 bytes around the data)
 * +0      1  direction        'D' 0x44 device->host, 'H' 0x48 host->device, 'R' 0x52 run event, 'E' 0x45 end
 * +1      3  reserved         zero
 * +4      4  length           u32 LE, L in 1..RECORD_MAX_BYTES
 * +8      8  timeUs           u64 LE, microseconds since the recording started
 * +16     L  bytes            exactly as they crossed the link (D, H), or JSON (R, E)
 * +16+L   4  crc              u32 LE, CRC-32 (zlib) over record bytes 0..16+L-1
 * ```
 *
 * - `D` records hold what one read() of the port returned, `H` records what
 *   one write() sent: chunk boundaries are kept, though nothing depends on
 *   them.
 * - The `E` record closes a complete recording (JSON, EndRecord: record and
 *   byte counts, and, from the commands that certify, `session`: how the
 *   session ended and what it delivered). A file without it was cut (a host
 *   crash leaves no end record): readers replay every complete record before
 *   the cut and warn with its byte offset and record index. `session` is an
 *   optional field, so recordings written before it read as before.
 * - `R` records (JSON, RunEvent) appear only in sessions of several runs:
 *   on ports opened one after another (`stream --reconnect`), `disconnect`
 *   where the host lost its port, then `reconnect` (when, the
 *   INFO of the chip that answered, the trials dropped) before the records
 *   of the next port; on one port (`serve`: STOP when its pool is full,
 *   START when it drained), `run-end` after each run, with the blocks the
 *   host took from it. A single-run stream or record recording has none,
 *   so it is byte for byte what it was before they existed.
 * - Timestamps are host monotonic time (`clock: 'host-monotonic'`) or, for
 *   reproducible fixtures made on the virtual-clock simulator, chip time
 *   (`clock: 'chip'`) or nothing (`clock: 'none'`, all zero).
 * - A file that does not start with MAGIC_PREFIX is a raw capture: the
 *   device-to-host bytes as read from the port, nothing else.
 */
import { z } from 'zod';
import { crc32 } from 'node:zlib';
import { InputError } from '../errors.ts';

/** "\x89EPQREC\n": the high byte keeps text tools off; the newline catches CRLF mangling. */
export const MAGIC = Buffer.from([0x89, 0x45, 0x50, 0x51, 0x52, 0x45, 0x43, 0x0a]);
/** A file starting with these 4 bytes claims to be a recording: a wrong rest of the magic is an error, not a raw capture. */
export const MAGIC_PREFIX_BYTES = 4;
export const FORMAT_VERSION = 1;
/** Room for an embedded extractor seed (3N - 1 bits for blocks of N trials, base64) of blocks up to 2^26 trials. */
export const HEADER_MAX_BYTES = 64 << 20;
export const RECORD_HEADER_BYTES = 16;
export const RECORD_CRC_BYTES = 4;
export const RECORD_OVERHEAD = RECORD_HEADER_BYTES + RECORD_CRC_BYTES;
/** Largest data of one record: far above any serial read, small enough that a corrupt length is caught. */
export const RECORD_MAX_BYTES = 16 << 20;

export const Direction = { DEVICE_TO_HOST: 0x44, HOST_TO_DEVICE: 0x48, RUN_EVENT: 0x52, END: 0x45 } as const;
export type DirectionCode = (typeof Direction)[keyof typeof Direction];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const u8 = z.number().int().min(0).max(255);

/** PROTOCOL 4 INFO, as decoded (the fields of InfoFrame without the frame header). */
export const DeviceInfoSchema = z.object({
  protocol: z.tuple([u8, u8]),
  firmware: z.tuple([u8, u8, u8]),
  serial: z.string().max(16),
  model: z.string().max(16),
  maxTrialRate: z.number().int().min(0),
  capabilities: z.number().int().min(0).max(0xffff),
  settingsFifo: z.number().int().min(0),
});
export type RecordedDeviceInfo = z.infer<typeof DeviceInfoSchema>;

/** The extractor seed of the session: always its SHA-256, the bytes only when embedded. */
export const SeedReferenceSchema = z.object({
  sha256: hex64,
  /** base64 of the seed bytes, when the recorder chose to embed them. */
  bytes: z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64')
    .optional(),
  /** Where the seed came from, for the reader's benefit (a file name, "os-csprng"). */
  source: z.string().optional(),
});
export type SeedReference = z.infer<typeof SeedReferenceSchema>;

export const RecordingHeaderSchema = z.object({
  format: z.literal('epqrng-recording'),
  version: z.literal(FORMAT_VERSION),
  /** What made it: `record`, `stream`, `calibrate`, a test. */
  tool: z.string(),
  /** The command line (argv after the program name), as given. */
  commandLine: z.array(z.string()),
  /** ISO 8601 wall-clock time of the start; left out in reproducible fixtures. */
  startedAt: z.string().optional(),
  clock: z.enum(['host-monotonic', 'chip', 'none']),
  /** PROTOCOL 4 INFO of the device; null when the session never got an INFO. */
  device: DeviceInfoSchema.nullable(),
  extractorSeed: SeedReferenceSchema.nullable(),
  /** Free-form facts about the session (simulator seed and mode, options). */
  notes: z.record(z.string(), z.unknown()).optional(),
});
export type RecordingHeader = z.infer<typeof RecordingHeaderSchema>;

/**
 * How a session ended, as the host saw it:
 * - `bytes`: the host sent STOP once its certified blocks covered --bytes;
 * - `signal`: SIGINT or SIGTERM made the host send STOP (`signal` names it);
 * - `chip-ended`: the chip ended the run by itself (STATUS in state IDLE, PROTOCOL 5);
 * - `device-lost`: the link failed (unplugged, port closed or in error, no answer);
 * - `device-fault`: the chip reported a fault (PROTOCOL 4 STATUS), or refused a command;
 * - `refused`: certification refused --max-refused blocks in a row;
 * - `error`: anything else (an output that could not be written, a bug).
 * A host that crashed (or was SIGKILLed) writes no end record at all.
 */
export const SESSION_ENDINGS = [
  'bytes',
  'signal',
  'chip-ended',
  'device-lost',
  'device-fault',
  'refused',
  'error',
] as const;
export type SessionEnding = (typeof SESSION_ENDINGS)[number];

/** Longest `detail` kept in an end record: a one-line reason, not a log. */
export const SESSION_DETAIL_MAX_CHARS = 200;

export const SessionEndSchema = z.object({
  ending: z.enum(SESSION_ENDINGS),
  /** The signal, for ending `signal`. */
  signal: z.string().max(16).optional(),
  /** The one-line reason of an error ending (its message, cut to SESSION_DETAIL_MAX_CHARS). */
  detail: z.string().max(SESSION_DETAIL_MAX_CHARS).optional(),
  /** What reached the user: whole blocks, each after its certificate. */
  delivered: z.object({
    blocks: z.number().int().min(0),
    bytes: z.number().int().min(0),
    /** hashCertificate of the last certificate delivered (the head of the chain), null when none was. */
    lastCertificateSha256: hex64.nullable(),
  }),
  /** Trial runs (START to its end) in the session: more than one when the host restarted a run (reconnect). */
  runs: z.number().int().min(0).optional(),
});
export type SessionEnd = z.infer<typeof SessionEndSchema>;

/** Longest JSON of an `R` record: a few hundred bytes, far below RECORD_MAX_BYTES. */
export const RUN_EVENT_MAX_BYTES = 4096;

/**
 * Payload of an `R` record. `disconnect`: the host lost the port of run
 * `run` (the records before belong to that run; those after it, up to the
 * next event, are what closing the lost port still carried). `reconnect`:
 * a chip answered where the lost one was; the records that follow are its
 * port's (GET_INFO first); `at` and `trialsDropped` are what the first
 * certificate of the next run records (certificate `reconnect`); a chip
 * with another serial was refused (the session ends there). `run-end`: run
 * `run` on the same port is over, and the host took `blocks` certified
 * blocks from it (serve stops taking blocks when its pool is full: the
 * blocks certified after that are dropped with the run).
 */
export const RunEventSchema = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('disconnect'),
    run: z.number().int().min(1),
    /** The host's one-line reason (the DeviceError). */
    reason: z.string().max(SESSION_DETAIL_MAX_CHARS),
  }),
  z.object({
    event: z.literal('reconnect'),
    /** The run this port starts. */
    run: z.number().int().min(2),
    /** When the chip answered (ISO 8601, UTC). */
    at: z.string().min(1),
    trialsDropped: z.number().int().min(0),
    device: DeviceInfoSchema,
  }),
  z.object({
    event: z.literal('run-end'),
    run: z.number().int().min(1),
    blocks: z.number().int().min(0),
  }),
]);
export type RunEvent = z.infer<typeof RunEventSchema>;

/** Payload of the `E` record. */
export const EndRecordSchema = z.object({
  records: z.number().int().min(0),
  deviceBytes: z.number().int().min(0),
  hostBytes: z.number().int().min(0),
  /** Written by the commands that certify (stream --record); absent in older recordings and other tools'. */
  session: SessionEndSchema.optional(),
});
export type EndRecord = z.infer<typeof EndRecordSchema>;

/** The bytes from the magic to the header CRC, for a header. */
export function encodeFilePreamble(header: RecordingHeader): Buffer {
  const checked = RecordingHeaderSchema.parse(header);
  const json = Buffer.from(JSON.stringify(checked), 'utf8');
  if (json.length > HEADER_MAX_BYTES) {
    throw new InputError('RECORDING_HEADER', `recording header: ${json.length} bytes exceeds ${HEADER_MAX_BYTES}`);
  }
  const out = Buffer.alloc(MAGIC.length + 4 + json.length + 4);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  out.writeUInt32LE(crc32(out.subarray(8, 12 + json.length)), 12 + json.length);
  return out;
}

/** One record, framed and checksummed. */
export function encodeRecord(direction: DirectionCode, timeUs: number, data: Uint8Array): Buffer {
  if (data.length < 1 || data.length > RECORD_MAX_BYTES) {
    throw new RangeError(`record length ${data.length} outside 1..${RECORD_MAX_BYTES}`);
  }
  const out = Buffer.allocUnsafe(RECORD_OVERHEAD + data.length);
  writeRecordInto(out, 0, direction, timeUs, data);
  return out;
}

/** Writes one record at `offset` of `out` (which must have RECORD_OVERHEAD + data.length bytes free). */
export function writeRecordInto(
  out: Buffer,
  offset: number,
  direction: DirectionCode,
  timeUs: number,
  data: Uint8Array,
): number {
  const t = Math.max(0, Math.floor(timeUs));
  out[offset] = direction;
  out[offset + 1] = 0;
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  out.writeUInt32LE(data.length, offset + 4);
  out.writeUInt32LE(t % 0x1_0000_0000, offset + 8);
  out.writeUInt32LE(Math.floor(t / 0x1_0000_0000), offset + 12);
  out.set(data, offset + RECORD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + data.length;
  out.writeUInt32LE(crc32(out.subarray(offset, end)), end);
  return end + RECORD_CRC_BYTES;
}

/** "field device.serial: expected string, received number" from a zod error. */
export function describeZodIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `field ${path}: ${issue.message}`;
}

/**
 * Parses the header JSON bytes; any flaw is an InputError naming the field.
 */
export function parseHeaderJson(json: Buffer): RecordingHeader {
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch {
    throw new InputError('RECORDING_HEADER', 'recording header: not valid JSON');
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    'version' in value &&
    typeof value.version === 'number' &&
    value.version !== FORMAT_VERSION
  ) {
    throw new InputError(
      'RECORDING_VERSION',
      `recording header: format version ${value.version} is not supported (this epqrng reads version ${FORMAT_VERSION})`,
    );
  }
  const parsed = RecordingHeaderSchema.safeParse(value);
  if (!parsed.success) {
    throw new InputError('RECORDING_HEADER', `recording header: ${describeZodIssue(parsed.error)}`);
  }
  return parsed.data;
}
