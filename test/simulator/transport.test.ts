/**
 * The two transports: the in-process serialport binding through
 * @serialport/stream (the code path of hardware), and a real PTY pair made
 * by socat, read with serialport's native binding.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import { expectEpq1OpenOptions } from '../protocol/open-options.ts';
import type { AckFrame, CountsFrame, DeviceFrame, Frame, InfoFrame, StatusFrame } from '../../src/protocol/types.ts';
import { createSimulatedPort } from '../../src/simulator/binding.ts';
import { servePty } from '../../src/simulator/pty.ts';
import type { Cmd } from './host.ts';

const tmp = mkdtempSync(join(tmpdir(), 'epq-sim-pty-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Duplex {
  write(data: Buffer): unknown;
  on(event: 'data', cb: (d: Buffer) => void): unknown;
}

/** A small host over any byte stream: commands out, frames in, waiting by predicate. */
class StreamHost {
  private seq = 0;
  private readonly sync = new FrameSync({ accept: 'device' });
  readonly frames: DeviceFrame[] = [];
  private waiters: Array<() => void> = [];
  nextTrial = 0;
  trialErrors = 0;
  trialFrames = 0;
  constructor(private readonly port: Duplex) {
    port.on('data', (d) => {
      for (const f of this.sync.push(d) as DeviceFrame[]) {
        if (f.kind === 'TRIALS') {
          // every index exactly once, in order (no GAP expected here)
          if (f.first !== this.nextTrial || f.flags !== 0) this.trialErrors++;
          this.nextTrial = f.first + f.n;
          this.trialFrames++;
        } else this.frames.push(f);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(cmd: Cmd): number {
    const seq = this.seq++;
    this.port.write(encodeFrame({ flags: 0, seq, ...cmd } as Frame));
    return seq;
  }
  async waitFor<T extends DeviceFrame>(pred: (f: DeviceFrame) => f is T, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as T;
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${this.frames.map((f) => f.kind).join(',')}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  ackOf(seq: number): (f: DeviceFrame) => f is AckFrame {
    return (f): f is AckFrame => f.kind === 'ACK' && f.ackSeq === seq;
  }
}

const isInfo = (f: DeviceFrame): f is InfoFrame => f.kind === 'INFO';
const isCounts = (f: DeviceFrame): f is CountsFrame => f.kind === 'COUNTS';
const isIdleStatus = (f: DeviceFrame): f is StatusFrame => f.kind === 'STATUS' && f.state === 0 && f.trials > 0;

/** The acceptance scenario of issue 2: GET_INFO, MEASURE_COUNTS, START with a limit of 1e6, STOP. */
async function scenario(host: StreamHost, serial: string): Promise<void> {
  const s0 = host.send({ kind: 'GET_INFO' });
  expect((await host.waitFor(host.ackOf(s0))).status).toBe(0);
  const info = await host.waitFor(isInfo);
  expect(info.serial).toBe(serial);
  const s1 = host.send({ kind: 'MEASURE_COUNTS', id: 5, angleA: 0, angleB: 2250, integration: 100 });
  expect((await host.waitFor(host.ackOf(s1))).status).toBe(0);
  const counts = await host.waitFor(isCounts);
  expect(counts).toMatchObject({ id: 5, trials: 100_000 });
  const s2 = host.send({ kind: 'START', source: 0, rate: 0, limit: 1_000_000 });
  expect((await host.waitFor(host.ackOf(s2))).status).toBe(0);
  const done = await host.waitFor(isIdleStatus, 30_000);
  expect(done.trials).toBe(1_000_000);
  expect(host.nextTrial).toBe(1_000_000);
  expect(host.trialErrors).toBe(0);
  const s3 = host.send({ kind: 'STOP' });
  expect((await host.waitFor(host.ackOf(s3))).status).toBe(0);
}

describe('in-process binding', () => {
  it('lists the chip with its USB identity and refuses other paths', async () => {
    const sim = createSimulatedPort({ seed: 77 });
    const ports = await sim.binding.list();
    expect(ports).toEqual([
      expect.objectContaining({
        path: sim.path,
        vendorId: '1209',
        productId: '0001',
        manufacturer: 'EPQ',
        serialNumber: sim.chip.serial,
      }),
    ]);
    await expect(sim.binding.open({ path: '/dev/nothing', baudRate: 921600 })).rejects.toThrow(/No such file/);
  });

  it('SerialPortStream: GET_INFO, MEASURE_COUNTS, 1e6 trials each exactly once in order, STOP', async () => {
    const sim = createSimulatedPort({ seed: 78, calibrated: true });
    const port = new SerialPortStream({ binding: sim.binding, path: sim.path, baudRate: 921600 });
    await new Promise<void>((resolve, reject) => port.once('open', resolve).once('error', reject));
    const host = new StreamHost(port);
    await scenario(host, sim.chip.serial);
    await new Promise<void>((resolve) => port.close(() => resolve()));
    expect(port.isOpen).toBe(false);
  });

  it('close() cancels a pending read without an error event; the port can be opened again', async () => {
    const sim = createSimulatedPort({ seed: 79 });
    const errors: Error[] = [];
    const port = new SerialPortStream({ binding: sim.binding, path: sim.path, baudRate: 921600 });
    port.on('error', (e) => errors.push(e));
    port.on('data', () => {});
    await new Promise<void>((resolve) => port.once('open', resolve));
    await new Promise((r) => setTimeout(r, 20)); // a read is pending: the chip has nothing to say
    await new Promise<void>((resolve) => port.close(() => resolve()));
    const again = new SerialPortStream({ binding: sim.binding, path: sim.path, baudRate: 921600 });
    await new Promise<void>((resolve, reject) => again.once('open', resolve).once('error', reject));
    const host = new StreamHost(again);
    const s = host.send({ kind: 'GET_STATUS' });
    expect((await host.waitFor(host.ackOf(s))).status).toBe(0);
    await new Promise<void>((resolve) => again.close(() => resolve()));
    expect(errors).toEqual([]);
  });
});

describe('binding port operations', () => {
  it('flush discards what the chip queued; update, set, get, getBaudRate, drain work while open and refuse when closed', async () => {
    const sim = createSimulatedPort({ seed: 81 });
    const port = await sim.binding.open({ path: sim.path, baudRate: 921600 });
    expectEpq1OpenOptions(port, sim.path);
    await port.write(encodeFrame({ kind: 'GET_INFO', flags: 0, seq: 0 }));
    expect(sim.chip.pendingBytes).toBe(128);
    await port.flush();
    expect(sim.chip.pendingBytes).toBe(0);
    await port.update({ baudRate: 115200 });
    await port.set({ dtr: true });
    expect(await port.get()).toEqual({ cts: true, dsr: true, dcd: true });
    expect(await port.getBaudRate()).toEqual({ baudRate: 921600 });
    await port.drain();
    await port.write(encodeFrame({ kind: 'GET_STATUS', flags: 0, seq: 1 }));
    const buf = Buffer.alloc(256);
    const { bytesRead } = await port.read(buf, 0, 256);
    expect(bytesRead).toBe(128);
    await expect(sim.binding.open({ path: sim.path, baudRate: 921600 })).rejects.toThrow(/lock/i);
    const pending = port.read(buf, 0, 256);
    await port.close();
    await expect(pending).rejects.toMatchObject({ canceled: true });
    await expect(port.write(Buffer.alloc(1))).rejects.toMatchObject({ canceled: true });
    await expect(port.get()).rejects.toThrow(/not open/);
  });
});

const hasSocat = spawnSync('socat', ['-V']).status === 0;

describe('PTY server', () => {
  it.skipIf(!hasSocat)('native SerialPort over a socat PTY: the same scenario, paced in real time', async () => {
    const path = join(tmp, 'epq0');
    const server = await servePty(path, { seed: 80, calibrated: true });
    expect(existsSync(path)).toBe(true);
    const port = new SerialPort({ path, baudRate: 921600 });
    await new Promise<void>((resolve, reject) => port.once('open', resolve).once('error', reject));
    try {
      const host = new StreamHost(port);
      const t0 = Date.now();
      await scenario(host, server.chip.serial);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // 1e6 trials at 1 M/s in real time
    } finally {
      await new Promise<void>((resolve) => port.close(() => resolve()));
      await server.close();
    }
    expect(existsSync(path)).toBe(false); // socat removes its links on exit
  });

  it.skipIf(!hasSocat)('a missing directory is a clear error', async () => {
    await expect(servePty(join(tmp, 'no', 'such', 'dir', 'pty'), { seed: 1, startTimeoutMs: 2000 })).rejects.toThrow(
      /socat/,
    );
  });
});

describe('PTY server errors', () => {
  it.skipIf(!hasSocat)('bad chip options end socat and reject', async () => {
    const path = join(tmp, 'epq-bad');
    await expect(servePty(path, { seed: 1, faults: { wobble: '1' } })).rejects.toThrow(/unknown simulator fault/);
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(path)).toBe(false);
  });
});
