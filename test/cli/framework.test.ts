import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INTERNAL_ERROR_EXIT, listCommands, runCli, type CommandIo } from '../../src/cli/framework.ts';

const errorsUrl = new URL('../../src/errors.ts', import.meta.url).href;

/** A commands folder of our own: adding a command is adding a file. */
function commandsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-cmds-'));
  const cmd = (body: string) => `import { CertificationRefusedError, DeviceError, UsageError } from '${errorsUrl}';
export const summary = 'a test command';
export const usage = 'usage: epqrng x [--flag]';
export async function run(argv, io) { ${body} }
`;
  writeFileSync(join(dir, 'ok.ts'), cmd(`io.stdout.write('ran ' + argv.join(',') + '\\n'); return 0;`));
  writeFileSync(join(dir, 'device.ts'), cmd(`throw new DeviceError('X', 'device at /dev/x disconnected');`));
  writeFileSync(
    join(dir, 'refused.ts'),
    cmd(`throw new CertificationRefusedError('BELL', 'S = 1.90 <= 2\\nrun epqrng calibrate');`),
  );
  writeFileSync(join(dir, 'bug.ts'), cmd(`throw new TypeError('x is not a function');`));
  writeFileSync(join(dir, 'helper.test.ts'), '');
  writeFileSync(join(dir, 'Bad_Name.ts'), '');
  return dir;
}

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

describe('runCli', () => {
  const dir = commandsDir();

  it('finds commands by file name only', () => {
    expect(listCommands(dir)).toEqual(['bug', 'device', 'ok', 'refused']);
    const real = listCommands(fileURLToPath(new URL('../../src/cli/commands', import.meta.url)));
    expect(real).toEqual(expect.arrayContaining(['info', 'list', 'simulate']));
  });

  it('runs a command with its arguments; --help prints its usage', async () => {
    const a = io();
    expect(await runCli(['ok', 'p', '--q'], a, { dir })).toBe(0);
    expect(a.out()).toBe('ran p,--q\n');
    const h = io();
    expect(await runCli(['ok', '--help'], h, { dir })).toBe(0);
    expect(h.out()).toBe('a test command\n\nusage: epqrng x [--flag]\n');
    const g = io();
    expect(await runCli([], g, { dir })).toBe(2);
    expect(g.err()).toContain('  refused    a test command\n');
  });

  it('maps errors to exit codes, one line each', async () => {
    const cases: [string, number, string][] = [
      ['device', 3, 'epqrng: device at /dev/x disconnected\n'],
      ['refused', 1, 'epqrng: S = 1.90 <= 2 run epqrng calibrate\n'],
      ['bug', INTERNAL_ERROR_EXIT, 'epqrng: internal error: x is not a function\n'],
      ['nope', 2, "epqrng: unknown command 'nope' (commands: bug, device, ok, refused)\n"],
      ['Bad_Name', 2, "epqrng: unknown command 'Bad_Name' (commands: bug, device, ok, refused)\n"],
      ['--port', 2, "epqrng: expected a command before '--port' (commands: bug, device, ok, refused)\n"],
    ];
    for (const [name, code, line] of cases) {
      const x = io();
      expect(await runCli([name], x, { dir }), name).toBe(code);
      expect(x.err()).toBe(line);
    }
    const d = io();
    await runCli(['device'], d, { dir, debug: true });
    expect(d.err()).toMatch(/^epqrng: device at \/dev\/x disconnected\nDeviceError: .*\n\s+at /);
  });
});
