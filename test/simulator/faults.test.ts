/**
 * Fault injection and adversarial chips: each one's signature on the wire.
 */
import { describe, expect, it } from 'vitest';
import {
  AckStatus,
  DeviceState,
  Fault,
  TRIALS_FLAG,
  type DeviceFrame,
  type StatusFrame,
  type TrialsFrame,
} from '../../src/protocol/types.ts';
import { SimulatedChip, normalizeFaults } from '../../src/simulator/chip.ts';
import { TestHost, chshFromTally, tally, trialsOf } from './host.ts';

const statuses = (frames: DeviceFrame[]) => frames.filter((f): f is StatusFrame => f.kind === 'STATUS');

describe('hardware faults', () => {
  it('a latched detector: FAULT at power-up, dark saturated, START BAD_STATE, RESET cannot clear a lasting fault', () => {
    const host = new TestHost({ seed: 1, faults: { latchedDetector: 2 } });
    const st = host.status();
    expect(st.state).toBe(DeviceState.FAULT);
    expect(st.faults & Fault.DETECTOR_LATCHED).toBeTruthy();
    expect(st.dark[2]).toBe(65535);
    expect(host.command({ kind: 'START', source: 0, rate: 0, limit: 0 }).ack.status).toBe(AckStatus.BAD_STATE);
    expect(host.command({ kind: 'RESET' }).ack.status).toBe(AckStatus.OK);
    expect(host.status().state).toBe(DeviceState.FAULT);
  });

  it('a transient fault: FAULT until RESET, then runs again', () => {
    const host = new TestHost({ seed: 2 });
    host.chip.injectFault(Fault.SELF_TEST);
    const announced = statuses(host.drainIdleSafe());
    expect(announced[0]).toMatchObject({ state: DeviceState.FAULT });
    expect(host.command({ kind: 'START', source: 0, rate: 0, limit: 0 }).ack.status).toBe(AckStatus.BAD_STATE);
    expect(host.command({ kind: 'RESET' }).ack.status).toBe(AckStatus.OK);
    const st = host.status();
    expect(st.state).toBe(DeviceState.IDLE);
    expect(st.faults & Fault.SELF_TEST).toBe(0);
    expect(host.command({ kind: 'START', source: 0, rate: 0, limit: 100 }).ack.status).toBe(AckStatus.OK);
  });

  it('temperature outside 15..35 C sets bit 1 and reports the temperature', () => {
    const host = new TestHost({ seed: 3, faults: { temperatureCentidegrees: 4100 } });
    expect(host.status()).toMatchObject({ temperature: 4100, state: DeviceState.FAULT });
    expect(host.status().faults & Fault.TEMPERATURE).toBeTruthy();
    expect(new TestHost({ seed: 3 }).status().temperature).toBe(2500);
  });

  it('a fault appearing mid-run stops the trials and says so in a STATUS', () => {
    const host = new TestHost({ seed: 4, calibrated: true, faults: { pumpUnlocked: true, atMs: 50 } });
    expect(host.status().state).toBe(DeviceState.IDLE);
    host.send({ kind: 'START', source: 0, rate: 0, limit: 1_000_000 });
    const frames = host.drain();
    const trials = trialsOf(frames);
    const last = trials[trials.length - 1]!;
    expect(last.first + last.n).toBeGreaterThanOrEqual(49_960);
    expect(last.first + last.n).toBeLessThanOrEqual(50_000 + 40 * 1024);
    const st = statuses(frames).pop()!;
    expect(st.state).toBe(DeviceState.FAULT);
    expect(st.faults & Fault.PUMP_UNLOCKED).toBeTruthy();
  });

  it('fault options from a command line are parsed and checked', () => {
    expect(normalizeFaults({ byteDropRate: '1e-3', latchedDetector: '1', pumpUnlocked: 'true' })).toEqual({
      byteDropRate: 0.001,
      latchedDetector: 1,
      pumpUnlocked: true,
    });
    expect(() => normalizeFaults({ byteDropRate: '2' })).toThrow(/byteDropRate must be a probability/);
    expect(() => normalizeFaults({ wobble: '1' })).toThrow(/unknown simulator fault "wobble"/);
    expect(() => new SimulatedChip({ seed: 1, faults: { latchedDetector: '7' } })).toThrow(
      /latchedDetector must be 0..3/,
    );
  });
});

describe('overflow and link faults', () => {
  it('forced overflow: GAP marks every jump, STATUS lost counts exactly the missing trials, fault bit 3', () => {
    const host = new TestHost({ seed: 5, faults: { overflowRate: 0.05 } });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 200_000 });
    const frames = host.drain();
    const trials = trialsOf(frames);
    let next = 0;
    let missing = 0;
    let gaps = 0;
    for (const t of trials) {
      if (t.flags & TRIALS_FLAG.GAP) {
        gaps++;
        expect(t.first).toBeGreaterThan(next);
      } else expect(t.first).toBe(next);
      missing += t.first - next;
      next = t.first + t.n;
    }
    missing += 200_000 - next; // lost at the very end
    expect(gaps).toBeGreaterThan(100);
    const st = statuses(frames).pop()!;
    expect(st.lost).toBe(missing);
    expect(st.faults & Fault.OVERFLOW).toBeTruthy();
    // OVERFLOW is "since the last STATUS": cleared once reported
    expect(host.status().faults & Fault.OVERFLOW).toBe(0);
  });

  it('byte drop/flip/duplicate and frame loss: a resynchronising host never sees a corrupt frame; seq jumps show link loss', () => {
    const host = new TestHost({
      seed: 6,
      faults: { byteDropRate: 2e-5, byteFlipRate: 2e-5, byteDuplicateRate: 2e-5, frameLossRate: 0.002 },
    });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 400_000 });
    const frames = host.drain();
    const trials = trialsOf(frames);
    const s = host.chip.stats;
    expect(s.linkBytesDropped + s.linkBytesFlipped + s.linkBytesDuplicated).toBeGreaterThan(10);
    expect(s.linkFramesLost).toBeGreaterThan(5);
    expect(trials.length).toBeLessThan(10_000);
    let prev: TrialsFrame | undefined;
    let seqJumps = 0;
    let reservedBits = 0;
    for (const t of trials) {
      for (const r of t.records) reservedBits |= r & 0xc0;
      if (prev) {
        expect(t.first).toBeGreaterThanOrEqual(prev.first + prev.n); // never a repeated or reordered index
        if (t.seq !== prev.seq + 1) seqJumps++;
      }
      prev = t;
    }
    expect(reservedBits).toBe(0);
    expect(seqJumps).toBeGreaterThan(5);
    expect(host.sync.stats.crcErrors + host.sync.stats.bytesSkipped).toBeGreaterThan(0);
  });

  it('realtime: a host that does not read overflows the device buffer (GAP, lost, fault bit 3)', async () => {
    const chip = new SimulatedChip({ seed: 7, clock: 'realtime', deviceBufferFrames: 32 });
    try {
      const host = new TestHost(chip);
      host.send({ kind: 'START', source: 0, rate: 0, limit: 0 });
      await new Promise((r) => setTimeout(r, 150));
      const frames = host.drainIdleSafe();
      await new Promise((r) => setTimeout(r, 30));
      const more = [...frames, ...host.drainIdleSafe()];
      expect(trialsOf(more).some((t) => t.flags & TRIALS_FLAG.GAP)).toBe(true);
      const st = host.status();
      expect(st.lost).toBeGreaterThan(10_000);
      expect(chip.clockMs).toBeGreaterThan(150);
      const periodic = statuses(more);
      expect(periodic.every((s) => s.state === DeviceState.RUNNING)).toBe(true);
    } finally {
      chip.close();
    }
  });
});

describe('realtime pacing', () => {
  it('a stall of the simulator itself pauses the chip: no GAP for a host that reads on time, rate kept otherwise', async () => {
    const chip = new SimulatedChip({ seed: 13, clock: 'realtime' });
    try {
      const host = new TestHost(chip);
      host.send({ kind: 'START', source: 0, rate: 0, limit: 0 });
      const frames: DeviceFrame[] = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 600) {
        await new Promise((r) => setTimeout(r, 5));
        frames.push(...host.drainIdleSafe());
        if (Date.now() - t0 > 200 && Date.now() - t0 < 260) {
          const stall = Date.now();
          while (Date.now() - stall < 400); // the event loop is blocked for 400 ms
        }
      }
      const seq = host.send({ kind: 'STOP' });
      frames.push(...host.drainIdleSafe());
      expect(frames[frames.length - 1]).toMatchObject({ kind: 'ACK', ackSeq: seq });
      const trials = trialsOf(frames);
      let next = 0;
      for (const t of trials) {
        expect(t.flags & TRIALS_FLAG.GAP).toBe(0);
        expect(t.first).toBe(next);
        next = t.first + t.n;
      }
      const elapsedMs = Date.now() - t0;
      // at most the wall time at 1 M/s; at least the time outside the stall (minus the 250 ms catch-up cap)
      expect(next).toBeLessThanOrEqual(elapsedMs * 1000 + 40);
      expect(next).toBeGreaterThan(200_000);
    } finally {
      chip.close();
    }
  });
});

describe('adversarial chips', () => {
  it("'lhv': S = 2 within 5 sigma, uniform outcomes; lhvTargetS lowers it", () => {
    for (const target of [2, 1.8]) {
      const host = new TestHost({ seed: 8, mode: 'lhv', lhvTargetS: target, calibrated: true });
      host.send({ kind: 'START', source: 0, rate: 0, limit: 400_000 });
      const n = tally(trialsOf(host.drain()));
      const est = chshFromTally(n);
      expect(Math.abs(est.S - target)).toBeLessThan(5 * est.sigma);
      let a1 = 0;
      for (const row of n) for (let p = 0; p < 16; p++) if ((p & 0b1100) === 0b1000) a1 += row[p]!;
      expect(Math.abs(a1 - 200_000)).toBeLessThan(5 * Math.sqrt(400_000 / 4));
    }
  });

  it("'postselect': drops the trials that lose the CHSH game and flags GAP, so the kept records show S = 4", () => {
    const host = new TestHost({ seed: 9, mode: 'postselect', calibrated: true });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 100_000 });
    const frames = host.drain();
    const trials = trialsOf(frames);
    const kept = trials.reduce((a, t) => a + t.n, 0);
    expect(chshFromTally(tally(trials)).S).toBeCloseTo(4, 10);
    expect(trials.filter((t) => t.flags & TRIALS_FLAG.GAP).length).toBeGreaterThan(trials.length / 2);
    const st = statuses(frames).pop()!;
    expect(st.lost).toBe(100_000 - kept);
    expect(st.trials).toBe(100_000);
    // an honest chip of the same seed shows no GAP at all
    const honest = new TestHost({ seed: 9, calibrated: true });
    honest.send({ kind: 'START', source: 0, rate: 0, limit: 100_000 });
    expect(trialsOf(honest.drain()).some((t) => t.flags & TRIALS_FLAG.GAP)).toBe(false);
  });

  function hostRun(opts: ConstructorParameters<typeof SimulatedChip>[0], count: number) {
    const host = new TestHost(opts);
    host.send({ kind: 'START', source: 1, rate: 0, limit: 0 });
    const sent: number[] = [];
    for (let i = 0; i < count; i += 192) {
      const vals = Array.from({ length: Math.min(192, count - i) }, (_, k) => ((i + k) * 2654435761) >>> 30);
      sent.push(...vals);
      host.send({ kind: 'SETTINGS', count: vals.length, settings: Uint8Array.from(vals) });
    }
    const echoed: number[] = [];
    for (const t of trialsOf(host.drain())) for (const r of t.records) echoed.push((r >> 4) & 3);
    const mismatches = sent.map((v, i) => (echoed[i] === v ? -1 : i)).filter((i) => i >= 0);
    return { host, sent, echoed, mismatches };
  }

  it("'tamper': measures some trials at other settings; its echo shows them (caught by the echo check)", () => {
    const honest = hostRun({ seed: 10 }, 40_000);
    expect(honest.echoed).toHaveLength(40_000);
    expect(honest.mismatches).toHaveLength(0);
    const lying = hostRun({ seed: 10, mode: 'tamper', tamperRate: 0.01 }, 40_000);
    expect(lying.echoed).toHaveLength(40_000);
    const expected = 400;
    expect(Math.abs(lying.mismatches.length - expected)).toBeLessThan(5 * Math.sqrt(expected));
    expect(lying.host.chip.stats.tamperedTrials).toBe(lying.mismatches.length);
    for (const i of lying.mismatches) expect(lying.echoed[i]! ^ lying.sent[i]!).toBe(2); // x changed, y kept
  });

  it("'tamper' with tamperEcho 'host': echoes what the host sent while measuring other settings", () => {
    const r = hostRun({ seed: 11, mode: 'tamper', tamperRate: 0.05, tamperEcho: 'host' }, 20_000);
    expect(r.mismatches).toHaveLength(0);
    expect(r.host.chip.stats.tamperedTrials).toBeGreaterThan(500);
  });

  it("'biased': internal settings with P(x = 1) = 0.6, y uniform", () => {
    const host = new TestHost({ seed: 12, mode: 'biased', calibrated: true });
    host.send({ kind: 'START', source: 0, rate: 0, limit: 200_000 });
    const n = tally(trialsOf(host.drain()));
    const tot = n.map((row) => row.reduce((a, b) => a + b, 0));
    const x1 = tot[2]! + tot[3]!;
    const y1 = tot[1]! + tot[3]!;
    const sd = Math.sqrt(200_000 * 0.24);
    expect(Math.abs(x1 - 120_000)).toBeLessThan(5 * sd);
    expect(Math.abs(y1 - 100_000)).toBeLessThan(5 * Math.sqrt(200_000 * 0.25));
  });
});
