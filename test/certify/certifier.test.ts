import { describe, expect, it } from 'vitest';
import { Certifier, certifyRun } from '../../src/certify/certifier.ts';
import { DeviceError } from '../../src/errors.ts';
import { asRun, chshRecords, collect, lhvRecords, rng, toBatches } from './helpers.ts';
import { WIN_TABLE } from '../../src/certify/outcomes.ts';

const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
const N = 2 ** 20;

describe('adversarial chips produce nothing and name the reason', () => {
  it('a local-hidden-variable chip (S = 2): refused by the Bell test', async () => {
    const res = await collect(
      certifyRun(asRun(toBatches(lhvRecords(N, 77), { framesPerBatch: 4096 })), { device, blockTrials: N }),
    );
    expect(res).toHaveLength(1);
    expect(res[0]!.ok).toBe(false);
    if (!res[0]!.ok) {
      expect(res[0]!.test).toBe('bell');
      expect(res[0]!.reason).toMatch(/^(S = 1\.99\d+ <= 2|S lower bound 1\.9\d+ <= 2) /);
    }
  });

  it('a post-selecting chip (drops lost CHSH games, flags GAP): refused for lost trials; even if allowed, the lost games count and S falls below 2', async () => {
    // An LHV device that wins 3/4 of games drops every lost game: the kept trials alone show S = 4.
    const recs = lhvRecords(N, 78);
    const lost: Array<[number, number]> = [];
    for (let i = 0; i < N; i++) if (WIN_TABLE[recs[i]!] === 0) lost.push([i, 1]);
    const batches = toBatches(recs, { lost, framesPerBatch: 4096 });
    const res = await collect(certifyRun(asRun(batches), { device, blockTrials: N }));
    expect(res.map((r) => (r.ok ? 'ok' : r.test))).toEqual(['lost']);
    const lenient = await collect(certifyRun(asRun(batches), { device, blockTrials: N, maxLostShare: 0.5 }));
    expect(lenient).toHaveLength(1);
    if (!lenient[0]!.ok) {
      expect(lenient[0]!.test).toBe('bell');
      expect(lenient[0]!.sEstimate).toBeLessThan(2.01);
    } else {
      throw new Error('post-selected block was certified');
    }
  });

  it('a settings-source mismatch (HOST_SETTINGS flag in an internal-settings run) ends the run as a protocol error', () => {
    const c = new Certifier({ device, blockTrials: 1024 });
    const batch = toBatches(chshRecords(40, 2.4, 1), { flags: 0x02 })[0]!;
    expect(() => c.push(batch)).toThrow(DeviceError);
  });

  it('a host-settings certifier without the settings ledger is refused: it could not check one echo (PROTOCOL 6)', () => {
    expect(() => new Certifier({ device, blockTrials: 1024, settingsSource: 'host' })).toThrow(
      'settingsSource host needs "hostSettings" (the ledger the echo check reads)',
    );
  });

  it('an ended run refuses its incomplete last block and yields every complete one before it', async () => {
    const res = await collect(
      certifyRun(asRun(toBatches(chshRecords(N + 4000, 2.6, 5), { framesPerBatch: 4096 })), {
        device,
        blockTrials: N,
        adversary: 'classical',
      }),
    );
    expect(res.map((r) => (r.ok ? 'ok' : r.test))).toEqual(['ok', 'incomplete']);
  });

  it('frames split at arbitrary places give the same blocks as whole frames', () => {
    const recs = chshRecords(3 * 65536, 2.5, 8);
    const whole = new Certifier({ device, blockTrials: 65536, adversary: 'classical' });
    const a = toBatches(recs).flatMap((b) => whole.push(b));
    const r = rng(1);
    const split = new Certifier({ device, blockTrials: 65536, adversary: 'classical' });
    const b = [];
    let i = 0;
    while (i < recs.length) {
      const n = Math.min(recs.length - i, 1 + Math.floor(r() * 40));
      b.push(...split.push([{ kind: 'trials', first: i, n, records: recs.subarray(i, i + n), flags: 0, seq: i }]));
      i += n;
    }
    expect(b).toEqual(a);
  });
});

describe('protocol errors after complete blocks', () => {
  it('yields the blocks completed before the error in the same batch, then throws', async () => {
    const recs = chshRecords(2048, 2.6, 3);
    const batch = toBatches(recs, { framesPerBatch: 1000 })[0]!;
    const bad = new Uint8Array(40);
    bad[0] = 0x40;
    batch.push({ kind: 'trials', first: 2048, n: 40, records: bad, flags: 0, seq: 999 });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const r of certifyRun(asRun([batch]), { device, blockTrials: 1024, adversary: 'classical' }))
          seen.push(r.ok ? 'ok' : r.test);
      })(),
    ).rejects.toThrow(/reserved bits set \(0x40\)/);
    expect(seen).toHaveLength(2);
  });
});

describe('a bad record after a block boundary inside one frame', () => {
  it('yields the block the frame completed, then throws', () => {
    const c = new Certifier({ device, blockTrials: 20, adversary: 'classical' });
    const recs = chshRecords(40, 2.6, 4);
    recs[30] = 0x80;
    const out = c.push([{ kind: 'trials', first: 0, n: 40, records: recs, flags: 0, seq: 0 }]);
    expect(out.map((r) => (r.ok ? r.draft.blockIndex : r.blockIndex))).toEqual([0]);
    expect(() => c.finish()).toThrow(/record of trial 30 has reserved bits set/);
  });
});
