/**
 * Device against a scriptable fake chip on serialport's mock binding: ACK
 * matching, timeouts, retries, protocol major, faults, unplug. Vitest fails
 * the run on any unhandled rejection, so "rejects cleanly" is checked too.
 */
import { describe, expect, it } from 'vitest';
import { Device, DeviceFaultError, perFrameEvents } from '../../src/device/index.ts';
import type { RunEvent } from '../../src/device/index.ts';
import { DeviceError, ExitCode, InputError } from '../../src/errors.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { AckStatus, Fault, FrameType, type HostFrame } from '../../src/protocol/types.ts';
import { baseStatus, FakeChip, type FakeChipOptions } from './fake-chip.ts';

async function open(opts: FakeChipOptions = {}, deviceOpts: { ackTimeoutMs?: number; retries?: number } = {}) {
  const chip = new FakeChip(opts);
  const device = await Device.open({ path: chip.path, binding: chip.binding, ackTimeoutMs: 200, ...deviceOpts });
  return { chip, device };
}

async function collect(run: AsyncIterable<RunEvent[]>): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const batch of run) all.push(...perFrameEvents(batch));
  return all;
}

describe('Device.open', () => {
  it('reads INFO through GET_INFO and keeps it', async () => {
    const { chip, device } = await open();
    expect(device.info.serial).toBe('EPQ1-00C0FFEE');
    expect(device.info.protocol).toEqual([1, 0]);
    expect(chip.received.map((f) => f.kind)).toEqual(['GET_INFO']);
    await device.close();
  });

  it('uses a higher minor as 1.0 and refuses protocol major 2 (PROTOCOL 4 INFO)', async () => {
    const minor = await open({ protocol: [1, 7] });
    expect(minor.device.info.protocol).toEqual([1, 7]);
    await minor.device.close();
    const chip = new FakeChip({ protocol: [2, 0] });
    const err = await Device.open({ path: chip.path, binding: chip.binding }).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.exitCode).toBe(ExitCode.DEVICE);
    expect(err.message).toBe(`device at ${chip.path} speaks protocol 2.0; this driver needs protocol 1.x`);
    expect(chip.port?.isOpen).toBe(false); // the port is closed again
  });

  it('gives up on a silent device after the ACK timeout times the tries', async () => {
    const chip = new FakeChip({ silent: true });
    const t0 = performance.now();
    const err = await Device.open({ path: chip.path, binding: chip.binding, ackTimeoutMs: 150, retries: 2 }).catch(
      (e) => e,
    );
    const elapsedMs = performance.now() - t0;
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.code).toBe('NO_ANSWER');
    expect(err.message).toMatch(
      new RegExp(
        `^no answer from ${chip.path}: GET_INFO not acknowledged \\(3 tries over (\\d+) ms\\); is it an EPQ-1\\?$`,
      ),
    );
    // the message states the real time waited, not the ACK timeout
    expect(Number(/over (\d+) ms/.exec(err.message)?.[1])).toBeGreaterThanOrEqual(3 * 150 - 5);
    expect(chip.count('GET_INFO')).toBe(3);
    expect(elapsedMs).toBeGreaterThanOrEqual(3 * 150 - 5);
    expect(elapsedMs).toBeLessThan(3 * 150 + 2000); // generous: 2 shared cores
  });

  it('reports a path that cannot be opened as a DeviceError naming the path', async () => {
    const err = await Device.open({ path: '/dev/does-not-exist', binding: new FakeChip().binding }).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toMatch(/^cannot open \/dev\/does-not-exist: .+/);
    expect(err.message).not.toMatch(/\n/);
  });
});

describe('commands', () => {
  it('matches ACKs by seq: stray and foreign ACKs do not complete a command', async () => {
    let pending: HostFrame | undefined;
    const { chip, device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'SET_WINDOW') return false;
        // an ACK for another seq, one for this seq but another type... then the right one later
        c.send({ kind: 'ACK', ackSeq: (f.seq + 100) >>> 0, ackType: FrameType.SET_WINDOW, status: 0, detail: 0 });
        pending = f;
        return true;
      },
    });
    let settled = false;
    const p = device.setWindow(1200).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    chip.send(chip.ack(pending!));
    await p;
    expect(settled).toBe(true);
    expect(device.stats.strayFrames).toBe(1);
    // host seqs count up by one per command frame (PROTOCOL 3)
    expect(chip.received.map((f) => f.seq)).toEqual([0, 1]);
    await device.close();
  });

  it('wraps the host seq after 0xFFFFFFFF', async () => {
    const { chip, device } = await open();
    (device as unknown as { channel: { seq: number } }).channel.seq = 0xfffffffe;
    await device.setPump(250);
    await device.setPump(260);
    await device.setPump(270);
    expect(chip.received.slice(1).map((f) => f.seq)).toEqual([0xfffffffe, 0xffffffff, 0]);
    await device.close();
  });

  it('retries idempotent commands with a fresh seq, never the others', async () => {
    const { chip, device } = await open(
      { dropFirst: { SET_WINDOW: 2, RESET: 1, START: 1, SAVE_CALIBRATION: 1, MEASURE_COUNTS: 1 } },
      { ackTimeoutMs: 100, retries: 2 },
    );
    await device.setWindow(900);
    const windows = chip.received.filter((f) => f.kind === 'SET_WINDOW');
    expect(windows.length).toBe(3);
    expect(new Set(windows.map((f) => f.seq)).size).toBe(3);
    expect(device.stats.commandRetries).toBe(2);
    for (const [what, call] of [
      ['RESET', () => device.reset()],
      ['START', () => device.start()],
      ['SAVE_CALIBRATION', () => device.saveCalibration()],
      ['MEASURE_COUNTS', () => device.measureCounts({ angleACentideg: 0, angleBCentideg: 2250, integrationMs: 10 })],
    ] as const) {
      const err = (await (call as () => Promise<unknown>)().catch((e: DeviceError) => e)) as DeviceError;
      expect(err, what).toBeInstanceOf(DeviceError);
      // the real time waited: one ACK timeout, give or take a loaded machine
      expect(err.message).toMatch(new RegExp(`^${what} got no ACK within \\d+ ms$`));
      expect(err.detail?.waitedMs).toBeGreaterThanOrEqual(99);
      expect(chip.count(what)).toBe(1);
    }
    await device.close();
  });

  it('turns a non-OK ACK into a DeviceError naming the command, the status and the BAD_ARGUMENT offset', async () => {
    const { chip, device } = await open({
      ackStatus: { SET_BIAS: [AckStatus.BAD_ARGUMENT, 2], START: [AckStatus.BAD_STATE] },
    });
    const local = await device.setBias(0, 45000).catch((e) => e);
    expect(local).toBeInstanceOf(InputError); // out of PROTOCOL 5 range: refused before the wire
    expect(local.message).toBe('SET_BIAS: SET_BIAS bias = 45000 is outside 20000..40000 (PROTOCOL 5)');
    expect(chip.count('SET_BIAS')).toBe(0);
    const err = await device.setBias(0, 35000).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toBe('SET_BIAS refused by the device: BAD_ARGUMENT (payload offset 2)');
    expect(err.detail).toMatchObject({ command: 'SET_BIAS', status: 'BAD_ARGUMENT', ackDetail: 2 });
    const err2 = await device.start().catch((e) => e);
    expect(err2.message).toBe('START refused by the device: BAD_STATE');
    // the device is still usable
    expect((await device.getStatus()).state).toBe(0);
    await device.close();
  });

  it('measureCounts waits for the COUNTS with its id, ignoring others', async () => {
    const { chip, device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'MEASURE_COUNTS') return false;
        c.send(c.ack(f));
        const counts = {
          kind: 'COUNTS' as const,
          angleA: f.angleA,
          angleB: f.angleB,
          integration: f.integration,
          singles: [1, 2, 3, 4] as [number, number, number, number],
          coincidences: [0, 0, 0, 0] as [number, number, number, number],
          trials: 20,
          window: 1000,
          delay: -5,
        };
        setTimeout(() => c.send({ ...counts, id: f.id + 1, trials: 999 }, { ...counts, id: f.id }), 20);
        return true;
      },
    });
    const counts = await device.measureCounts({ id: 41, angleACentideg: 100, angleBCentideg: 2350, integrationMs: 20 });
    expect(counts).toMatchObject({ id: 41, angleA: 100, angleB: 2350, trials: 20, delay: -5 });
    expect(chip.received.at(-1)).toMatchObject({ kind: 'MEASURE_COUNTS', id: 41, integration: 20 });
    expect(device.stats.strayFrames).toBe(1); // COUNTS id 42 was not asked for
    await device.close();
  });

  it('counts device seq jumps as frames lost on the link, and unknown types as skipped', async () => {
    const { chip, device } = await open();
    chip.deviceSeq += 5; // five frames "lost"
    await device.getStatus();
    expect(device.stats.linkLostFrames).toBe(5);
    // PROTOCOL 3: a well-formed frame of an undefined type is skipped and counted
    const { encodeRaw } = await import('../../src/protocol/encode.ts');
    chip.sendBytes(encodeRaw(0x7e, 0, chip.nextSeq()));
    await device.getStatus();
    expect(device.stats.unknownFrames).toBe(1);
    await device.close();
  });
});

describe('runs', () => {
  it('delivers every trial once, in order, and ends at the STATUS in state IDLE after a limit', async () => {
    const { chip, device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'START') return false;
        c.send(c.ack(f));
        setTimeout(() => {
          c.send(...c.trials(0, 1000));
          c.send(...c.trials(1000, 200), { ...baseStatus, state: 0, trials: 1200 });
          c.send(...c.trials(5000, 40)); // after the run: belongs to no run
        }, 5);
        return true;
      },
    });
    const run = await device.start({ limitTrials: 1200 });
    const events = await collect(run);
    const trials = events.filter((e) => e.kind === 'trials');
    let next = 0;
    for (const t of trials) {
      expect(t.first).toBe(next);
      for (let k = 0; k < t.n; k++) expect(t.records[k]).toBe((t.first + k) % 48);
      next += t.n;
    }
    expect(next).toBe(1200);
    expect(events.at(-1)).toMatchObject({ kind: 'status', status: { state: 0 } });
    expect(run.stats.trials).toBe(1200);
    expect(chip.received.find((f) => f.kind === 'START')).toMatchObject({ source: 0, rate: 0, limit: 1200 });
    await new Promise((r) => setTimeout(r, 20));
    expect(device.stats.strayFrames).toBe(1);
    await device.close();
  });

  it("a whole short run in the same chunk as START's ACK still ends at its STATUS IDLE", async () => {
    const { device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'START') return false;
        c.send(c.ack(f), ...c.trials(0, 100), { ...baseStatus, state: 0, trials: 100 });
        return true;
      },
    });
    const run = await device.start({ limitTrials: 100 });
    const events = await collect(run);
    expect(events.map((e) => e.kind)).toEqual(['trials', 'trials', 'trials', 'status']);
    await device.close();
  });

  it('a throwing onCredit listener fails the run, not the process', async () => {
    const { chip, device } = await open();
    const run = await device.start({ source: 'host' });
    run.onCredit = () => {
      throw new Error('feeder bug');
    };
    chip.send({ kind: 'CREDIT', free: 1, consumed: 0 });
    await expect(collect(run)).rejects.toThrow('feeder bug');
    await device.close();
  });

  it('stop(): the chip flushes TRIALS before its ACK; the run ends at that ACK', async () => {
    const { chip, device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'STOP') return false;
        c.send(...c.trials(80, 40), c.ack(f), ...c.trials(120, 40));
        return true;
      },
    });
    const run = await device.start();
    chip.send(...chip.trials(0, 80));
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const batch of run) for (const e of perFrameEvents(batch)) if (e.kind === 'trials') seen.push(e.first);
    })();
    await new Promise((r) => setTimeout(r, 20));
    await run.stop();
    await consumer;
    expect(seen).toEqual([0, 40, 80]);
    await device.close();
  });

  it('a STOP whose ACK queues behind a long flush is waited for while frames keep coming', async () => {
    const { chip, device } = await open(
      {
        onCommand: (f, c) => {
          if (f.kind !== 'STOP') return false;
          // the chip flushes for 3 ACK timeouts, a frame every 20 ms (PROTOCOL 5 STOP: TRIALS first, then the ACK)
          let k = 0;
          const flush = setInterval(() => {
            c.send(...c.trials(400 + k * 40, 40));
            if (++k === 30) {
              clearInterval(flush);
              c.send(c.ack(f));
            }
          }, 20);
          return true;
        },
      },
      { ackTimeoutMs: 200 },
    );
    const run = await device.start();
    chip.send(...chip.trials(0, 400));
    const consumer = collect(run);
    await run.stop();
    const events = await consumer;
    expect(events.filter((e) => e.kind === 'trials')).toHaveLength(40);
    expect(chip.count('STOP')).toBe(1); // no retry: the link was busy, not silent
    await device.close();
  });

  it('reports link loss and invalid frames as events', async () => {
    const { chip, device } = await open();
    const run = await device.start();
    const frames = chip.trials(0, 120);
    chip.send(frames[0]!);
    chip.nextSeq(); // frame lost on the link
    chip.send(frames[2]!);
    // a CRC-valid TRIALS frame with reserved record bits set (PROTOCOL 4 TRIALS: bits 7, 6 reserved)
    const { encodeRaw } = await import('../../src/protocol/encode.ts');
    const payload = new Uint8Array(52);
    payload[8] = 1; // n = 1
    payload[12] = 0xc0;
    chip.sendBytes(encodeRaw(FrameType.TRIALS, 0, chip.nextSeq(), payload));
    setTimeout(() => void run.stop(), 30);
    const events = await collect(run);
    expect(events.map((e) => e.kind)).toEqual(['trials', 'linkLoss', 'trials', 'invalid']);
    expect(events[1]).toEqual({ kind: 'linkLoss', frames: 1 });
    expect(events[3]).toMatchObject({ kind: 'invalid', type: FrameType.TRIALS });
    expect(run.stats).toMatchObject({ trials: 80, linkLostFrames: 1, invalidFrames: 1 });
    await device.close();
  });

  it('a fatal fault STATUS ends the run with a DeviceFaultError after the events before it', async () => {
    const { chip, device } = await open();
    const run = await device.start();
    chip.send(...chip.trials(0, 40), { ...baseStatus, state: 3, faults: Fault.TEMPERATURE | Fault.UNCALIBRATED });
    const seen: RunEvent[] = [];
    const err = await (async () => {
      for await (const batch of run) seen.push(...perFrameEvents(batch));
    })().catch((e) => e);
    expect(err).toBeInstanceOf(DeviceFaultError);
    expect(err.exitCode).toBe(ExitCode.DEVICE);
    expect(err.message).toBe('device fault: TEMPERATURE (faults 0x00000022); the chip stopped, send RESET');
    expect(seen.map((e) => e.kind)).toEqual(['trials', 'status']);
    expect(device.fault).toBe(err);
    await device.close();
  });

  it('non-fatal faults (OVERFLOW, SETTINGS_STARVED, UNCALIBRATED) are only status events', async () => {
    const { chip, device } = await open();
    const run = await device.start();
    chip.send({ ...baseStatus, state: 1, faults: Fault.OVERFLOW | Fault.SETTINGS_STARVED | Fault.UNCALIBRATED });
    setTimeout(() => void run.stop(), 20);
    const events = await collect(run);
    expect(events.map((e) => e.kind)).toEqual(['status']);
    expect(device.fault).toBeUndefined();
    await device.close();
  });

  it('unplug mid-run: the iterator throws a DeviceError, pending commands reject, nothing unhandled', async () => {
    const { chip, device } = await open({ onCommand: (f) => f.kind === 'GET_STATUS' /* never answered */ });
    const run = await device.start();
    chip.send(...chip.trials(0, 80));
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const batch of run) for (const e of perFrameEvents(batch)) if (e.kind === 'trials') seen.push(e.first);
    })().catch((e) => e);
    const status = device.getStatus().catch((e) => e);
    await new Promise((r) => setTimeout(r, 30));
    chip.unplug();
    const err = await consumer;
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.code).toBe('DISCONNECTED');
    expect(err.message).toBe(`device at ${chip.path} disconnected: device unplugged`);
    expect(seen).toEqual([0, 40]);
    expect(await status).toBe(err);
    const later = await device.setPump(100).catch((e) => e);
    expect(later).toBe(err);
    await device.close();
  });

  it('close() mid-run ends the run with a DeviceError and does not leave the chip running', async () => {
    const { chip, device } = await open();
    const run = await device.start();
    const consumer = collect(run).catch((e) => e);
    await device.close();
    const err = await consumer;
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toBe(`device at ${chip.path} was closed`);
    expect(chip.received.at(-1)?.kind).toBe('STOP');
    await expect(device.getStatus()).rejects.toBe(err);
  });

  it('applies back-pressure: pauses the port while the consumer lags, loses nothing', async () => {
    const chip = new FakeChip();
    const device = await Device.open({ path: chip.path, binding: chip.binding, run: { highWaterEvents: 50 } });
    const run = await device.start();
    const port = (device as unknown as { port: { isPaused(): boolean } }).port;
    for (let i = 0; i < 20; i++) chip.send(...chip.trials(i * 400, 400)); // 200 frames, 20 chunks
    await new Promise((r) => setTimeout(r, 50));
    expect(port.isPaused()).toBe(true);
    let next = 0;
    for await (const batch of run) {
      for (const e of perFrameEvents(batch)) {
        if (e.kind !== 'trials') continue;
        expect(e.first).toBe(next);
        next += e.n;
      }
      if (next === 8000) void run.stop();
    }
    expect(next).toBe(8000);
    await device.close();
  });

  it('host mode: SETTINGS go out in frames of at most 192; a rejected one fails the run', async () => {
    const { chip, device } = await open();
    const run = await device.start({ source: 'host' });
    const settings = new Uint8Array(400).map((_, i) => i % 4);
    await run.sendSettings(settings);
    await new Promise((r) => setTimeout(r, 20));
    const sent = chip.received.filter((f) => f.kind === 'SETTINGS');
    expect(sent.map((f) => (f.kind === 'SETTINGS' ? f.count : 0))).toEqual([192, 192, 16]);
    const joined = Buffer.concat(sent.map((f) => (f.kind === 'SETTINGS' ? Buffer.from(f.settings) : Buffer.alloc(0))));
    expect([...joined]).toEqual([...settings]);
    chip.send(chip.ack(sent[2]!, AckStatus.SETTINGS_OVERFLOW));
    const err = await collect(run).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toBe('SETTINGS refused by the device: SETTINGS_OVERFLOW');
    await device.close();
  });

  it('breaking out of the loop stops the chip', async () => {
    const { chip, device } = await open();
    const run = await device.start();
    chip.send(...chip.trials(0, 400));
    for await (const batch of run) {
      void batch;
      break;
    }
    expect(chip.count('STOP')).toBe(1);
    await device.close();
  });
});

void encodeFrame;

describe('host-settings credit', () => {
  it("onCredit sees a CREDIT that arrived with START's ACK, before start() resolved, then every later one", async () => {
    const { chip, device } = await open({
      onCommand: (f, c) => {
        if (f.kind !== 'START') return false;
        c.send(c.ack(f), { kind: 'CREDIT', free: 65536, consumed: 0 }); // PROTOCOL 4 CREDIT: right after START's ACK
        return true;
      },
    });
    const run = await device.start({ source: 'host' });
    const credits: [number, number][] = [];
    run.onCredit = (free, consumed) => credits.push([free, consumed]);
    chip.send({ kind: 'CREDIT', free: 4096, consumed: 61440 });
    await new Promise((r) => setTimeout(r, 20));
    expect(credits).toEqual([
      [65536, 0],
      [4096, 61440],
    ]);
    await run.stop();
    await device.close();
  });
});

describe('ACK timeout on a loaded machine', () => {
  it('an event loop stalled past the timeout is not taken for a silent device', async () => {
    const { chip, device } = await open(
      {
        onCommand: (f, c) => {
          if (f.kind !== 'GET_STATUS') return false;
          // This process stalls for 3 timeouts (a loaded machine), then the answer comes in a later
          // timer due after the expired ACK timer: that timer must not blame the device.
          const until = performance.now() + 300;
          while (performance.now() < until) {
            /* busy */
          }
          setTimeout(() => c.send(c.ack(f), { ...baseStatus }), 0);
          return true;
        },
      },
      { ackTimeoutMs: 100, retries: 0 },
    );
    expect((await device.getStatus()).state).toBe(0);
    expect(chip.count('GET_STATUS')).toBe(1);
    await device.close();
  });
});
