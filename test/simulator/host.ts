/**
 * A minimal in-process host for simulator tests: encodes commands with the
 * protocol codec, feeds them to a SimulatedChip, and decodes what comes back
 * with FrameSync (so link faults are survived the way a driver would).
 */
import { encodeFrame, encodeRaw } from '../../src/protocol/encode.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import type { AckFrame, DeviceFrame, Frame, HostFrame, StatusFrame, TrialsFrame } from '../../src/protocol/types.ts';
import { SimulatedChip, type ChipOptions } from '../../src/simulator/chip.ts';

export type Cmd = HostFrame extends infer F ? (F extends HostFrame ? Omit<F, 'seq' | 'flags'> : never) : never;

export class TestHost {
  readonly chip: SimulatedChip;
  readonly sync = new FrameSync({ accept: 'device' });
  seq = 0;
  constructor(opts: ChipOptions | SimulatedChip) {
    this.chip = opts instanceof SimulatedChip ? opts : new SimulatedChip(opts);
  }
  /** Send one command; returns its seq. */
  send(cmd: Cmd): number {
    const seq = this.seq++;
    this.chip.receive(encodeFrame({ flags: 0, seq, ...cmd } as Frame));
    return seq;
  }
  /** Send a raw well-framed command (bad fields, unknown types). */
  sendRaw(type: number, payload: number[] | Uint8Array, flags = 0): number {
    const seq = this.seq++;
    this.chip.receive(encodeRaw(type, flags, seq, Uint8Array.from(payload)));
    return seq;
  }
  /** Read what the chip has queued (in virtual time, a running chip makes up to `maxBytes` more). */
  read(maxBytes = 65536): DeviceFrame[] {
    const bytes = this.chip.read(maxBytes);
    return this.sync.push(bytes) as DeviceFrame[];
  }
  /** Read until the chip gives nothing more (or `maxReads` reads). */
  drain(maxReads = 1000): DeviceFrame[] {
    const out: DeviceFrame[] = [];
    for (let i = 0; i < maxReads; i++) {
      const bytes = this.chip.read(65536);
      if (bytes.length === 0) break;
      for (const f of this.sync.push(bytes)) out.push(f as DeviceFrame);
    }
    return out;
  }
  /** Send a command and return its ACK and whatever came with it. */
  command(cmd: Cmd): { ack: AckFrame; frames: DeviceFrame[] } {
    const seq = this.send(cmd);
    const frames = this.drainIdleSafe();
    const ack = frames.find((f): f is AckFrame => f.kind === 'ACK' && f.ackSeq === seq);
    if (!ack) throw new Error(`no ACK for ${cmd.kind} (seq ${seq}); got ${frames.map((f) => f.kind).join(',')}`);
    return { ack, frames };
  }
  /** Drain without running the chip on (only what is queued now). */
  drainIdleSafe(): DeviceFrame[] {
    const out: DeviceFrame[] = [];
    while (this.chip.pendingBytes > 0)
      for (const f of this.sync.push(this.chip.read(65536))) out.push(f as DeviceFrame);
    return out;
  }
  status(): StatusFrame {
    const { frames } = this.command({ kind: 'GET_STATUS' });
    const s = frames.filter((f): f is StatusFrame => f.kind === 'STATUS');
    return s[s.length - 1]!;
  }
}

export function trialsOf(frames: DeviceFrame[]): TrialsFrame[] {
  return frames.filter((f): f is TrialsFrame => f.kind === 'TRIALS');
}

/** Tally of records: n[xy][pattern] over TRIALS frames. */
export function tally(frames: Iterable<TrialsFrame>): number[][] {
  const n = [0, 1, 2, 3].map(() => new Array<number>(16).fill(0));
  for (const f of frames) for (const r of f.records) n[(r >> 4) & 3]![r & 15]!++;
  return n;
}

/** CHSH estimate from a tally, binning a = A1 & !A0, b = B1 & !B0 (issue 3), E = P(a=b) - P(a!=b). */
export function chshFromTally(n: number[][]): { S: number; sigma: number; E: number[]; total: number[] } {
  const E: number[] = [];
  const total: number[] = [];
  let varS = 0;
  for (let xy = 0; xy < 4; xy++) {
    let same = 0;
    let all = 0;
    for (let p = 0; p < 16; p++) {
      const a = (p & 0b1100) === 0b1000 ? 1 : 0;
      const b = (p & 0b0011) === 0b0010 ? 1 : 0;
      if (a === b) same += n[xy]![p]!;
      all += n[xy]![p]!;
    }
    const e = (2 * same) / all - 1;
    E.push(e);
    total.push(all);
    varS += (1 - e * e) / all; // var of a mean of +-1 values
  }
  return { S: E[0]! + E[1]! + E[2]! - E[3]!, sigma: Math.sqrt(varS), E, total };
}
