/**
 * A chip that comes and goes, at the library level:
 * - unplug (end of file, EIO, ENXIO, EBADF) on the in-process binding ends a
 *   certified stream at once with a DeviceError naming the port; the blocks
 *   certified before are kept, the partial one dropped; no busy loop;
 * - the watchdog on a running chip (fake chip: silent, garbage, STATUS only);
 * - a chip left running is recovered: a lost START ACK (a proxy drops that
 *   one frame) leaves the chip idle and the next stream succeeds; a chip an
 *   earlier host left running is stopped at open (one notice); a STOP the
 *   chip never answers ends the run instead of hanging it.
 */
import { describe, expect, it } from 'vitest';
import { Device, perFrameEvents, type RunEvent } from '../../src/device/index.ts';
import { DeviceError, ExitCode } from '../../src/errors.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/output/config.ts';
import { certifiedStream } from '../../src/output/certified-stream.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { DeviceState, FrameType } from '../../src/protocol/types.ts';
import { createSimulatedPort } from '../../src/simulator/index.ts';
import { FakeChip, baseStatus } from './fake-chip.ts';
import { dropFrames, unpluggable, type UnplugKind } from './link-proxy.ts';
import { ManualClock } from './manual-clock.ts';

const BLOCK = 1 << 20;
const seed = randomSeed(seedBitsForBlock(BLOCK));

function sim(n: number) {
  return createSimulatedPort({ seed: n, calibrated: true, clock: 'virtual' });
}

/** Streams until `stopAfterBlocks` certificates, or the error; returns what was delivered. */
async function stream(device: Device, bytes = Infinity, onBlock?: (n: number) => void) {
  const outputBytes: number[] = [];
  let delivered = 0;
  let error: unknown;
  try {
    for await (const b of certifiedStream(device, {
      seed,
      blockTrials: BLOCK,
      bytes,
      onCertificate: (line) => {
        outputBytes.push(JSON.parse(line).extraction.outputBytes);
        onBlock?.(outputBytes.length);
      },
    }))
      delivered += b.length;
  } catch (e) {
    error = e;
  }
  return { outputBytes, delivered, error };
}

describe('unplug on the in-process binding', () => {
  for (const kind of ['EOF', 'EIO', 'ENXIO', 'EBADF'] as UnplugKind[]) {
    it(`${kind}: the stream ends at once with a DeviceError naming the port; certified blocks kept, partial dropped`, async () => {
      const s = sim(21);
      const plug = unpluggable(s.binding);
      const device = await Device.open({ path: s.path, binding: plug.binding });
      let unpluggedAt = 0;
      const r = await stream(device, Infinity, (n) => {
        if (n === 2) {
          // mid-block: the third block's trials are partly read
          setTimeout(() => {
            unpluggedAt = performance.now();
            plug.unplug(kind);
          }, 5);
        }
      });
      const endedMs = performance.now() - unpluggedAt;
      await device.close();
      expect(r.error).toBeInstanceOf(DeviceError);
      const e = r.error as DeviceError;
      expect(e.exitCode).toBe(ExitCode.DEVICE);
      expect(e.code).toBe('DISCONNECTED');
      expect(e.message).toMatch(new RegExp(`^device at ${s.path} disconnected: `));
      expect(endedMs).toBeLessThan(1000);
      expect(r.outputBytes.length).toBeGreaterThanOrEqual(2);
      expect(r.delivered).toBe(r.outputBytes.reduce((a, b) => a + b, 0));
      // no busy loop: a hung-up port is read a handful of times, not thousands
      expect(plug.readsAfterUnplug).toBeLessThan(5);
    });
  }
});

describe('watchdog on a running chip (fake chip, simulated time)', () => {
  async function runWith(behaviour: 'silent' | 'garbage' | 'status') {
    const clock = new ManualClock();
    const chip = new FakeChip();
    const device = await Device.open({
      path: chip.path,
      binding: chip.binding,
      ackTimeoutMs: 100,
      watchdogClock: clock,
    });
    const run = await device.start();
    chip.send(...chip.trials(0, 80));
    const events: RunEvent[] = [];
    const consumed = (async () => {
      for await (const batch of run) events.push(...perFrameEvents(batch));
    })().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    for (let t = 0; t < 2900; t += 100) {
      if (behaviour === 'garbage') chip.sendBytes(new Uint8Array(64).fill(0xa5));
      if (behaviour === 'status' && t % 1000 === 0)
        chip.send({ ...baseStatus, state: 1, trials: 1_000_000 + t * 1000 });
      await new Promise((r) => setImmediate(r));
      clock.advance(100);
    }
    const before = await Promise.race([consumed, new Promise((r) => setTimeout(() => r('still running'), 20))]);
    expect(before).toBe('still running'); // not before the interval
    clock.advance(100);
    const err = (await consumed) as DeviceError;
    await new Promise((r) => setTimeout(r, 20));
    const stops = chip.count('STOP');
    await device.close();
    return { err, events, stops };
  }

  it('silent: ends the run within 3 status periods, exit 3, and sends STOP', async () => {
    const { err, events, stops } = await runWith('silent');
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.exitCode).toBe(ExitCode.DEVICE);
    expect(err.message).toMatch(
      /^EPQ-1 EPQ1-00C0FFEE at \/dev\/fake-epq-\d+-\d+ sent nothing for 3000 ms while running/,
    );
    expect(events.filter((e) => e.kind === 'trials')).toHaveLength(2); // what came before is delivered
    expect(stops).toBeGreaterThanOrEqual(1);
  });

  it('garbage only: ends the run, naming the garbage', async () => {
    const { err } = await runWith('garbage');
    expect(err.code).toBe('WATCHDOG');
    expect(err.message).toMatch(/sent only garbage \(\d+ bytes that were no frame\) for 3000 ms/);
  });

  it('STATUS only (trials claimed, never sent): ends the run, naming the missing TRIALS', async () => {
    const { err } = await runWith('status');
    expect(err.code).toBe('WATCHDOG');
    expect(err.message).toMatch(
      /sent no TRIALS for 3000 ms while running, only 3 other frame\(s\) \(STATUS claims \d+ trials/,
    );
  });

  it('runs on the real clock by default (a short interval for the test)', async () => {
    const chip = new FakeChip();
    const device = await Device.open({ path: chip.path, binding: chip.binding, ackTimeoutMs: 100, watchdogMs: 300 });
    const t0 = performance.now();
    const run = await device.start();
    const err = await (async () => {
      for await (const _ of run);
    })().catch((e: unknown) => e);
    const ms = performance.now() - t0;
    await device.close();
    expect((err as DeviceError).code).toBe('WATCHDOG');
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(300 + 2000); // a quarter interval late at most, plus a loaded machine
  });
});

describe('a chip left running is recovered', () => {
  it('a lost START ACK: the run fails (real time stated), STOP leaves the chip idle, the next stream succeeds', async () => {
    const s = sim(31);
    let dropped = 0;
    const lossy = dropFrames(s.binding, (f) => {
      if (dropped === 0 && f.kind === 'ACK' && f.ackType === FrameType.START) return ++dropped === 1;
      return false;
    });
    const first = await Device.open({ path: s.path, binding: lossy });
    const t0 = performance.now();
    const r1 = await stream(first, 1000);
    const failedAfterMs = performance.now() - t0;
    await first.close();
    expect(dropped).toBe(1);
    expect((r1.error as DeviceError).code).toBe('NO_ANSWER');
    expect((r1.error as DeviceError).message).toMatch(/^START got no ACK within (\d+) ms$/);
    const stated = Number(/within (\d+) ms/.exec((r1.error as Error).message)?.[1]);
    expect(stated).toBeGreaterThanOrEqual(499);
    expect(stated).toBeLessThanOrEqual(failedAfterMs + 1);
    expect(s.chip.stateCode).toBe(DeviceState.IDLE);

    const notices: string[] = [];
    const second = await Device.open({ path: s.path, binding: s.binding, onNotice: (l) => notices.push(l) });
    const r2 = await stream(second, 1000);
    await second.close();
    expect(r2.error).toBeUndefined();
    expect(r2.delivered).toBe(1000);
    expect(notices).toEqual([]);
  });

  it('a chip an earlier host left running (killed, no STOP) is stopped at open with one notice', async () => {
    const s = sim(32);
    const raw = await s.binding.open({ path: s.path, baudRate: 921600 });
    await raw.write(encodeFrame({ kind: 'START', seq: 0, flags: 0, source: 0, rate: 0, limit: 0 }));
    await raw.read(Buffer.alloc(64), 0, 64); // START's ACK
    await raw.close(); // the host dies: no STOP
    expect(s.chip.stateCode).toBe(DeviceState.RUNNING);
    const notices: string[] = [];
    const device = await Device.open({ path: s.path, binding: s.binding, onNotice: (l) => notices.push(l) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/^EPQ-1 EPQ1-[0-9A-F]{8} at \/dev\/ttyEPQSIM32 was running when opened .*; sent STOP$/);
    const r = await stream(device, 1000);
    await device.close();
    expect(r.error).toBeUndefined();
    expect(r.delivered).toBe(1000);
  });

  it('START refused BAD_STATE by a chip still RUNNING: STOP, one notice, START again', async () => {
    const chip = new FakeChip({
      onCommand: (f, c) => {
        if (f.kind !== 'START' || c.state !== 1) return false;
        c.send(c.ack(f, 3 /* BAD_STATE */));
        return true;
      },
    });
    chip.state = 1; // running, but sending nothing the host could see at open
    const notices: string[] = [];
    const device = await Device.open({
      path: chip.path,
      binding: chip.binding,
      ackTimeoutMs: 200,
      onNotice: (l) => notices.push(l),
    });
    const run = await device.start();
    expect(chip.received.map((f) => f.kind)).toEqual(['GET_INFO', 'START', 'GET_STATUS', 'STOP', 'START']);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/refused START: it was running .*; sent STOP$/);
    await run.stop();
    await device.close();
  });

  it('a STOP the chip never answers (it is gone) ends the run with that error instead of hanging it', async () => {
    const chip = new FakeChip();
    const device = await Device.open({ path: chip.path, binding: chip.binding, ackTimeoutMs: 150 });
    const run = await device.start();
    chip.opts.silent = true; // the chip dies
    const t0 = performance.now();
    const consumed = (async () => {
      for await (const _ of run);
    })().catch((e: unknown) => e);
    await run.stop().catch(() => undefined);
    const err = (await consumed) as DeviceError;
    const ms = performance.now() - t0;
    await device.close();
    expect(err.code).toBe('NO_ANSWER');
    expect(err.message).toMatch(/^STOP got no ACK within \d+ ms$/);
    expect(chip.count('STOP')).toBeGreaterThanOrEqual(2); // tried twice at most, then given up
    expect(ms).toBeLessThan(2 * 150 + 1500);
  });
});
