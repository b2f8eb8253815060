/**
 * A session that ends when the device is lost: the link fails under a
 * recorded stream (reads fail as on an unplugged port), the host writes the
 * end record as `stream --record` does (SessionLedger), and the recording
 * verifies (exit 0, ending named, no --bytes) and replays to the delivered
 * bytes (exit 0), although the live session ended in a device error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BindingInterface, BindingPortInterface } from '../../src/serialport-types.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePort } from '../../src/cli/device-options.ts';
import { Device } from '../../src/device/index.ts';
import { DeviceError } from '../../src/errors.ts';
import { seedBitsForBlock } from '../../src/extract/stream.ts';
import { certifiedStream } from '../../src/output/certified-stream.ts';
import { SessionLedger } from '../../src/record/ending.ts';
import { SessionRecorder, seedReference } from '../../src/record/session.ts';
import { epqrngInProcess } from '../cli/run-cli.ts';

const BLOCK = 2 ** 18;
const CERT_OPTS = ['--block-trials', String(BLOCK), '--adversary', 'classical', '--eps', '1e-6'];
/** Device bytes before the unplug: about four blocks of trials (40 trials per 64-byte TRIALS frame). */
const UNPLUG_AFTER_BYTES = 4 * BLOCK * (64 / 40) + 12_345;

/** `inner` whose ports fail every read once `afterBytes` were read, as an unplugged USB port does. */
function unpluggable(inner: BindingInterface, afterBytes: number): BindingInterface {
  return {
    list: () => inner.list(),
    async open(options) {
      const port = await inner.open(options);
      let read = 0;
      return new Proxy(port, {
        get(target, key) {
          if (key === 'read')
            return async (buffer: Buffer, offset: number, length: number) => {
              if (read >= afterBytes) throw Object.assign(new Error('device unplugged'), { disconnected: true });
              const r = await target.read(buffer, offset, length);
              read += r.bytesRead;
              return r;
            };
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }) as BindingPortInterface;
    },
  };
}

let dir: string;
const files = { rec: '', out: '', certs: '', seed: '' };
let liveError: unknown;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'epq-lost-'));
  Object.assign(files, {
    rec: join(dir, 'lost.epqrec'),
    out: join(dir, 'lost.bin'),
    certs: join(dir, 'lost.certs'),
    seed: join(dir, 'seed.bin'),
  });
  const seed = Buffer.alloc(Math.ceil(seedBitsForBlock(BLOCK) / 8), 0x3c);
  writeFileSync(files.seed, seed);
  const port = await resolvePort({ kind: 'simulate', seed: 11, mode: 'honest', calibrated: true, faults: {} });
  const commandLine = ['stream', '--simulate=11', ...CERT_OPTS, '--extractor-seed', files.seed];
  const recorder = new SessionRecorder({
    out: files.rec,
    tool: 'stream',
    commandLine,
    extractorSeed: seedReference(seed, { source: files.seed }),
  });
  const device = await Device.open({
    path: port.path,
    binding: recorder.wrap(unpluggable(port.binding, UNPLUG_AFTER_BYTES)),
  });
  recorder.begin(device.info);
  const ledger = new SessionLedger();
  const out: Buffer[] = [];
  const certs: string[] = [];
  try {
    for await (const bytes of certifiedStream(device, {
      blockTrials: BLOCK,
      adversary: 'classical',
      eps: 1e-6,
      seed,
      onRun: ledger.onRun,
      onCertificate: (line) => {
        ledger.onCertificate(line);
        certs.push(line);
      },
    }))
      out.push(Buffer.from(bytes));
  } catch (e) {
    liveError = e;
  } finally {
    writeFileSync(files.out, Buffer.concat(out));
    writeFileSync(files.certs, certs.map((l) => `${l}\n`).join(''));
    await device.close().catch(() => undefined);
    const written = out.reduce((n, b) => n + b.length, 0);
    recorder.close(ledger.end({ wanted: Number.POSITIVE_INFINITY, written, error: liveError }));
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a recorded session whose device was lost', () => {
  it('ended live in a device error, after whole blocks', () => {
    expect(liveError).toBeInstanceOf(DeviceError);
    expect(readFileSync(files.certs, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
  });

  it('verifies without --bytes (exit 0), naming the ending', async () => {
    const v = await epqrngInProcess('verify', files.rec, '--certs', files.certs, '--output', files.out);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(
      /all match; session ended when the device was lost \(.*\): \d+ blocks \(\d+ bytes\) delivered/,
    );
  });

  it('replays to the delivered bytes and certificates (exit 0)', async () => {
    const out = join(dir, 'again.bin');
    const certs = join(dir, 'again.certs');
    const r = await epqrngInProcess('replay', files.rec, '--out', out, '--certs', certs);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(files.out))).toBe(true);
    expect(readFileSync(certs, 'utf8')).toBe(readFileSync(files.certs, 'utf8'));
  });

  it('fails verify (exit 1) after one edited output byte', async () => {
    const bad = readFileSync(files.out);
    bad[bad.length >> 1]! ^= 0x01;
    const path = join(dir, 'bad.bin');
    writeFileSync(path, bad);
    const v = await epqrngInProcess('verify', files.rec, '--certs', files.certs, '--output', path);
    expect(v.code, v.stdout).toBe(1);
  });
});
