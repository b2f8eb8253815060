/**
 * The service's side of `serve --reconnect`, with stand-in chips and a
 * stand-in block source (no PTY): the chip going away sets state 'waiting'
 * (waitingFor its serial) while the pool is still served; the chip that
 * comes back is the one produced from; its first block continues the chain
 * from the last line written and carries the reconnect (trials dropped: those
 * received after the last finished block); link-error counters never go
 * back; an error that is not the chip going away still ends production;
 * a wait that ends without the chip fails the service.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certify/index.ts';
import type { Device, Run } from '../../src/device/index.ts';
import { DeviceError } from '../../src/errors.ts';
import {
  EntropyService,
  type BlockSourceOptions,
  type ChipReturn,
  type CertifiedChunk,
} from '../../src/serve/index.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function chip(name: string, linkLostFrames: number) {
  const c = {
    closed: 0,
    info: { serial: 'EPQ1-0000BEEF', firmware: [1, 0, 3], model: 'EPQ-1' },
    stats: { linkLostFrames, duplicateFrames: 0, invalidFrames: 0 },
    close: async () => {
      c.closed++;
    },
    name,
  };
  return c;
}

/** Each call is one chip run: `blocks` blocks of 100 bytes, then (if `fail`) that error, with 7 trials received past them. */
function source(plan: { blocks: number; fail?: Error }[], calls: { device: string; opts: BlockSourceOptions }[]) {
  let i = 0;
  return async function* (device: Device, opts: BlockSourceOptions): AsyncGenerator<CertifiedChunk> {
    calls.push({ device: (device as unknown as { name: string }).name, opts });
    const step = plan[calls.length - 1] ?? { blocks: 1000 };
    const run = { stats: { trials: 0 }, stop: async () => undefined } as unknown as Run;
    opts.onRun?.(run);
    for (let b = 0; b < step.blocks; b++) {
      const line = JSON.stringify({ block: i++ });
      (run.stats as { trials: number }).trials += 10;
      opts.onProgress?.({ trials: 10 * (b + 1), lostTrials: 0, certifiedBits: 800 * (b + 1) } as never);
      await new Promise((r) => setImmediate(r));
      const certificate = { blockIndex: b, trialRange: { count: 10 }, lostTrials: { total: 0 }, outputBits: 800 };
      yield { line, sha256: sha(line), certificate: certificate as unknown as Certificate, bytes: new Uint8Array(100) };
    }
    (run.stats as { trials: number }).trials += 7; // the unfinished block
    if (step.fail) throw step.fail;
  };
}

const gone = () => new DeviceError('DISCONNECTED', 'device at /dev/x disconnected: the other end hung up');

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('EntropyService with reconnect', () => {
  it('waits for the same chip, serving the pool; resumes on it with the chain continued and the reconnect recorded', async () => {
    const first = chip('first', 5);
    const second = chip('second', 2);
    let letBack!: (d: Device | undefined) => void;
    const waited: string[] = [];
    const reconnect: ChipReturn = {
      isDisconnect: (e) => e instanceof DeviceError && e.code === 'DISCONNECTED',
      wait: (serial) => {
        waited.push(serial);
        return new Promise((r) => (letBack = r));
      },
    };
    const calls: { device: string; opts: BlockSourceOptions }[] = [];
    const lines: string[] = [];
    const s = new EntropyService(first as unknown as Device, {
      pipeline: { seed: new Uint8Array(0) },
      poolBytes: 1_000_000,
      reconnect,
      source: source([{ blocks: 2, fail: gone() }, { blocks: 2 }], calls),
      writeCertificate: async (l) => {
        lines.push(l);
      },
    });
    const states: unknown[] = [];
    s.on('event', (e) => e.type === 'state' && states.push(e.data));
    s.start();
    await until(() => s.state === 'waiting');
    expect(first.closed).toBe(1); // the port is free to open again
    expect(waited).toEqual(['EPQ1-0000BEEF']);
    expect(s.waitingFor).toBe('EPQ1-0000BEEF');
    expect(states.at(-1)).toEqual({ state: 'waiting', failure: null, waitingFor: 'EPQ1-0000BEEF' });
    expect(s.linkErrors().lost).toBe(5);
    // The pool is served meanwhile, then nothing (a request without wait gets nothing at once).
    expect((await s.take(200, 0))!.bytes.length).toBe(200);
    expect(await s.take(1, 0)).toBeUndefined();

    letBack(second as unknown as Device);
    await until(() => lines.length >= 4);
    expect(s.device).toBe(second);
    expect(s.waitingFor).toBeUndefined();
    expect(s.counters.reconnects).toBe(1);
    expect(s.linkErrors().lost).toBe(7); // 5 + 2: a counter never goes back
    expect(calls.map((c) => c.device).slice(0, 2)).toEqual(['first', 'second']);
    expect(calls[0]!.opts.prevCertificateSha256).toBeUndefined();
    expect(calls[0]!.opts.reconnect).toBeUndefined();
    expect(calls[1]!.opts.prevCertificateSha256).toBe(sha(lines[1]!));
    expect(calls[1]!.opts.reconnect).toMatchObject({ trialsDropped: 7, previousRuns: 1 });
    expect(Number.isNaN(Date.parse(calls[1]!.opts.reconnect!.at))).toBe(false);
    await s.stop();
    expect(second.closed).toBe(1); // the chip it opened is its own to close
    expect(first.closed).toBe(1);
  });

  it('an error that is not the chip going away ends production; so does a wait that ends without the chip', async () => {
    const reconnect = (wait: ChipReturn['wait']): ChipReturn => ({
      isDisconnect: (e) => e instanceof DeviceError && e.code === 'DISCONNECTED',
      wait,
    });
    const refused = new DeviceError('RECONNECT_REFUSED', 'a different chip answered');
    for (const [fail, wait, message] of [
      [new DeviceError('DEVICE_FAULT', 'fault'), async () => undefined, 'fault'],
      [gone(), async () => Promise.reject(refused), 'a different chip answered'],
    ] as const) {
      const s = new EntropyService(chip('c', 0) as unknown as Device, {
        pipeline: { seed: new Uint8Array(0) },
        reconnect: reconnect(wait),
        source: source([{ blocks: 1, fail }], []),
      });
      s.start();
      await until(() => s.state === 'failed');
      expect(s.failure!.message).toBe(message);
      expect(s.waitingFor).toBeUndefined();
      await s.stop();
    }
  });
});
