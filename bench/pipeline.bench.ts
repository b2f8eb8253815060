/**
 * The whole certified pipeline (issue 3 bench): decode, account, estimate,
 * bound, health, extract over an in-memory capture of a calibrated chip, at
 * the default settings (quantum adversary, eps 2^-64, blocks of 2^22
 * trials). Target >= 10 M trials/s on one core (aim 25 M), peak RSS under
 * 150 MB whatever the capture length: measured at two capture lengths, each
 * in its own process; the figure net of the capture is the pipeline's own.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Figure } from './run.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Child {
  blocks: number;
  trials: number;
  captureBytes: number;
  seconds: number;
  trialsPerSecond: number;
  bytesOut: number;
  maxRssBytes: number;
}

function measure(blocks: number): Child {
  const out = execFileSync(process.execPath, ['bin/run-ts.js', 'bench/lib/pipeline-child.ts', String(blocks)], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as Child;
}

export async function run(): Promise<Figure[]> {
  const MB = 2 ** 20;
  const figures: Figure[] = [];
  for (const blocks of [2, 8]) {
    const r = measure(blocks);
    const net = (r.maxRssBytes - r.captureBytes) / MB;
    figures.push(
      { name: `pipeline ${blocks} blocks (${(r.trials / 1e6).toFixed(1)} M trials): throughput`, value: r.trialsPerSecond, unit: 'trials/s', target: '>= 1e7 (aim 2.5e7)', ok: r.trialsPerSecond >= 1e7 },
      { name: `pipeline ${blocks} blocks: certified output`, value: r.bytesOut, unit: 'bytes' },
      { name: `pipeline ${blocks} blocks: peak RSS incl. ${(r.captureBytes / MB).toFixed(0)} MB capture`, value: r.maxRssBytes / MB, unit: 'MB' },
      { name: `pipeline ${blocks} blocks: peak RSS net of the capture`, value: net, unit: 'MB', target: '< 150', ok: net < 150 },
    );
  }
  return figures;
}
