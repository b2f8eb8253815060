/**
 * `epqrng calibrate` as a user runs it (child process), and its terminal
 * progress bars (in process, with stderr declared a TTY).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/framework.ts';
import { parseProfile } from '../../src/calibrate/profile.ts';
import { progressLine, ProgressBars } from '../../src/calibrate/progress.ts';
import { epqrng, expectOneLineError } from '../cli/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'epq-calibrate-cli-'));
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
  it('calibrates a new simulated chip: --json profile on stdout, --profile and --report files, summary on stderr', { timeout: 60_000 }, async () => {
    const profileFile = join(dir, 'p.json');
    const reportFile = join(dir, 'r.html');
    const r = await epqrng(['calibrate', '--simulate=9', '--sim-uncalibrated', '--quick', '--json', '--profile', profileFile, '--report', reportFile], {}, 60_000);
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
    const r = await epqrng(['calibrate', '--simulate=9', '--quick', '--sim-fault', 'temperatureCentidegrees=4000', '--sim-fault', 'atMs=3000'], {}, 60_000);
    expectOneLineError(r, 3, /^epqrng: calibration failed at step '(dark|pump)' \(.*\): .*TEMPERATURE.*; the chip stays in FAULT after RESET \(TEMPERATURE\)/);
  });

  it('refuses --apply with measuring options, and an option value it does not know', async () => {
    expectOneLineError(await epqrng(['calibrate', '--apply', 'x.json', '--quick', '--simulate']), 2, /--apply and --quick cannot be combined/);
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
    const code = await runCli(['calibrate', '--simulate=10', '--sim-uncalibrated', '--quick'], { stdout: out.stream, stderr: err.stream, isTTY: true });
    expect(code, err.text()).toBe(0);
    const finished = err.text().split('\n').map((l) => l.slice(l.lastIndexOf('\r') + 1)).filter((l) => l.includes('100%'));
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

describe('progress bars', () => {
  it('fill in proportion and show the chip time', () => {
    expect(progressLine('delay', 7, 28, 2500)).toBe(`${'delay scan'.padEnd(30)} [#######.....................]  25%  chip   2.5 s`);
    const s = sink();
    const bars = new ProgressBars(s.stream);
    bars.update('dark', 1, 2, 100);
    bars.update('pump', 1, 4, 200);
    bars.finish('pump', 400);
    expect(s.text()).toBe(`\r${progressLine('dark', 1, 2, 100)}\n\r${progressLine('pump', 1, 4, 200)}\r${progressLine('pump', 1, 1, 400)}\n`);
  });
});
