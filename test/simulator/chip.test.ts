/**
 * Firmware of PROTOCOL sections 3-5: states, ACK statuses, BAD_ARGUMENT
 * detail offsets, STOP/limit/STATUS timing, host FIFO and CREDIT, flash.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/encode.ts';
import {
  AckStatus,
  DeviceState,
  Fault,
  FrameType,
  TRIALS_FLAG,
  type CreditFrame,
  type DeviceFrame,
  type InfoFrame,
  type StatusFrame,
} from '../../src/protocol/types.ts';
import { idealSettings, FACTORY_SETTINGS } from '../../src/simulator/physics.ts';
import { SimulatedChip } from '../../src/simulator/chip.ts';
import { TestHost, trialsOf, type Cmd } from './host.ts';

const tmp = mkdtempSync(join(tmpdir(), 'epq-sim-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function statuses(frames: DeviceFrame[]): StatusFrame[] {
  return frames.filter((f): f is StatusFrame => f.kind === 'STATUS');
}

/** Settings payload bytes: count, 2 reserved, then 2 bits per trial (x = bit 2k, y = bit 2k+1). */
function settingsFrame(values: number[]): { kind: 'SETTINGS'; count: number; settings: Uint8Array } {
  return { kind: 'SETTINGS', count: values.length, settings: Uint8Array.from(values) };
}

describe('INFO', () => {
  it('GET_INFO: ACK OK then INFO with the firmware facts; serial from the seed', () => {
    const host = new TestHost({ seed: 1 });
    const { ack, frames } = host.command({ kind: 'GET_INFO' });
    expect(ack).toMatchObject({ ackType: FrameType.GET_INFO, status: AckStatus.OK });
    expect(frames[0]).toBe(ack); // data answers follow their ACK
    const info = frames[1] as InfoFrame;
    expect(info).toMatchObject({
      kind: 'INFO',
      protocol: [1, 0],
      model: 'EPQ-1',
      maxTrialRate: 1_000_000,
      capabilities: 15,
      settingsFifo: 65536,
    });
    expect(info.serial).toMatch(/^EPQ1-[0-9A-F]{8}$/);
    expect(new SimulatedChip({ seed: 1 }).serial).toBe(info.serial);
    expect(new SimulatedChip({ seed: 2 }).serial).not.toBe(info.serial);
    // device seq: +1 per frame
    expect(info.seq).toBe(ack.seq + 1);
  });
});

describe('command validation', () => {
  // [type, payload, expected detail] for well-framed commands with one bad field (PROTOCOL 5).
  const bad: Array<[string, number, number[], number]> = [
    ['GET_INFO non-zero payload byte', 0x81, [0, 0, 0, 0, 0, 7], 5],
    ['START source 2', 0x83, [2], 0],
    ['START reserved byte', 0x83, [0, 0, 1], 2],
    ['START rate above the max trial rate', 0x83, [0, 0, 0, 0, 0x80, 0x84, 0x1e, 0x00], 4],
    ['SET_ANGLES B(y=0) 18000', 0x85, [0, 0, 0x94, 0x11, 0x50, 0x46, 0, 0], 4],
    ['SET_WINDOW 99', 0x86, [99, 0], 0],
    ['SET_WINDOW 20001', 0x86, [0x21, 0x4e], 0],
    ['SET_BIAS detector 4', 0x87, [4, 0, 0x30, 0x75], 0],
    ['SET_BIAS reserved byte', 0x87, [0, 1, 0x30, 0x75], 1],
    ['SET_BIAS 19999 mV', 0x87, [0, 0, 0x1f, 0x4e], 2],
    ['MEASURE_COUNTS angleB 18000', 0x88, [1, 0, 0, 0, 0, 0, 0x50, 0x46, 0xe8, 3, 0, 0], 6],
    ['MEASURE_COUNTS integration 0', 0x88, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8],
    ['MEASURE_COUNTS integration 60001', 0x88, [1, 0, 0, 0, 0, 0, 0, 0, 0x61, 0xea, 0, 0], 8],
    ['SET_PUMP 1001', 0x8a, [0xe9, 0x03], 0],
    ['SET_STATUS_INTERVAL 50', 0x8b, [50, 0], 0],
    ['SET_DELAY 10001', 0x8c, [0x11, 0x27], 0],
    ['SET_DELAY -10001', 0x8c, [0xef, 0xd8], 0],
    ['SETTINGS count 0', 0x89, [0, 0], 0],
    ['SETTINGS count 193', 0x89, [193, 0], 0],
    ['SETTINGS bits beyond count', 0x89, [1, 0, 0, 0, 0x0c], 4],
    [
      'RESET non-zero payload',
      0x8d,
      [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
      ],
      51,
    ],
  ];
  for (const [what, type, payload, detail] of bad) {
    it(`${what}: BAD_ARGUMENT, detail ${detail}, state unchanged`, () => {
      const host = new TestHost({ seed: 3 });
      const before = host.status();
      const seq = host.sendRaw(type, payload);
      const frames = host.drainIdleSafe();
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatchObject({
        kind: 'ACK',
        ackSeq: seq,
        ackType: type,
        status: AckStatus.BAD_ARGUMENT,
        detail,
      });
      const after = host.status();
      expect({ ...after, seq: 0, trials: 0 }).toEqual({ ...before, seq: 0, trials: 0 });
    });
  }

  it('valid boundary values are accepted', () => {
    const host = new TestHost({ seed: 3 });
    const cmds: Cmd[] = [
      { kind: 'SET_WINDOW', window: 100 },
      { kind: 'SET_WINDOW', window: 20000 },
      { kind: 'SET_BIAS', detector: 3, bias: 40000 },
      { kind: 'SET_DELAY', delay: -10000 },
      { kind: 'SET_PUMP', pump: 0 },
      { kind: 'SET_STATUS_INTERVAL', interval: 0 },
      { kind: 'SET_STATUS_INTERVAL', interval: 100 },
      { kind: 'SET_ANGLES', angles: [17999, 0, 9000, 13500] },
    ];
    for (const cmd of cmds) {
      expect(host.command(cmd).ack.status).toBe(AckStatus.OK);
    }
    const st = host.status();
    expect(st).toMatchObject({ window: 20000, delay: -10000, pump: 0, angles: [17999, 0, 9000, 13500] });
    expect(st.bias[3]).toBe(40000);
  });

  it('frames with a wrong CRC or magic are dropped silently; the next good frame is answered', () => {
    const host = new TestHost({ seed: 4 });
    const good = encodeFrame({ kind: 'GET_STATUS', flags: 0, seq: 77 });
    const badCrc = Buffer.from(good);
    badCrc[61]! ^= 0xff;
    const badMagic = encodeFrame({ kind: 'GET_STATUS', flags: 0, seq: 78 });
    badMagic[1] = 0x52;
    host.chip.receive(badCrc);
    host.chip.receive(badMagic);
    host.chip.receive(Uint8Array.from([1, 2, 3, 0xe5])); // garbage, a lone first magic byte
    expect(host.drainIdleSafe()).toHaveLength(0);
    // A good frame split across two receives is still answered.
    const next = encodeFrame({ kind: 'GET_INFO', flags: 0, seq: 79 });
    host.chip.receive(next.subarray(0, 10));
    host.chip.receive(next.subarray(10));
    const frames = host.drainIdleSafe();
    expect(frames.map((f) => f.kind)).toEqual(['ACK', 'INFO']);
    expect(frames[0]).toMatchObject({ ackSeq: 79, status: AckStatus.OK });
    expect(host.chip.stats.hostFramesDropped).toBeGreaterThanOrEqual(1);
  });

  it('unknown and device-only types: UNKNOWN_COMMAND', () => {
    const host = new TestHost({ seed: 4 });
    for (const type of [0x90, 0x00, 0x01, 0x05, 0xff]) {
      const seq = host.sendRaw(type, []);
      expect(host.drainIdleSafe()).toEqual([
        expect.objectContaining({ kind: 'ACK', ackSeq: seq, ackType: type, status: AckStatus.UNKNOWN_COMMAND }),
      ]);
    }
  });

  it('an undefined flag bit on a command: BAD_ARGUMENT', () => {
    const host = new TestHost({ seed: 4 });
    const seq = host.sendRaw(0x82, [], 0x01);
    expect(host.drainIdleSafe()).toEqual([expect.objectContaining({ ackSeq: seq, status: AckStatus.BAD_ARGUMENT })]);
  });
});

describe('states', () => {
  it('IDLE-only commands are BAD_STATE while RUNNING; GET_* and SET_STATUS_INTERVAL are not', () => {
    const host = new TestHost({ seed: 5 });
    expect(host.command({ kind: 'START', source: 0, rate: 0, limit: 0 }).ack.status).toBe(AckStatus.OK);
    const cmds: Cmd[] = [
      { kind: 'START', source: 0, rate: 0, limit: 0 },
      { kind: 'SET_ANGLES', angles: [0, 0, 0, 0] },
      { kind: 'SET_WINDOW', window: 500 },
      { kind: 'SET_BIAS', detector: 0, bias: 30000 },
      { kind: 'SET_PUMP', pump: 100 },
      { kind: 'SET_DELAY', delay: 0 },
      { kind: 'MEASURE_COUNTS', id: 1, angleA: 0, angleB: 0, integration: 1 },
      { kind: 'SAVE_CALIBRATION' },
      settingsFrame([0]), // internal source
    ];
    for (const cmd of cmds) {
      expect(host.command(cmd).ack.status).toBe(AckStatus.BAD_STATE);
    }
    expect(host.command({ kind: 'SET_STATUS_INTERVAL', interval: 500 }).ack.status).toBe(AckStatus.OK);
    expect(host.command({ kind: 'GET_INFO' }).ack.status).toBe(AckStatus.OK);
    const st = host.status();
    expect(st.state).toBe(DeviceState.RUNNING);
  });

  it('SETTINGS in IDLE: BAD_STATE; STOP in IDLE: OK no-op', () => {
    const host = new TestHost({ seed: 5 });
    expect(host.command(settingsFrame([1, 2])).ack.status).toBe(AckStatus.BAD_STATE);
    const { ack, frames } = host.command({ kind: 'STOP' });
    expect(ack.status).toBe(AckStatus.OK);
    expect(frames).toHaveLength(1);
  });

  it('START resets the trial index; trials are contiguous; STOP sends the buffered TRIALS then the ACK', () => {
    const host = new TestHost({ seed: 6 });
    for (let run = 0; run < 2; run++) {
      host.send({ kind: 'START', source: 0, rate: 0, limit: 0 });
      const frames = [...host.read(), ...host.read(), ...host.read(1000)];
      const stopSeq = host.send({ kind: 'STOP' });
      const after = host.drain();
      const all = [...frames, ...after];
      const trials = trialsOf(all);
      expect(trials[0]!.first).toBe(0);
      let next = 0;
      for (const t of trials) {
        expect(t.first).toBe(next);
        expect(t.flags).toBe(0);
        next += t.n;
      }
      // the ACK of STOP is the last frame, after every TRIALS frame
      const last = all[all.length - 1];
      expect(last).toMatchObject({ kind: 'ACK', ackSeq: stopSeq, status: AckStatus.OK });
      expect(host.status()).toMatchObject({ state: DeviceState.IDLE, trials: next });
    }
  });

  it('limit: exactly `limit` trials, in order, then the last TRIALS frame and a STATUS in IDLE', () => {
    const host = new TestHost({ seed: 7 });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 100_003 });
    const frames = host.drain();
    const trials = trialsOf(frames);
    let next = 0;
    for (const t of trials) {
      expect(t.first).toBe(next);
      next += t.n;
    }
    expect(next).toBe(100_003);
    const lastTrials = frames.lastIndexOf(trials[trials.length - 1]!);
    const tail = frames.slice(lastTrials + 1);
    expect(tail.map((f) => f.kind)).toEqual(['STATUS']);
    expect(tail[0]).toMatchObject({ state: DeviceState.IDLE, trials: 100_003 });
    expect(host.chip.clockMs).toBeCloseTo(100.003, 6); // 1e6 trials/s of chip time
  });

  it('START rate sets the pace of chip time', () => {
    const host = new TestHost({ seed: 7 });
    host.send({ kind: 'START', source: 0, rate: 1000, limit: 500 });
    host.drain();
    expect(host.chip.clockMs).toBeCloseTo(500, 6);
  });
});

describe('STATUS interval', () => {
  it('every interval of chip time, in IDLE, RUNNING and MEASURING; 0 turns it off', () => {
    const host = new TestHost({ seed: 8 });
    host.chip.advance(3500);
    const idle = statuses(host.drainIdleSafe());
    expect(idle).toHaveLength(3); // 1000 ms default
    expect(idle.every((s) => s.state === DeviceState.IDLE)).toBe(true);

    host.command({ kind: 'SET_STATUS_INTERVAL', interval: 100 });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 1_000_000 }); // 1 s of chip time
    const run = host.drain();
    const st = statuses(run);
    // 10 periodic ones (the last may coincide with the limit), plus the limit's STATUS in IDLE
    expect(st.length).toBeGreaterThanOrEqual(10);
    expect(st.length).toBeLessThanOrEqual(11);
    const running = st.filter((s) => s.state === DeviceState.RUNNING);
    for (let i = 0; i < running.length; i++)
      expect(Math.abs(running[i]!.trials - (i + 1) * 100_000)).toBeLessThanOrEqual(40);
    expect(st[st.length - 1]).toMatchObject({ state: DeviceState.IDLE, trials: 1_000_000 });

    const m = host.command({ kind: 'MEASURE_COUNTS', id: 9, angleA: 0, angleB: 0, integration: 550 });
    const ms = statuses(m.frames);
    expect(ms.length).toBe(5);
    expect(ms.every((s) => s.state === DeviceState.MEASURING)).toBe(true);
    expect(m.frames[m.frames.length - 1]!.kind).toBe('COUNTS');
    expect(host.status().state).toBe(DeviceState.IDLE);

    host.command({ kind: 'SET_STATUS_INTERVAL', interval: 0 });
    host.chip.advance(10_000);
    expect(statuses(host.drainIdleSafe())).toHaveLength(0);
  });
});

describe('host settings', () => {
  it('CREDIT after START, FIFO of 65536, SETTINGS_OVERFLOW, echo, CREDIT per 4096 freed, starvation and RESUMED', () => {
    const host = new TestHost({ seed: 9 });
    const start = host.command({ kind: 'START', source: 1, rate: 0, limit: 0 });
    expect(start.frames.map((f) => f.kind)).toEqual(['ACK', 'CREDIT']);
    expect(start.frames[1]).toMatchObject({ free: 65536, consumed: 0 });
    // fill the FIFO: 341 frames of 192 + one of 64 = 65536
    const sent: number[] = [];
    let v = 0;
    for (let i = 0; i < 342; i++) {
      const count = i < 341 ? 192 : 64;
      const vals = Array.from({ length: count }, () => (v = (v * 5 + 3) & 3));
      sent.push(...vals);
      host.send(settingsFrame(vals));
    }
    expect(host.drainIdleSafe()).toHaveLength(0); // accepted SETTINGS are not answered
    expect(host.command(settingsFrame([1])).ack.status).toBe(AckStatus.SETTINGS_OVERFLOW);
    const frames = host.drain();
    const trials = trialsOf(frames);
    const echoed: number[] = [];
    for (const t of trials) {
      expect(t.flags & TRIALS_FLAG.HOST_SETTINGS).toBeTruthy();
      for (const r of t.records) echoed.push((r >> 4) & 3);
    }
    expect(echoed).toEqual(sent);
    const credits = frames.filter((f): f is CreditFrame => f.kind === 'CREDIT');
    // one CREDIT as soon as >= 4096 slots were freed (at the end of a 40-trial frame): every 4120 trials
    expect(credits.length).toBe(Math.floor(65536 / 4120));
    let prev = 0;
    for (const c of credits) {
      expect(c.consumed - prev).toBeGreaterThanOrEqual(4096);
      expect(c.consumed - prev).toBeLessThan(4096 + 40);
      expect(c.free).toBe(c.consumed); // nothing sent since the FIFO was filled
      prev = c.consumed;
    }
    // FIFO empty: starved (fault bit 4), then RESUMED on the next TRIALS frame
    expect(host.status().faults & Fault.SETTINGS_STARVED).toBeTruthy();
    host.send(settingsFrame([3, 0]));
    const more = trialsOf(host.drain());
    expect(more).toHaveLength(1);
    expect(more[0]).toMatchObject({ first: 65536, n: 2 });
    expect(more[0]!.flags).toBe(TRIALS_FLAG.HOST_SETTINGS | TRIALS_FLAG.RESUMED);
    expect(host.command({ kind: 'STOP' }).ack.status).toBe(AckStatus.OK);
  });
});

describe('flash', () => {
  it('a new chip is UNCALIBRATED at factory values; SAVE_CALIBRATION stores, RESET reloads, the file persists', () => {
    const flashFile = join(tmp, 'flash.json');
    const host = new TestHost({ seed: 10, flashFile });
    let st = host.status();
    expect(st.faults & Fault.UNCALIBRATED).toBeTruthy();
    expect(st).toMatchObject({
      window: 1000,
      delay: 0,
      pump: 300,
      angles: [0, 4500, 2250, 15750],
      bias: [30000, 30000, 30000, 30000],
    });
    host.command({ kind: 'SET_WINDOW', window: 700 });
    host.command({ kind: 'SET_DELAY', delay: -1500 });
    expect(host.command({ kind: 'SAVE_CALIBRATION' }).ack.status).toBe(AckStatus.OK);
    expect(host.status().faults & Fault.UNCALIBRATED).toBe(0);
    expect(JSON.parse(readFileSync(flashFile, 'utf8')).calibration).toMatchObject({ windowPs: 700, delayPs: -1500 });
    host.command({ kind: 'SET_WINDOW', window: 800 });
    expect(host.command({ kind: 'RESET' }).ack.status).toBe(AckStatus.OK);
    st = host.status();
    expect(st).toMatchObject({ window: 700, delay: -1500, state: DeviceState.IDLE });
    // power up again from the same flash file
    const again = new TestHost({ seed: 10, flashFile });
    expect(again.status()).toMatchObject({ window: 700, delay: -1500 });
    expect(again.status().faults & Fault.UNCALIBRATED).toBe(0);
  });

  it('calibrated: true preloads idealSettings of the hidden values', () => {
    const host = new TestHost({ seed: 11, calibrated: true });
    const ideal = idealSettings(host.chip.hidden);
    const st = host.status();
    expect(st.faults).toBe(0);
    expect(st).toMatchObject({
      window: ideal.windowPs,
      delay: ideal.delayPs,
      pump: ideal.pumpMicrowatts,
      angles: ideal.anglesCentidegrees,
      bias: ideal.biasMillivolts,
    });
    expect(ideal).not.toEqual(FACTORY_SETTINGS);
  });

  it('RESET while running stops the run', () => {
    const host = new TestHost({ seed: 12 });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 0 });
    host.read();
    const seq = host.send({ kind: 'RESET' });
    const frames = host.drain();
    expect(frames[frames.length - 1]).toMatchObject({ kind: 'ACK', ackSeq: seq, status: AckStatus.OK });
    expect(host.status().state).toBe(DeviceState.IDLE);
  });
});

describe('BUSY and HARDWARE_FAULT', () => {
  it('realtime: IDLE-only commands during a measurement are BUSY; COUNTS arrives after the integration, then IDLE', async () => {
    const chip = new SimulatedChip({ seed: 20, clock: 'realtime' });
    try {
      const host = new TestHost(chip);
      const t0 = Date.now();
      expect(host.command({ kind: 'MEASURE_COUNTS', id: 3, angleA: 0, angleB: 0, integration: 200 }).ack.status).toBe(
        AckStatus.OK,
      );
      expect(host.command({ kind: 'SET_WINDOW', window: 500 }).ack.status).toBe(AckStatus.BUSY);
      expect(host.command({ kind: 'START', source: 0, rate: 0, limit: 0 }).ack.status).toBe(AckStatus.BUSY);
      expect(host.status().state).toBe(DeviceState.MEASURING);
      let counts: DeviceFrame | undefined;
      while (!counts && Date.now() - t0 < 5000) {
        await new Promise((r) => setTimeout(r, 20));
        counts = host.drainIdleSafe().find((f) => f.kind === 'COUNTS');
      }
      expect(counts).toMatchObject({ kind: 'COUNTS', id: 3, trials: 200_000 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(host.status().state).toBe(DeviceState.IDLE);
    } finally {
      chip.close();
    }
  });

  it('SAVE_CALIBRATION that cannot write its flash: HARDWARE_FAULT, still UNCALIBRATED', () => {
    const host = new TestHost({ seed: 21, flashFile: join(tmp, 'no-such-dir', 'flash.json') });
    expect(host.command({ kind: 'SAVE_CALIBRATION' }).ack.status).toBe(AckStatus.HARDWARE_FAULT);
    expect(host.status().faults & Fault.UNCALIBRATED).toBeTruthy();
  });

  it('a corrupt flash file is refused with the field named', () => {
    const file = join(tmp, 'bad-flash.json');
    writeFileSync(file, JSON.stringify({ version: 1, calibration: { ...FACTORY_SETTINGS, windowPs: 5 } }));
    expect(() => new SimulatedChip({ seed: 1, flashFile: file })).toThrow(/calibration\.windowPs/);
    writeFileSync(file, '{');
    expect(() => new SimulatedChip({ seed: 1, flashFile: file })).toThrow(/not JSON/);
  });
});
