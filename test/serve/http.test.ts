/**
 * The HTTP API of a service on an honest chip, under bad input: every bad
 * request gets a clear 4xx and takes nothing from the pool, and the service
 * keeps serving the others; a slowloris client is cut off (408) within the
 * bound; a client that goes away mid-response never gets its bytes served
 * to anyone else; /metrics parses as the text format.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { get } from './get.ts';
import { fetchRandom, parseCoverage } from '../../src/serve/index.ts';
import { parsePrometheusText } from './prometheus.ts';
import { startHarness, until, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ seed: 31, listen: { headersTimeoutMs: 1000, token: 'correct-horse-battery-staple' } });
  await until(() => h.service.pool.level >= 8192, 120_000, 'a first block');
}, 180_000);
afterAll(async () => h?.close());
const auth = { authorization: 'Bearer correct-horse-battery-staple' };

it.each([
  ['bytes=0', /'bytes' must be an integer 1 to/],
  ['bytes=1048577', /'bytes' must be an integer 1 to/],
  ['bytes=99999999999999999999', /'bytes' must be an integer/],
  ['bytes=abc', /'bytes' must be an integer/],
  ['bytes=-5', /'bytes' must be an integer/],
  ['bytes=1e3', /'bytes' must be an integer/],
  ['', /missing parameter 'bytes'/],
  ['bytes=10&bytes=20', /given twice/],
  ['bytes=10&colour=red', /unknown parameter 'colour'/],
  ['bytes=10&wait=-1', /'wait' must be seconds/],
  ['bytes=10&wait=9999', /'wait' must be seconds/],
  ['%ZZ', /unknown parameter|missing/],
])('/random?%s: 400 with a JSON error, nothing taken', async (query, message) => {
  const before = h.service.pool.servedBytes;
  const r = await get(`${h.url}/random?${query}`, auth);
  expect(r.status).toBe(400);
  expect(r.headers.get('content-type')).toBe('application/json');
  expect((JSON.parse(r.text()) as { error: string }).error).toMatch(message);
  expect(h.service.pool.servedBytes).toBe(before);
});

it('a missing or wrong token: 401, nothing taken; the right one: the bytes', async () => {
  const before = h.service.pool.servedBytes;
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic x' }] as Record<
    string,
    string
  >[]) {
    const r = await get(`${h.url}/random?bytes=16`, headers);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
  }
  expect(h.service.pool.servedBytes).toBe(before);
  const ok = await fetchRandom(h.url, 16, { token: 'correct-horse-battery-staple' });
  expect(ok.bytes.length).toBe(16);
  expect(h.service.pool.servedBytes).toBe(before + 16);
});

it('other methods: 405; unknown paths: 404; a bad certificate name: 400', async () => {
  const post = await fetch(`${h.url}/random?bytes=1`, { method: 'POST', headers: auth });
  expect(post.status).toBe(405);
  expect((await get(`${h.url}/nowhere`, auth)).status).toBe(404);
  expect((await get(`${h.url}/certificates/xyz`, auth)).status).toBe(400);
  expect((await get(`${h.url}/certificates/${'0'.repeat(64)}`, auth)).status).toBe(404);
});

it('a slowloris client gets 408 within the headers timeout while others are served', async () => {
  const sock = connect(Number(new URL(h.url).port), '127.0.0.1');
  let received = '';
  sock.on('data', (d) => (received += d.toString()));
  const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now())));
  const started = Date.now();
  sock.write('GET /random?bytes=16 HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => sock.write('X-Slow: 1\r\n'), 200);
  const r = await fetchRandom(h.url, 32, { token: 'correct-horse-battery-staple' });
  expect(r.bytes.length).toBe(32);
  const end = await closed;
  clearInterval(drip);
  expect(received).toMatch(/^HTTP\/1\.1 408/);
  // headersTimeout 1 s, checked every 250 ms: a bound derived with a generous margin for a loaded machine.
  expect(end - started).toBeLessThan(10_000);
});

it('certificates: JSONL since a sequence number, and one by its SHA-256', async () => {
  const all = await get(`${h.url}/certificates?since=0`, auth);
  expect(all.headers.get('content-type')).toBe('application/x-ndjson');
  const lines = all.text().trimEnd().split('\n');
  expect(lines.length).toBe(h.written.size);
  const sha = [...h.written.keys()][0]!;
  const one = await get(`${h.url}/certificates/${sha}`, auth);
  expect(one.status).toBe(200);
  expect(lines).toContain(one.text());
  expect((await get(`${h.url}/certificates?since=x`, auth)).status).toBe(400);
});

it('a client gone mid-response: its bytes are never served to anyone else', async () => {
  const n = 40_000;
  await until(() => h.service.pool.level >= n, 120_000, 'pool');
  const coverage = await new Promise<string>((resolve, reject) => {
    const req = request(`${h.url}/random?bytes=${n}`, { headers: auth }, (res) => {
      res.once('data', () => {
        resolve(String(res.headers['x-epqrng-coverage']));
        req.destroy(); // gone after the first chunk
      });
    });
    req.on('error', () => undefined);
    req.setTimeout(60_000, () => reject(new Error('timeout')));
    req.end();
  });
  const lost = parseCoverage(coverage);
  expect(lost.reduce((a, c) => a + c.length, 0)).toBe(n);
  const later: ReturnType<typeof parseCoverage> = [];
  for (let i = 0; i < 20; i++)
    later.push(...(await fetchRandom(h.url, 1000, { token: 'correct-horse-battery-staple', waitS: 20 })).certificates);
  for (const l of lost)
    for (const c of later)
      if (c.sha256 === l.sha256) expect(c.offset >= l.offset + l.length || c.offset + c.length <= l.offset).toBe(true);
  const p = h.service.pool;
  expect(p.servedBytes + p.level).toBe(p.certifiedBytes);
});

it('/metrics is valid Prometheus text and agrees with /status', async () => {
  const m = await get(`${h.url}/metrics`, auth);
  expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const fams = parsePrometheusText(m.text());
  const status = JSON.parse((await get(`${h.url}/status`, auth)).text()) as Record<string, number>;
  for (const [name, f] of fams) {
    expect(name).toMatch(/^epqrng_/);
    if (f.type === 'counter') expect(name).toMatch(/_total$/);
    expect(f.help.length).toBeGreaterThan(0);
  }
  expect(fams.get('epqrng_trials_total')!.type).toBe('counter');
  expect(fams.get('epqrng_pool_bytes')!.type).toBe('gauge');
  for (const n of [
    'epqrng_certified_bits_total',
    'epqrng_served_bytes_total',
    'epqrng_chsh_s',
    'epqrng_link_errors_total',
  ])
    expect(fams.has(n), n).toBe(true);
  expect(fams.get('epqrng_served_bytes_total')!.samples[0]!.value).toBe(status.servedBytes);
  expect(fams.get('epqrng_chsh_s')!.samples[0]!.value).toBeGreaterThan(2);
});
