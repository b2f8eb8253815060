/**
 * `epqrng stream` as a user runs it (issue 3 scope 8): exactly --bytes bytes
 * on stdout with one certificate line per block; a chip that cannot be
 * certified writes nothing, exits 1 and says why in one line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { parseCertificateLine } from '../../src/certify/index.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import { FrameType, type HostFrame } from '../../src/protocol/types.ts';
import { baseStatus } from '../device/fake-chip.ts';
import { hasSocat, ptyPair } from './pty-pair.ts';
import { epqrng, expectOneLineError } from './run-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `epqrng <args>` as a child process, waits (up to 90 s) for the first certified block on disk (`certs` not
 * empty), then sends it `signal`: its exit code and stderr.
 */
async function signalAfterFirstCertificate(
  args: string[],
  certs: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/epqrng.js', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline && !(existsSync(certs) && statSync(certs).size > 0))
    await new Promise((r) => setTimeout(r, 100));
  child.kill(signal);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stderr };
}

describe('epqrng stream', () => {
  it('writes exactly --bytes certified bytes to stdout and the certificate to --certs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-stream-'));
    const certs = join(dir, 'certs.jsonl');
    const r = await epqrng(['stream', '--simulate=3', '--bytes', '1000', '--out', '-', '--certs', certs], {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(Buffer.from(r.stdout, 'latin1')).toHaveLength(1000);
    const lines = readFileSync(certs, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const cert = parseCertificateLine(lines[0]!);
    expect(cert.extraction.outputBytes).toBeGreaterThanOrEqual(1000);
    expect(cert.sLowerBound).toBeGreaterThan(2);
  });

  it('an uncalibrated chip: nothing written, exit 1, one line naming the cause', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-stream-'));
    const out = join(dir, 'out.bin');
    const certs = join(dir, 'certs.jsonl');
    const r = await epqrng(
      ['stream', '--simulate=3', '--sim-uncalibrated', '--bytes', '64', '--out', out, '--certs', certs],
      {},
      120_000,
    );
    expectOneLineError(r, 1, /certification refused .* S = 0\.\d+ <= 2 .*run epqrng calibrate/);
    expect(statSync(out).size).toBe(0);
    expect(statSync(certs).size).toBe(0);
  });

  it('refuses bad option values with exit 2', async () => {
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--eps', '2']),
      2,
      /--eps must be a probability in \(0, 1\)/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--adversary', 'alien']),
      2,
      /--adversary must be one of quantum, classical/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--extractor-seed', '/nonexistent/seed']),
      2,
      /cannot read extractor seed file \/nonexistent\/seed/,
    );
  });
});

describe('epqrng stream interrupted', () => {
  it('SIGINT ends the run with STOP/ACK: exit 0, every certified block written with its certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-stream-'));
    const out = join(dir, 'out.bin');
    const certs = join(dir, 'certs.jsonl');
    const { code, stderr } = await signalAfterFirstCertificate(
      ['stream', '--simulate=4', '--out', out, '--certs', certs],
      certs,
      'SIGINT',
    );
    expect(code, stderr).toBe(0);
    const lines = readFileSync(certs, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const total = lines.map((l) => parseCertificateLine(l).extraction.outputBytes).reduce((a, b) => a + b, 0);
    expect(statSync(out).size).toBe(total);
  });
});

describe('epqrng stream that delivers fewer bytes than --bytes never exits 0', () => {
  it('SIGTERM before --bytes are certified: exit 143, one line saying how many bytes were written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-stream-'));
    const out = join(dir, 'out.bin');
    const certs = join(dir, 'certs.jsonl');
    const args = ['stream', '--simulate=4', '--block-trials', '262144', '--adversary', 'classical', '--eps', '1e-6'];
    const { code, stderr } = await signalAfterFirstCertificate(
      [...args, '--bytes', '100000000', '--out', out, '--certs', certs],
      certs,
      'SIGTERM',
    );
    const size = statSync(out).size;
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(100_000_000);
    expectOneLineError(
      { code: code ?? -1, stdout: '', stderr },
      143,
      new RegExp(`^epqrng: interrupted by SIGTERM: ${size} certified bytes of the 100000000 asked for written`),
    );
  });

  describe.skipIf(!hasSocat)('a chip that ends the run by itself (a STATUS in state IDLE, no STOP sent)', () => {
    it('exit 3, one line, instead of exit 0 with 0 of the bytes asked for', async () => {
      const chip = await fakePtyChip({});
      try {
        const out = join(mkdtempSync(join(tmpdir(), 'epqrng-stream-')), 'out.bin');
        const r = await epqrng(['stream', '--port', chip.path, '--bytes', '64', '--out', out]);
        expectOneLineError(r, 3, /^epqrng: the chip ended the run after 0 certified bytes of the 64 asked for/);
        expect(statSync(out).size).toBe(0);
      } finally {
        await chip.close();
      }
    });
  });
});

describe.skipIf(!hasSocat)('epqrng stream --settings host on a chip whose INFO rules it out (PROTOCOL 4 INFO)', () => {
  it('capability bit 0 clear, or a settings FIFO of 0: exit 3, one line naming the chip, before any START', async () => {
    for (const [info, pattern] of [
      [
        { capabilities: 14 },
        /^epqrng: device EPQ1-0000BEEF does not take host settings \(INFO capabilities 0xe, bit 0 clear\)/,
      ],
      [{ settingsFifo: 0 }, /^epqrng: device EPQ1-0000BEEF reports a host-settings FIFO of 0 trials/],
    ] as const) {
      const chip = await fakePtyChip(info);
      try {
        const r = await epqrng([
          'stream',
          '--port',
          chip.path,
          '--settings',
          'host',
          '--bytes',
          '64',
          '--out',
          '/dev/null',
        ]);
        expectOneLineError(r, 3, pattern);
        expect(chip.commands).not.toContain('START');
      } finally {
        await chip.close();
      }
    }
  });
});

/**
 * A scripted chip on a PTY (socat): INFO as given, every command ACKed OK, and
 * START followed at once by a STATUS in state IDLE (the run ends by itself).
 */
async function fakePtyChip(info: {
  capabilities?: number;
  settingsFifo?: number;
}): Promise<{ path: string; commands: string[]; close(): Promise<void> }> {
  const pty = await ptyPair();
  const port = new SerialPort({ path: pty.b, baudRate: 921600 });
  const commands: string[] = [];
  let seq = 700;
  const send = (...frames: Buffer[]): void => void port.write(Buffer.concat(frames));
  const ack = (f: HostFrame): Buffer =>
    encodeFrame({ kind: 'ACK', seq: seq++, flags: 0, ackSeq: f.seq, ackType: FrameType[f.kind], status: 0, detail: 0 });
  const sync = new FrameSync({
    accept: 'host',
    onFrame: (f) => {
      const frame = f as HostFrame;
      commands.push(frame.kind);
      if (frame.kind === 'GET_INFO') {
        send(
          ack(frame),
          encodeFrame({
            kind: 'INFO',
            seq: seq++,
            flags: 0,
            protocol: [1, 0],
            firmware: [1, 0, 0],
            serial: 'EPQ1-0000BEEF',
            model: 'EPQ-1',
            maxTrialRate: 1_000_000,
            capabilities: 15,
            settingsFifo: 65536,
            ...info,
          }),
        );
      } else if (frame.kind === 'START') {
        // PROTOCOL 5 START: acknowledged ... and then the chip goes IDLE at once (a reset, a glitch, a lie).
        send(ack(frame), encodeFrame({ ...baseStatus, seq: seq++, flags: 0, state: 0 }));
      } else {
        send(ack(frame));
      }
    },
  });
  port.on('data', (chunk: Buffer) => sync.push(chunk));
  await new Promise<void>((resolve, reject) => {
    port.once('open', () => resolve());
    port.once('error', reject);
  });
  return {
    path: pty.a,
    commands,
    close: async () => {
      if (port.isOpen) await new Promise((r) => port.close(() => r(undefined)));
      await pty.close();
    },
  };
}
