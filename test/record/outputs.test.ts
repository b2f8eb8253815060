/**
 * The recording file as user input (src/record/writer.ts, epqrng record and
 * stream --record): a path that cannot be written is a one-line InputError
 * (exit 2), and a recording is never created over the seed file it names.
 */
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { epqrngInProcess, expectOneLineError } from '../cli/run-cli.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('recording outputs', () => {
  it('a recording path that cannot be created: exit 2, one line naming it (record and stream --record)', async () => {
    expectOneLineError(
      await epqrngInProcess('record', '--simulate', '--trials', '10', '--out', '/nonexistent/dir/r.epqrec'),
      2,
      /^epqrng: cannot write recording \/nonexistent\/dir\/r\.epqrec: ENOENT$/,
    );
    expectOneLineError(
      await epqrngInProcess(
        'stream',
        '--simulate',
        '--bytes',
        '8',
        '--out',
        '/dev/null',
        '--record',
        '/nonexistent/dir/r.epqrec',
      ),
      2,
      /^epqrng: cannot write recording \/nonexistent\/dir\/r\.epqrec: ENOENT$/,
    );
  });

  it('record --out naming its own --extractor-seed file is refused; the seed is left intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-recout-'));
    const seed = join(dir, 'seed.bin');
    copyFileSync(join(fixtures, 'extractor-seed.bin'), seed);
    const before = sha(seed);
    expectOneLineError(
      await epqrngInProcess(
        'record',
        '--simulate',
        '--trials',
        '10',
        '--extractor-seed',
        seed,
        '--out',
        `${dir}/./seed.bin`,
      ),
      2,
      /--out .*seed\.bin is the same file as --extractor-seed/,
    );
    expect(sha(seed)).toBe(before);
  });

  it('replay --bytes N of a recording that certifies fewer: exit 2 naming both counts, not exit 0 with a short --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-recout-'));
    const rec = join(dir, 'short.epqrec');
    const made = await epqrngInProcess('record', '--simulate=4', '--trials', '300000', '--out', rec);
    expect(made.code, made.stderr).toBe(0);
    // One block of 262,144 trials certifies a few kB at these options (fixtures/README.md COMMON).
    const opts = [
      '--block-trials',
      '262144',
      '--adversary',
      'classical',
      '--eps',
      '1e-6',
      '--extractor-seed',
      join(fixtures, 'extractor-seed.bin'),
    ];
    const enough = await epqrngInProcess('replay', rec, ...opts, '--bytes', '100', '--out', join(dir, 'a.bin'));
    expect(enough.code, enough.stderr).toBe(0);
    const r = await epqrngInProcess('replay', rec, ...opts, '--bytes', '100000000', '--out', join(dir, 'b.bin'));
    expect(r.code, r.stderr).toBe(2);
    const size = readFileSync(join(dir, 'b.bin')).length;
    expect(size).toBeGreaterThan(100);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `epqrng: ${rec} certifies ${size} bytes, fewer than the 100000000 asked for with --bytes`,
    );
  });
});
