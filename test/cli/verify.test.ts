/**
 * `epqrng verify` against tampered certificate files (src/cli/commands/verify.ts):
 * a certificate line that is not the recomputed one, field for field, must
 * never verify.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { epqrngInProcess } from './run-cli.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const rec = join(fixtures, 'honest-calibrated.epqrec');
const seed = join(fixtures, 'extractor-seed.bin');

describe('epqrng verify on a tampered certificate file', () => {
  it('the untampered fixture verifies (exit 0)', async () => {
    const r = await epqrngInProcess('verify', rec, '--certs', join(fixtures, 'honest-calibrated.certs'), '--extractor-seed', seed);
    expect(r.code, r.stderr).toBe(0);
  });

  it('a field named __proto__ added to a certificate line is a mismatch, not dropped by the comparison', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-verify-'));
    const lines = readFileSync(join(fixtures, 'honest-calibrated.certs'), 'utf8').trim().split('\n');
    // JSON.parse keeps "__proto__" as an own field; an object rebuilt by assignment sets its prototype instead.
    lines[0] = lines[0]!.replace(/}$/, ',"__proto__":{"sLowerBound":2.9,"adversary":"none"}}');
    const certs = join(dir, 'tampered.certs');
    writeFileSync(certs, lines.join('\n') + '\n');
    expect((JSON.parse(lines[0]!) as Record<string, unknown>)['__proto__']).toEqual({ sLowerBound: 2.9, adversary: 'none' });
    const r = await epqrngInProcess('verify', rec, '--certs', certs, '--extractor-seed', seed);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^epqrng: verify: block 0 \(line 1 of .*tampered\.certs\): __proto__/);
  });
});
