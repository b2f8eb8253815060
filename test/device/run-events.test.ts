/**
 * runEventsFromBytes (the path replay shares with live runs) and the Run
 * queue on their own: chunking never changes the events, corruption is
 * skipped, lost and duplicated frames are reported, back-pressure pauses and
 * resumes the link.
 */
import { describe, expect, it } from 'vitest';
import {
  DeviceSeqTracker,
  Run,
  runEventsFromBytes,
  emptyRunStats,
  perFrameEvents,
  trialsBatchOf,
  type RunEvent,
} from '../../src/device/index.ts';
import { encodeFrame, encodeRaw } from '../../src/protocol/encode.ts';
import { FrameType, type DeviceFrame } from '../../src/protocol/types.ts';
import { baseStatus } from './fake-chip.ts';
import { certifyRun } from '../../src/certify/index.ts';
import { DeviceError } from '../../src/errors.ts';

/** xorshift32, fixed seed: reproducible chunkings and corruption. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function trialsFrame(seq: number, first: number, n: number, flags = 0): Buffer {
  const records = new Uint8Array(n).map((_, k) => (first + k) % 48);
  return encodeFrame({ kind: 'TRIALS', seq, flags, first, n, records } as DeviceFrame);
}

async function events(chunks: Iterable<Uint8Array>, stats = emptyRunStats()): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const batch of runEventsFromBytes(chunks, stats)) {
    expect(batch.length).toBeGreaterThan(0); // no empty batches
    all.push(...perFrameEvents(batch));
  }
  return all;
}

function split(buf: Buffer, random: () => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length; ) {
    const n = 1 + Math.floor(random() * maxChunk);
    out.push(buf.subarray(o, o + n));
    o += n;
  }
  return out;
}

describe('runEventsFromBytes', () => {
  const frames: Buffer[] = [];
  let seq = 10;
  for (let i = 0; i < 200; i++) {
    frames.push(trialsFrame(seq++, i * 40, 40));
    if (i % 50 === 49)
      frames.push(encodeFrame({ ...baseStatus, seq: seq++, flags: 0, state: 1, trials: (i + 1) * 40 } as DeviceFrame));
  }
  frames.push(encodeFrame({ kind: 'CREDIT', seq: seq++, flags: 0, free: 4096, consumed: 123 }));
  frames.push(
    encodeFrame({ kind: 'ACK', seq: seq++, flags: 0, ackSeq: 1, ackType: FrameType.STOP, status: 0, detail: 0 }),
  );
  const capture = Buffer.concat(frames);

  it('gives the same events whatever the chunking (1 byte .. 4 KiB chunks)', async () => {
    const whole = await events([capture]);
    expect(whole.filter((e) => e.kind === 'trials')).toHaveLength(200);
    expect(whole.filter((e) => e.kind === 'status')).toHaveLength(4);
    expect(whole.at(-1)).toEqual({ kind: 'credit', free: 4096, consumed: 123 }); // the ACK is not a run event
    const random = rng(7);
    for (const maxChunk of [1, 3, 63, 64, 65, 200, 4096]) {
      expect(await events(split(capture, random, maxChunk))).toEqual(whole);
    }
  });

  it('skips corrupted frames and noise, re-locks, and reports the lost seqs as link loss', async () => {
    const corrupted = Buffer.from(capture);
    corrupted[64 * 5 + 20]! ^= 0x01; // frame 5 fails its CRC
    const noisy = Buffer.concat([
      Buffer.from([0xe5, 0x51, 0x01, 0xe5]),
      corrupted.subarray(0, 64 * 100),
      Buffer.alloc(37, 0xe5),
      corrupted.subarray(64 * 100),
    ]);
    const stats = emptyRunStats();
    const got = await events(split(noisy, rng(3), 500), stats);
    const trials = got.filter((e) => e.kind === 'trials');
    expect(trials).toHaveLength(199);
    expect(trials.map((t) => (t.kind === 'trials' ? t.first : -1))).not.toContain(5 * 40);
    expect(got.filter((e) => e.kind === 'linkLoss')).toEqual([{ kind: 'linkLoss', frames: 1 }]);
    expect(stats.linkLostFrames).toBe(1);
    expect(stats.trials).toBe(199 * 40);
  });

  it('reports a CRC-valid frame with reserved record bits as invalid, not as link loss', async () => {
    const payload = new Uint8Array(52);
    payload[8] = 1;
    payload[12] = 0x80; // PROTOCOL 4 TRIALS: bit 7 reserved
    const bytes = Buffer.concat([
      trialsFrame(1, 0, 40),
      encodeRaw(FrameType.TRIALS, 0, 2, payload),
      trialsFrame(3, 40, 40),
    ]);
    const got = await events([bytes]);
    expect(got.map((e) => e.kind)).toEqual(['trials', 'invalid', 'trials']);
    expect(got[1]).toMatchObject({ kind: 'invalid', reason: 'reserved', type: FrameType.TRIALS });
  });

  it('drops an exact duplicate frame (same device seq)', async () => {
    const f = trialsFrame(5, 0, 40);
    const got = await events([Buffer.concat([f, f, trialsFrame(6, 40, 40)])]);
    expect(got.map((e) => (e.kind === 'trials' ? e.first : e.kind))).toEqual([0, 40]);
  });

  it('a different TRIALS frame under a repeated seq, reusing the trial indices, ends the run in certify (it cannot add to S)', async () => {
    const other = encodeFrame({
      kind: 'TRIALS',
      seq: 5,
      flags: 0,
      first: 0,
      n: 40,
      records: new Uint8Array(40).fill(3),
    } as DeviceFrame);
    const batches: RunEvent[][] = [await events([Buffer.concat([trialsFrame(5, 0, 40), other])])];
    const run = (async function* () {
      yield* batches;
    })();
    const certify = (async () => {
      for await (const _ of certifyRun(run, {
        device: { serial: 'EPQ1-TEST0000', firmware: '1.0.3' },
        blockTrials: 1000,
      })) {
        // no block completes
      }
    })();
    await expect(certify).rejects.toBeInstanceOf(DeviceError);
  });

  it('keeps a different frame under a repeated seq: a STATUS with a fault is not dropped as a duplicate', async () => {
    const status = encodeFrame({ ...baseStatus, seq: 5, flags: 0, faults: 1 << 6, state: 1 } as DeviceFrame);
    const stats = emptyRunStats();
    const got = await events([Buffer.concat([trialsFrame(5, 0, 40), status, status, trialsFrame(6, 40, 40)])], stats);
    expect(
      got.map((e) => (e.kind === 'trials' ? e.first : e.kind === 'status' ? `status ${e.status.faults}` : e.kind)),
    ).toEqual([0, 'status 64', 40]);
    expect(stats.linkLostFrames).toBe(0);
  });
});

describe('DeviceSeqTracker (PROTOCOL 3: one counter, +1 per frame, wrapping)', () => {
  it('counts jumps across the wrap, ignores restarts, flags duplicates', () => {
    const t = new DeviceSeqTracker();
    expect(t.observe(0xfffffffe)).toBe(0);
    expect(t.observe(0xffffffff)).toBe(0);
    expect(t.observe(2)).toBe(2); // 0 and 1 lost across the wrap
    expect(t.observe(2)).toBe(-1);
    expect(t.observe(1)).toBe(0); // backwards: a counter restart, not 2^32 lost frames
    expect(t).toMatchObject({ lostFrames: 2, duplicateFrames: 1, restarts: 1 });
  });

  it('a repeated seq is a duplicate only when the frame is the same', () => {
    const t = new DeviceSeqTracker();
    const a = { kind: 'TRIALS', seq: 7, records: new Uint8Array([1, 2, 3]) };
    expect(t.observe(7, a)).toBe(0);
    expect(t.observe(7, { ...a, records: new Uint8Array([1, 2, 3]) })).toBe(-1);
    expect(t.observe(7, { ...a, records: new Uint8Array([1, 2, 4]) })).toBe(0);
    expect(t.observe(7, { kind: 'STATUS', seq: 7, faults: 0 })).toBe(0);
    expect(t.observe(8, a)).toBe(0);
    expect(t).toMatchObject({ lostFrames: 0, duplicateFrames: 1, repeatedSeqFrames: 2 });
  });

  it('TRIALS read in place (observeTrials): the same rule, by fields and records, against either kind of frame', () => {
    const t = new DeviceSeqTracker();
    // Each frame taken is kept (keepCopy: no run took it), as the link does it; the scanned bytes are then reused.
    const take = (seq: number, records: number[], flags: number, first: number): number => {
      const bytes = Uint8Array.from([9, 9, ...records, 9]);
      const lost = t.observeTrials(seq, bytes, 2, records.length, flags, first);
      if (lost >= 0) t.keepCopy();
      bytes.fill(0xff);
      return lost;
    };
    expect(take(7, [1, 2, 3], 0, 100)).toBe(0);
    expect(take(7, [1, 2, 3], 0, 100)).toBe(-1); // same frame: a duplicate
    expect(take(7, [1, 2, 4], 0, 100)).toBe(0); // other records: kept
    expect(take(7, [1, 2, 4], 1, 100)).toBe(0); // other flags: kept
    expect(take(7, [1, 2, 4], 1, 103)).toBe(0); // other first: kept
    expect(take(7, [1, 2], 1, 103)).toBe(0); // other n: kept
    // A decoded frame after one read in place, and the other way round: compared all the same.
    const decoded = { kind: 'TRIALS', flags: 1, seq: 7, first: 103, n: 2, records: Uint8Array.from([1, 2]) };
    expect(t.observe(7, decoded)).toBe(-1);
    expect(take(7, [1, 2], 1, 103)).toBe(-1);
    expect(t.observe(7, { kind: 'STATUS', seq: 7, faults: 0 })).toBe(0);
    expect(take(7, [1, 2], 1, 103)).toBe(0); // after a STATUS: another frame
    t.observe(8); // an invalid frame, known by its seq only: a repeat is taken as a duplicate
    expect(take(8, [1, 2], 1, 103)).toBe(-1);
    expect(take(8, [5], 0, 105)).toBe(0); // ... and becomes the last frame: another one is kept
    expect(take(9, [5], 0, 105)).toBe(0);
    expect(t).toMatchObject({ lostFrames: 0, duplicateFrames: 4, repeatedSeqFrames: 7 });
  });

  it('a TRIALS frame a run keeps (keptIn) is compared where its batch holds it', () => {
    const t = new DeviceSeqTracker();
    const batch = trialsBatchOf([{ first: 0, n: 2, records: Uint8Array.from([4, 5]), seq: 3 }]);
    const scanned = Uint8Array.from([4, 5]);
    expect(t.observeTrials(3, scanned, 0, 2, 0, 0)).toBe(0);
    t.keptIn(batch);
    scanned.fill(0); // the scanner's bytes, reused
    expect(t.observeTrials(3, Uint8Array.from([4, 5]), 0, 2, 0, 0)).toBe(-1);
    batch.records[1] = 6; // the kept copy is what counts
    expect(t.observeTrials(3, Uint8Array.from([4, 5]), 0, 2, 0, 0)).toBe(0);
  });
});

describe('Run queue', () => {
  function makeRun(highWaterEvents: number) {
    const calls: string[] = [];
    const run = new Run(
      {
        stop: async () => {
          calls.push('stop');
        },
        sendSettings: async () => undefined,
        pause: () => calls.push('pause'),
        resume: () => calls.push('resume'),
      },
      undefined,
      { highWaterEvents },
    );
    const push = (first: number) => {
      run.assembler.trials({ kind: 'TRIALS', seq: first, flags: 0, first, n: 1, records: new Uint8Array(1) });
      run.flush();
    };
    return { run, calls, push };
  }

  it('pauses above the high-water mark, resumes below a quarter of it, delivers everything in order', async () => {
    const { run, calls, push } = makeRun(8);
    for (let i = 0; i < 20; i++) push(i);
    expect(calls).toEqual(['pause']);
    const it = run[Symbol.asyncIterator]();
    const firsts: number[] = [];
    for (let i = 0; i < 18; i++) {
      const r = await it.next();
      firsts.push(perFrameEvents(r.value as RunEvent[]).map((e) => (e.kind === 'trials' ? e.first : -1))[0]!);
    }
    expect(calls).toEqual(['pause', 'resume']);
    run.end();
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      firsts.push(perFrameEvents(r.value as RunEvent[]).map((e) => (e.kind === 'trials' ? e.first : -1))[0]!);
    }
    expect(firsts).toEqual([...Array(20).keys()]);
  });

  it('a waiting consumer gets the next batch directly; a failure comes after the queued events', async () => {
    const { run, push } = makeRun(100);
    const it = run[Symbol.asyncIterator]();
    const waiting = it.next();
    push(0);
    expect((await waiting).value).toHaveLength(1);
    push(1);
    run.fail(new Error('unplugged'));
    push(2); // after the failure: ignored
    expect((await it.next()).value).toHaveLength(1);
    await expect(it.next()).rejects.toThrow('unplugged');
  });

  it('stop() lifts back-pressure so STOP can be acknowledged', async () => {
    const { run, calls, push } = makeRun(2);
    for (let i = 0; i < 5; i++) push(i);
    expect(calls).toEqual(['pause']);
    await run.stop();
    expect(calls).toEqual(['pause', 'resume', 'stop']);
    for (let i = 5; i < 10; i++) push(i); // flushed trials keep coming, no new pause
    expect(calls).toEqual(['pause', 'resume', 'stop']);
  });
});
