/**
 * `epqrng calibrate` as a user runs it (child process), and its terminal
 * progress bars (in process, with stderr declared a TTY).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/framework.ts';
import { parseProfile } from '../../src/calibrate/profile.ts';
import { progressLine, ProgressBars } from '../../src/calibrate/progress.ts';
import { epqrng, expectOneLineError } from '../cli/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'epq-calibrate-cli-'));
const root = fileURLToPath(new URL('../..', import.meta.url));
const hasSocat = spawnSync('socat', ['-V']).status === 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('epqrng calibrate', () => {
  it('calibrates a new simulated chip: --json profile on stdout, --profile and --report files, summary on stderr', {
    timeout: 60_000,
  }, async () => {
    const profileFile = join(dir, 'p.json');
    const reportFile = join(dir, 'r.html');
    const r = await epqrng(
      [
        'calibrate',
        '--simulate=9',
        '--sim-uncalibrated',
        '--quick',
        '--json',
        '--profile',
        profileFile,
        '--report',
        reportFile,
      ],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const p = parseProfile(JSON.parse(r.stdout));
    expect(JSON.parse(readFileSync(profileFile, 'utf8'))).toEqual(JSON.parse(r.stdout));
    expect(p.mode).toBe('quick');
    expect(p.saved).toBe(false);
    expect(p.after.s).toBeGreaterThan(2.2);
    expect(readFileSync(reportFile, 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*<svg[\s\S]*<\/html>\n$/);
    expect(r.stderr).toMatch(/^calibrated EPQ1-[0-9A-F]{8} \(quick\): not saved \(no --save\)/);
    // Not a terminal: no progress bars.
    expect(r.stderr).not.toContain('\r');
  });

  it('a fault during calibration: one line naming the step, exit 3', { timeout: 60_000 }, async () => {
    const r = await epqrng(
      [
        'calibrate',
        '--simulate=9',
        '--quick',
        '--sim-fault',
        'temperatureCentidegrees=4000',
        '--sim-fault',
        'atMs=3000',
      ],
      {},
      60_000,
    );
    expectOneLineError(
      r,
      3,
      /^epqrng: calibration failed at step '(dark|pump)' \(.*\): .*TEMPERATURE.*; the chip stays in FAULT after RESET \(TEMPERATURE\)/,
    );
  });

  it('refuses --apply with measuring options, and an option value it does not know', async () => {
    expectOneLineError(
      await epqrng(['calibrate', '--apply', 'x.json', '--quick', '--simulate']),
      2,
      /--apply and --quick cannot be combined/,
    );
    expectOneLineError(await epqrng(['calibrate', '--simulate', '--report']), 2, /--report/);
  });

  it('--help documents --force-stop and --save', async () => {
    const r = await epqrng(['calibrate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--force-stop +a chip found running trials/);
    expect(r.stdout).toMatch(/--save +store the new calibration/);
  });

  it('draws a progress bar per step on a terminal', { timeout: 60_000 }, async () => {
    const out = sink();
    const err = sink();
    const code = await runCli(['calibrate', '--simulate=10', '--sim-uncalibrated', '--quick'], {
      stdout: out.stream,
      stderr: err.stream,
      isTTY: true,
    });
    expect(code, err.text()).toBe(0);
    const finished = err
      .text()
      .split('\n')
      .map((l) => l.slice(l.lastIndexOf('\r') + 1))
      .filter((l) => l.includes('100%'));
    expect(finished.map((l) => l.slice(0, 30).trim())).toEqual([
      'verify previous calibration',
      'dark counts vs bias',
      'pump sweep (Rabi)',
      'delay scan',
      'polarization fringes',
      'bias sweep (efficiency)',
      'operating point',
      'verify new calibration',
    ]);
    expect(out.text()).toMatch(/^calibrated EPQ1-/);
  });
});

describe.skipIf(!hasSocat)('epqrng calibrate over a real pseudo-terminal (socat), chip in real time', () => {
  it('calibrates a new chip served by epqrng simulate --pty, in about its chip time', { timeout: 90_000 }, async () => {
    const path = join(dir, 'epq');
    const child = spawn(
      process.execPath,
      ['bin/epqrng.js', 'simulate', '--pty', path, '--seed', '44', '--uncalibrated'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let served = '';
    child.stdout.on('data', (d: Buffer) => (served += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code: number | null) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!served.includes('\n')) {
        if (Date.now() > deadline) throw new Error('simulate --pty printed nothing');
        await new Promise((r) => setTimeout(r, 50));
      }
      const t0 = Date.now();
      const r = await epqrng(['calibrate', '--port', path, '--quick', '--json'], {}, 80_000);
      const wallMs = Date.now() - t0;
      expect(r.code, r.stderr).toBe(0);
      const p = parseProfile(JSON.parse(r.stdout));
      expect(p.after.s).toBeGreaterThan(2.2);
      // Under load the host may fall behind a real-time chip (GAP): lost trials are counted, never invented.
      expect(p.after.trials + p.after.lostTrials).toBe(1_000_000);
      // A real-time chip: the wall time is at least the chip time the calibration accounted.
      expect(wallMs).toBeGreaterThanOrEqual(p.chipTimeMs.total);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});

describe('progress bars', () => {
  it('fill in proportion and show the chip time', () => {
    expect(progressLine('delay', 7, 28, 2500)).toBe(
      `${'delay scan'.padEnd(30)} [#######.....................]  25%  chip   2.5 s`,
    );
    const s = sink();
    const bars = new ProgressBars(s.stream);
    bars.update('dark', 1, 2, 100);
    bars.update('pump', 1, 4, 200);
    bars.finish('pump', 400);
    expect(s.text()).toBe(
      `\r${progressLine('dark', 1, 2, 100)}\n\r${progressLine('pump', 1, 4, 200)}\r${progressLine('pump', 1, 1, 400)}\n`,
    );
  });
});
