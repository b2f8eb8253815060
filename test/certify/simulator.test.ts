/**
 * The certifier on the simulated chip's own byte stream (PROTOCOL 7
 * firmware, virtual clock): START with a trial limit, the device bytes
 * through the device layer's scanner and assembler (runEventsFromBytes),
 * then certifyRun with the defaults. One chip per adversarial mode.
 */
import { describe, expect, it } from 'vitest';
import { certifyRun, type BlockResult } from '../../src/certify/certifier.ts';
import { runEventsFromBytes } from '../../src/device/run.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { SimulatedChip, type ChipOptions } from '../../src/simulator/chip.ts';

const BLOCK = 2 ** 22;

function* chipBytes(chip: SimulatedChip): Generator<Uint8Array> {
  // Drain until the run ends at its limit (state IDLE) and nothing is queued.
  for (;;) {
    const chunk = chip.read(1 << 20);
    if (chunk.length > 0) yield chunk;
    else if (chip.stateCode !== 1) return;
  }
}

async function certifyChip(opts: ChipOptions, trials: number, blockTrials = BLOCK): Promise<BlockResult[]> {
  const chip = new SimulatedChip(opts);
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 1, source: 0, rate: 0, limit: trials }));
  const out: BlockResult[] = [];
  for await (const r of certifyRun(runEventsFromBytes(chipBytes(chip)), {
    device: { serial: 'EPQ1-SIM', firmware: '1.0.3' },
    blockTrials,
  }))
    out.push(r);
  chip.close();
  return out;
}

describe('certifyRun on the simulated chip (defaults: quantum, eps 2^-64, 2^22-trial blocks)', () => {
  it('a calibrated honest chip: every block certified', async () => {
    const res = await certifyChip({ seed: 11, calibrated: true }, BLOCK);
    expect(res.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['ok']);
  });

  it('a calibrated chip on a corrupting link (byte flips, lost frames): the lost trials are counted and the block still certified', async () => {
    const res = await certifyChip(
      { seed: 11, calibrated: true, faults: { byteFlipRate: 1e-6, frameLossRate: 1e-4 } },
      BLOCK,
    );
    expect(res).toHaveLength(1);
    if (!res[0]!.ok) throw new Error(`refused: ${res[0]!.reason}`);
    expect(res[0]!.draft.lostTrials.link).toBeGreaterThan(0);
    expect(res[0]!.draft.lostTrials.link % 40).toBe(0);
    expect(res[0]!.draft.counts.reduce((a, b) => a + b, 0) + res[0]!.draft.lostTrials.total).toBe(BLOCK);
  });

  for (const [mode, expected] of [
    ['lhv', 'bell'],
    ['biased', 'settings'],
    ['postselect', 'lost'],
  ] as const) {
    it(`a ${mode} chip: refused (${expected}), nothing certified (blocks of 2^20 trials, to keep the test short)`, async () => {
      const res = await certifyChip({ seed: 12, calibrated: true, mode }, 2 ** 20, 2 ** 20);
      expect(res).toHaveLength(1);
      expect(res[0]!.ok).toBe(false);
      if (!res[0]!.ok) expect(res[0]!.failedTests).toContain(expected);
    });
  }

  it('an uncalibrated chip: refused by the Bell test, the reason naming S and calibration', async () => {
    const res = await certifyChip({ seed: 13 }, 2 ** 20, 2 ** 20);
    expect(res).toHaveLength(1);
    if (res[0]!.ok) throw new Error('uncalibrated chip certified');
    expect(res[0]!.test).toBe('bell');
    expect(res[0]!.reason).toMatch(/^S = [-0-9.]+ <= 2 .*run epqrng calibrate$/);
  });
});
