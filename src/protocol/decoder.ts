/**
 * Stream adapters around FrameSync. More in README.md (decoder.ts).
 */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import type { FrameError } from './errors.ts';
import { FrameSync, type FrameSyncStats } from './sync.ts';
import type { Frame, UnknownFrame } from './types.ts';

export interface FrameDecoderOptions extends TransformOptions {
  /** Which direction's frames to emit: 'device' for a host driver, 'host' for a device, 'any' for taps. */
  accept?: 'device' | 'host' | 'any';
}

/**
 * Events: 'data' (Frame), 'invalid' (FrameError, streamOffset),
 * 'unknown' (UnknownFrame, streamOffset).
 */
export class FrameDecoder extends Transform {
  private readonly sync: FrameSync;

  constructor({ accept = 'device', ...transformOptions }: FrameDecoderOptions = {}) {
    super({ ...transformOptions, readableObjectMode: true });
    this.sync = new FrameSync({
      accept,
      onFrame: (frame: Frame) => {
        this.push(frame);
      },
      onInvalid: (err: FrameError, at: number) => {
        this.emit('invalid', err, at);
      },
      onUnknown: (frame: UnknownFrame, at: number) => {
        this.emit('unknown', frame, at);
      },
    });
  }

  /** Counters: frames, bytesIn, bytesSkipped, crcErrors, invalid by reason, unknownTypes. */
  get stats(): FrameSyncStats {
    return this.sync.stats;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.sync.push(chunk);
    } catch (e) {
      // Only a throwing 'invalid'/'unknown' listener gets here: FrameSync never throws on input.
      callback(e as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.sync.flush(); // PROTOCOL 3: a partial frame is not a frame; counted, never pushed
    callback();
  }
}
