/**
 * HostSettingsFeeder flow control (PROTOCOL 4 CREDIT, 5 SETTINGS): it fills
 * the empty FIFO at START, tops it up at every CREDIT, and never has more
 * than `consumed + fifo` settings sent (a SETTINGS frame beyond the free
 * slots is rejected whole), nor more than a START limit; what it sends is
 * what the ledger holds for the echo check, x and y only on the wire.
 */
import { describe, expect, it } from 'vitest';
import type { Run } from '../../src/device/index.ts';
import { LEDGER_SETTINGS_MASK } from '../../src/certify/echo.ts';
import {
  ChaChaSource,
  HostSettingsFeeder,
  MAX_FEEDER_FIFO,
  MAX_HELD_FIFOS,
  SettingsDraw,
  testRateFraction,
} from '../../src/output/host-settings.ts';

/** A Run as the feeder sees it: CREDIT listener, sendSettings, active. */
function fakeRun() {
  const sent: Uint8Array[] = [];
  let listener: ((free: number, consumed: number) => void) | undefined;
  const run = {
    active: true,
    set onCredit(fn: ((free: number, consumed: number) => void) | undefined) {
      listener = fn;
    },
    sendSettings(s: Uint8Array): Promise<void> {
      sent.push(s);
      return Promise.resolve();
    },
  };
  return {
    run: run as unknown as Run,
    sent,
    credit: (free: number, consumed: number) => listener?.(free, consumed),
    total: () => sent.reduce((a, s) => a + s.length, 0),
  };
}

const FIFO = 65536;

describe('HostSettingsFeeder', () => {
  it('fills the FIFO at START in one write, then sends exactly what each CREDIT frees, never beyond consumed + fifo', () => {
    const f = fakeRun();
    const feeder = new HostSettingsFeeder(
      new SettingsDraw(new ChaChaSource(new Uint8Array(16).fill(1)), testRateFraction('0.25')),
      { fifo: FIFO, blockTrials: 1 << 20 },
    );
    feeder.start(f.run);
    expect(f.sent).toHaveLength(1);
    expect(f.total()).toBe(FIFO);
    // CREDIT every 4096 used (PROTOCOL 4 CREDIT): free and consumed as the chip reports them.
    let consumed = 0;
    for (let i = 0; i < 100; i++) {
      consumed += 4096 + (i % 3); // the chip reports at >= 4096 freed
      f.credit(FIFO - 1000, consumed);
      expect(f.total()).toBe(consumed + FIFO);
    }
    // A stale CREDIT (consumed going back, reordered) never lets it send more.
    f.credit(FIFO, consumed - 50_000);
    expect(f.total()).toBe(consumed + FIFO);
    // The ledger holds what was sent, in order; the wire carries x, y only.
    const wire = Buffer.concat(f.sent);
    let mismatches = 0;
    for (let i = 0; i < wire.length; i++)
      if ((feeder.ledger.at(i) & LEDGER_SETTINGS_MASK) !== wire[i] || wire[i]! > 3) mismatches++;
    expect(mismatches).toBe(0);
    feeder.stop();
    f.credit(FIFO, consumed + 10_000);
    expect(f.total()).toBe(consumed + FIFO);
  });

  it('trusts neither a huge claimed FIFO nor a CREDIT claiming settings it never sent', () => {
    const f = fakeRun();
    const feeder = new HostSettingsFeeder(new SettingsDraw(new ChaChaSource(new Uint8Array(16).fill(3)), null), {
      fifo: 2 ** 32 - 1,
      blockTrials: 1 << 20,
    });
    feeder.start(f.run);
    expect(f.total()).toBe(MAX_FEEDER_FIFO);
    f.credit(0, 2 ** 53);
    // Clamped to what was sent: at most one more FIFO's worth per CREDIT...
    expect(f.total()).toBe(2 * MAX_FEEDER_FIFO);
    // ...and never more than MAX_HELD_FIFOS fifos awaiting their echo, however many CREDITs claim it.
    for (let i = 0; i < 100; i++) f.credit(0, 2 ** 53);
    expect(f.total()).toBe(MAX_HELD_FIFOS * MAX_FEEDER_FIFO);
    expect(feeder.ledger.held).toBe(MAX_HELD_FIFOS * MAX_FEEDER_FIFO);
  });

  it('sends nothing beyond a START limit', () => {
    const f = fakeRun();
    const feeder = new HostSettingsFeeder(new SettingsDraw(new ChaChaSource(new Uint8Array(16).fill(2)), null), {
      fifo: FIFO,
      blockTrials: 1 << 20,
      limitTrials: 100_000,
    });
    feeder.start(f.run);
    expect(f.total()).toBe(FIFO);
    f.credit(FIFO, 40_000);
    expect(f.total()).toBe(100_000);
    f.credit(FIFO, 90_000);
    expect(f.total()).toBe(100_000);
  });
});
