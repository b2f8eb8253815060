/**
 * Run events (src/record/run-events.ts): the recording side (ports held
 * while the host waits for the chip, written only for the chip that
 * answered, after its event) and the replay side (the recording cut into
 * its runs at the events, whatever chunk the file is read in; a malformed
 * or misplaced event is bad input, exit 2, one line).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { Direction, type DirectionCode, type RecordingHeader, type RunEvent } from '../../src/record/format.ts';
import { openRecording, type RecordEntry } from '../../src/record/reader.ts';
import { HeldRecords, RunSegments, runEndBlocks } from '../../src/record/run-events.ts';
import { RecordingWriter } from '../../src/record/writer.ts';
import { epqrngInProcess, expectOneLineError } from '../cli/run-cli.ts';
import { rewriteRecording, type Entry } from './rewrite.ts';

const dir = mkdtempSync(join(tmpdir(), 'epqrng-run-events-'));
const header: RecordingHeader = {
  format: 'epqrng-recording',
  version: 1,
  tool: 'stream',
  commandLine: ['stream', '--reconnect'],
  clock: 'none',
  device: null,
  extractorSeed: null,
};
const device = {
  protocol: [1, 0] as [number, number],
  firmware: [1, 0, 3] as [number, number, number],
  serial: 'EPQ1-00C0FFEE',
  model: 'EPQ-1',
  maxTrialRate: 1_000_000,
  capabilities: 15,
  settingsFifo: 65536,
};
const disconnect: RunEvent = { event: 'disconnect', run: 1, reason: 'device at /dev/x disconnected: EIO' };
const reconnect: RunEvent = { event: 'reconnect', run: 2, at: '2026-12-04T22:00:00.000Z', trialsDropped: 7, device };
const bytes = (tag: number, n = 3) => Buffer.alloc(n, tag);

/** A two-run recording: run 1 = H1 D2 D3, the events, run 2 = H4 D5 (and `extra` raw R payloads after run 1). */
function twoRuns(
  name: string,
  middle: (w: RecordingWriter) => void = (w) => {
    w.runEvent(disconnect);
    w.runEvent(reconnect);
  },
): string {
  const path = join(dir, name);
  const w = new RecordingWriter(path, { header, clockUs: () => 0, fsyncOnClose: false });
  w.hostToDevice(bytes(1));
  w.deviceToHost(bytes(2));
  w.deviceToHost(bytes(3));
  middle(w);
  w.hostToDevice(bytes(4));
  w.deviceToHost(bytes(5));
  w.close();
  return path;
}

async function records(r: { batches(): AsyncGenerator<RecordEntry[], void, void> }): Promise<number[]> {
  const out: number[] = [];
  for await (const batch of r.batches()) for (const e of batch) out.push(e.bytes[0]!);
  return out;
}

describe('run events', () => {
  it.each([7, 20, 41, 64, 1 << 16])('cut a recording into its runs, read in %i-byte chunks', async (chunkBytes) => {
    const path = twoRuns(`two-${chunkBytes}.epqrec`);
    const segments = new RunSegments(await openRecording(path, { chunkBytes }));
    expect(await records(segments.run())).toEqual([1, 2, 3]);
    expect(await segments.nextRun()).toEqual(reconnect);
    expect(await records(segments.run())).toEqual([4, 5]);
    expect(await segments.nextRun()).toBeNull();
    await segments.close();
  });

  it('skips what the lost port still carried between its disconnect and the reconnect (closing it: STOP, ACK)', async () => {
    const path = twoRuns('limbo.epqrec', (w) => {
      w.runEvent(disconnect);
      w.hostToDevice(bytes(8));
      w.deviceToHost(bytes(9));
      w.runEvent(reconnect);
    });
    const segments = new RunSegments(await openRecording(path, { chunkBytes: 50 }));
    expect(await records(segments.run())).toEqual([1, 2, 3]);
    expect(await segments.nextRun()).toEqual(reconnect);
    expect(await records(segments.run())).toEqual([4, 5]);
  });

  it('counts run events as records (the end record agrees) and leaves run-end events out of the runs', async () => {
    const path = twoRuns('serve.epqrec', (w) => w.runEvent({ event: 'run-end', run: 1, blocks: 3 }));
    const recording = await openRecording(path, { chunkBytes: 30 });
    const segments = new RunSegments(recording);
    expect(await records(segments.run())).toEqual([1, 2, 3, 4, 5]);
    expect(recording.cut).toBeNull();
    expect(recording.end?.records).toBe(6);
    expect(await runEndBlocks(path)).toEqual([3]);
  });

  it('a port held while the host waits: dropped, it leaves nothing; committed, its event comes first', async () => {
    const path = join(dir, 'held.epqrec');
    const w = new RecordingWriter(path, { header, clockUs: () => 0, fsyncOnClose: false });
    w.deviceToHost(bytes(1));
    const dropped = new HeldRecords(w);
    dropped.hostToDevice(bytes(9));
    dropped.deviceToHost(bytes(9));
    const kept = new HeldRecords(w);
    kept.hostToDevice(bytes(4));
    kept.commit(reconnect);
    kept.deviceToHost(bytes(5));
    w.close();
    const entries: RecordEntry[] = [];
    for await (const batch of (await openRecording(path)).batches()) entries.push(...batch);
    expect(entries.map((e) => [String.fromCharCode(e.direction), e.bytes[0]])).toEqual([
      ['D', 1],
      ['R', '{'.charCodeAt(0)],
      ['H', 4],
      ['D', 5],
    ]);
    expect(JSON.parse(entries[1]!.bytes.toString())).toEqual(reconnect);
  });

  const badEvents: [string, (w: RecordingWriter) => void, RegExp][] = [
    ['not JSON', (w) => w.append(Direction.RUN_EVENT, Buffer.from('{oops')), /run event: not valid JSON/],
    [
      'an unknown event',
      (w) => w.append(Direction.RUN_EVENT, Buffer.from('{"event":"party","run":1}')),
      /run event: field event/,
    ],
    ['a reconnect with no disconnect', (w) => w.runEvent(reconnect), /run event reconnect where/],
  ];

  it.each(badEvents)('%s: bad input (InputError), after the records before it', async (name, middle, message) => {
    const path = twoRuns(`bad-${name.replaceAll(' ', '-')}.epqrec`, middle);
    const segments = new RunSegments(await openRecording(path, { chunkBytes: 1 << 16 }));
    const seen: number[] = [];
    const err = await (async () => {
      for await (const batch of segments.run().batches()) for (const e of batch) seen.push(e.bytes[0]!);
      await segments.nextRun();
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(seen).toEqual([1, 2, 3]);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(message);
    await segments.close();
  });

  it('a malformed run event in a real recording: replay and verify exit 2, one line', async () => {
    const rec = join(dir, 'real.epqrec');
    const certs = join(dir, 'real.jsonl');
    const live = await epqrngInProcess(
      ...['stream', '--simulate=5', '--bytes', '20000', '--block-trials', '262144', '--adversary', 'classical'],
      ...['--eps', '1e-6', '--record', rec, '--certs', certs, '--out', join(dir, 'real.bin')],
    );
    expect(live.code, live.stderr).toBe(0);
    for (const [name, middle, message] of badEvents) {
      const bad = join(dir, `real-${name.replaceAll(' ', '-')}.epqrec`);
      // The bad event, as a writer would have put it, among the first run's records.
      const inserted: Entry[] = [];
      const append = (direction: DirectionCode, b: Uint8Array) =>
        inserted.push({ direction, timeUs: 0, bytes: Buffer.from(b) });
      const runEvent = (e: RunEvent) => append(Direction.RUN_EVENT, Buffer.from(JSON.stringify(e)));
      middle({ append, runEvent, deviceToHost: (b: Uint8Array) => append(Direction.DEVICE_TO_HOST, b) } as never);
      await rewriteRecording(rec, bad, (all) => [...all.slice(0, 20), ...inserted, ...all.slice(20)]);
      expectOneLineError(await epqrngInProcess('replay', bad, '--out', join(dir, 'o.bin')), 2, message);
      expectOneLineError(await epqrngInProcess('verify', bad, '--certs', certs), 2, message);
    }
  }, 120_000);
});
