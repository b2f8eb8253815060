/**
 * Host-supplied settings (issue 6 acceptance, the figures):
 * - host mode over a pseudo-terminal (the chip served by `epqrng simulate
 *   --pty`, i.e. servePty, in its own process as a real chip runs beside the
 *   host; serialport's native binding on the host side) at 1 M trials/s for
 *   10^7 trials: echo mismatches, starved intervals after start-up, trial
 *   rate against the chip's (feeder + echo check + certification, blocks of
 *   2^20 trials that certify nothing, so no extraction runs);
 * - the same with the whole pipeline (certifiedStream: blocks of 2^22 that
 *   certify and are Toeplitz-extracted on the event loop) for 10^7 trials;
 * - spot-checking at gamma = 0.01: setting bits per trial measured over
 *   10^7 trials (target h(gamma) + 2 gamma + 0.01), and the settings draw rate;
 * - the smallest block with positive net gain at gamma = 0.01, S = 2.4, and
 *   a real spot-checking run at that block size (in-process calibrated
 *   simulator, virtual clock, host settings, gamma = 0.01): its certificate's
 *   net gain, from the certifier and the extractor as `epqrng stream` runs
 *   them.
 */
import type { Figure } from './run.ts';
import { Device } from '../src/device/index.ts';
import { Fault } from '../src/protocol/types.ts';
import { binaryEntropy } from '../src/certify/bounds.ts';
import { SettingsLedger } from '../src/certify/echo.ts';
import { minNetGainBlockTrials } from '../src/certify/spot-check.ts';
import { randomSeed } from '../src/extract/index.ts';
import { seedBitsForBlock } from '../src/output/config.ts';
import { certifiedStream, type StreamProgress } from '../src/output/certified-stream.ts';
import { CsprngSource, SettingsDraw, testRateFraction } from '../src/output/host-settings.ts';
import { createSimulatedPort } from '../src/simulator/index.ts';
import type { Certificate } from '../src/certify/index.ts';
import { spawnChip } from '../test/host/chip-process.ts';
import { measureHostRun } from '../test/host/host-run.ts';

const TRIALS = 10_000_000;

async function hostModeFigures(): Promise<Figure[]> {
  const chip = await spawnChip(['--seed', '21']);
  try {
    const device = await Device.open({ path: chip.path });
    try {
      const rate = device.info.maxTrialRate;
      const m = await measureHostRun(device, { trials: TRIALS });
      const mismatches = m.echoMismatch === null ? 0 : 1;
      const share = m.trialsPerSecond / rate;
      return [
        {
          name: 'host mode, PTY, 1e7 trials: trials received',
          value: m.trials,
          unit: 'trials',
          target: '= 1e7',
          ok: m.trials === TRIALS && m.lostTrials === 0,
        },
        { name: 'host mode, PTY: echo mismatches', value: mismatches, unit: '', target: '= 0', ok: mismatches === 0 },
        {
          name: 'host mode, PTY: starved intervals after start-up (RESUMED)',
          value: m.resumedAfterStart,
          unit: '',
          target: '= 0',
          ok: m.resumedAfterStart === 0,
        },
        {
          name: 'host mode, PTY: STATUS with SETTINGS_STARVED after the first',
          value: m.starvedStatusAfterFirst,
          unit: 'frames',
        },
        {
          name: 'host mode, PTY: trial rate / chip rate',
          value: 100 * share,
          unit: '%',
          target: '>= 95',
          ok: share >= 0.95,
        },
      ];
    } finally {
      await device.close();
    }
  } finally {
    await chip.close();
  }
}

async function fullPipelineFigures(): Promise<Figure[]> {
  const chip = await spawnChip(['--seed', '22']);
  try {
    const device = await Device.open({ path: chip.path });
    let starvedStatus = 0;
    let statuses = 0;
    device.on('status', (s: { faults: number }) => {
      if (statuses++ > 0 && (s.faults & Fault.SETTINGS_STARVED) !== 0) starvedStatus++;
    });
    const blockTrials = 2 ** 22;
    let last: StreamProgress | undefined;
    const t0 = performance.now();
    try {
      for await (const _ of certifiedStream(device, {
        seed: randomSeed(seedBitsForBlock(blockTrials)),
        blockTrials,
        hostSettings: {},
        maxConsecutiveRefused: 1000,
        onProgress: (p) => {
          last = { ...p };
        },
      })) {
        if (last && last.trials >= TRIALS - blockTrials) break;
      }
    } finally {
      await device.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    const p = last!;
    return [
      {
        name: 'full pipeline host mode, PTY: certified blocks',
        value: p.blocksPassed,
        unit: `of ${p.blocksPassed + p.blocksFailed}`,
      },
      { name: 'full pipeline host mode: RESUMED frames incl. start-up', value: p.resumedFrames, unit: '' },
      {
        name: 'full pipeline host mode: STATUS with SETTINGS_STARVED after first',
        value: starvedStatus,
        unit: 'frames',
      },
      { name: 'full pipeline host mode: trials / wall time', value: p.trials / seconds, unit: 'trials/s' },
      { name: 'full pipeline host mode: run net gain (seed charged once)', value: p.netGainBits, unit: 'bits' },
    ];
  } finally {
    await chip.close();
  }
}

function spotCheckFigures(): Figure[] {
  const gamma = 0.01;
  const figures: Figure[] = [];
  for (const rate of ['0.01', '1'] as const) {
    const source = new CsprngSource();
    const draw = new SettingsDraw(source, testRateFraction(rate));
    const ledger = new SettingsLedger(draw.plan);
    const out = new Uint8Array(65536);
    const t0 = performance.now();
    for (let k = 0; k < TRIALS; k += out.length) draw.draw(out, Math.min(out.length, TRIALS - k), ledger, 2 ** 22);
    const seconds = (performance.now() - t0) / 1000;
    if (rate === '0.01') {
      const perTrial = source.bitsConsumed / TRIALS;
      const target = binaryEntropy(gamma) + 2 * gamma + 0.01;
      figures.push({
        name: 'spot-checking gamma = 0.01: setting bits per trial (1e7)',
        value: perTrial,
        unit: 'bits',
        target: `<= ${target.toFixed(4)}`,
        ok: perTrial <= target,
      });
      figures.push({
        name: 'spot-checking gamma = 0.01: h(gamma) + 2 gamma',
        value: binaryEntropy(gamma) + 2 * gamma,
        unit: 'bits',
      });
    }
    figures.push({ name: `settings draw rate, gamma = ${rate}`, value: TRIALS / seconds, unit: 'trials/s' });
  }
  const n = minNetGainBlockTrials(2.4, gamma, 2 ** -64);
  figures.push({ name: 'smallest net-gain block, gamma 0.01, S 2.4, eps 2^-64', value: n, unit: 'trials' });
  return figures;
}

/**
 * A real block at the documented smallest net-gain size: `epqrng stream
 * --simulate --settings host --test-rate 0.01 --block-trials N --bytes 1`,
 * in process (the chip on the virtual clock, so the run takes the host's
 * time, not 109 s of chip time). The first certified block's certificate.
 */
async function netGainRunFigures(): Promise<Figure[]> {
  const gamma = 0.01;
  const blockTrials = minNetGainBlockTrials(2.4, gamma, 2 ** -64);
  const sim = createSimulatedPort({ seed: 6, calibrated: true, clock: 'virtual' });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  let cert: Certificate | undefined;
  let refused = 0;
  const t0 = performance.now();
  try {
    for await (const _ of certifiedStream(device, {
      seed: randomSeed(seedBitsForBlock(blockTrials)),
      blockTrials,
      bytes: 1,
      hostSettings: { testRate: '0.01' },
      maxConsecutiveRefused: 1,
      onCertificate: (_line, b) => {
        cert ??= b.certificate;
      },
      onRefused: () => {
        refused++;
      },
    })) {
      // the first certified byte ends the run
    }
  } finally {
    await device.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = cert!;
  const a = c.accounting!;
  return [
    {
      name: 'spot-check run at that size (gamma 0.01, sim seed 6): trials in the block',
      value: c.trialRange.count,
      unit: 'trials',
    },
    {
      name: 'spot-check run: S estimate / lower bound',
      value: c.sEstimate,
      unit: `(lower ${c.sLowerBound.toFixed(4)})`,
    },
    {
      name: 'spot-check run: bound used',
      value: c.bound.startsWith('Dupuis-Fawzi') ? 1 : 0,
      unit: c.bound.slice(0, 24),
    },
    { name: 'spot-check run: certified bits', value: a.certifiedBits, unit: 'bits' },
    {
      name: 'spot-check run: setting bits drawn',
      value: a.settingBits,
      unit: `bits (${(a.settingBits / c.trialRange.count).toFixed(4)} per trial)`,
    },
    {
      name: 'spot-check run: block net gain (certificate)',
      value: a.netGainBits,
      unit: 'bits',
      target: '> 0',
      ok: a.netGainBits > 0,
    },
    {
      name: 'spot-check run: run net gain, extractor seed charged once',
      value: a.run.netGainBits,
      unit: `bits (seed ${a.extractorSeedBits} bits, reused by every later block)`,
    },
    { name: 'spot-check run: refused blocks before it', value: refused, unit: '' },
    { name: 'spot-check run: wall time (simulate, certify, extract)', value: seconds, unit: 's' },
  ];
}

export async function run(): Promise<Figure[]> {
  return [
    ...spotCheckFigures(),
    ...(await netGainRunFigures()),
    ...(await hostModeFigures()),
    ...(await fullPipelineFigures()),
  ];
}
