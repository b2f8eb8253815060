/**
 * The service's acceptance test: 50 concurrent HTTP clients ask for random
 * sizes while the simulated chip runs 30 s of chip time (virtual clock).
 * Then: every response has exactly the bytes asked for; the served ranges
 * and what is left in the pool rebuild every block's output exactly (each
 * byte of every certified block served at most once, none altered: the
 * rebuilt output hashes to the certificate's outputSha256), so the bytes
 * are pairwise distinct at 32-byte granularity too; served + pool =
 * certified; every range was covered by a certificate already written
 * when the response arrived.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRandom, type CertificateReference } from '../../src/serve/index.ts';
import { mulberry32 } from '../prng.ts';
import { startHarness, type Harness } from './harness.ts';

const CLIENTS = 50;
const CHIP_MS = 30_000;

interface Served {
  bytes: Uint8Array;
  certificates: CertificateReference[];
  /** Certificates not yet written when the response arrived. */
  unwritten: number;
}

let h: Harness;
const served: Served[] = [];
let refusedRequests = 0;

beforeAll(async () => {
  h = await startHarness({ seed: 21, poolBytes: 48 * 1024 });
  const rnd = mulberry32(2026);
  const client = async (): Promise<void> => {
    while (h.sim.chip.clockMs < CHIP_MS) {
      // Mostly small requests, some up to 8 KiB.
      const n = rnd() < 0.9 ? 1 + Math.floor(rnd() * 2048) : 1 + Math.floor(rnd() * 8192);
      try {
        const r = await fetchRandom(h.url, n, { waitS: 30 });
        expect(r.bytes.length).toBe(n);
        const unwritten = r.certificates.filter((c) => !h.written.has(c.sha256)).length;
        served.push({ ...r, unwritten });
      } catch (e) {
        // 503: the pool could not supply n in time; nothing was taken.
        if (!String(e).includes('503')) throw e;
        refusedRequests++;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  await h.close();
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe(`${CLIENTS} clients over ${CHIP_MS / 1000} s of chip time`, () => {
  it('ran long enough to certify several blocks and serve many requests', () => {
    expect(h.sim.chip.clockMs).toBeGreaterThanOrEqual(CHIP_MS);
    expect(h.service.counters.blocksCertified).toBeGreaterThanOrEqual(8);
    expect(served.length).toBeGreaterThan(100);
    expect(h.service.counters.blocksRefused).toBe(0);
    expect(refusedRequests).toBe(0);
  });

  it('served + pool = certified output, to the byte', () => {
    const total = served.reduce((a, s) => a + s.bytes.length, 0);
    const p = h.service.pool;
    expect(p.servedBytes).toBe(total);
    expect(p.servedBytes + p.level).toBe(p.certifiedBytes);
    const certified = [...h.written.values()].reduce((a, c) => a + c.extraction.outputBytes, 0);
    expect(p.certifiedBytes).toBe(certified);
  });

  it('every response was covered only by certificates already written when it arrived', () => {
    expect(served.every((s) => s.unwritten === 0)).toBe(true);
    expect(served.every((s) => s.certificates.every((c) => h.written.has(c.sha256)))).toBe(true);
  });

  it("the served ranges and the pool's rest rebuild each block's output exactly, each byte once", async () => {
    const rest = await h.service.take(h.service.pool.level, 0);
    const pieces = new Map<string, { offset: number; bytes: Uint8Array }[]>();
    const put = (sha: string, offset: number, bytes: Uint8Array) => {
      if (!pieces.has(sha)) pieces.set(sha, []);
      pieces.get(sha)!.push({ offset, bytes });
    };
    for (const s of served) {
      let at = 0;
      for (const c of s.certificates) {
        put(c.sha256, c.offset, s.bytes.subarray(at, at + c.length));
        at += c.length;
      }
      expect(at).toBe(s.bytes.length);
    }
    if (rest) {
      let at = 0;
      for (const r of rest.ranges) {
        put(r.sha256, r.start, rest.bytes.subarray(at, at + r.end - r.start));
        at += r.end - r.start;
      }
    }
    for (const [sha, cert] of h.written) {
      const out = new Uint8Array(cert.extraction.outputBytes);
      const seen = new Uint8Array(out.length);
      for (const p of pieces.get(sha) ?? []) {
        out.set(p.bytes, p.offset);
        for (let i = p.offset; i < p.offset + p.bytes.length; i++) seen[i]!++;
      }
      expect(seen.every((k) => k === 1)).toBe(true);
      expect(createHash('sha256').update(out).digest('hex')).toBe(cert.extraction.outputSha256);
    }
  });

  it('no two served 32-byte chunks are equal', () => {
    const all = Buffer.concat(served.map((s) => s.bytes));
    const seen = new Set<string>();
    for (let i = 0; i + 32 <= all.length; i += 32) seen.add(all.subarray(i, i + 32).toString('hex'));
    expect(seen.size).toBe(Math.floor(all.length / 32));
  });
});
