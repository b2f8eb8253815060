/**
 * `epqrng serve --reconnect` through an unplug of the simulated chip behind
 * a PTY (its socat bridge killed), as `stream --reconnect` is tested: while
 * the chip is away /status, /events and /metrics say the service waits for
 * it, /random serves the pool and then answers 503 with Retry-After; after
 * a replug of the same chip production resumes, the certificate chain goes
 * on unbroken and the first certificate after the replug records the
 * reconnect. Another serial at that path, or no chip within the wait, ends
 * serve with exit 3 and one line, after the in-flight response is answered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { servePty, type PtyServer } from '../../src/simulator/index.ts';
import { hasSocat } from '../cli/pty-pair.ts';
import { get } from './get.ts';
import { parsePrometheusText } from './prometheus.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** A chip buffer of 16 MiB (6.5 s at 1 M trials/s): a loaded test machine must not make the run overflow. */
const BUFFER_FRAMES = 1 << 18;
const SERIAL = /^EPQ1-[0-9A-F]{8}$/;

const certLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Polls `probe` until it returns a value (not undefined), or fails after `ms`. */
async function poll<T>(probe: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Served {
  child: ChildProcess;
  url: string;
  certs: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The parts of /status and of SSE state events these tests read. */
interface Status {
  state: string;
  waitingFor: string | null;
  message: string | null;
  pool: { level: number; waiting: number };
}
type Event = { type: string; data: Partial<Status> };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A PTY chip at a fresh path and `serve --port` on it, after its first certificate. */
async function serveOnPty(reconnect: string): Promise<Served & { path: string; chip: { server: PtyServer } }> {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-serve-reconnect-'));
  const path = join(dir, 'epq');
  const certs = join(dir, 'certs.jsonl');
  const chip = { server: await servePty(path, { seed: 1, calibrated: true, deviceBufferFrames: BUFFER_FRAMES }) };
  const args = ['serve', '--port', path, reconnect, '--listen', '127.0.0.1:0', '--block-trials', '1048576'];
  const child = spawn(process.execPath, [`${root}bin/epqrng.js`, ...args, '--certs', certs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await chip.server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = await poll(() => /^(http:\S+)$/m.exec(out)?.[1], 60_000, `serve's address (stderr: ${err})`);
  await poll(() => (certLines(certs).length >= 1 ? true : undefined), 60_000, 'a first certificate');
  return { child, url, certs, stderr: () => err, exited, path, chip };
}

/** Kills the chip's PTY bridge (an unplug) and waits until /status says the service waits for it. */
async function unplug(s: Awaited<ReturnType<typeof serveOnPty>>): Promise<Status> {
  process.kill(s.chip.server.bridgePid!, 'SIGKILL');
  await s.chip.server.close();
  return poll(
    async () => {
      const st = JSON.parse((await get(`${s.url}status`)).text()) as Status;
      return st.state === 'waiting' ? st : undefined;
    },
    30_000,
    'state waiting',
  );
}

/** The same path answers again, with the chip of `seed` (1: the same chip). */
async function replug(s: Awaited<ReturnType<typeof serveOnPty>>, seed: number): Promise<void> {
  rmSync(s.path, { force: true }); // the dangling link socat could not remove (udev does this for a real chip)
  s.chip.server = await servePty(s.path, { seed, calibrated: true, deviceBufferFrames: BUFFER_FRAMES });
}

/** Every event of /events as `event: data` pairs, collected until `stop()`. */
function collectEvents(url: string): { events: Event[]; stop: () => void } {
  const events: Event[] = [];
  const abort = new AbortController();
  void (async () => {
    const res = await fetch(`${url}events`, { signal: abort.signal });
    let text = '';
    for await (const chunk of res.body!) {
      text += Buffer.from(chunk).toString();
      for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n')) {
        const m = /^event: (\w+)\ndata: (.*)$/s.exec(text.slice(0, i));
        if (m) events.push({ type: m[1]!, data: JSON.parse(m[2]!) });
        text = text.slice(i + 2);
      }
    }
  })().catch(() => undefined);
  return { events, stop: () => abort.abort() };
}

const metric = async (url: string, name: string) =>
  parsePrometheusText((await get(`${url}metrics`)).text()).get(name)?.samples[0]?.value;

describe.skipIf(!hasSocat)('serve --reconnect', () => {
  it('waits for the same chip (status, events, metrics say so), serves the pool then 503s, resumes the chain', async () => {
    const s = await serveOnPty('--reconnect=60');
    const sse = collectEvents(s.url);
    cleanups.push(sse.stop);
    const st = await unplug(s);
    expect(st.waitingFor).toMatch(SERIAL);
    expect(st.message).toBe(`waiting for ${st.waitingFor}`);
    expect(s.stderr()).toMatch(/^epqrng: waiting for EPQ1-[0-9A-F]{8} \(the chip at \S+ went away\)$/m);
    expect(await metric(s.url, 'epqrng_waiting_for_chip')).toBe(1);
    expect(await metric(s.url, 'epqrng_up')).toBe(0);
    await poll(
      () => (sse.events.some((e) => e.type === 'state' && e.data.state === 'waiting') ? true : undefined),
      10_000,
      'SSE',
    );
    const waitingEvent = sse.events.find((e) => e.type === 'state' && e.data.state === 'waiting')!;
    expect(waitingEvent.data.waitingFor).toBe(st.waitingFor);

    // The pool is served while the chip is away, then 503 with Retry-After.
    const level: number = st.pool.level;
    expect(level).toBeGreaterThan(0);
    const all = await get(`${s.url}random?bytes=${level}`);
    expect(all.status).toBe(200);
    expect(all.body.length).toBe(level);
    const none = await get(`${s.url}random?bytes=1`);
    expect(none.status).toBe(503);
    expect(Number(none.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.parse(none.text()).error).toMatch(/state waiting/);
    const before = certLines(s.certs).length;

    await replug(s, 1);
    await poll(() => (certLines(s.certs).length > before ? true : undefined), 60_000, 'a certificate after the replug');
    const after = JSON.parse((await get(`${s.url}status`)).text());
    expect(after.state).toBe('running');
    expect(after.waitingFor).toBeNull();
    expect(await metric(s.url, 'epqrng_reconnects_total')).toBe(1);
    expect(await metric(s.url, 'epqrng_waiting_for_chip')).toBe(0);
    expect(sse.events.some((e) => e.type === 'state' && e.data.state === 'running' && e.data.waitingFor === null)).toBe(
      true,
    );
    s.child.kill('SIGTERM');
    expect(await s.exited, s.stderr()).toBe(0);

    // One chain over both runs; the first certificate after the replug (only it) records the reconnect.
    const lines = certLines(s.certs);
    const certs = lines.map((l) => JSON.parse(l));
    expect(certs[0].extraction.prevCertificateSha256).toBeNull();
    for (let i = 1; i < lines.length; i++)
      expect(certs[i].extraction.prevCertificateSha256).toBe(sha256(lines[i - 1]!));
    const marked = certs.flatMap((c, i) => (c.reconnect ? [i] : []));
    expect(marked).toEqual([before]);
    const first = certs[before];
    expect(first.trialRange.first).toBe(0); // a new run: START resets the trial index (PROTOCOL 5)
    expect(first.reconnect.previousRuns).toBe(1);
    expect(first.reconnect.trialsDropped).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(Date.parse(first.reconnect.at))).toBe(false);
    expect(new Set(certs.map((c) => c.device.serial))).toEqual(new Set([st.waitingFor]));
  }, 180_000);

  it('another serial at that path: the waiting request is answered (503), then exit 3 with one line', async () => {
    const s = await serveOnPty('--reconnect=60');
    const st = await unplug(s);
    // In flight while the chip is away: more than the pool holds, waiting up to 30 s.
    const inFlight = get(`${s.url}random?bytes=${st.pool.level + 1}&wait=30`);
    await poll(
      async () => (JSON.parse((await get(`${s.url}status`)).text()).pool.waiting > 0 ? true : undefined),
      10_000,
      'the waiting request',
    );
    await replug(s, 2);
    const r = await inFlight;
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).not.toBeNull();
    expect(await s.exited, s.stderr()).toBe(3);
    expect(s.stderr()).toMatch(
      /\nepqrng: a different chip \(EPQ1-[0-9A-F]{8}\) answered at \S+, not EPQ1-[0-9A-F]{8}: refused \(--reconnect takes the same chip only\)\n$/,
    );
    expect(s.stderr()).not.toMatch(/serving the pool only/);
  }, 180_000);

  it('no chip within the wait: exit 3, saying so', async () => {
    const s = await serveOnPty('--reconnect=1');
    await unplug(s);
    expect(await s.exited, s.stderr()).toBe(3);
    expect(s.stderr()).toMatch(/\nepqrng: EPQ1-[0-9A-F]{8} did not come back within 1 s \(--reconnect\)\n$/);
  }, 180_000);

  it('SIGTERM while it waits for the chip: exit 0 at once, the wait given up', async () => {
    const s = await serveOnPty('--reconnect=60');
    await unplug(s);
    const at = performance.now();
    s.child.kill('SIGTERM');
    expect(await s.exited, s.stderr()).toBe(0);
    // The wait looks for the chip every 250 ms; the rest is closing the server.
    expect(performance.now() - at).toBeLessThan(5000);
    expect(s.stderr()).toMatch(/SIGTERM: finishing in-flight responses, stopping the chip\n$/);
  }, 180_000);

  it('is for a chip that can come back: not with --simulate', async () => {
    const { epqrngInProcess, expectOneLineError } = await import('../cli/run-cli.ts');
    expectOneLineError(
      await epqrngInProcess('serve', '--simulate', '--reconnect'),
      2,
      /--reconnect needs a chip that can come back/,
    );
  });
});
