/**
 * Where certified output goes (src/cli/certified-sink.ts), attacked as user
 * input: an output that cannot be written, an output that is another file of
 * the command, a reader that goes away, and the order of a block's
 * certificate and its bytes on disk.
 */
import { execFileSync } from 'node:child_process';
import {
  close,
  closeSync,
  copyFileSync,
  mkdtempSync,
  open,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CertifiedSink } from '../../src/cli/certified-sink.ts';
import { runCli } from '../../src/cli/framework.ts';
import { epqrngInProcess, expectOneLineError, type Result } from './run-cli.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
/** Small classical blocks: one certified block in well under a second of simulation (fixtures/README.md COMMON). */
const SMALL = ['--block-trials', '262144', '--adversary', 'classical', '--eps', '1e-6'];

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** runCli with a given stdout; stderr collected. */
async function withStdout(stdout: NodeJS.WritableStream, ...argv: string[]): Promise<Result> {
  const err = new PassThrough();
  let stderr = '';
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await runCli(argv, { stdout, stderr: err, isTTY: false });
  return { code, stdout: '', stderr };
}

describe('epqrng stream and replay outputs', () => {
  it('an --out or --certs that cannot be opened: exit 2, one line naming it (not an internal error)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sink-'));
    expectOneLineError(
      await epqrngInProcess(
        'stream',
        '--simulate',
        '--bytes',
        '64',
        '--out',
        join(dir, 'x.bin'),
        '--certs',
        '/nonexistent/dir/c.jsonl',
      ),
      2,
      /^epqrng: cannot write --certs \/nonexistent\/dir\/c\.jsonl: ENOENT$/,
    );
    expectOneLineError(
      await epqrngInProcess('stream', '--simulate', '--bytes', '64', '--out', '/nonexistent/dir/x.bin'),
      2,
      /^epqrng: cannot write --out \/nonexistent\/dir\/x\.bin: ENOENT$/,
    );
  });

  it('a run that cannot start (no such port) leaves an existing --out and --certs as they were', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sink-'));
    const out = join(dir, 'keep.bin');
    const certs = join(dir, 'keep.jsonl');
    writeFileSync(out, 'earlier output');
    writeFileSync(certs, 'earlier certificates\n');
    expectOneLineError(
      await epqrngInProcess(
        'stream',
        '--port',
        join(dir, 'no-such-port'),
        '--bytes',
        '64',
        '--out',
        out,
        '--certs',
        certs,
      ),
      3,
      /^epqrng: cannot open /,
    );
    expect(readFileSync(out, 'utf8')).toBe('earlier output');
    expect(readFileSync(certs, 'utf8')).toBe('earlier certificates\n');
  });

  it('replay never truncates the recording it replays: --out or --certs naming it (or a link to it) is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sink-'));
    const rec = join(dir, 'run.epqrec');
    copyFileSync(join(fixtures, 'honest-calibrated.epqrec'), rec);
    symlinkSync(rec, join(dir, 'link.epqrec'));
    const before = sha(rec);
    const seed = join(fixtures, 'extractor-seed.bin');
    expectOneLineError(
      await epqrngInProcess('replay', rec, '--extractor-seed', seed, '--out', join(dir, '.', 'run.epqrec')),
      2,
      /--out .*run\.epqrec is the same file as FILE .*run\.epqrec/,
    );
    expectOneLineError(
      await epqrngInProcess(
        'replay',
        rec,
        '--extractor-seed',
        seed,
        '--out',
        join(dir, 'o.bin'),
        '--certs',
        join(dir, 'link.epqrec'),
      ),
      2,
      /--certs .*link\.epqrec is the same file as FILE/,
    );
    expect(sha(rec)).toBe(before);
  });

  it('stream never overwrites its own extractor seed file with output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sink-'));
    const seed = join(dir, 'seed.bin');
    copyFileSync(join(fixtures, 'extractor-seed.bin'), seed);
    const before = sha(seed);
    expectOneLineError(
      await epqrngInProcess(
        'stream',
        '--simulate',
        ...SMALL,
        '--bytes',
        '64',
        '--extractor-seed',
        seed,
        '--out',
        `${dir}/./seed.bin`,
      ),
      2,
      /--out .*seed\.bin is the same file as --extractor-seed/,
    );
    expect(sha(seed)).toBe(before);
  });

  it('a reader that closes stdout (EPIPE): exit 0, nothing on stderr (as `yes | head`), not an internal error', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const r = await withStdout(broken, 'stream', '--simulate=4', ...SMALL, '--bytes', '4096', '--out', '-');
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it("a block's bytes are not handed to the OS before its certificate line's write has completed", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sink-'));
    const certs = join(dir, 'certs.jsonl');
    const fifo = join(dir, 'stall');
    execFileSync('mkfifo', [fifo]);
    const received: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        // What the --certs file holds at the moment the bytes arrive.
        if (chunk.length > 0) received.push(readFileSync(certs, 'utf8'));
        cb();
      },
    });
    const sink = await CertifiedSink.open('-', certs, out);
    // Stall libuv's file-system threads (4 by default): each blocks in open() of a FIFO that has no writer yet.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const stalls = Array.from(
      { length: threads },
      () =>
        new Promise<void>((done) => open(fifo, 'r', (_e, fd) => (fd === undefined ? done() : close(fd, () => done())))),
    );
    async function* block(): AsyncGenerator<Uint8Array, string, void> {
      sink.onCertificate('{"blockIndex":0}');
      yield new Uint8Array([1, 2, 3]);
      return 'done';
    }
    const pumped = sink.pump(block());
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([]); // the line's write is still queued behind the stalled threads: no byte may go first
    closeSync(openSync(fifo, 'w')); // a writer: every stalled open() returns
    await Promise.all(stalls);
    expect(await pumped).toBe('done');
    await sink.close();
    expect(received).toEqual(['{"blockIndex":0}\n']);
  });
});
