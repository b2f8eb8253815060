/**
 * The running-chip watchdog (PROTOCOL 4 STATUS: a STATUS every status
 * interval, TRIALS while RUNNING), in simulated time: a silent chip, a chip
 * sending only garbage and a chip sending only STATUS (claiming trials that
 * never arrive) each end the run within the documented interval, 3 status
 * periods, and not before; time the host did not read (back-pressure, a
 * stalled process) is not held against the chip.
 */
import { describe, expect, it } from 'vitest';
import { type DeviceError, ExitCode } from '../../src/errors.ts';
import { RunWatchdog, WATCHDOG_PERIODS, watchdogIntervalMs } from '../../src/device/watchdog.ts';
import { ManualClock } from './manual-clock.ts';

const INTERVAL = watchdogIntervalMs(); // 3 x 1000 ms: PROTOCOL 4 STATUS default interval
const TICK = INTERVAL / 4;

function dog(clock: ManualClock) {
  const expired: DeviceError[] = [];
  const w = new RunWatchdog({
    intervalMs: INTERVAL,
    where: 'EPQ-1 EPQ1-00C0FFEE at /dev/ttyACM0',
    clock,
    onExpire: (e) => expired.push(e),
  });
  return { w, expired };
}

describe('watchdog interval', () => {
  it('is 3 status periods, and 3 default periods when STATUS is off', () => {
    expect(WATCHDOG_PERIODS).toBe(3);
    expect(watchdogIntervalMs()).toBe(3000);
    expect(watchdogIntervalMs(250)).toBe(750);
    expect(watchdogIntervalMs(0)).toBe(3000);
  });
});

describe('RunWatchdog (simulated time)', () => {
  it('a silent chip: a DeviceError (exit 3) naming the port once the interval has passed, not before', () => {
    const clock = new ManualClock();
    const { expired } = dog(clock);
    clock.advance(INTERVAL - TICK);
    expect(expired).toHaveLength(0);
    clock.advance(TICK);
    expect(expired).toHaveLength(1);
    const e = expired[0]!;
    expect(e.exitCode).toBe(ExitCode.DEVICE);
    expect(e.code).toBe('WATCHDOG');
    expect(e.message).toBe(
      'EPQ-1 EPQ1-00C0FFEE at /dev/ttyACM0 sent nothing for 3000 ms while running (a running EPQ-1 sends TRIALS and a STATUS every status interval, PROTOCOL 4; watchdog 3000 ms)',
    );
    clock.advance(10 * INTERVAL);
    expect(expired).toHaveLength(1); // once
  });

  it('a chip sending only garbage: the message says so', () => {
    const clock = new ManualClock();
    const { w, expired } = dog(clock);
    for (let t = 0; t < INTERVAL; t += 100) {
      w.garbage(64);
      clock.advance(100);
    }
    expect(expired).toHaveLength(1);
    expect(expired[0]!.message).toMatch(
      / sent only garbage \(\d+ bytes that were no frame\) for 3000 ms while running/,
    );
  });

  it('a chip sending only STATUS (its trials never arrive): the message names the missing TRIALS and the claim', () => {
    const clock = new ManualClock();
    const { w, expired } = dog(clock);
    w.frame('TRIALS');
    for (let s = 1; s <= 3; s++) {
      clock.advance(1000);
      if (expired.length === 0) w.frame('STATUS', s * 1_000_000);
    }
    expect(expired).toHaveLength(1);
    expect(expired[0]!.message).toMatch(
      /sent no TRIALS for 3000 ms while running, only 2 other frame\(s\) \(STATUS claims 2000000 trials performed\)/,
    );
    expect(expired[0]!.detail).toMatchObject({ missing: 'TRIALS' });
  });

  it('a chip delivering TRIALS never trips it', () => {
    const clock = new ManualClock();
    const { w, expired } = dog(clock);
    for (let t = 0; t < 100 * INTERVAL; t += INTERVAL - 1) {
      clock.advance(INTERVAL - 1);
      w.frame('TRIALS');
    }
    expect(expired).toHaveLength(0);
    w.stop();
  });

  it('time with the link paused by the host (back-pressure) does not count', () => {
    const clock = new ManualClock();
    const { w, expired } = dog(clock);
    w.suspend(true);
    clock.advance(10 * INTERVAL);
    expect(expired).toHaveLength(0);
    w.suspend(false);
    clock.advance(INTERVAL - TICK);
    expect(expired).toHaveLength(0);
    clock.advance(TICK);
    expect(expired).toHaveLength(1);
  });

  it("the frames of one read share the read's clock reading: one clock call per chunk, the same verdicts", () => {
    let calls = 0;
    const clock = new ManualClock();
    const counting = Object.assign(Object.create(clock) as ManualClock, {
      now: () => {
        calls++;
        return clock.now();
      },
    });
    const { w, expired } = dog(counting);
    clock.advance(INTERVAL - TICK);
    calls = 0;
    w.beginChunk();
    for (let i = 0; i < 1000; i++) w.frame('TRIALS');
    w.endChunk();
    expect(calls).toBe(1);
    // the TRIALS of that read count from the read's time: silent a whole interval after it, not before
    clock.advance(INTERVAL - TICK);
    expect(expired).toHaveLength(0);
    clock.advance(TICK);
    expect(expired).toHaveLength(1);
    expect(expired[0]!.message).toMatch(/sent nothing for 3000 ms while running/);
    // outside a chunk each frame reads the clock again
    calls = 0;
    w.frame('OTHER');
    expect(calls).toBe(1);
  });

  it('a stalled process (a check fired late) is not taken for a silent chip', () => {
    const clock = new ManualClock();
    const { w, expired } = dog(clock);
    clock.advance(TICK);
    clock.stall(5 * INTERVAL); // the event loop was blocked: nothing read
    w.frame('TRIALS'); // the data that waited in the OS buffer
    expect(expired).toHaveLength(0);
    clock.advance(INTERVAL);
    expect(expired).toHaveLength(1);
  });
});
