/**
 * A service over the in-process simulated chip (virtual clock: chip time
 * moves only as trials are read), listening on a free TCP port, with a
 * ledger of the certificate lines written and when.
 */
import { createHash } from 'node:crypto';
import { Device } from '../../src/device/index.ts';
import {
  createSimulatedPort,
  type ChipFaults,
  type ChipMode,
  type SimulatedPortHandle,
} from '../../src/simulator/index.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/extract/stream.ts';
import { parseCertificateLine, type Certificate } from '../../src/certify/index.ts';
import { EntropyService, listen, type EntropyServer, type ListenOptions } from '../../src/serve/index.ts';

export interface Harness {
  sim: SimulatedPortHandle;
  device: Device;
  service: EntropyService;
  server: EntropyServer;
  url: string;
  /** Certificates written (before their bytes entered the pool), by SHA-256. */
  written: Map<string, Certificate>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  seed?: number;
  mode?: ChipMode;
  blockTrials?: number;
  poolBytes?: number;
  maxConsecutiveRefused?: number;
  listen?: Omit<ListenOptions, 'tcp'>;
  /** Simulator fault injection (e.g. a hardware fault at some chip time). */
  faults?: ChipFaults;
  /** Don't start production (a test starts it). */
  idle?: boolean;
}

export const BLOCK_TRIALS = 2 ** 21;

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const sim = createSimulatedPort({
    seed: o.seed ?? 5,
    calibrated: true,
    mode: o.mode ?? 'honest',
    clock: 'virtual',
    ...(o.faults ? { faults: o.faults } : {}),
  });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  const blockTrials = o.blockTrials ?? BLOCK_TRIALS;
  const written = new Map<string, Certificate>();
  const service = new EntropyService(device, {
    pipeline: {
      seed: randomSeed(seedBitsForBlock(blockTrials)),
      blockTrials,
      ...(o.maxConsecutiveRefused !== undefined ? { maxConsecutiveRefused: o.maxConsecutiveRefused } : {}),
    },
    poolBytes: o.poolBytes ?? 64 * 1024,
    writeCertificate: async (line) => {
      await new Promise((r) => setImmediate(r)); // a write that takes a turn of the event loop, as a file's would
      written.set(createHash('sha256').update(line).digest('hex'), parseCertificateLine(line));
    },
  });
  const server = await listen(service, { ...o.listen, tcp: { host: '127.0.0.1', port: 0 } });
  if (!o.idle) service.start();
  const url = `http://127.0.0.1:${server.address!.port}`;
  return {
    sim,
    device,
    service,
    server,
    url,
    written,
    close: async () => {
      await server.close();
      await device.close();
    },
  };
}

/** Resolves once `cond()` holds (polled), or rejects after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
