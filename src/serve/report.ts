/**
 * What the service says about itself: the /status JSON and the /metrics
 * Prometheus text exposition (text format 0.0.4: `# HELP`, `# TYPE`, then
 * samples; counters end in `_total`, units in the name, base units: bytes,
 * seconds, bits).
 */
import type { EntropyService } from './service.ts';

/** The /status document. */
export function statusOf(s: EntropyService): Record<string, unknown> {
  const info = s.device.info;
  const last = s.history.filter((b) => b.ok).slice(-16);
  const c = s.counters;
  const upS = (Date.now() - s.startedAt) / 1000;
  const lastRefused = s.history.filter((b) => !b.ok).slice(-8);
  // The certify stage's health tests (SP 800-90B repetition count and adaptive proportion, settings uniformity,
  // STATUS faults): in how many finished blocks each passed and failed.
  const blocks = c.blocksCertified + c.blocksRefused;
  const health = ['rct', 'apt', 'settings', 'status'].map((test) => ({
    test,
    passedBlocks: blocks - (c.failedByTest[test] ?? 0),
    failedBlocks: c.failedByTest[test] ?? 0,
  }));
  return {
    device: { serial: info.serial, firmware: info.firmware.join('.'), model: info.model },
    state: s.state,
    failure: s.failure?.message ?? null,
    // serve --reconnect: the chip went away and the same one is waited for.
    waitingFor: s.waitingFor ?? null,
    message: s.waitingFor !== undefined ? `waiting for ${s.waitingFor}` : null,
    reconnects: s.counters.reconnects,
    trialsPerSecond: upS > 0 ? c.trials / upS : 0,
    trials: c.trials,
    lostTrials: c.lostTrials,
    bitsPerTrial: c.trials > 0 ? c.certifiedBits / c.trials : 0,
    lastBlocks: last.map((b) => ({
      seq: b.seq,
      blockIndex: b.blockIndex,
      sEstimate: b.sEstimate,
      sLowerBound: b.sLowerBound,
      bitsPerTrial: b.bitsPerTrial,
      sha256: b.sha256,
    })),
    blocksCertified: c.blocksCertified,
    blocksRefused: c.blocksRefused,
    refusedByTest: c.refusedByTest,
    lastRefused: lastRefused.map((b) => ({ blockIndex: b.blockIndex, test: b.test, reason: b.reason })),
    healthTests: health,
    pool: { level: s.pool.level, capacity: s.pool.capacity, waiting: s.pool.waiting },
    certifiedBytes: s.pool.certifiedBytes,
    servedBytes: s.pool.servedBytes,
    uptimeSeconds: upS,
  };
}

type Sample = [labels: Record<string, string>, value: number];
interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Sample[];
}

/** Label values escaped as the text format asks (backslash, double quote, newline). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function families(s: EntropyService): Family[] {
  const c = s.counters;
  const last = s.history.filter((b) => b.ok).at(-1);
  const links = s.linkErrors();
  const one = (v: number): Sample[] => [[{}, v]];
  return [
    { name: 'epqrng_trials_total', type: 'counter', help: 'Trials in finished blocks.', samples: one(c.trials) },
    {
      name: 'epqrng_lost_trials_total',
      type: 'counter',
      help: 'Trials lost in the chip or on the link, counted at worst case.',
      samples: one(c.lostTrials),
    },
    {
      name: 'epqrng_certified_bits_total',
      type: 'counter',
      help: 'Certified output bits.',
      samples: one(c.certifiedBits),
    },
    {
      name: 'epqrng_certified_blocks_total',
      type: 'counter',
      help: 'Blocks certified.',
      samples: one(c.blocksCertified),
    },
    {
      name: 'epqrng_refused_blocks_total',
      type: 'counter',
      help: 'Blocks refused, by the first test that failed.',
      samples: Object.entries(c.refusedByTest).map(([reason, n]): Sample => [{ reason }, n]),
    },
    { name: 'epqrng_served_bytes_total', type: 'counter', help: 'Bytes handed out.', samples: one(s.pool.servedBytes) },
    {
      name: 'epqrng_random_requests_total',
      type: 'counter',
      help: 'Requests for random bytes.',
      samples: one(c.requests),
    },
    { name: 'epqrng_pool_bytes', type: 'gauge', help: 'Certified bytes not yet served.', samples: one(s.pool.level) },
    {
      name: 'epqrng_pool_capacity_bytes',
      type: 'gauge',
      help: 'Pool level at which the chip is paused.',
      samples: one(s.pool.capacity),
    },
    {
      name: 'epqrng_chsh_s',
      type: 'gauge',
      help: 'CHSH S of the last certified block.',
      samples: one(last?.sEstimate ?? NaN),
    },
    {
      name: 'epqrng_chsh_s_lower_bound',
      type: 'gauge',
      help: 'Lower confidence bound on S of the last certified block.',
      samples: one(last?.sLowerBound ?? NaN),
    },
    {
      name: 'epqrng_link_errors_total',
      type: 'counter',
      help: 'Device frames lost, duplicated or invalid on the link.',
      samples: [
        [{ kind: 'lost' }, links.lost],
        [{ kind: 'duplicate' }, links.duplicate],
        [{ kind: 'invalid' }, links.invalid],
      ],
    },
    {
      name: 'epqrng_waiting_for_chip',
      type: 'gauge',
      help: 'Whether the chip went away and the same one is waited for (serve --reconnect): 1 or 0.',
      samples: one(s.state === 'waiting' ? 1 : 0),
    },
    {
      name: 'epqrng_reconnects_total',
      type: 'counter',
      help: 'Times the chip came back after going away.',
      samples: one(s.counters.reconnects),
    },
    {
      name: 'epqrng_up',
      type: 'gauge',
      help: 'Whether the service is producing certified bytes (1) or not (0).',
      samples: one(s.state === 'running' || s.state === 'paused' ? 1 : 0),
    },
  ];
}

/** The /metrics body. */
export function metricsOf(s: EntropyService): string {
  const out: string[] = [];
  for (const f of families(s)) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const [labels, v] of f.samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(x)}"`);
      out.push(`${f.name}${l.length ? `{${l.join(',')}}` : ''} ${formatValue(v)}`);
    }
  }
  return `${out.join('\n')}\n`;
}
