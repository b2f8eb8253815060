/**
 * A hang-up while back-pressure pauses the port: the consumer of a run over
 * a real PTY stops reading (the link is paused, so nothing reads the port),
 * then the far side (the socat bridge in front of the chip) is killed. The
 * run must end with DISCONNECTED, the hang-up named, within a second:
 * without the device-node check (turned off here) and without the watchdog
 * (which does not count time the host did not read), so only the port's
 * own hang-up detection can see it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.ts';
import { DeviceError } from '../../src/errors.ts';
import type { BindingInterface } from '../../src/serialport-types.ts';
import { servePty } from '../../src/simulator/index.ts';
import { hasSocat } from '../cli/pty-pair.ts';

/** Waits until `value()` has not changed for `quietMs` (polled every 50 ms), at most `ms`. */
async function settled(value: () => number, quietMs: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let last = value();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > end) throw new Error('the link never went quiet: the port was not paused');
    await new Promise((r) => setTimeout(r, 50));
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
}

describe.skipIf(!hasSocat)('hang-up while the port is paused by back-pressure', () => {
  it('ends the run with DISCONNECTED naming the hang-up, within a second, with no node check and no watchdog', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-hangup-'));
    const path = join(dir, 'epq');
    const server = await servePty(path, { seed: 3, calibrated: true });
    const device = await Device.open({
      path,
      binding: SerialPort.binding as unknown as BindingInterface,
      presenceCheckMs: 0,
      watchdogMs: 0,
      run: { highWaterEvents: 64 }, // paused after a few batches
    });
    try {
      const gone = new Promise<{ error: DeviceError; atMs: number }>((resolve) =>
        device.once('disconnect', (error: DeviceError) => resolve({ error, atMs: performance.now() })),
      );
      const run = await device.start();
      const it = run[Symbol.asyncIterator]();
      expect((await it.next()).done).toBe(false); // one batch, then the consumer stops reading
      // Paused: no byte arrives any more (and the stream's own buffer has filled: nothing reads the port).
      await settled(() => device.stats.bytesReceived, 500, 20_000);
      const unpluggedAt = performance.now();
      process.kill(server.bridgePid!, 'SIGKILL');
      const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref());
      const seen = await Promise.race([gone, timeout]);
      expect(seen, 'the hang-up was not seen while the port was paused').toBeDefined();
      expect(seen!.error.code).toBe('DISCONNECTED');
      expect(seen!.error.message).toMatch(/^device at \S+ disconnected: the other end hung up/);
      // 1 s: the bound on ending a run after a disconnect (device/README.md); seen at once here, not polled.
      expect(seen!.atMs - unpluggedAt).toBeLessThan(1000);
      // The batches queued before the hang-up are still delivered, then the run fails.
      let failure: unknown;
      try {
        while (!(await it.next()).done);
      } catch (e) {
        failure = e;
      }
      expect(failure).toBeInstanceOf(DeviceError);
      expect((failure as DeviceError).code).toBe('DISCONNECTED');
    } finally {
      await device.close().catch(() => undefined);
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
