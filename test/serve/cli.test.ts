/**
 * `epqrng serve` as a user runs it: option errors are one line (exit 2); a
 * non-local --listen needs --token; the Unix socket is mode 0660; SIGTERM
 * stops accepting, finishes the in-flight response, stops the chip, exit 0.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceState } from '../../src/protocol/types.ts';
import { parseCoverage } from '../../src/serve/index.ts';
import { epqrngInProcess, expectOneLineError } from '../cli/run-cli.ts';
import { startHarness, until } from './harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'epq-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('epqrng serve options', () => {
  it.each([
    [['--listen', '0.0.0.0:8437'], /--listen 0\.0\.0\.0 is reachable from other machines: it needs --token FILE/],
    [['--listen', 'nowhere'], /--listen must be HOST:PORT/],
    [['--listen', '127.0.0.1:70000'], /--listen must be HOST:PORT/],
    [['--pool', '12'], /--pool must be an integer from 1024/],
    [['--token', join(dir, 'missing')], /cannot read --token/],
  ])('%j: one line, exit 2', async (args, message) => {
    expectOneLineError(await epqrngInProcess('serve', '--simulate', ...args), 2, message);
  });

  it('a token file whose first line is too short is refused', async () => {
    writeFileSync(join(dir, 'short'), 'abc\n');
    const r = await epqrngInProcess('serve', '--simulate', '--listen', '0.0.0.0:0', '--token', join(dir, 'short'));
    expectOneLineError(r, 2, /the first line must be a token of 16 or more/);
  });
});

describe('SIGTERM', () => {
  it('finishes the in-flight response and exits 0; the socket is mode 0660; the bytes are covered by --certs', async () => {
    const socket = join(dir, 's.sock');
    const certs = join(dir, 'certs.jsonl');
    const child = spawn(
      process.execPath,
      [`${root}bin/epqrng.js`, 'serve', '--simulate=4', '--socket', socket, '--certs', certs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until(() => out.includes(`unix:${socket}`), 60_000, 'the socket');
    expect(statSync(socket).mode & 0o777).toBe(0o660);
    // The first block takes seconds of chip work: this request waits in flight when SIGTERM comes.
    const response = new Promise<{ status: number; coverage: string; length: number }>((resolve, reject) => {
      const req = request({ socketPath: socket, path: '/random?bytes=1000&wait=30' }, (res) => {
        let length = 0;
        res.on('data', (d: Buffer) => (length += d.length));
        res.on('end', () =>
          resolve({ status: res.statusCode!, coverage: String(res.headers['x-epqrng-coverage']), length }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const r = await response;
    expect(r.status).toBe(200);
    expect(r.length).toBe(1000);
    expect(await exited).toBe(0);
    expect(err).toMatch(/SIGTERM: finishing in-flight responses, stopping the chip/);
    const lines = readFileSync(certs, 'utf8').trimEnd().split('\n');
    const written = new Set(lines.map((l) => createHash('sha256').update(l).digest('hex')));
    const covered = parseCoverage(r.coverage);
    expect(covered.length).toBeGreaterThanOrEqual(1);
    for (const c of covered) expect(written.has(c.sha256)).toBe(true);
  }, 120_000);

  it('closing the server stops the chip (STOP, then its ACK): the chip is IDLE', async () => {
    const h = await startHarness({ seed: 41 });
    await until(() => h.service.counters.blocksCertified >= 1, 120_000, 'a block');
    await h.server.close();
    expect(h.service.state).toBe('stopped');
    expect(h.sim.chip.stateCode).toBe(DeviceState.IDLE);
    await h.device.close();
  }, 180_000);
});
