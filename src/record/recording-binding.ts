/**
 * A serialport binding that tees a session into a recording: it wraps any
 * BindingInterface (the native one, the simulator's in-process binding, a
 * replay) and writes every chunk the host reads (device -> host) and every
 * buffer it writes (host -> device) to a RecordingWriter, byte for byte, in
 * the order the host saw them.
 *
 *   host (Device) --write--> [H record] --> inner port --> chip
 *   host (Device) <--read--- [D record] <-- inner port <-- chip
 *
 * A write is recorded when the host issues it, before the inner port gets
 * it, so a command always precedes its answer in the file. A read is
 * recorded when it returns. What the OS buffered but the host never read
 * (discarded by flush()) is not in the recording: the recording is what the
 * host saw.
 *
 * The writer belongs to the caller: closing the port does not end the
 * recording (a session may reopen the port).
 */
import type * as sp from '../serialport-types.ts';
import type { RecordingWriter } from './writer.ts';

/** Where a recorded port's chunks go: the writer, or a holder that may write them later (run-events.ts). */
export type RecordSink = Pick<RecordingWriter, 'path' | 'isOpen' | 'deviceToHost' | 'hostToDevice'>;

export class RecordingPort implements sp.BindingPortInterface {
  constructor(
    private readonly inner: sp.BindingPortInterface,
    private readonly writer: RecordSink,
  ) {}

  get openOptions(): Required<sp.OpenOptions> {
    return this.inner.openOptions;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    const result = await this.inner.read(buffer, offset, length);
    if (result.bytesRead > 0 && this.writer.isOpen) {
      this.tee(() => this.writer.deviceToHost(result.buffer.subarray(offset, offset + result.bytesRead)));
    }
    return result;
  }

  async write(buffer: Buffer): Promise<void> {
    if (buffer.length > 0 && this.writer.isOpen) this.tee(() => this.writer.hostToDevice(buffer));
    return this.inner.write(buffer);
  }

  /**
   * A recording that cannot be written (disk full) ends the session: the
   * port error names the recording, so the user is not told the chip failed.
   */
  private tee(append: () => void): void {
    try {
      append();
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
      throw new Error(`recording to ${this.writer.path} failed: ${why}`, { cause: e });
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
  update(options: sp.UpdateOptions): Promise<void> {
    return this.inner.update(options);
  }
  set(options: sp.SetOptions): Promise<void> {
    return this.inner.set(options);
  }
  get(): Promise<sp.PortStatus> {
    return this.inner.get();
  }
  getBaudRate(): Promise<{ baudRate: number }> {
    return this.inner.getBaudRate();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  drain(): Promise<void> {
    return this.inner.drain();
  }
}

/** `inner`, with every port it opens recorded into `writer`. */
export function recordingBinding(
  inner: sp.BindingInterface,
  writer: RecordingWriter,
): sp.BindingInterface<RecordingPort> {
  return {
    list(): Promise<sp.PortInfo[]> {
      return inner.list();
    },
    async open(options: sp.OpenOptions): Promise<RecordingPort> {
      const port = await inner.open(options);
      return new RecordingPort(port, writer);
    },
  };
}
