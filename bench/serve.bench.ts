/**
 * `epqrng serve` (the service's figures):
 * - the chip's certified rate: one default block (2^22 trials) of the
 *   calibrated simulator through the real pipeline gives the certified bits
 *   per trial; at 1 M trials/s that is the byte rate the service must keep up with;
 * - the HTTP path alone: the service fed certified blocks as fast as it takes
 *   them (a stand-in source, so the chip is not the limit), 16 keep-alive
 *   clients in this same process asking for 4 KiB each for 3 s: requests/s,
 *   MB/s, latency p50/p99. The clients share the process and its core with
 *   the server, so these are lower bounds for the service.
 */
import { randomBytes, createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Figure } from './run.ts';
import { Device } from '../src/device/index.ts';
import { randomSeed } from '../src/extract/index.ts';
import { seedBitsForBlock } from '../src/output/config.ts';
import { DEFAULT_BLOCK_TRIALS, type Certificate } from '../src/certify/index.ts';
import { createSimulatedPort } from '../src/simulator/index.ts';
import { certifiedBlocks, EntropyService, listen, type CertifiedChunk } from '../src/serve/index.ts';

async function chipBitsPerTrial(): Promise<number> {
  const sim = createSimulatedPort({ seed: 3, calibrated: true, clock: 'virtual' });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  try {
    for await (const b of certifiedBlocks(device, { seed: randomSeed(seedBitsForBlock(DEFAULT_BLOCK_TRIALS)) }))
      return b.certificate.outputBits / b.certificate.trialRange.count;
    return 0;
  } finally {
    await device.close();
  }
}

/** Certified-looking blocks of 256 KiB, as fast as they are taken (the HTTP path's figures, not the pipeline's). */
async function* standIn(): AsyncGenerator<CertifiedChunk> {
  for (let i = 0; ; i++) {
    const bytes = randomBytes(256 * 1024);
    const line = JSON.stringify({ standIn: i });
    const certificate = {
      blockIndex: i,
      trialRange: { first: 0, count: 1 << 22 },
      lostTrials: { total: 0 },
      sEstimate: 2.4,
      sLowerBound: 2.37,
      outputBits: bytes.length * 8,
    } as unknown as Certificate;
    yield { line, sha256: createHash('sha256').update(line).digest('hex'), certificate, bytes };
  }
}

function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function httpFigures(): Promise<{ rps: number; mbps: number; p50: number; p99: number }> {
  const device = {
    info: { serial: 'BENCH', firmware: [1, 0, 3], model: 'EPQ-1' },
    stats: { linkLostFrames: 0, duplicateFrames: 0, invalidFrames: 0 },
  } as unknown as Device;
  const service = new EntropyService(device, {
    pipeline: { seed: new Uint8Array(0) },
    poolBytes: 16 << 20,
    source: standIn,
  });
  service.start();
  const server = await listen(service, { tcp: { host: '127.0.0.1', port: 0 } });
  const port = server.address!.port;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const latencies: number[] = [];
  let bytes = 0;
  const end = performance.now() + 3000;
  const client = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      // Not `bytes += await ...`: that would read bytes before the await and lose the other clients' updates.
      const n = await get(agent, port, '/random?bytes=4096&wait=5');
      bytes += n;
      latencies.push(performance.now() - t0);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 16 }, client));
  const s = (performance.now() - started) / 1000;
  agent.destroy();
  await server.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { rps: latencies.length / s, mbps: bytes / s / 1e6, p50: q(0.5), p99: q(0.99) };
}

export async function run(): Promise<Figure[]> {
  const bitsPerTrial = await chipBitsPerTrial();
  const chipBytesPerS = (1e6 * bitsPerTrial) / 8;
  const h = await httpFigures();
  return [
    { name: 'serve: chip certified rate at 1 M trials/s (2^22 blocks)', value: chipBytesPerS, unit: 'B/s' },
    { name: 'serve: 4 KiB requests, 16 keep-alive clients', value: h.rps, unit: 'requests/s' },
    {
      name: 'serve: 4 KiB requests, bytes served',
      value: h.mbps,
      unit: 'MB/s',
      target: `>= the chip's ${(chipBytesPerS / 1e6).toFixed(4)} MB/s`,
      ok: h.mbps * 1e6 >= chipBytesPerS,
    },
    { name: 'serve: 4 KiB request latency p50', value: h.p50, unit: 'ms' },
    { name: 'serve: 4 KiB request latency p99', value: h.p99, unit: 'ms' },
  ];
}
