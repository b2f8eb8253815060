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
 * One read of the port. bindings-cpp opens every port O_NONBLOCK
 * (serialport_unix.cpp), so the read is made here on the event loop and
 * returns at once: bytes, EAGAIN, or 0 at hang-up. bindings-cpp's own read
 * goes through libuv's thread pool instead (fs.read), a thread hop, a futex
 * and an eventfd wake-up per read: at the 1 M trials/s link rate (about a
 * thousand small PTY reads a second) that hop cost more CPU than decoding
 * and certifying the trials. A read after one that did not fill the buffer
 * (the kernel's queue was drained) first waits for the poller's 'readable',
 * so the usual path raises no EAGAIN.
 */
async function readUntilHangup(
  port: UnixPort,
  state: { drained: boolean },
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ bytesRead: number; buffer: Buffer }> {
  for (;;) {
    if (state.drained) await whenReadable(port);
    if (!port.isOpen || port.fd === null) throw canceled('Port is not open');
    let bytesRead: number;
    try {
      bytesRead = readSync(port.fd, buffer, offset, length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw err;
      state.drained = true;
      continue;
    }
    if (bytesRead === 0) throw Object.assign(new Error('end of file (the other end hung up)'), { code: 'EOF' });
    state.drained = bytesRead < length;
    return { bytesRead, buffer };
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
