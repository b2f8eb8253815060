/**
 * certifyEvents (src/output/certified-stream.ts) is library API: host-flagged
 * trials are certified only with the echo check (PROTOCOL 6), so asking for
 * settingsSource 'host' without the ledger of what was sent is refused, not
 * certified under an assumption ("echoed by the chip and checked trial by
 * trial") that nothing checked.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/device/index.ts';
import { certifyEvents } from '../../src/output/certified-stream.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/output/config.ts';
import { chshRecords } from '../certify/helpers.ts';

/** Host-flagged TRIALS frames (PROTOCOL 4 TRIALS flag bit 1) of a device with S = 2.6. */
async function* hostTrials(n: number): AsyncGenerator<RunEvent[]> {
  const records = chshRecords(n, 2.6, 7);
  const batch: RunEvent[] = [];
  for (let first = 0; first < n; first += 40) {
    batch.push({
      kind: 'trials',
      first,
      n: Math.min(40, n - first),
      records: records.subarray(first, first + 40),
      flags: 0x02,
      seq: first / 40,
    });
  }
  yield batch;
}

describe('certifyEvents with host settings', () => {
  it('settingsSource host without hostSettings: refused before any block, no certificate', async () => {
    const blockTrials = 1 << 21;
    const lines: string[] = [];
    const run = async (): Promise<void> => {
      for await (const _ of certifyEvents(
        hostTrials(blockTrials),
        { blockTrials, seed: randomSeed(seedBitsForBlock(blockTrials)) },
        { device: { serial: 'EPQ1-00000001', firmware: '1.0.0' }, settingsSource: 'host' },
        { onCertificate: (line) => lines.push(line) },
      ));
    };
    await expect(run()).rejects.toThrow(/"settingsSource" host needs "hostSettings"/);
    expect(lines).toEqual([]);
  });
});
