import { readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/command-table.ts';
import {
  type CommandIo,
  type CommandTable,
  INTERNAL_ERROR_EXIT,
  packageVersion,
  runCli,
  StdoutClosed,
} from '../../src/cli/framework.ts';
import { CertificationRefusedError, DeviceError } from '../../src/errors.ts';

/** A table of our own: a command is a summary and a lazily loaded module. */
function command(run: (argv: string[], io: CommandIo) => Promise<number>) {
  return { summary: 'a test command', load: async () => ({ usage: 'usage: epqrng x [--flag]', run }) };
}
const table: CommandTable = {
  ok: command(async (argv, io) => {
    io.stdout.write(`ran ${argv.join(',')}\n`);
    return 0;
  }),
  device: command(async () => {
    throw new DeviceError('X', 'device at /dev/x disconnected');
  }),
  refused: command(async () => {
    throw new CertificationRefusedError('BELL', 'S = 1.90 <= 2\nrun epqrng calibrate');
  }),
  bug: command(async () => {
    throw new TypeError('x is not a function');
  }),
  piped: command(async () => {
    throw new StdoutClosed();
  }),
  broken: { summary: 'exports nothing', load: async () => ({}) },
};

function io(): CommandIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write: (c, _e, cb) => {
        f(String(c));
        cb();
      },
    });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    isTTY: false,
    out: () => out,
    err: () => err,
  };
}

const names = 'broken, bug, device, ok, piped, refused';

describe('runCli', () => {
  it('runs a command with its arguments; --help, -h and help CMD print its usage', async () => {
    const a = io();
    expect(await runCli(['ok', 'p', '--q'], a, { commands: table })).toBe(0);
    expect(a.out()).toBe('ran p,--q\n');
    for (const argv of [
      ['ok', '--help'],
      ['ok', '-h'],
      ['help', 'ok'],
      ['ok', 'x', '-h'],
    ]) {
      const h = io();
      expect(await runCli(argv, h, { commands: table }), argv.join(' ')).toBe(0);
      expect(h.out()).toBe('a test command\n\nusage: epqrng x [--flag]\n');
    }
    const g = io();
    expect(await runCli([], g, { commands: table })).toBe(2);
    expect(g.err()).toContain('  refused    a test command\n');
    const unknownTopic = io();
    expect(await runCli(['help', 'nope'], unknownTopic, { commands: table })).toBe(2);
    expect(unknownTopic.err()).toBe(`epqrng: unknown command 'nope' (commands: ${names})\n`);
  });

  it('prints the version for --version and -V, and every exit code in the general help', async () => {
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const v = io();
      expect(await runCli([flag], v, { commands: table })).toBe(0);
      expect(v.out()).toBe(`epqrng ${packageVersion()}\n`);
    }
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const h = io();
      expect(await runCli(argv, h, { commands: table })).toBe(0);
      const codes = [...h.out().matchAll(/^ {2}(\d+(?:, \d+)*) /gm)].flatMap((m) => m[1]!.split(', '));
      expect(codes).toEqual(['0', '1', '2', '3', '70', '130', '143']);
    }
  });

  it('maps errors to exit codes, one line each; a closed stdout is a quiet exit 0', async () => {
    const cases: [string, number, string][] = [
      ['device', 3, 'epqrng: device at /dev/x disconnected\n'],
      ['refused', 1, 'epqrng: S = 1.90 <= 2 run epqrng calibrate\n'],
      ['bug', INTERNAL_ERROR_EXIT, 'epqrng: internal error: x is not a function\n'],
      ['broken', INTERNAL_ERROR_EXIT, 'epqrng: internal error: command module broken does not export usage and run\n'],
      ['piped', 0, ''],
      ['nope', 2, `epqrng: unknown command 'nope' (commands: ${names})\n`],
      ['toString', 2, `epqrng: unknown command 'toString' (commands: ${names})\n`],
      ['--port', 2, `epqrng: expected a command before '--port' (commands: ${names})\n`],
    ];
    for (const [name, code, line] of cases) {
      const x = io();
      expect(await runCli([name], x, { commands: table }), name).toBe(code);
      expect(x.err()).toBe(line);
    }
    const d = io();
    await runCli(['device'], d, { commands: table, debug: true });
    expect(d.err()).toMatch(/^epqrng: device at \/dev\/x disconnected\nDeviceError: .*\n\s+at /);
  });

  it('the real table: every command module is in it, and loads and exports its usage and run', async () => {
    // A command module missing from the table would be unreachable (no directory scan at run time).
    const modules = readdirSync(fileURLToPath(new URL('../../src/cli/commands', import.meta.url)))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -3));
    expect(Object.keys(COMMANDS).sort()).toEqual(modules.sort());
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const mod = (await entry.load()) as { usage?: unknown; run?: unknown };
      expect(typeof mod.usage, name).toBe('string');
      expect(typeof mod.run, name).toBe('function');
    }
  });
});
