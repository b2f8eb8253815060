/**
 * The `epqrng` command as a user runs it: a child process (`node
 * bin/epqrng.js ...`), its stdout, its stderr and its exit code. Bad input
 * must give ONE stderr line naming the cause, the documented exit code
 * (2 usage/input, 3 device), and no stack trace.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import { FrameType, type HostFrame } from '../../src/protocol/types.ts';
import { hasSocat, ptyPair, type PtyPair } from './pty-pair.ts';
import { epqrng, expectOneLineError } from './run-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('epqrng info --simulate', () => {
  it('prints serial, model, firmware, protocol and calibration state', async () => {
    const r = await epqrng(['info', '--simulate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const fields = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i), l.slice(i + 1).trim()];
        }),
    );
    expect(fields.serial).toMatch(/^EPQ1-[0-9A-F]{8}$/); // PROTOCOL 2
    expect(fields.model).toBe('EPQ-1');
    expect(fields.firmware).toMatch(/^\d+\.\d+\.\d+$/);
    expect(fields.protocol).toBe('1.0');
    expect(fields.calibration).toBe('calibrated'); // the in-process --simulate default
    expect(fields['max rate']).toBe('1000000 trials/s');
  });

  it('--json prints the same as JSON; seeds and --sim-uncalibrated change what the chip says', async () => {
    const [text, json, other, uncal] = await Promise.all([
      epqrng(['info', '--simulate=3']),
      epqrng(['info', '--simulate=3', '--json']),
      epqrng(['info', '--simulate=4', '--json']),
      epqrng(['info', '--simulate=3', '--sim-uncalibrated', '--json']),
    ]);
    expect(json.code, json.stderr).toBe(0);
    const info = JSON.parse(json.stdout);
    expect(info).toMatchObject({ model: 'EPQ-1', protocol: '1.0', calibration: 'calibrated', maxTrialRate: 1_000_000 });
    expect(text.stdout).toContain(`serial:        ${info.serial}\n`);
    expect(text.stdout).toContain(`firmware:      ${info.firmware}\n`);
    expect(JSON.parse(other.stdout).serial).not.toBe(info.serial);
    expect(JSON.parse(uncal.stdout)).toMatchObject({
      serial: info.serial,
      calibration: 'uncalibrated',
      faults: ['UNCALIBRATED'],
    });
  });
});

describe('bad input: one line, the documented exit code, no stack trace', () => {
  it('a path that does not exist: exit 3', async () => {
    const r = await epqrng(['info', '--port', '/dev/epqrng-no-such-port']);
    expectOneLineError(r, 3, /^epqrng: cannot open \/dev\/epqrng-no-such-port: No such file or directory$/);
  });

  it('an invalid option value: exit 2, naming the option and the allowed values', async () => {
    const r = await epqrng(['info', '--simulate', '--sim-mode', 'quantum']);
    expectOneLineError(
      r,
      2,
      /^epqrng: --sim-mode must be one of honest, lhv, postselect, tamper, biased \(got 'quantum'\)$/,
    );
    const seed = await epqrng(['info', '--simulate=-1']);
    expectOneLineError(seed, 2, /^epqrng: --simulate must be an integer from 0 to 4294967295 \(got '-1'\)$/);
    const unknown = await epqrng(['info', '--bogus']);
    expectOneLineError(unknown, 2, /^epqrng: unknown option --bogus /);
    const both = await epqrng(['info', '--simulate', '--port', '/dev/x']);
    expectOneLineError(both, 2, /^epqrng: --port and --simulate are mutually exclusive; pass one$/);
  });

  it('an unknown command: exit 2, listing the commands found', async () => {
    const r = await epqrng(['frobnicate']);
    expectOneLineError(r, 2, /^epqrng: unknown command 'frobnicate' \(commands: .*\binfo\b.*\blist\b.*\)$/);
  });

  it('EPQRNG_DEBUG=1 adds the stack', async () => {
    const r = await epqrng(['info', '--port', '/dev/epqrng-no-such-port'], { EPQRNG_DEBUG: '1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('list: either the EPQ-1 list or a one-line lister failure (exit 3)', async () => {
    const r = await epqrng(['list', '--json']);
    if (r.code === 0) expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    else expectOneLineError(r, 3, /^epqrng: cannot list serial ports: .+; pass --port PATH$/);
  });
});

describe.skipIf(!hasSocat)('bad devices on a real pseudo-terminal (socat)', () => {
  let silent: PtyPair;
  let v2: PtyPair;
  let v2Port: SerialPort | undefined;

  beforeAll(async () => {
    [silent, v2] = await Promise.all([ptyPair(), ptyPair()]);
    // A "chip" that answers GET_INFO with protocol 2.0 (made by encodeFrame).
    v2Port = new SerialPort({ path: v2.b, baudRate: 921600 });
    let seq = 500;
    const sync = new FrameSync({
      accept: 'host',
      onFrame: (f) => {
        const frame = f as HostFrame;
        if (frame.kind !== 'GET_INFO') return;
        v2Port!.write(
          Buffer.concat([
            encodeFrame({
              kind: 'ACK',
              seq: seq++,
              flags: 0,
              ackSeq: frame.seq,
              ackType: FrameType.GET_INFO,
              status: 0,
              detail: 0,
            }),
            encodeFrame({
              kind: 'INFO',
              seq: seq++,
              flags: 0,
              protocol: [2, 0],
              firmware: [2, 0, 0],
              serial: 'EPQ1-0000BEEF',
              model: 'EPQ-2',
              maxTrialRate: 1_000_000,
              capabilities: 15,
              settingsFifo: 0,
            }),
          ]),
        );
      },
    });
    v2Port.on('data', (chunk: Buffer) => sync.push(chunk));
    await new Promise<void>((resolve, reject) => {
      v2Port!.once('open', () => resolve());
      v2Port!.once('error', reject);
    });
  });

  afterAll(async () => {
    if (v2Port?.isOpen) await new Promise((r) => v2Port!.close(() => r(undefined)));
    await Promise.all([silent?.close(), v2?.close()]);
  });

  it('a device that answers nothing: exit 3 after the ACK timeout and retries', async () => {
    const t0 = Date.now();
    const r = await epqrng(['info', '--port', silent.a]);
    expectOneLineError(
      r,
      3,
      new RegExp(
        `^epqrng: no answer from ${silent.a}: GET_INFO not acknowledged \\(3 tries over \\d+ ms\\); is it an EPQ-1\\?$`,
      ),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
  });

  it('a device with protocol major 2: exit 3, refused by name', async () => {
    const r = await epqrng(['info', '--port', v2.a]);
    expectOneLineError(
      r,
      3,
      new RegExp(`^epqrng: device at ${v2.a} speaks protocol 2\\.0; this driver needs protocol 1\\.x$`),
    );
  });
});

describe.skipIf(!hasSocat)('epqrng simulate --pty', () => {
  it('serves a chip that other processes open by path, until SIGINT', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'epqrng-sim-')), 'epq');
    const child = spawn(
      process.execPath,
      ['bin/epqrng.js', 'simulate', '--pty', path, '--seed', '9', '--uncalibrated'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code: number | null) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!stdout.includes('\n')) {
        if (Date.now() > deadline) throw new Error(`simulate printed nothing: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stdout).toBe(`${path}\n`);
      const [overPty, inProcess] = await Promise.all([
        epqrng(['info', '--port', path, '--json']),
        epqrng(['info', '--simulate=9', '--sim-uncalibrated', '--json']),
      ]);
      expect(overPty.code, overPty.stderr).toBe(0);
      const a = JSON.parse(overPty.stdout);
      const b = JSON.parse(inProcess.stdout);
      expect(a).toEqual({ ...b, path }); // the same chip (seed 9), through a real PTY
      expect(a.calibration).toBe('uncalibrated');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('a bad --mode is a usage error before anything is served', async () => {
    const r = await epqrng(['simulate', '--pty', '/tmp/epqrng-unused', '--mode', 'evil']);
    expectOneLineError(r, 2, /^epqrng: --mode must be one of honest, lhv, postselect, tamper, biased \(got 'evil'\)$/);
    const missing = await epqrng(['simulate']);
    expectOneLineError(missing, 2, /^epqrng: --pty PATH is required$/);
  });
});
