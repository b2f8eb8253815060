/**
 * The golden vectors (firmware-protocol/vectors/frames.jsonl) drive the
 * simulator too: every golden host frame is a command the chip accepts, and
 * the chip's INFO is byte-identical to the golden INFO for the same serial.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AckStatus, FrameType, PAYLOAD_OFFSET, CRC_OFFSET } from '../../src/protocol/types.ts';
import { SimulatedChip } from '../../src/simulator/chip.ts';
import { TestHost } from './host.ts';

interface Vector {
  what: string;
  direction: 'host' | 'device';
  type: number;
  seq: number;
  hex: string;
}
const vectors = readFileSync(new URL('../../firmware-protocol/vectors/frames.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Vector);

describe('golden vectors', () => {
  it('the chip answers the golden GET_INFO with the golden INFO payload (same serial)', () => {
    const getInfo = vectors.find((v) => v.direction === 'host' && v.type === FrameType.GET_INFO)!;
    const info = vectors.find((v) => v.direction === 'device' && v.type === FrameType.INFO)!;
    const ack = vectors.find(
      (v) => v.direction === 'device' && v.type === FrameType.ACK && v.what.includes('GET_INFO'),
    )!;
    const chip = new SimulatedChip({ seed: 1, serial: 'EPQ1-00C0FFEE' });
    chip.receive(Buffer.from(getInfo.hex, 'hex'));
    const out = Buffer.from(chip.read());
    expect(out.length).toBe(128);
    // payloads byte for byte (the device seq differs: the golden frames were taken mid-session)
    expect(out.subarray(PAYLOAD_OFFSET, CRC_OFFSET).toString('hex')).toBe(
      Buffer.from(ack.hex, 'hex').subarray(PAYLOAD_OFFSET, CRC_OFFSET).toString('hex'),
    );
    expect(out.subarray(64 + PAYLOAD_OFFSET, 64 + CRC_OFFSET).toString('hex')).toBe(
      Buffer.from(info.hex, 'hex').subarray(PAYLOAD_OFFSET, CRC_OFFSET).toString('hex'),
    );
    expect(() => new SimulatedChip({ seed: 1, serial: 'EPQ1-XYZ' })).toThrow(RangeError);
  });

  it('every golden host frame is accepted in a state that allows it', () => {
    const host = new TestHost({ seed: 2 });
    const hostVectors = vectors.filter((v) => v.direction === 'host');
    expect(hostVectors.length).toBeGreaterThanOrEqual(7);
    // IDLE-only ones first, then START in host mode for SETTINGS
    const order = [...hostVectors].sort(
      (a, b) => Number(a.type === FrameType.SETTINGS) - Number(b.type === FrameType.SETTINGS),
    );
    let started = false;
    for (const v of order) {
      if (v.type === FrameType.START) continue;
      if (v.type === FrameType.SETTINGS && !started) {
        expect(host.command({ kind: 'START', source: 1, rate: 0, limit: 0 }).ack.status).toBe(AckStatus.OK);
        started = true;
      }
      host.chip.receive(Buffer.from(v.hex, 'hex'));
      const frames = host.drainIdleSafe();
      if (v.type === FrameType.SETTINGS)
        expect(frames.filter((f) => f.kind === 'ACK')).toEqual([]); // accepted: no ACK
      else expect(frames[0]).toMatchObject({ kind: 'ACK', ackSeq: v.seq, ackType: v.type, status: AckStatus.OK });
    }
    // the golden SETTINGS (x,y = (1,0), (0,1), (1,1)) come back echoed
    const trials = host.drain().filter((f) => f.kind === 'TRIALS');
    const echoed = trials.flatMap((t) =>
      t.kind === 'TRIALS' ? [...t.records].map((r) => [(r >> 5) & 1, (r >> 4) & 1]) : [],
    );
    expect(echoed).toEqual([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    // the golden START (internal, limit 1e6) from IDLE
    host.command({ kind: 'STOP' });
    const start = vectors.find((v) => v.type === FrameType.START)!;
    host.chip.receive(Buffer.from(start.hex, 'hex'));
    expect(host.drainIdleSafe()[0]).toMatchObject({ kind: 'ACK', ackType: FrameType.START, status: AckStatus.OK });
  });
});
