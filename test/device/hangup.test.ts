/**
 * The Unix port read of hangup.ts on a real non-blocking fd (a FIFO, which
 * reads like a TTY opened O_NONBLOCK: bytes, EAGAIN when empty, 0 once the
 * writer has gone): bytes come back as written, an empty port waits for the
 * poller's 'readable' (never spins), a read after one that drained the fd
 * waits for 'readable' before it reads, and end of file is an EOF error (the
 * hang-up SerialPortStream reports as a disconnect).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withHangupDetection } from '../../src/device/hangup.ts';
import type { BindingInterface, BindingPortInterface } from '../../src/serialport-types.ts';

interface FakeUnixPort {
  fd: number;
  isOpen: boolean;
  poller: { once(event: 'readable' | 'disconnect', cb: (err: Error | null) => void): void };
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number; buffer: Buffer }>;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A FIFO's non-blocking read end as a bindings-cpp-like port, its writer, and the poller's pending waits. */
async function fifoPort() {
  const dir = mkdtempSync(join(tmpdir(), 'epq-hangup-'));
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let writer: number | undefined = openSync(path, constants.O_WRONLY);
  const waits: Array<(err: Error | null) => void> = [];
  let nativeReads = 0;
  const raw: FakeUnixPort = {
    fd,
    isOpen: true,
    // 'disconnect' is armed once for the port's life (hangup.ts watchDisconnect); the reads wait on 'readable'
    poller: { once: (event, cb) => void (event === 'readable' ? waits.push(cb) : undefined) },
    read: async () => {
      nativeReads++;
      return { bytesRead: 0, buffer: Buffer.alloc(0) };
    },
  };
  const binding = { list: async () => [], open: async () => raw } as unknown as BindingInterface;
  const port = (await withHangupDetection(binding).open({ path, baudRate: 921600 })) as BindingPortInterface;
  cleanups.push(() => {
    if (writer !== undefined) closeSync(writer);
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    port,
    waits,
    nativeReads: () => nativeReads,
    write: (bytes: Buffer) => writeSync(writer!, bytes),
    hangUp: () => {
      closeSync(writer!);
      writer = undefined;
    },
    /** The poller says 'readable' to whoever waits. */
    readable: () => {
      for (const cb of waits.splice(0)) cb(null);
    },
  };
}

/** Whether `p` is still pending after the event loop has turned. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return !settled;
}

describe('withHangupDetection: reads of a non-blocking Unix port', () => {
  it('returns the bytes waiting, then waits for readable when the fd is empty, never spinning', async () => {
    const f = await fifoPort();
    f.write(Buffer.from('abcdef'));
    const buf = Buffer.alloc(64);
    const first = await f.port.read(buf, 0, 64);
    expect(first.bytesRead).toBe(6);
    expect(buf.subarray(0, 6).toString()).toBe('abcdef');
    // drained: the next read waits for the poller, even though bytes are there (it reads them once told)
    f.write(Buffer.from('gh'));
    const second = f.port.read(buf, 0, 64);
    expect(await pending(second)).toBe(true);
    expect(f.waits).toHaveLength(1);
    f.readable();
    expect((await second).bytesRead).toBe(2);
    expect(buf.subarray(0, 2).toString()).toBe('gh');
    // an empty fd: EAGAIN is never an error, the read waits (one poller wait at a time)
    const third = f.port.read(buf, 10, 54);
    expect(await pending(third)).toBe(true);
    f.readable(); // a spurious wake-up: still nothing, so it waits again
    expect(await pending(third)).toBe(true);
    expect(f.waits).toHaveLength(1);
    f.write(Buffer.from('ij'));
    f.readable();
    expect((await third).bytesRead).toBe(2);
    expect(buf.subarray(10, 12).toString()).toBe('ij');
    expect(f.nativeReads()).toBe(0);
  });

  it('a read that fills the buffer reads again at once: more may be queued', async () => {
    const f = await fifoPort();
    f.write(Buffer.from('0123456789'));
    const buf = Buffer.alloc(4);
    expect((await f.port.read(buf, 0, 4)).bytesRead).toBe(4);
    expect((await f.port.read(buf, 0, 4)).bytesRead).toBe(4);
    expect(f.waits).toHaveLength(0);
    expect((await f.port.read(buf, 0, 4)).bytesRead).toBe(2);
    expect(buf.subarray(0, 2).toString()).toBe('89');
    // more than one TTY read's worth queued: it all comes back, in order
    const big = Buffer.alloc(10_000, 7);
    f.write(big);
    const whole = Buffer.alloc(65536);
    const r = f.port.read(whole, 0, whole.length);
    f.readable();
    expect((await r).bytesRead).toBe(10_000);
    expect(whole.subarray(0, 10_000).equals(big)).toBe(true);
  });

  it('end of file (the other end hung up) is an EOF error, not an endless run of empty reads', async () => {
    const f = await fifoPort();
    f.write(Buffer.from('last'));
    f.hangUp();
    const buf = Buffer.alloc(64);
    expect((await f.port.read(buf, 0, 64)).bytesRead).toBe(4);
    const next = f.port.read(buf, 0, 64);
    f.readable();
    await expect(next).rejects.toMatchObject({ code: 'EOF', message: 'end of file (the other end hung up)' });
  });

  it('a closed port ends a waiting read as canceled', async () => {
    const f = await fifoPort();
    const buf = Buffer.alloc(64);
    const r = f.port.read(buf, 0, 64);
    expect(await pending(r)).toBe(true);
    (f.port as unknown as FakeUnixPort).isOpen = false;
    f.readable();
    await expect(r).rejects.toMatchObject({ canceled: true, message: 'Port is not open' });
  });
});
