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
 * Ports that do not look like bindings-cpp's Unix ports (no numeric `fd` and
 * `poller`) are passed through untouched.
 */
import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
import type { BindingInterface, BindingPortInterface } from '../serialport-types.ts';

const readAsync = promisify(fsRead);

interface UnixPort extends BindingPortInterface {
  fd: number | null;
  poller: { once(event: 'readable', cb: (err: Error | null) => void): unknown };
}

function isUnixPort(port: BindingPortInterface): port is UnixPort {
  const p = port as Partial<UnixPort>;
  return typeof p.fd === 'number' && typeof p.poller?.once === 'function';
}

function canceled(message: string): Error {
  return Object.assign(new Error(message), { canceled: true });
}

async function readUntilHangup(
  port: UnixPort,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ bytesRead: number; buffer: Buffer }> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw canceled('Port is not open');
    try {
      const { bytesRead } = await readAsync(port.fd, buffer, offset, length, null);
      if (bytesRead === 0) throw Object.assign(new Error('end of file (the other end hung up)'), { code: 'EOF' });
      return { bytesRead, buffer };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw err;
      if (!port.isOpen) throw canceled('Port is not open');
      await new Promise<void>((resolve, reject) => port.poller.once('readable', (e) => (e ? reject(e) : resolve())));
    }
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
      port.read = (buffer: Buffer, offset: number, length: number) => {
        if (!Buffer.isBuffer(buffer) || buffer.length < offset + length) return original(buffer, offset, length);
        return readUntilHangup(port, buffer, offset, length);
      };
      return port;
    },
  };
}
