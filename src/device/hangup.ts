/**
 * Hang-up detection for serialport's native Unix binding.
 *
 * bindings-cpp's unixRead retries a read that returns 0 bytes at once, for
 * ever: when the other end of a TTY goes away in a way that reads as end of
 * file (a PTY whose master closed, seen here with socat), the port spins in
 * a hot loop and never reports the disconnect. A TTY opened with VMIN=1 (as
 * bindings-cpp opens it) returns 0 only on hang-up, so this wrapper reads the
 * same way but turns end of file into a read error, which SerialPortStream
 * reports as a disconnect ('close' with `disconnected: true`).
 *
 * A read sees the hang-up only while the port is read. A port paused by
 * back-pressure (the consumer busy hashing a block) reads nothing, so the
 * port also asks its poller for a disconnect (epoll reports EPOLLHUP on a
 * TTY whose other end closed, whatever else it waits for) and reports it to
 * `onHangup` (the Device's): a hang-up is seen at once, paused or not.
 * bindings-cpp re-arms the disconnect interest after every readable or
 * writable event, so it is armed whenever no read or write waits (and a
 * read or write that waits sees the hang-up itself).
 *
 * Ports that do not look like bindings-cpp's Unix ports (no numeric `fd` and
 * `poller`) are passed through untouched.
 */
import { readSync } from 'node:fs';
import type { BindingInterface, BindingPortInterface } from '../serialport-types.ts';

interface UnixPort extends BindingPortInterface {
  fd: number | null;
  poller: { once(event: 'readable' | 'disconnect', cb: (err: Error | null) => void): unknown };
}

/** What a wrapped port says of a hang-up seen by its poller (set by whoever owns the port). */
interface HangupReport {
  hangupSeen?: string;
  hangupListener?: (why: string) => void;
}

function isUnixPort(port: BindingPortInterface): port is UnixPort {
  const p = port as Partial<UnixPort>;
  return typeof p.fd === 'number' && typeof p.poller?.once === 'function';
}

function canceled(message: string): Error {
  return Object.assign(new Error(message), { canceled: true });
}

/** Resolves when the port's fd is readable (or has hung up: the read then finds end of file). */
function whenReadable(port: UnixPort): Promise<void> {
  return new Promise<void>((resolve, reject) => port.poller.once('readable', (e) => (e ? reject(e) : resolve())));
}

/**
 * The most a read of a TTY returns: the line discipline's read buffer
 * (N_TTY_BUF_SIZE 4096 on Linux, less one; measured on the simulator's PTY:
 * back-to-back reads of a full queue give 4095 bytes each). A read that
 * returns this much may have left more queued behind it.
 */
const TTY_READ_MAX = 4095;

/**
 * How long a read that found the kernel's queue drained waits, once the
 * port is readable again, before it reads. The link delivers in small
 * pieces (about 1.4 KB per wake-up at 1.6 MB/s through socat's PTYs) and
 * every wake-up (a poll, a read, the stream's machinery) costs more than its
 * bytes: at 1 M trials/s, the hash on workers, 2 ms took the stream process
 * from 37-40% to 15-19% of a core (load 2 to 4), the chip at its full rate
 * and no trial lost (bench/live.bench.ts); 4 ms took its main thread from
 * 6.3-6.7% to 4.8-5.1% of a core (8 ms: 5.5%, no better; load 2.4-3.5). The
 * reads that follow drain all that queued meanwhile (reading on while reads
 * come back full), so it bounds the latency (4 ms, against an ACK's 50 ms,
 * PROTOCOL 4), never the throughput; the kernel queues about 64 KiB (40 ms
 * of the link at 1 M trials/s, 6.4 kB gathered) before it holds the sender
 * back. It assumes an event loop
 * that is not stopped for long: with a block's hash on the event loop (0.1
 * to 0.4 s per 2^22 trials) it halved the simulated chip's rate; the hash
 * runs on workers (src/output/hash-stage.ts).
 */
export const READ_GATHER_MS = 4;

/**
 * One read of the port. bindings-cpp opens every port O_NONBLOCK
 * (serialport_unix.cpp), so the reads are made here on the event loop and
 * return at once: bytes, EAGAIN, or 0 at hang-up. bindings-cpp's own read
 * goes through libuv's thread pool instead (fs.read), a thread hop, a futex
 * and an eventfd wake-up per read: at the 1 M trials/s link rate that hop
 * cost more CPU than decoding and certifying the trials. After a read that
 * drained the kernel's queue the next one waits for the poller's 'readable'
 * (so the usual path raises no EAGAIN) and READ_GATHER_MS.
 */
async function readUntilHangup(
  port: UnixPort,
  state: { drained: boolean },
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ bytesRead: number; buffer: Buffer }> {
  for (;;) {
    if (state.drained) {
      await whenReadable(port);
      await new Promise((resolve) => setTimeout(resolve, READ_GATHER_MS));
    }
    if (!port.isOpen || port.fd === null) throw canceled('Port is not open');
    const got = drain(port.fd, buffer, offset, length);
    state.drained = got.drained;
    if (got.error) {
      if (got.bytes > 0) return { bytesRead: got.bytes, buffer }; // the error comes again at the next read
      const code = (got.error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw got.error;
      continue;
    }
    if (got.bytes === 0) throw Object.assign(new Error('end of file (the other end hung up)'), { code: 'EOF' });
    return { bytesRead: got.bytes, buffer };
  }
}

/**
 * Reads into buffer[offset, offset + length) while reads come back full:
 * the bytes read, whether the queue was drained, and the error that ended
 * the reads, if one did (end of file ends them with no error).
 */
function drain(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
): { bytes: number; drained: boolean; error?: unknown } {
  let bytes = 0;
  for (;;) {
    const want = length - bytes;
    let n: number;
    try {
      n = readSync(fd, buffer, offset + bytes, want, null);
    } catch (error) {
      return { bytes, drained: true, error };
    }
    bytes += n;
    if (n === 0) return { bytes, drained: true };
    if (n < Math.min(TTY_READ_MAX, want)) return { bytes, drained: true };
    if (bytes === length) return { bytes, drained: false };
  }
}

/** The binding with end-of-file reads reported as disconnects. */
export function withHangupDetection(binding: BindingInterface): BindingInterface {
  return {
    list: () => binding.list(),
    async open(options) {
      const port = await binding.open(options);
      if (!isUnixPort(port)) return port;
      const original = port.read.bind(port);
      const state = { drained: false };
      port.read = (buffer: Buffer, offset: number, length: number) => {
        if (!Buffer.isBuffer(buffer) || buffer.length < offset + length) return original(buffer, offset, length);
        return readUntilHangup(port, state, buffer, offset, length);
      };
      watchDisconnect(port);
      return port;
    },
  };
}

/** Arms the poller's disconnect event once for the port's life (a close cancels it: not a hang-up). */
function watchDisconnect(port: UnixPort & HangupReport): void {
  port.poller.once('disconnect', (err) => {
    if (err && (err as { canceled?: boolean }).canceled) return;
    // libuv reports POLLERR (a hung-up TTY's poll sets it with POLLHUP) as the error 'bad file descriptor'.
    const why = `the other end hung up (seen by poll${err ? `: ${err.message}` : ''})`;
    port.hangupSeen = why;
    port.hangupListener?.(why);
  });
}

/**
 * Calls `listener` once when the poller of a port opened through
 * withHangupDetection sees a hang-up (at once if it already has); other
 * ports are left alone. `bindingPort` is SerialPortStream's `port`.
 */
export function onHangup(bindingPort: unknown, listener: (why: string) => void): void {
  if (typeof bindingPort !== 'object' || bindingPort === null) return;
  const p = bindingPort as BindingPortInterface & HangupReport;
  if (p.hangupSeen !== undefined) listener(p.hangupSeen);
  else p.hangupListener = listener;
}
