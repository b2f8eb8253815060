/**
 * Certified yield per bound (bits per trial of output) on the simulated chip,
 * calibrated, eps = 2^-64: the chip's behaviour is measured over 2^21 trials
 * (its 16 frequencies and S), then each bound is evaluated on a block with
 * exactly the expected counts n p(x,y) q(a,b|x,y) at n = 2^20, 2^22 and 10^8
 * (what a typical block of that size certifies, without its fluctuation).
 * Probability estimation designs its PEF as the certifier does from a
 * previous block: at the symmetric behaviour of the measured S (rounded
 * down to 0.005). The same figures for the symmetric behaviour at S = 2.43
 * exactly (the reference chip), then the smallest block with a
 * positive net gain for spot-checking at gamma = 0.01, 0.015 and 0.02, S = 2.4,
 * and the trials to the first certified bytes with --target-bits 512.
 */
import type { Figure } from './run.ts';
import { encodeFrame } from '../src/protocol/encode.ts';
import { FrameSync } from '../src/protocol/sync.ts';
import { SimulatedChip } from '../src/simulator/chip.ts';
import { countsFromHistogram } from '../src/certify/outcomes.ts';
import { estimateFromCounts } from '../src/certify/estimate.ts';
import { BOUNDS, certifyBlockBound } from '../src/certify/bounds/registry.ts';
import { PefPlanner, probabilityEstimationBound } from '../src/certify/bounds/probability-estimation.ts';
import { behaviourOfCounts } from '../src/certify/bounds/probability-estimation.ts';
import { minNetGainBlockTrials } from '../src/certify/spot-check.ts';
import type { Bound } from '../src/certify/bounds/bound.ts';
import { behaviourOfS } from '../src/certify/pef/model.ts';
import { Certifier } from '../src/certify/certifier.ts';
import type { RunEvent } from '../src/device/run.ts';

const EPS = 2 ** -64;
const SIZES: Array<[string, number]> = [
  ['2^20', 2 ** 20],
  ['2^22', 2 ** 22],
  ['10^8', 1e8],
];
/** Acceptance targets (bits/trial), by bound family and size. */
const TARGETS: Record<string, Record<string, number>> = {
  classical: { '2^20': 0.38, '2^22': 0.4 },
  quantum: { '2^20': 0.1, '2^22': 0.25 },
};

function chipCounts(trials: number): number[] {
  const chip = new SimulatedChip({ seed: 11, calibrated: true, mode: 'honest' });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: 0 }));
  const sync = new FrameSync({ accept: 'device' });
  const hist = new Uint32Array(64);
  let seen = 0;
  while (seen < trials) {
    for (const f of sync.push(chip.read(65536))) {
      if (f.kind !== 'TRIALS') continue;
      for (let i = 0; i < f.n; i++)
        hist[(f.records[i] as number) & 63] = (hist[(f.records[i] as number) & 63] ?? 0) + 1;
      seen += f.n;
    }
  }
  return countsFromHistogram(hist);
}

/** Figures of every bound at the three block sizes for a chip with behaviour q and CHSH value s. */
function yields(chip: string, q: Float64Array, s: number, targets: boolean): Figure[] {
  const figures: Figure[] = [];
  for (const [label, n] of SIZES) {
    const counts = Array.from(q, (p) => (n * p) / 4);
    const stats = { trials: n, sEstimate: s, testRate: 1, counts, lostTrials: 0, blockIndex: 1 };
    const planner = new PefPlanner(n, EPS);
    planner.observe(0, s);
    const pef = probabilityEstimationBound(planner);
    const rows: Array<[string, Bound[], 'classical' | 'quantum']> = [
      ['classical, Pironio-Massar', BOUNDS.filter((b) => b.name === 'pironio-massar'), 'classical'],
      ['classical, probability estimation', [pef], 'classical'],
      ['quantum, ADFRV EAT', BOUNDS.filter((b) => b.name === 'adfrv-eat'), 'quantum'],
      ['quantum, Dupuis-Fawzi (gamma = 1)', BOUNDS.filter((b) => b.name === 'dupuis-fawzi'), 'quantum'],
    ];
    for (const [name, bounds, adversary] of rows) {
      const b = certifyBlockBound(stats, EPS, adversary, bounds);
      const target =
        !targets || name.includes('Pironio') || name.includes('ADFRV') ? undefined : TARGETS[adversary]?.[label];
      const value = b.outputBits / n;
      figures.push({
        name: `yield ${chip}: ${name}, ${label}`,
        value,
        unit: 'bit/trial',
        ...(target === undefined ? {} : { target: `>= ${target}`, ok: value >= target }),
      });
    }
  }
  return figures;
}

/**
 * Early stopping on the calibrated simulated chip: the trials until the first
 * certified bytes with --target-bits 512 (classical, probability estimation,
 * blocks of at most 2^22), as the certifier sees the chip's TRIALS frames.
 */
function firstBytesTrials(targetBits: number, seed: number): number {
  const chip = new SimulatedChip({ seed, calibrated: true, mode: 'honest' });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: 0 }));
  const sync = new FrameSync({ accept: 'device' });
  const certifier = new Certifier({
    device: { serial: 'EPQ1-BENCH', firmware: '1.0.0' },
    adversary: 'classical',
    classicalBound: 'pef',
    targetBits,
  });
  for (let read = 0; read < 2 ** 30; ) {
    const events: RunEvent[] = [];
    for (const f of sync.push(chip.read(65536))) {
      if (f.kind !== 'TRIALS') continue;
      events.push({ kind: 'trials', first: f.first, n: f.n, records: f.records, flags: f.flags, seq: f.seq });
      read += f.n;
    }
    const done = certifier.push(events).find((r) => r.ok);
    if (done?.ok) return done.draft.trialRange.first + done.draft.trialRange.count;
  }
  return Infinity;
}

export async function run(): Promise<Figure[]> {
  const measured = chipCounts(2 ** 21);
  const q = behaviourOfCounts(measured);
  if (!q) throw new Error('a setting pair never occurred');
  const s = estimateFromCounts(measured, 0).sEstimate;
  const figures: Figure[] = [{ name: 'yield: simulated chip S (2^21 trials)', value: s, unit: '' }];
  figures.push(...yields('sim', q, s, true));
  figures.push(...yields('S=2.43', behaviourOfS(2.43), 2.43, true));
  // the test rate is the host's choice: the smallest net-gain block at a few of them
  for (const gamma of [0.01, 0.015, 0.02]) {
    figures.push({
      name: `yield: smallest net-gain block, spot-checking gamma ${gamma}, S 2.4`,
      value: minNetGainBlockTrials(2.4, gamma, EPS),
      unit: 'trials',
    });
  }
  for (const seed of [11, 12, 13]) {
    const value = firstBytesTrials(512, seed);
    figures.push({
      name: `yield: trials to the first certified bytes, --target-bits 512, classical, simulated chip seed ${seed}`,
      value,
      unit: 'trials',
      target: '<= 262144',
      ok: value <= 2 ** 18,
    });
  }
  return figures;
}
