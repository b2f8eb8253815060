/**
 * `epqrng stream --adversary classical --classical-bound pef`: probability
 * estimation from the command line. Blocks of 2^18 trials of the calibrated
 * simulated chip: the first certified bytes come after 2^18 trials, with the
 * PEF, its power and its origin in the certificate; the option needs the
 * classical adversary.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCertificateLine } from '../../src/certify/index.ts';
import { epqrng, expectOneLineError } from './run-cli.ts';

describe('epqrng stream --classical-bound pef', () => {
  it('certifies 2^18-trial blocks by probability estimation and records the PEF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-pef-'));
    const certs = join(dir, 'certs.jsonl');
    const r = await epqrng(
      [
        'stream',
        '--simulate=5',
        '--adversary',
        'classical',
        '--classical-bound',
        'pef',
        '--block-trials',
        '262144',
        '--bytes',
        '4096',
        '--out',
        '-',
        '--certs',
        certs,
      ],
      {},
      120_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.from(r.stdout, 'latin1')).toHaveLength(4096);
    const cert = parseCertificateLine(readFileSync(certs, 'utf8').trim().split('\n')[0] ?? '');
    expect(cert.trialRange).toEqual({ first: 0, count: 2 ** 18 });
    expect(cert.adversary).toBe('classical');
    expect(cert.bound).toMatch(/^probability estimation/);
    expect(cert.pef?.factors).toHaveLength(16);
    expect(cert.pef?.origin).toMatch(/default design behaviour/);
    expect(cert.assumptions.join('\n')).toMatch(/not secure against quantum side information/);
    // well above Pironio-Massar's 0.15-0.2 bit/trial at this block size
    expect(cert.outputBits / 2 ** 18).toBeGreaterThan(0.3);
  });

  it('needs --adversary classical', async () => {
    const r = await epqrng(['stream', '--simulate', '--classical-bound', 'pef', '--bytes', '1', '--out', '-']);
    expectOneLineError(r, 2, /--classical-bound pef needs --adversary classical/);
  });
});
