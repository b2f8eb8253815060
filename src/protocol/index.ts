/** Public API of the EPQ-1 codec (PROTOCOL sections 3-5). */
export * from './types.ts';
export { FrameError, type FrameErrorReason } from './errors.ts';
export { crc32Of, frameCrc, storedCrc, writeFrameCrc } from './crc.ts';
export { layoutOf, layoutOfType, LAYOUTS, ENUMS, PROTOCOL_VERSION, type TypeLayout, type FieldOp } from './layouts.ts';
export { encodeFrame, encodeRaw, encodeTrialsInto } from './encode.ts';
export { decodeFrame, decodeFramed, checkFraming } from './decode.ts';
export { FrameSync, type FrameSyncOptions, type FrameSyncStats } from './sync.ts';
export { FrameDecoder, type FrameDecoderOptions } from './decoder.ts';
export { frameAlignedPieces } from './aligned.ts';
