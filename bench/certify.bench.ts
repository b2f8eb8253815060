/**
 * Certify throughput (issue 3 bench): trials/s of Certifier.push over an
 * in-memory array of RunEvent batches (TRIALS events of 40 records, 4096 per
 * batch, as a replay delivers them), default options (quantum, eps 2^-64,
 * blocks of 2^22 trials), no extraction. One core; best of 3 passes after a
 * warm-up pass.
 */
import type { Figure } from './run.ts';
import type { RunEvent } from '../src/device/run.ts';
import { Certifier } from '../src/certify/certifier.ts';

function records(n: number, seed: number): Uint8Array {
  // mulberry32; S = 2.4 device: E_xy = (0.6, 0.6, 0.6, -0.6), uniform settings and marginals.
  let s = seed >>> 0;
  const r = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const x = r() < 0.5 ? 1 : 0;
    const y = r() < 0.5 ? 1 : 0;
    const a = r() < 0.5 ? 1 : 0;
    const e = x & y ? -0.6 : 0.6;
    const b = r() < (1 + e) / 2 ? a : 1 - a;
    out[i] = (x << 5) | (y << 4) | (a ? 0x08 : 0x04) | (b ? 0x02 : 0x01);
  }
  return out;
}

function batches(recs: Uint8Array): RunEvent[][] {
  const out: RunEvent[][] = [];
  let batch: RunEvent[] = [];
  for (let i = 0, seq = 0; i < recs.length; i += 40, seq++) {
    const n = Math.min(40, recs.length - i);
    batch.push({ kind: 'trials', first: i, n, records: recs.subarray(i, i + n), flags: 0, seq });
    if (batch.length === 4096) {
      out.push(batch);
      batch = [];
    }
  }
  if (batch.length) out.push(batch);
  return out;
}

export async function run(): Promise<Figure[]> {
  const trials = 4 * 2 ** 22; // four default blocks
  const input = batches(records(trials, 2024));
  const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
  let best = 0;
  let certifiedBits = 0;
  for (let pass = 0; pass < 4; pass++) {
    const c = new Certifier({ device });
    const t0 = process.hrtime.bigint();
    for (const b of input) c.push(b);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    certifiedBits = c.stats.certifiedBits;
    if (pass > 0) best = Math.max(best, trials / seconds);
  }
  return [
    {
      name: 'certify throughput (account, estimate, health, bound)',
      value: best,
      unit: 'trials/s',
      target: '>= 1e7 (aim 2.5e7)',
      ok: best >= 1e7,
    },
    { name: 'certified bits per trial, S = 2.4, defaults', value: certifiedBits / trials, unit: 'bits/trial' },
  ];
}
