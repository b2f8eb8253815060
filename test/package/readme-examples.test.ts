/**
 * The README's shell examples run as written. Every indented code block that
 * uses the simulator (`--simulate`), a fixture or a recording runs as one
 * bash script in a fresh directory (fixtures/ linked in), with `epqrng` (and
 * `npx epqrng`) the compiled CLI of this checkout and `npm install` a no-op;
 * within it, an `epqrng` line that needs hardware (a device command without
 * --simulate: --port, list, simulate --pty) is left out. Every line must succeed (set -e -o pipefail).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { indentedBlocks, root, runnable } from './readme.ts';

describe('README shell examples', () => {
  const blocks = indentedBlocks()
    .map(runnable)
    .filter((b) => b.length > 0);

  it('finds the examples (set-up, Using it, recorded run, host settings)', () => {
    const all = blocks.flat().join('\n');
    expect(all).toContain('epqrng stream --simulate --bytes 64 --out - | od -An -tx1');
    expect(all).toContain('epqrng verify run.epqrec --certs certs.jsonl --output random.bin --extractor-seed seed.bin');
    expect(all).toContain('--settings host');
    expect(all).not.toContain('--port');
  });

  it.each(blocks.map((b, i) => [i, b] as const))(
    'block %i runs as written',
    (_i, lines) => {
      const dir = mkdtempSync(join(tmpdir(), 'epqrng-readme-'));
      const bin = join(dir, '.bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'epqrng'), `#!/bin/sh\nexec "${process.execPath}" "${root}bin/epqrng.js" "$@"\n`, {
        mode: 0o755,
      });
      symlinkSync(join(root, 'fixtures'), join(dir, 'fixtures'));
      const script = ['set -e -o pipefail', 'npm() { :; }', 'npx() { "$@"; }', ...lines].join('\n');
      const r = spawnSync('bash', ['-c', script], {
        cwd: dir,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        encoding: 'utf8',
        timeout: 300_000,
      });
      expect({ status: r.status, stderr: r.stderr }, `${lines.join('\n')}\n${r.stdout}`).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/epqrng: /),
      });
    },
    320_000,
  );
});
