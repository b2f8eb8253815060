/**
 * The service when certification fails (a refused block adds nothing), and
 * as a library: the handler mounted in another server, a waiting request
 * abandoned.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, fetchRandom } from '../../src/serve/index.ts';
import { get } from './get.ts';
import { parsePrometheusText } from './prometheus.ts';
import { startHarness, until, type Harness } from './harness.ts';

describe('a chip whose blocks are all refused (local hidden variables, S = 2)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ seed: 32, mode: 'lhv', maxConsecutiveRefused: 2 });
    await until(() => h.service.state === 'failed', 120_000, 'the service to give up');
  }, 180_000);
  afterAll(async () => h?.close());

  it('adds nothing to the pool, answers 503 with Retry-After, and says why', async () => {
    expect(h.service.counters.blocksRefused).toBe(2);
    expect(h.service.pool.certifiedBytes).toBe(0);
    const r = await get(`${h.url}/random?bytes=16&wait=1`);
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    const status = JSON.parse((await get(`${h.url}/status`)).text()) as {
      state: string;
      failure: string;
      refusedByTest: Record<string, number>;
      healthTests: unknown[];
    };
    expect(status.state).toBe('failed');
    expect(status.failure).toMatch(/certification refused/);
    expect(status.refusedByTest.bell).toBe(2);
    // The Bell test failed; the outcome and settings health tests passed in both blocks.
    expect(status.healthTests).toContainEqual({ test: 'rct', passedBlocks: 2, failedBlocks: 0 });
    expect(status.healthTests).toContainEqual({ test: 'settings', passedBlocks: 2, failedBlocks: 0 });
    const fams = parsePrometheusText((await get(`${h.url}/metrics`)).text());
    expect(fams.get('epqrng_refused_blocks_total')!.samples).toEqual([{ labels: { reason: 'bell' }, value: 2 }]);
  });
});

describe('a chip that faults mid-run (pump unlocked at 6 s of chip time: state FAULT, PROTOCOL 4 STATUS)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ seed: 34, faults: { pumpUnlocked: true, atMs: 6000 } });
    await until(() => h.service.state === 'failed', 120_000, 'the service to stop producing');
  }, 180_000);
  afterAll(async () => h?.close());

  it('serves the pool, then 503; /status says why', async () => {
    const level = h.service.pool.level;
    expect(level).toBeGreaterThan(0);
    const all = await fetchRandom(h.url, level);
    expect(all.bytes.length).toBe(level);
    const r = await get(`${h.url}/random?bytes=1&wait=5`);
    expect(r.status).toBe(503);
    const status = JSON.parse((await get(`${h.url}/status`)).text()) as { state: string; failure: string };
    expect(status.state).toBe('failed');
    expect(status.failure.length).toBeGreaterThan(0);
    const p = h.service.pool;
    expect(p.servedBytes + p.level).toBe(p.certifiedBytes);
  });
});

describe('library use', () => {
  it('the handler mounts in an existing server; a request that waits and is abandoned takes nothing', async () => {
    const h = await startHarness({ seed: 33, idle: true });
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/qrng/')) {
        req.url = req.url.slice('/qrng'.length);
        handler(req, res);
      } else res.end('mine');
    });
    const handler = createHandler(h.service);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect(await (await fetch(`${base}/other`)).text()).toBe('mine');
      const ac = new AbortController();
      const pending = fetch(`${base}/qrng/random?bytes=100&wait=30`, { signal: ac.signal }).catch(() => 'aborted');
      await until(() => h.service.pool.waiting === 1, 10_000, 'the request to wait');
      ac.abort();
      expect(await pending).toBe('aborted');
      await until(() => h.service.pool.waiting === 0, 10_000, 'the waiter to leave');
      h.service.start();
      const r = await fetchRandom(`${base}/qrng/`, 100, { waitS: 30 });
      expect(r.bytes.length).toBe(100);
      expect(r.certificates[0]!.offset).toBe(0); // the abandoned request took nothing
      const st = (await (await fetch(`${base}/qrng/status`)).json()) as { servedBytes: number };
      expect(st.servedBytes).toBe(100);
    } finally {
      handler.closeEvents();
      await new Promise((r) => server.close(r));
      await h.close();
    }
  }, 180_000);
});
