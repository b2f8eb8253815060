import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulatedPort } from '../../src/simulator/binding.ts';
import { Device, perFrameEvents, runEventsFromBytes, type RunEvent } from '../../src/device/index.ts';
import { decodeFrame } from '../../src/protocol/decode.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { RecordingWriter } from '../../src/record/writer.ts';
import { recordingBinding } from '../../src/record/recording-binding.ts';
import { createReplayBinding } from '../../src/record/replay-binding.ts';
import { RecordingParser } from '../../src/record/reader.ts';
import { Direction, type RecordingHeader } from '../../src/record/format.ts';
import { DeviceError } from '../../src/errors.ts';
import { servePty } from '../../src/simulator/index.ts';
import { SessionRecorder } from '../../src/record/session.ts';
import { trialRun } from '../../src/record/trial-run.ts';
import { hasSocat } from '../cli/pty-pair.ts';
import { epq1PortInfo } from '../../src/protocol/transport.ts';
import { expectEpq1OpenOptions } from '../protocol/open-options.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epq-bind-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function header(device: Device, commandLine: string[]): RecordingHeader {
  const { protocol, firmware, serial, model, maxTrialRate, capabilities, settingsFifo } = device.info;
  return {
    format: 'epqrng-recording',
    version: 1,
    tool: 'test',
    commandLine,
    clock: 'chip',
    device: { protocol, firmware, serial, model, maxTrialRate, capabilities, settingsFifo },
    extractorSeed: null,
  };
}

/** The header of a hand-made recording: no device, no clock. */
const BARE_HEADER: RecordingHeader = {
  format: 'epqrng-recording',
  version: 1,
  tool: 'test',
  commandLine: [],
  clock: 'none',
  device: null,
  extractorSeed: null,
};

/** The trial records of a run, concatenated, with the first index of each frame. */
async function collectTrials(
  run: AsyncIterable<RunEvent[]>,
): Promise<{ firsts: number[]; counts: number[]; records: Buffer }> {
  const firsts: number[] = [];
  const counts: number[] = [];
  const parts: Buffer[] = [];
  for await (const batch of run) {
    for (const ev of perFrameEvents(batch)) {
      if (ev.kind === 'trials') {
        const t = ev;
        firsts.push(t.first);
        counts.push(t.n);
        parts.push(Buffer.from(t.records.subarray(0, t.n)));
      }
    }
  }
  return { firsts, counts, records: Buffer.concat(parts) };
}

interface Session {
  path: string;
  trials: { firsts: number[]; counts: number[]; records: Buffer };
}

/** A live session on the virtual-clock simulator, recorded: set the delay, run `limit` trials. */
async function recordSession(name: string, limit: number, delayPs: number): Promise<Session> {
  const sim = createSimulatedPort({ seed: 11, calibrated: true, clock: 'virtual' });
  const path = join(dir, name);
  const writer = new RecordingWriter(path, { clockUs: () => Math.round(sim.chip.clockMs * 1000) });
  const device = await Device.open({ path: sim.path, binding: recordingBinding(sim.binding, writer) as never });
  writer.begin(header(device, ['test', String(limit)]));
  await device.setDelay(delayPs);
  const run = await device.start({ limitTrials: limit });
  const trials = await collectTrials(run);
  await device.close();
  writer.close();
  return { path, trials };
}

describe('recording binding', () => {
  it('records both directions byte-exact: the device bytes hold the same trials, the host bytes the same commands', async () => {
    const s = await recordSession('live.epqrec', 4000, 1830);
    expect(s.trials.records.length).toBe(4000);
    const parser = new RecordingParser();
    const entries = parser.push(readFileSync(s.path));
    expect(parser.finish()).toBeNull();
    expect(parser.header?.device?.serial).toMatch(/^EPQ1-[0-9A-F]{8}$/);
    // Host side: GET_INFO, SET_DELAY 1830, START limit 4000, then whatever close sends, in order.
    const host = Buffer.concat(entries.filter((e) => e.direction === Direction.HOST_TO_DEVICE).map((e) => e.bytes));
    expect(host.length % 64).toBe(0);
    const cmds = [];
    for (let i = 0; i < host.length; i += 64) cmds.push(decodeFrame(host.subarray(i, i + 64)));
    expect(cmds.slice(0, 3).map((c) => c.kind)).toEqual(['GET_INFO', 'SET_DELAY', 'START']);
    expect(cmds[1]).toMatchObject({ kind: 'SET_DELAY', delay: 1830 });
    expect(cmds[2]).toMatchObject({ kind: 'START', limit: 4000 });
    // Device side: the same trials, through the capture path.
    const device = entries.filter((e) => e.direction === Direction.DEVICE_TO_HOST).map((e) => e.bytes);
    const fromBytes = await collectTrials(runEventsFromBytes(device));
    expect(fromBytes.records.equals(s.trials.records)).toBe(true);
    expect(fromBytes.firsts).toEqual(s.trials.firsts);
    // Chip-time stamps never go backwards.
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.timeUs).toBeGreaterThanOrEqual(entries[i - 1]!.timeUs);
  });
});

describe('replay binding', () => {
  let live: Session;
  beforeAll(async () => {
    live = await recordSession('replay-src.epqrec', 6000, 1830);
  });

  it('plays the recording as the chip: the same host code gets the same trials', async () => {
    const replay = createReplayBinding(live.path);
    const device = await Device.open({ path: replay.path, binding: replay.binding as never });
    await device.setDelay(1830);
    const run = await device.start({ limitTrials: 6000 });
    const trials = await collectTrials(run);
    await device.close();
    expect(replay.divergence).toBeNull();
    expect(trials.records.equals(live.trials.records)).toBe(true);
    expect(trials.firsts).toEqual(live.trials.firsts);
    expect(replay.port?.progress.hostBytesMatched).toBeGreaterThanOrEqual(3 * 64);
  });

  it('a divergent command fails naming the recorded one and the one sent, decoded', async () => {
    const replay = createReplayBinding(live.path);
    const device = await Device.open({ path: replay.path, binding: replay.binding as never });
    const err = await device.setDelay(1800).then(
      () => null,
      (e: unknown) => e,
    );
    await device.close().catch(() => undefined);
    expect(err).toBeInstanceOf(DeviceError);
    // Record 0 is GET_INFO, record 1 its answer, record 2 the SET_DELAY (one read per answer on the simulator).
    const parser = new RecordingParser();
    const entries = parser.push(readFileSync(live.path));
    const setDelay = entries.filter((e) => e.direction === Direction.HOST_TO_DEVICE)[1]!;
    const expected = `replay diverged at record ${setDelay.index}: expected SET_DELAY seq 1 (delay 1830), got SET_DELAY seq 1 (delay 1800)`;
    expect(replay.divergence?.message).toBe(expected);
    expect((err as Error).message).toContain(expected);
  });

  it('a host that goes on after the recording ends is told so', async () => {
    const replay = createReplayBinding(live.path);
    const device = await Device.open({ path: replay.path, binding: replay.binding as never });
    await device.setDelay(1830);
    const run = await device.start({ limitTrials: 6000 });
    await collectTrials(run);
    // The live session closed here; this replayed host asks for more.
    const err = await device.getStatus().then(
      () => null,
      (e: unknown) => e,
    );
    await device.close().catch(() => undefined);
    expect(err).toBeInstanceOf(DeviceError);
    expect(replay.divergence?.message).toMatch(
      /^replay diverged at the end of the recording \(after \d+ records\): expected nothing more from the host, got GET_STATUS seq 3$/,
    );
  });

  it('a raw capture cannot be played as a device', async () => {
    const { writeFileSync } = await import('node:fs');
    const raw = join(dir, 'raw.bin');
    writeFileSync(raw, Buffer.from([0xe5, 0x51, 1, 2, 3]));
    const replay = createReplayBinding(raw);
    await expect(Device.open({ path: replay.path, binding: replay.binding as never, retries: 0 })).rejects.toThrow(
      /raw capture/,
    );
  });
});

describe('a session recorded over a real pseudo-terminal (socat, native binding)', () => {
  it.skipIf(!hasSocat)(
    'holds every trial once, in order, stamped with host time, and replays as the chip',
    async () => {
      // A 4 MiB chip buffer: on 2 shared cores a stalled host must not turn into honest GAPs (see
      // test/device/integration.test.ts).
      const server = await servePty(join(dir, 'epq'), { seed: 12, calibrated: true, deviceBufferFrames: 65536 });
      const path = join(dir, 'pty.epqrec');
      const trials = 300_000;
      try {
        const rec = new SessionRecorder({
          out: path,
          tool: 'record',
          commandLine: ['record', '--port', server.path, '--trials', String(trials)],
        });
        const { SerialPort } = await import('serialport');
        const device = await Device.open({ path: server.path, binding: rec.wrap(SerialPort.binding as never) });
        rec.begin(device.info);
        const session = trialRun(device, { limitTrials: trials, rateTrialsPerS: 0 });
        while (!(await session.next()).done) {
          // drain
        }
        await device.close();
        rec.close();
      } finally {
        await server.close();
      }
      const parser = new RecordingParser();
      const entries = parser.push(readFileSync(path));
      expect(parser.finish()).toBeNull();
      expect(parser.header?.clock).toBe('host-monotonic');
      expect(parser.header?.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      for (let i = 1; i < entries.length; i++)
        expect(entries[i]!.timeUs).toBeGreaterThanOrEqual(entries[i - 1]!.timeUs);
      const captured = await collectTrials(
        runEventsFromBytes(entries.filter((e) => e.direction === Direction.DEVICE_TO_HOST).map((e) => e.bytes)),
      );
      expect(captured.records.length).toBe(trials);
      // Every index exactly once, in order: each frame starts where the previous one ended.
      let next = 0;
      let misplaced = 0;
      for (const [k, first] of captured.firsts.entries()) {
        if (first !== next) misplaced++;
        next = first + captured.counts[k]!;
      }
      expect(misplaced).toBe(0);
      expect(next).toBe(trials);
      // The recording plays back as the chip to the same host logic, whatever chunks the PTY delivered.
      const replay = createReplayBinding(path);
      const device = await Device.open({ path: replay.path, binding: replay.binding as never });
      const session = trialRun(device, { limitTrials: trials, rateTrialsPerS: 0 });
      const parts: Buffer[] = [];
      for (let r = await session.next(); !r.done; r = await session.next()) {
        for (const ev of perFrameEvents(r.value)) if (ev.kind === 'trials') parts.push(Buffer.from(ev.records));
      }
      await device.close();
      expect(replay.divergence).toBeNull();
      expect(Buffer.concat(parts).equals(captured.records)).toBe(true);
    },
  );
});

describe('replay port, directly', () => {
  const frame = (f: object): Buffer => encodeFrame(f as never);
  const getInfo = (seq: number) => frame({ kind: 'GET_INFO', seq, flags: 0 });
  const setWindow = (seq: number, window: number) => frame({ kind: 'SET_WINDOW', seq, flags: 0, window });
  const ack = (seq: number, ackSeq: number, ackType: number) =>
    frame({ kind: 'ACK', seq, flags: 0, ackSeq, ackType, status: 0, detail: 0 });

  /** A recording: H (two commands in one write), D (their ACKs), H (one more), D (its ACK). */
  function makeRecording(name: string): string {
    const path = join(dir, name);
    const w = new RecordingWriter(path, {
      header: BARE_HEADER,
    });
    w.hostToDevice(Buffer.concat([getInfo(0), setWindow(1, 1500)]), 0);
    w.deviceToHost(Buffer.concat([ack(0, 0, 0x81), ack(1, 1, 0x86)]), 0);
    w.hostToDevice(setWindow(2, 900), 0);
    w.deviceToHost(ack(2, 2, 0x86), 0);
    w.close();
    return path;
  }

  async function open(path: string, atEnd: 'silent' | 'disconnect' = 'silent') {
    const session = createReplayBinding(path, { atEnd });
    const port = await session.binding.open({ path: session.path, baudRate: 921600 });
    return { session, port };
  }

  it('matches host bytes whatever the write boundaries, and splits a recorded read over small reads', async () => {
    const { port } = await open(makeRecording('split.epqrec'));
    const two = Buffer.concat([getInfo(0), setWindow(1, 1500)]);
    await port.write(two.subarray(0, 10));
    await port.write(two.subarray(10, 100));
    await port.write(Buffer.concat([two.subarray(100), setWindow(2, 900).subarray(0, 5)]));
    const buf = Buffer.alloc(256);
    const a = await port.read(buf, 0, 100);
    expect(a.bytesRead).toBe(100);
    const b = await port.read(buf, 100, 156);
    // The rest of the first recorded read only: reads never merge two recorded reads.
    expect(b.bytesRead).toBe(28);
    expect(buf.subarray(0, 128).equals(Buffer.concat([ack(0, 0, 0x81), ack(1, 1, 0x86)]))).toBe(true);
    await port.write(setWindow(2, 900).subarray(5));
    const c = await port.read(buf, 0, 256);
    expect(buf.subarray(0, c.bytesRead).equals(ack(2, 2, 0x86))).toBe(true);
    await port.whenPlayed();
    expect(port.atEnd).toBe(true);
    expect(port.progress).toEqual({ deviceBytesDelivered: 192, hostBytesMatched: 192, recordsConsumed: 4 });
    await port.close();
  });

  it('a read after the end waits (silent) or fails as an unplug (disconnect)', async () => {
    const path = makeRecording('end.epqrec');
    for (const mode of ['silent', 'disconnect'] as const) {
      const { port } = await open(path, mode);
      await port.write(Buffer.concat([getInfo(0), setWindow(1, 1500), setWindow(2, 900)]));
      const buf = Buffer.alloc(256);
      expect((await port.read(buf, 0, 256)).bytesRead).toBe(128);
      expect((await port.read(buf, 0, 256)).bytesRead).toBe(64);
      const pending = port.read(buf, 0, 256);
      const outcome = await Promise.race([
        pending.then(
          () => 'read',
          (e: Error) => e.message,
        ),
        new Promise((r) => setTimeout(() => r('waiting'), 50)),
      ]);
      expect(outcome).toBe(mode === 'silent' ? 'waiting' : 'end of the recording');
      await port.close();
      if (mode === 'silent') await expect(pending).rejects.toMatchObject({ canceled: true });
    }
  });

  it('lists itself as an EPQ-1 and reports the open options a serialport binding would', async () => {
    const { session, port } = await open(makeRecording('options.epqrec'));
    expect(await session.binding.list()).toEqual([epq1PortInfo(session.path, undefined)]);
    expectEpq1OpenOptions(port, session.path);
    await port.close();
  });

  it('bytes that are not a frame are shown in hex', async () => {
    const { session, port } = await open(makeRecording('hex.epqrec'));
    await expect(port.write(Buffer.from([1, 2, 3]))).rejects.toThrow(DeviceError);
    expect(session.divergence?.message).toBe(
      'replay diverged at record 0: expected GET_INFO seq 0, got 3 bytes 01 02 03',
    );
    await port.close();
  });
});

describe('replay port memory', () => {
  it('a host that writes early waits for its reads instead of holding the whole recording in memory', async () => {
    const path = join(dir, 'early.epqrec');
    const w = new RecordingWriter(path, {
      header: BARE_HEADER,
    });
    const chunk = (k: number) => Buffer.alloc(1000, k);
    for (let k = 0; k < 20; k++) w.deviceToHost(chunk(k), 0);
    w.hostToDevice(Buffer.from('STOP'), 0);
    w.deviceToHost(Buffer.from('after'), 0);
    w.close();
    const session = createReplayBinding(path, { readAheadBytes: 500, hostSkipBytes: 3000 });
    const port = await session.binding.open({ path, baudRate: 921600 });
    let written = false;
    const write = port.write(Buffer.from('STOP')).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 20));
    // Not before the host has read what the recording holds before the write (all but at most hostSkipBytes/2 of it).
    expect(written).toBe(false);
    expect(port.queuedBytes).toBeLessThanOrEqual(3000 + 1000);
    expect(port.queuedBytes).toBeGreaterThan(0);
    const buf = Buffer.alloc(4096);
    const got: Buffer[] = [];
    while (got.reduce((s, b) => s + b.length, 0) < 20_005) {
      const r = await port.read(buf, 0, 4096);
      got.push(Buffer.from(buf.subarray(0, r.bytesRead)));
      // Never more queued than the limit plus one recorded read.
      expect(port.queuedBytes).toBeLessThanOrEqual(3000 + 1000);
    }
    await write;
    expect(written).toBe(true);
    const all = Buffer.concat(got);
    expect(all.subarray(0, 20_000).equals(Buffer.concat(Array.from({ length: 20 }, (_, k) => chunk(k))))).toBe(true);
    expect(all.subarray(20_000).toString()).toBe('after');
    expect(session.divergence).toBeNull();
    await port.close();
  });
});
