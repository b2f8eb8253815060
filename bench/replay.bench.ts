/**
 * Replay from a file on disk (targets: >= 25 M trials/s wall, peak RSS
 * < 150 MB). Two inputs, each made once in a process of its own:
 *
 * - a `record` recording of TRIALS trials (a calibrated virtual-clock
 *   simulator session, both directions of the link);
 * - a raw capture of CAPTURE_TRIALS = 2e7 trials: the device-to-host bytes of
 *   another calibrated simulated chip from START to its limit, no recording
 *   magic (lib/capture-child.mjs), the input the acceptance names.
 *
 * Each replay runs in a fresh child process from the compiled package
 * (dist/, plain node), so its peak RSS is its own:
 *
 * - main-thread stages (lib/replay-child.mjs, blocks of 2^20 trials), file ->
 *   certified blocks: "capture" (reader -> runEventsFromBytes -> certifyRun,
 *   the raw-capture path, also run over the recording's device bytes) and
 *   "device" (replay binding -> Device with record's host logic, every
 *   command checked -> certifyRun, the recording path); what the hash
 *   workers leave to the main thread;
 * - the CLI as shipped (lib/shipped.ts): `epqrng replay FILE --out
 *   /dev/null`, default options (blocks of 2^22, extraction included),
 *   whole process: trials/s wall, trials per CPU second (every thread of the
 *   process, from /proc), peak RSS (VmHWM).
 *
 * Rates are best of RUNS (the machine is shared: the best run is the one
 * least slowed by others); peak RSS is the worst of RUNS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure } from './run.ts';
import { runShipped } from './lib/shipped.ts';

export const TRIALS = 2 ** 24;
/** The raw capture the acceptance names: 2e7 trials (4 whole blocks of 2^22 and a part block). */
export const CAPTURE_TRIALS = 20_000_000;
/** Fresh child processes per mode; the fastest counts, the largest peak RSS counts. */
const RUNS = 3;
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

interface ChildResult {
  trials: number;
  seconds: number;
  /** CPU time (user + system) of the measured part: what a shared machine's other load does not inflate as much. */
  cpuSeconds: number;
  maxRssMB: number;
  blocks: number;
}

/** Records a calibrated simulator session of TRIALS trials (virtual clock) to `file`. */
export async function makeRecording(file: string): Promise<void> {
  const { createSimulatedPort } = await import('../src/simulator/index.ts');
  const { Device } = await import('../src/device/index.ts');
  const { SessionRecorder } = await import('../src/record/session.ts');
  const { trialRun } = await import('../src/record/trial-run.ts');
  const sim = createSimulatedPort({ seed: 5, calibrated: true, clock: 'virtual' });
  const commandLine = ['record', '--simulate=5', '--trials', String(TRIALS), '--out', file];
  const recorder = new SessionRecorder({
    out: file,
    tool: 'record',
    commandLine,
    chipClockUs: () => Math.round(sim.chip.clockMs * 1000),
  });
  const device = await Device.open({ path: sim.path, binding: recorder.wrap(sim.binding) });
  recorder.begin(device.info);
  const session = trialRun(device, { limitTrials: TRIALS, rateTrialsPerS: 0 });
  while (!(await session.next()).done) {
    // drain
  }
  await device.close();
  recorder.close();
}

interface Sample {
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
}

/** Best wall time of RUNS samples (with that run's CPU time) and the worst peak RSS of them. */
function bestOf(samples: Sample[]): Sample {
  const best = samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { ...best, peakRssMB: Math.max(...samples.map((r) => r.peakRssMB)) };
}

function runChild(mode: string, file: string): ChildResult {
  const r = spawnSync(process.execPath, [join(here, 'lib', 'replay-child.mjs'), mode, file], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`replay bench child (${mode}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** Rate, rate per CPU second and peak RSS of `trials` trials in `s`, named `what`. */
function rateFigures(what: string, trials: number, s: Sample, runsNote: string): Figure[] {
  const rate = trials / s.seconds;
  return [
    {
      name: `${what}: rate`,
      value: rate,
      unit: `trials/s wall (best of ${RUNS}${runsNote})`,
      target: '>= 2.5e7',
      ok: rate >= 25e6,
    },
    { name: `${what}: per CPU second`, value: trials / s.cpuSeconds, unit: 'trials/CPU-s (same run)' },
    {
      name: `${what}: peak RSS`,
      value: s.peakRssMB,
      unit: `MB (VmHWM, worst of ${RUNS})`,
      target: '< 150',
      ok: s.peakRssMB < 150,
    },
  ];
}

/** The main-thread stages in a child process (file -> certified blocks), `mode` over `file` of `trials` trials. */
function stageFigures(label: string, mode: string, file: string, trials: number): Figure[] {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = runChild(mode, file);
    if (r.trials !== trials) throw new Error(`replay bench child (${mode}) saw ${r.trials} trials, expected ${trials}`);
    samples.push({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakRssMB: r.maxRssMB });
  }
  return rateFigures(`replay main thread, ${label}`, trials, bestOf(samples), '');
}

/** `epqrng replay FILE --out /dev/null` as shipped, the whole process timed. */
async function shippedFigures(label: string, file: string, trials: number): Promise<Figure[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runShipped(['replay', file, '--out', '/dev/null']);
    if (r.code !== 0) throw new Error(`epqrng replay ${label} exited ${r.code}: ${r.stderr}`);
    samples.push(r);
  }
  return rateFigures(`epqrng replay ${label} (shipped)`, trials, bestOf(samples), ', whole process');
}

export async function run(): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'epq-replay-bench-'));
  const file = join(dir, 'bench.epqrec');
  const capture = join(dir, 'capture.bin');
  try {
    await makeRecording(file);
    execFileSync(process.execPath, [join(here, 'lib', 'capture-child.mjs'), String(CAPTURE_TRIALS), capture], {
      cwd: root,
      stdio: 'inherit',
    });
    const figures: Figure[] = [
      { name: 'replay: load average (1 min) at the start', value: loadavg()[0]!, unit: '' },
      { name: 'replay: recording size on disk', value: statSync(file).size / 1e6, unit: `MB (${TRIALS} trials)` },
      {
        name: 'replay: raw capture size on disk',
        value: statSync(capture).size / 1e6,
        unit: `MB (${CAPTURE_TRIALS} trials)`,
      },
      ...stageFigures('raw capture', 'capture', capture, CAPTURE_TRIALS),
      ...stageFigures('recording as capture', 'capture', file, TRIALS),
      ...stageFigures('recording as device', 'device', file, TRIALS),
      ...(await shippedFigures('raw capture', capture, CAPTURE_TRIALS)),
      ...(await shippedFigures('recording', file, TRIALS)),
    ];
    figures.push({ name: 'replay: load average (1 min) at the end', value: loadavg()[0]!, unit: '' });
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
