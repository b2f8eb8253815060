/**
 * The package's public API (src/index.ts), used as a program would: open
 * the simulator, take certified blocks with their certificates, stop early,
 * dispose; record, replay and verify as functions.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.ts';
import { epqrngInProcess } from '../cli/run-cli.ts';

/** Small classical blocks: one certified block in well under a second of simulation (fixtures/README.md COMMON). */
const SMALL = { blockTrials: 262144, adversary: 'classical', eps: 1e-6 } as const;

describe('epqrng public API', () => {
  it('exports what the README documents, and nothing of the pipeline internals', () => {
    expect(Object.keys(api).sort()).toEqual([
      'CertificationRefusedError',
      'Device',
      'DeviceError',
      'EpqError',
      'ExitCode',
      'InputError',
      'UsageError',
      'certificateSchema',
      'fetchRandom',
      'isEpqError',
      'parseCertificateLine',
      'record',
      'replay',
      'verify',
    ]);
    expect(new api.DeviceError('X', 'x').exitCode).toBe(3);
    expect(new api.UsageError('x').exitCode).toBe(2);
    expect(new api.CertificationRefusedError('X', 'x').exitCode).toBe(1);
  });

  it('certified bytes come block by block with a certificate that covers them; a break stops the run', async () => {
    const device = await api.Device.open({ simulate: { seed: 3 } });
    expect(device.info.serial).toMatch(/^EPQ1-/);
    const blocks: api.CertifiedBlock[] = [];
    try {
      for await (const block of device.certifiedBytes({ ...SMALL, bytes: 1_000_000 })) {
        blocks.push(block);
        if (blocks.length === 2) break;
      }
    } finally {
      await device.close();
    }
    expect(blocks).toHaveLength(2);
    for (const [i, b] of blocks.entries()) {
      expect(api.certificateSchema.parse(b.certificate)).toEqual(b.certificate);
      expect(b.certificate.blockIndex).toBe(i);
      expect(b.certificate.outputBits / 8).toBe(b.bytes.length);
      expect(b.certificate.sLowerBound).toBeGreaterThan(2);
    }
  });

  it('await using: disposal mid-stream ends the run and closes the device', async () => {
    let taken = 0;
    {
      await using device = await api.Device.open({ simulate: { seed: 4 } });
      const it = device.certifiedBytes({ ...SMALL });
      const first = await it.next();
      taken = first.done ? 0 : first.value.bytes.length;
      // no return() on the iterator: disposal alone must stop the chip
    }
    expect(taken).toBeGreaterThan(0);
  });

  it('record, replay and verify as functions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-api-'));
    const rec = join(dir, 'run.epqrec');
    const seedFile = join(dir, 'seed.bin');
    writeFileSync(seedFile, new Uint8Array(3 * 262144).fill(0x5a));
    const line = await api.record(
      { simulate: { seed: 5 } },
      { out: rec, trials: 600_000, extractorSeedFile: seedFile },
    );
    expect(line).toMatch(/^recorded 600000 trials/);
    const certs: string[] = [];
    let bytes = 0;
    for await (const b of api.replay(rec, { ...SMALL, extractorSeedFile: seedFile })) {
      certs.push(b.line);
      bytes += b.bytes.length;
    }
    expect(certs).toHaveLength(2);
    const certsFile = join(dir, 'certs.jsonl');
    writeFileSync(certsFile, `${certs.join('\n')}\n`);
    expect(await api.verify(rec, { ...SMALL, certs: certsFile, extractorSeedFile: seedFile })).toEqual({ ok: true });
    writeFileSync(certsFile, `${certs.slice(0, 1).join('\n')}\n${certs[0]}\n`);
    const bad = await api.verify(rec, { ...SMALL, certs: certsFile, extractorSeedFile: seedFile });
    expect(bad).toEqual({ ok: false, mismatch: expect.stringMatching(/^verify: block 1/) });
    expect(bytes).toBeGreaterThan(0);
  });

  it('record and verify call src/record directly, with the errors of the commands (kind, exit code, message)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-api-'));
    const rec = join(dir, 'r.epqrec');
    const cases: [() => Promise<unknown>, string[]][] = [
      [
        () => api.record({ simulate: { seed: 5 } }, { out: rec, trials: -5 }),
        ['record', '--simulate=5', '--out', rec, '--trials', '-5'],
      ],
      [() => api.record({ simulate: { seed: 5 } }, { out: rec }), ['record', '--simulate=5', '--out', rec]],
      [
        () => api.verify(join(dir, 'none.epqrec'), { certs: join(dir, 'none.jsonl') }),
        ['verify', join(dir, 'none.epqrec'), '--certs', join(dir, 'none.jsonl')],
      ],
    ];
    for (const [call, argv] of cases) {
      const cli = await epqrngInProcess(...argv);
      const error = await call().then(
        () => undefined,
        (e: unknown) => e as api.EpqError,
      );
      expect(error).toBeInstanceOf(api.EpqError);
      expect(error!.exitCode).toBe(cli.code);
      expect(`epqrng: ${error!.message}\n`).toBe(cli.stderr);
    }
  });
});
