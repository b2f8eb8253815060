/**
 * `stream --reconnect` through an unplug and a replug of the same simulated
 * chip at the same PTY path: exit 0, exactly N bytes, an unbroken
 * certificate chain (each prevCertificateSha256 is the SHA-256 of the line
 * before), and the first certificate after the replug records the
 * reconnect (and only that one). A replug with another serial is refused
 * (exit 3).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasSocat } from './pty-pair.ts';
import { certLines, unplugReplug } from './replug.ts';
import { epqrngInProcess } from './run-cli.ts';

describe.skipIf(!hasSocat)('stream --reconnect', () => {
  it('through an unplug and a replug of the same chip: exit 0, N bytes, unbroken chain, the reconnect recorded', async () => {
    const N = 60_000; // several 2^20-trial blocks (about 16 kB each at S = 2.43), so the unplug falls mid-stream
    const r = await unplugReplug(1, N);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(r.out).size).toBe(N);
    expect(r.stderr).toMatch(/^epqrng: waiting for EPQ1-[0-9A-F]{8} \(the chip at \S+ went away\)$/m);
    const lines = certLines(r.certs);
    const certs = lines.map((l) => JSON.parse(l));
    expect(certs[0].extraction.prevCertificateSha256).toBeNull();
    for (let i = 1; i < lines.length; i++)
      expect(certs[i].extraction.prevCertificateSha256).toBe(
        createHash('sha256')
          .update(lines[i - 1]!)
          .digest('hex'),
      );
    const marked = certs.flatMap((c, i) => (c.reconnect ? [i] : []));
    expect(marked).toHaveLength(1);
    const first = certs[marked[0]!];
    expect(marked[0]).toBeGreaterThanOrEqual(r.before); // after the blocks written before the unplug
    expect(first.trialRange.first).toBe(0); // a new run: START resets the trial index (PROTOCOL 5)
    expect(first.reconnect.previousRuns).toBe(1);
    expect(first.reconnect.trialsDropped).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(Date.parse(first.reconnect.at))).toBe(false);
    expect(new Set(certs.map((c) => c.device.serial)).size).toBe(1);
    // the bytes: each block's output in order, the last cut to N
    const bytes = readFileSync(r.out);
    let at = 0;
    for (const c of certs) {
      const part = bytes.subarray(at, Math.min(N, at + c.extraction.outputBytes));
      if (part.length === c.extraction.outputBytes)
        expect(createHash('sha256').update(part).digest('hex')).toBe(c.extraction.outputSha256);
      at += part.length;
    }
    expect(at).toBe(N);
  }, 180_000);

  it('a replug with another serial at that path is refused (exit 3)', async () => {
    const r = await unplugReplug(2, 1_000_000);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(
      /\nepqrng: a different chip \(EPQ1-[0-9A-F]{8}\) answered at \S+, not EPQ1-[0-9A-F]{8}: refused/,
    );
  }, 180_000);

  it('--reconnect is for a chip that can come back: not with --simulate', async () => {
    const r = await epqrngInProcess('stream', '--simulate', '--reconnect', '--bytes', '10');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^epqrng: --reconnect needs a chip that can come back/);
  });
});
