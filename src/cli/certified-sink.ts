/**
 * Where `stream` and `replay` put certified output: bytes to --out (a file
 * or stdout), certificate lines to --certs. One rule for both commands: a
 * block's certificate line is written before its bytes, so no byte is ever
 * on disk without the certificate that covers it (the line's write has
 * completed before its bytes are handed to the OS); writes honour
 * back-pressure; files are closed (flushed) whatever happens.
 *
 * The files are user input too: one that cannot be opened or written (a
 * missing directory, a full disk) is a one-line InputError (exit 2), never an
 * internal error (a reader that closed stdout early ends the command quietly,
 * exit 0: see readerGone), and an output that is the
 * same file as another file of the command (the recording being replayed,
 * a seed, --record) is refused before anything is truncated.
 */
import { accessSync, constants, createWriteStream, existsSync, statSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { InputError, UsageError } from '../errors.ts';
import { FifoOutput, isFifo } from './fifo-output.ts';
import { StdoutClosed } from './framework.ts';

/**
 * `--out -` (stdout) on a terminal is refused unless --force-tty: raw random
 * bytes would garble it. One line saying what to do instead.
 */
export function refuseTerminal(outPath: string, stdoutIsTTY: boolean | undefined, force: boolean | undefined): void {
  if (outPath === '-' && stdoutIsTTY && !force) {
    throw new UsageError(
      'stdout is a terminal: redirect it (> FILE, | od -An -tx1), pass --out FILE, or --force-tty to write raw bytes there',
    );
  }
}

/** A file the command line names: `option` as the user wrote it (e.g. `--record`, `FILE`). */
export interface NamedPath {
  option: string;
  path: string;
}

/** Whether two paths name the same file: the same resolved path, or the same existing regular file (links included). */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.isFile() && sb.isFile() && sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false; // one of them does not exist (yet): not the same file
  }
}

function outputError(option: string, path: string, e: unknown): InputError {
  const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
  const where = path === '-' ? 'stdout' : path;
  return new InputError('OUTPUT_UNWRITABLE', `cannot write ${option} ${where}: ${code}`, { cause: e });
}

/** Opens a file for writing; an error is an InputError naming the option. */
async function openOutput(option: string, path: string): Promise<WriteStream> {
  // A FIFO (e.g. rngd's) is written for whichever reader comes, in turn (fifo-output.ts).
  if (option === '--out' && isFifo(path)) return new FifoOutput(path) as unknown as WriteStream;
  const s = createWriteStream(path);
  try {
    await once(s, 'ready');
  } catch (e) {
    throw outputError(option, path, e);
  }
  return s;
}

export class CertifiedSink {
  private readonly pending: string[] = [];
  private failure: InputError | StdoutClosed | undefined;
  private failureReported = false;
  private readonly listeners: Array<[NodeJS.WritableStream, (e: unknown) => void]> = [];
  /** Bytes written to the output. */
  bytes = 0;

  private constructor(
    private readonly out: NodeJS.WritableStream,
    outPath: string,
    private readonly certs: WriteStream | undefined,
    private readonly certsPath: string | undefined,
    private readonly stdout: NodeJS.WritableStream,
  ) {
    this.watch(out, '--out', outPath);
    if (certs) this.watch(certs, '--certs', certsPath!);
  }

  /**
   * Opens --out (`outPath` '-' is `stdout`) and --certs for writing. Refuses
   * (UsageError, before any file is truncated) an output that is the same
   * file as the other output or as one of `others`: the files the command
   * reads or writes besides (the recording, seeds, --record).
   */
  static async open(
    outPath: string,
    certsPath: string | undefined,
    stdout: NodeJS.WritableStream,
    others: readonly NamedPath[] = [],
  ): Promise<CertifiedSink> {
    CertifiedSink.check(outPath, certsPath, others, { writable: false });
    const out = outPath === '-' ? stdout : await openOutput('--out', outPath);
    let certs: WriteStream | undefined;
    try {
      certs = certsPath === undefined ? undefined : await openOutput('--certs', certsPath);
    } catch (e) {
      if (out !== stdout) await closeStream(out as WriteStream);
      throw e;
    }
    return new CertifiedSink(out, outPath, certs, certsPath, stdout);
  }

  /**
   * The checks of open() without creating or truncating anything, for a
   * command to run before it touches the chip (and opens the files after,
   * so that a run that cannot start leaves an existing --out as it was):
   * no output is the same file as another or as one of `others`, and, with
   * `writable`, each can be written (it exists and is writable, or its
   * directory does). UsageError / InputError naming the option.
   */
  static check(
    outPath: string,
    certsPath: string | undefined,
    others: readonly NamedPath[] = [],
    { writable = true }: { writable?: boolean } = {},
  ): void {
    const outputs: NamedPath[] = [];
    if (outPath !== '-') outputs.push({ option: '--out', path: outPath });
    if (certsPath !== undefined) outputs.push({ option: '--certs', path: certsPath });
    for (let i = 0; i < outputs.length; i++) {
      for (const other of [...outputs.slice(i + 1), ...others]) {
        if (sameFile(outputs[i]!.path, other.path)) {
          throw new UsageError(
            `${outputs[i]!.option} ${outputs[i]!.path} is the same file as ${other.option} ${other.path}: writing it would destroy the other`,
          );
        }
      }
    }
    if (!writable) return;
    for (const { option, path } of outputs) {
      try {
        const exists = existsSync(path);
        if (exists && statSync(path).isDirectory())
          throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        accessSync(exists ? path : dirname(resolve(path)), constants.W_OK);
      } catch (e) {
        throw outputError(option, path, e);
      }
    }
  }

  /** Keeps the first write error of a stream (an unobserved 'error' event would crash the process). */
  private watch(s: NodeJS.WritableStream, option: string, path: string): void {
    const listener = (e: unknown): void => {
      this.failure ??= readerGone(s, this.stdout, e) ? new StdoutClosed({ cause: e }) : outputError(option, path, e);
    };
    s.on('error', listener);
    this.listeners.push([s, listener]);
  }

  private throwIfFailed(): void {
    if (this.failure) {
      this.failureReported = true;
      throw this.failure;
    }
  }

  /** Writes to a stream, honouring back-pressure; a write error is thrown (InputError). */
  private async write(s: NodeJS.WritableStream, data: Uint8Array | string): Promise<void> {
    this.throwIfFailed();
    if (!s.write(data)) {
      try {
        await once(s, 'drain');
      } catch {
        // the 'error' listener has kept it
      }
    }
    this.throwIfFailed();
  }

  /** Pass as the pipeline's onCertificate: the line is written before the next bytes. */
  readonly onCertificate = (line: string): void => {
    this.pending.push(line);
  };

  /**
   * Drains a certified stream into the files and returns its final value.
   * If a write fails the stream is ended (return()) so its source closes,
   * and the write error is thrown.
   */
  async pump<R>(stream: AsyncGenerator<Uint8Array, R, void>): Promise<R> {
    try {
      for (;;) {
        const r = await stream.next();
        await this.flushCertificates();
        if (r.done) return r.value;
        await this.write(this.out, r.value);
        this.bytes += r.value.length;
      }
    } finally {
      await stream.return(undefined as R).catch(() => undefined);
    }
  }

  /** Writes the pending certificate lines and waits until the OS has them: only then may their bytes follow. */
  private async flushCertificates(): Promise<void> {
    const certs = this.certs;
    for (const line of this.pending.splice(0)) {
      if (!certs) continue;
      this.throwIfFailed();
      const err = await new Promise<Error | null | undefined>((done) => certs.write(`${line}\n`, done));
      if (err) this.failure ??= outputError('--certs', this.certsPath!, err);
      this.throwIfFailed();
    }
  }

  /**
   * Closes the files (stdout stays open). A write that failed and was not
   * thrown yet (e.g. the last flush at close) is thrown here: the output is
   * incomplete, and the command must not exit 0.
   */
  async close(): Promise<void> {
    if (this.certs) await closeStream(this.certs);
    if (this.out !== this.stdout) await closeStream(this.out as WriteStream);
    else if (!this.failure) await new Promise<void>((done) => this.stdout.write('', () => done()));
    for (const [s, listener] of this.listeners.splice(0)) s.removeListener('error', listener);
    if (this.failure && !this.failureReported) this.throwIfFailed();
  }
}

/**
 * Whether a write error says the reader of stdout went away (`| head -c N`):
 * EPIPE on stdout. The pump then ends the stream (the chip is stopped with
 * STOP/ACK) and throws StdoutClosed, which the CLI ends with exit 0 and
 * nothing on stderr; every byte written before was a whole write.
 */
function readerGone(s: NodeJS.WritableStream, stdout: NodeJS.WritableStream, e: unknown): boolean {
  return s === stdout && (e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/** Ends a file stream and waits for its fd to close (at once if an error already destroyed it). */
async function closeStream(s: WriteStream): Promise<void> {
  if (s.closed) return;
  const closed = once(s, 'close').catch(() => undefined);
  if (!s.destroyed && !s.writableEnded) s.end();
  await closed;
}
