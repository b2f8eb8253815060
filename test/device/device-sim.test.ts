/**
 * Device against the real simulator: faults raised by the chip itself, and a
 * real unplug (the PTY's socat killed mid-run) seen through the native binding.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Device, DeviceFaultError, perFrameEvents, type RunEvent } from '../../src/device/index.ts';
import { DeviceError } from '../../src/errors.ts';
import { createSimulatedPort, servePty } from '../../src/simulator/index.ts';
import { hasSocat } from '../cli/pty-pair.ts';

describe('device with the simulated chip', () => {
  it('a temperature fault during a run ends it with a DeviceFaultError; START is refused until RESET', async () => {
    // PROTOCOL 4 STATUS: bit 1 TEMPERATURE (outside 15..35 C) puts the chip in FAULT.
    const sim = createSimulatedPort({
      seed: 5,
      calibrated: true,
      faults: { temperatureCentidegrees: 4000, atMs: 200 },
    });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    try {
      await device.setStatusInterval(100);
      const run = await device.start();
      let trials = 0;
      const err = await (async () => {
        for await (const batch of run) for (const e of perFrameEvents(batch)) if (e.kind === 'trials') trials += e.n;
      })().catch((e) => e);
      expect(err).toBeInstanceOf(DeviceFaultError);
      expect(err.message).toMatch(/^device fault: TEMPERATURE \(faults 0x[0-9a-f]{8}\); the chip stopped, send RESET$/);
      expect(trials).toBeGreaterThan(0);
      expect(device.fault).toBe(err);
      const started = await device.start().catch((e) => e);
      expect(started).toBeInstanceOf(DeviceError);
      expect(started.message).toBe('START refused by the device: BAD_STATE'); // PROTOCOL 4 STATUS: until RESET
    } finally {
      await device.close();
    }
  });

  it('a latched detector at power-up: info still reads, a run is refused', async () => {
    const sim = createSimulatedPort({ seed: 6, calibrated: true, faults: { latchedDetector: 2 } });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    try {
      const status = await device.getStatus();
      expect(status.faults & 0x04).toBe(0x04);
      await expect(device.start()).rejects.toThrow('START refused by the device: BAD_STATE');
    } finally {
      await device.close();
    }
  });

  it.skipIf(!hasSocat)(
    'unplug mid-run over a real PTY: the run and pending commands reject with DISCONNECTED',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'epqrng-unplug-'));
      const server = await servePty(join(dir, 'epq'), { seed: 12, calibrated: true });
      const device = await Device.open({ path: server.path });
      const disconnects: DeviceError[] = [];
      device.on('disconnect', (e: DeviceError) => disconnects.push(e));
      try {
        const run = await device.start();
        const events: RunEvent[] = [];
        let unplugged: Promise<void> | undefined;
        const err = await (async () => {
          for await (const batch of run) {
            events.push(...perFrameEvents(batch));
            if (!unplugged && events.length > 100) unplugged = server.close(); // socat dies: the PTY goes away
          }
        })().catch((e) => e);
        await unplugged;
        expect(err).toBeInstanceOf(DeviceError);
        expect(err.code).toBe('DISCONNECTED');
        expect(err.message).toMatch(new RegExp(`^device at ${server.path} disconnected`));
        expect(err.message).not.toMatch(/\n/);
        await expect(device.getStatus()).rejects.toBe(err);
        expect(disconnects).toEqual([err]);
      } finally {
        await device.close();
        await server.close();
      }
    },
  );
});
