/**
 * Where `stream` and `replay` put certified output: bytes to --out (a file
 * or stdout), certificate lines to --certs. One rule for both commands: a
 * block's certificate line is written before its bytes, so no byte is ever
 * on disk without the certificate that covers it; writes honour
 * back-pressure; files are closed (flushed) whatever happens.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

/** Writes to a stream, honouring back-pressure. */
async function write(out: NodeJS.WritableStream, data: Uint8Array | string): Promise<void> {
  if (!out.write(data)) await once(out, 'drain');
}

export class CertifiedSink {
  private readonly out: NodeJS.WritableStream;
  private readonly certs: WriteStream | undefined;
  private readonly pending: string[] = [];
  /** Bytes written to the output. */
  bytes = 0;

  /** `outPath` '-' is `stdout`. */
  constructor(outPath: string, certsPath: string | undefined, private readonly stdout: NodeJS.WritableStream) {
    this.out = outPath === '-' ? stdout : createWriteStream(outPath);
    this.certs = certsPath === undefined ? undefined : createWriteStream(certsPath);
  }

  /** Pass as the pipeline's onCertificate: the line is written before the next bytes. */
  readonly onCertificate = (line: string): void => {
    this.pending.push(line);
  };

  /**
   * Drains a certified stream into the files and returns its final value.
   * If a write fails the stream is ended (return()) so its source closes.
   */
  async pump<R>(stream: AsyncGenerator<Uint8Array, R, void>): Promise<R> {
    try {
      for (;;) {
        const r = await stream.next();
        await this.flushCertificates();
        if (r.done) return r.value;
        this.bytes += r.value.length;
        await write(this.out, r.value);
      }
    } finally {
      await stream.return(undefined as R).catch(() => undefined);
    }
  }

  private async flushCertificates(): Promise<void> {
    for (const line of this.pending.splice(0)) if (this.certs) await write(this.certs, line + '\n');
  }

  /** Closes the files (stdout stays open). */
  async close(): Promise<void> {
    if (this.certs) {
      this.certs.end();
      await once(this.certs, 'close');
    }
    if (this.out !== this.stdout) {
      this.out.end();
      await once(this.out as WriteStream, 'close');
    }
  }
}
