/**
 * FrameError: 64 bytes that are not a frame (PROTOCOL 3), or a value the encoder refuses to put on the wire. More in
 * README.md (errors.ts).
 */
export type FrameErrorReason = 'length' | 'magic' | 'crc' | 'flags' | 'reserved' | 'range' | 'direction';

export class FrameError extends Error {
  readonly reason: FrameErrorReason;
  readonly field?: string;
  readonly payloadOffset?: number;
  readonly type?: number;
  readonly seq?: number;
  constructor(
    reason: FrameErrorReason,
    message: string,
    details: { field?: string; payloadOffset?: number; type?: number; seq?: number } = {},
  ) {
    super(message);
    this.name = 'FrameError';
    this.reason = reason;
    if (details.field !== undefined) this.field = details.field;
    if (details.payloadOffset !== undefined) this.payloadOffset = details.payloadOffset;
    if (details.type !== undefined) this.type = details.type;
    if (details.seq !== undefined) this.seq = details.seq;
  }
}

const hex2 = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;

/** PROTOCOL 3: a field outside its stated range. */
export function rangeError(
  kind: string,
  section: string,
  field: string,
  value: number | bigint | string,
  allowed: string,
  payloadOffset: number,
  type?: number,
  seq?: number,
): FrameError {
  return new FrameError('range', `${kind} ${field} = ${value} is outside ${allowed} (PROTOCOL ${section})`, {
    field,
    payloadOffset,
    type,
    seq,
  });
}

/** PROTOCOL 3: a non-zero reserved byte (`field` undefined) or reserved bits inside a field. */
export function reservedError(
  kind: string,
  field: string | undefined,
  value: number,
  reservedBits: number,
  payloadOffset: number,
  type?: number,
  seq?: number,
): FrameError {
  const msg =
    field === undefined
      ? `${kind} reserved payload byte ${payloadOffset} is ${hex2(value)} (must be 0, PROTOCOL 3)`
      : `${kind} ${field} = 0x${value.toString(16)} sets reserved bits 0x${reservedBits.toString(16)} (PROTOCOL 3)`;
  return new FrameError('reserved', msg, { field, payloadOffset, type, seq });
}

/** PROTOCOL 3: an undefined flag bit. */
export function flagsError(kind: string, flags: number, definedMask: number, type?: number, seq?: number): FrameError {
  return new FrameError(
    'flags',
    `${kind} flags ${hex2(flags)} set undefined bits ${hex2(flags & ~definedMask & 0xff)} (PROTOCOL 3)`,
    { field: 'flags', type, seq },
  );
}
