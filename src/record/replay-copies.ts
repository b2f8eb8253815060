/**
 * Copies of a recording's device-to-host records for the replayed port's
 * read queue, in buffers that come back when the host has read them: the
 * file is then read into one reused buffer (openRecording reuseChunks), and
 * a replay makes no garbage of the recording's size outside the JS heap
 * (V8 frees such buffers only at its collections, which a replay that
 * allocates little on the heap makes rare: the process would hold tens of
 * MB of spent file chunks at its peak).
 *
 * Buffers come in power-of-two sizes from 4 KiB; at most `keepBytes` of
 * them wait for reuse, the rest go to the collector.
 */
const MIN_BYTES = 4096;

export class RecordCopies {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;

  constructor(private readonly keepBytes: number) {}

  /** A copy of `bytes` (the file's buffer is reused for the next read). */
  copy(bytes: Uint8Array): Buffer {
    let size = MIN_BYTES;
    while (size < bytes.length) size *= 2;
    const ab = this.free.get(size)?.pop();
    if (ab) this.freeBytes -= size;
    const out = Buffer.from(ab ?? new ArrayBuffer(size), 0, bytes.length);
    out.set(bytes);
    return out;
  }

  /** Hands back a copy the host has read whole (nothing else holds it). */
  release(copy: Buffer): void {
    const ab = copy.buffer as ArrayBuffer;
    if (copy.byteOffset !== 0 || this.freeBytes + ab.byteLength > this.keepBytes) return;
    const list = this.free.get(ab.byteLength) ?? [];
    if (list.length === 0) this.free.set(ab.byteLength, list);
    list.push(ab);
    this.freeBytes += ab.byteLength;
  }
}
