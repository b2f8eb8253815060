/**
 * `--out FIFO`: certified bytes for a reader that comes and goes (rngd
 * reads a FIFO, and restarts). The FIFO is opened without blocking (a
 * writer's open waits for no reader: ENXIO until there is one, polled), so
 * the run starts whether or not a reader is there; bytes wait for one.
 *
 * When the reader goes away (EPIPE) the chunk being written is dropped, not
 * written again: part of it may have reached the old reader, and no byte
 * goes out twice. The next chunk waits for the next reader, with one line
 * on stderr saying so.
 *
 * A SIGINT/SIGTERM at any time in the output's life gives up every wait for
 * a reader, the one under way and any later one (the command then ends as
 * it does on a signal). Listening only while a wait is under way missed a
 * signal that came between readers: a reader that took less than one
 * block's output left no reader behind, the block certified after the
 * signal then waited for a reader that never came, and the command hung.
 */
import type { EventEmitter } from 'node:events';
import { closeSync, constants, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { InputError } from '../errors.ts';

/** How often the FIFO is tried for a reader while none is there. */
export const READER_POLL_MS = 100;

export function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

export class FifoOutput extends Writable {
  private socket: Socket | undefined;
  private giveUp = false;
  private wake: (() => void) | undefined;
  private readonly onSignal = (): void => this.abandon();
  /** Bytes a reader took, and bytes dropped when a reader went away mid-write. */
  delivered = 0;
  dropped = 0;
  readers = 0;

  constructor(
    readonly path: string,
    private readonly notice: (line: string) => void = (l) => process.stderr.write(`epqrng: ${l}\n`),
    /** Where SIGINT and SIGTERM come from (a test passes its own emitter). */
    private readonly signals: Pick<EventEmitter, 'on' | 'off'> = process,
  ) {
    super({ highWaterMark: 1 << 16 });
    this.signals.on('SIGINT', this.onSignal);
    this.signals.on('SIGTERM', this.onSignal);
  }

  private stopListening(): void {
    this.signals.off('SIGINT', this.onSignal);
    this.signals.off('SIGTERM', this.onSignal);
  }

  /** Stops waiting for a reader: what is still to write is dropped. */
  abandon(): void {
    this.giveUp = true;
    this.wake?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => done(), done);
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    const socket = this.socket ?? (await this.waitForReader());
    if (!socket) return;
    const error = await new Promise<Error | null | undefined>((resolve) => socket.write(chunk, resolve));
    if (!error) {
      this.delivered += chunk.length;
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPIPE' && code !== 'ECONNRESET') throw error;
    // The reader went away: this chunk is dropped (it may have been partly read), never written again.
    this.dropped += chunk.length;
    this.dropSocket();
    this.notice(`--out ${this.path}: the reader went away; waiting for the next reader`);
  }

  /** Opens the FIFO once a reader has it open (undefined when the wait was given up). */
  private async waitForReader(): Promise<Socket | undefined> {
    for (let first = true; !this.giveUp; first = false) {
      let fd: number | undefined;
      try {
        fd = openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENXIO') {
          throw new InputError('OUTPUT_UNWRITABLE', `cannot write --out ${this.path}: ${(e as Error).message}`, {
            cause: e,
          });
        }
      }
      if (fd !== undefined) return this.attach(fd);
      if (first && this.readers === 0) this.notice(`--out ${this.path}: waiting for a reader of the FIFO`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, READER_POLL_MS);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return undefined;
  }

  private attach(fd: number): Socket {
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: false, writable: true });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    socket.on('error', () => undefined); // reported to the write's callback
    this.socket = socket;
    this.readers++;
    return socket;
  }

  private dropSocket(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  override _final(done: (e?: Error | null) => void): void {
    this.stopListening();
    const s = this.socket;
    if (!s) {
      done();
      return;
    }
    s.once('close', () => done()); // after the last write, or after an error (a reader gone)
    s.end();
  }

  override _destroy(error: Error | null, done: (e?: Error | null) => void): void {
    this.stopListening();
    this.abandon();
    this.dropSocket();
    done(error);
  }
}
