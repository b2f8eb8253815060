/**
 * The pool and the service's production control, with a stand-in block
 * source (no chip): all-or-nothing takes, first come first served, an
 * abandoned wait takes nothing, served bytes are wiped from the pool, and a
 * paused chip restarts for a request that needs more than the pool holds.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certify/index.ts';
import type { Device } from '../../src/device/index.ts';
import { EntropyPool, EntropyService, type CertifiedChunk } from '../../src/serve/index.ts';

function block(seq: number, n: number) {
  return { seq, blockIndex: seq, sha256: String(seq).padStart(64, '0'), bytes: new Uint8Array(n).fill(seq + 1) };
}

describe('EntropyPool', () => {
  it('takes exactly n bytes across blocks, all or nothing, naming each range', () => {
    const p = new EntropyPool(1000);
    p.add(block(0, 10));
    p.add(block(1, 10));
    expect(p.tryTake(21)).toBeUndefined();
    expect(p.level).toBe(20);
    const t = p.tryTake(15)!;
    expect([...t.bytes]).toEqual([...new Array(10).fill(1), ...new Array(5).fill(2)]);
    expect(t.ranges.map((r) => [r.seq, r.start, r.end])).toEqual([
      [0, 0, 10],
      [1, 0, 5],
    ]);
    expect(p.tryTake(5)!.ranges).toEqual([expect.objectContaining({ seq: 1, start: 5, end: 10 })]);
    expect(p.servedBytes + p.level).toBe(p.certifiedBytes);
  });

  it('serves waiters first come first served; one that gives up takes nothing and unblocks the rest', async () => {
    const p = new EntropyPool(1000);
    const ac = new AbortController();
    const big = p.take(100, 10_000, ac.signal);
    const small = p.take(5, 10_000);
    p.add(block(0, 50));
    expect(p.tryTake(1)).toBeUndefined(); // others wait first
    expect(p.level).toBe(50);
    ac.abort();
    expect(await big).toBeUndefined();
    expect((await small)!.bytes.length).toBe(5);
    expect(p.level).toBe(45);
    expect(p.waiting).toBe(0);
  });

  it('times out with nothing taken', async () => {
    const p = new EntropyPool(1000);
    expect(await p.take(10, 30)).toBeUndefined();
    expect(p.waiting).toBe(0);
    expect(p.servedBytes).toBe(0);
  });
});

/** Blocks of `size` bytes, numbered, as fast as they are taken; counts the chip runs (START ... STOP). */
function standIn(size: number, runs: { started: number; stopped: number }) {
  let i = 0;
  return async function* (): AsyncGenerator<CertifiedChunk> {
    runs.started++;
    try {
      for (;;) {
        const bytes = new Uint8Array(size).fill(i & 0xff);
        const line = JSON.stringify({ standIn: i });
        const certificate = {
          blockIndex: i++,
          trialRange: { count: 1 },
          lostTrials: { total: 0 },
          outputBits: size * 8,
        };
        await new Promise((r) => setImmediate(r));
        yield {
          line,
          sha256: createHash('sha256').update(line).digest('hex'),
          certificate: certificate as unknown as Certificate,
          bytes,
        };
      }
    } finally {
      runs.stopped++;
    }
  };
}

const device = { info: { serial: 'X', firmware: [1, 0, 3], model: 'EPQ-1' } } as unknown as Device;

describe('EntropyService production control', () => {
  it('stops the source when the pool is full, and restarts it for a request that needs more than the pool holds', async () => {
    const runs = { started: 0, stopped: 0 };
    const s = new EntropyService(device, {
      pipeline: { seed: new Uint8Array(0) },
      poolBytes: 64_000,
      source: standIn(20_000, runs),
    });
    s.start();
    while (s.state !== 'paused') await new Promise((r) => setTimeout(r, 5));
    expect(runs).toEqual({ started: 1, stopped: 1 });
    expect(s.pool.level).toBe(80_000); // passes 64,000 by the one block in flight
    // 40,000 left: above half, so the chip stays paused...
    expect((await s.take(40_000, 0))!.bytes.length).toBe(40_000);
    expect(s.state).toBe('paused');
    // ...but a request for 60,000 restarts it rather than waiting out its time.
    const t = await s.take(60_000, 5_000);
    expect(t?.bytes.length).toBe(60_000);
    expect(runs.started).toBe(2);
    await s.stop();
    expect(s.state).toBe('stopped');
    expect(runs.started).toBe(runs.stopped);
    expect(s.pool.servedBytes + s.pool.level).toBe(s.pool.certifiedBytes);
  });

  it('lets no byte into the pool before its certificate line is written; a failed write stops production', async () => {
    const runs = { started: 0, stopped: 0 };
    const lines: string[] = [];
    let release!: () => void;
    let fail!: (e: Error) => void;
    const s = new EntropyService(device, {
      pipeline: { seed: new Uint8Array(0) },
      poolBytes: 1_000_000,
      source: standIn(1000, runs),
      writeCertificate: (line) =>
        new Promise<void>((resolve, reject) => {
          release = () => {
            lines.push(line);
            resolve();
          };
          fail = reject;
        }),
    });
    s.start();
    while (!release) await new Promise((r) => setTimeout(r, 5));
    expect(await s.take(1, 100)).toBeUndefined();
    expect(s.pool.certifiedBytes).toBe(0);
    const first = release;
    first();
    const t = await s.take(1000, 1000);
    expect(lines).toHaveLength(1);
    expect(t!.ranges[0]!.sha256).toBe(createHash('sha256').update(lines[0]!).digest('hex'));
    while (release === first) await new Promise((r) => setTimeout(r, 5));
    fail(new Error('ENOSPC'));
    while (s.state !== 'failed') await new Promise((r) => setTimeout(r, 5));
    expect(s.failure!.message).toBe('ENOSPC');
    expect(s.pool.certifiedBytes).toBe(1000);
    expect(runs.started).toBe(runs.stopped);
    await s.stop();
  });

  it('keeps the newest keepCertificates lines for /certificates, by sequence number and by SHA-256', async () => {
    const runs = { started: 0, stopped: 0 };
    const lines: string[] = [];
    const s = new EntropyService(device, {
      pipeline: { seed: new Uint8Array(0) },
      poolBytes: 5000,
      keepCertificates: 3,
      source: standIn(1000, runs),
      writeCertificate: async (line) => {
        lines.push(line);
      },
    });
    s.start();
    while (s.state !== 'paused') await new Promise((r) => setTimeout(r, 5));
    await s.stop();
    expect(lines).toHaveLength(5);
    expect(s.certificatesSince(0)).toEqual([2, 3, 4].map((seq) => ({ seq, line: lines[seq] })));
    expect(s.certificatesSince(4)).toEqual([{ seq: 4, line: lines[4] }]);
    const sha = (l: string) => createHash('sha256').update(l).digest('hex');
    expect(s.certificateBySha(sha(lines[0]!))).toBeUndefined();
    expect(s.certificateBySha(sha(lines[3]!))).toBe(lines[3]);
  });
});
