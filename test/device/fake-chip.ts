/**
 * A scriptable fake EPQ-1 on serialport's mock binding, for device tests that
 * need a chip that misbehaves on purpose (silent, wrong protocol major, lost
 * ACKs, unplugged mid-run). The real simulator is tested through the same
 * Device elsewhere; this one only speaks frames built with encodeFrame.
 */
import { SerialPortMock } from 'serialport';
import { decodeFrame } from '../../src/protocol/decode.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import {
  AckStatus,
  FrameType,
  type DeviceFrame,
  type HostFrame,
  type InfoFrame,
  type StatusFrame,
} from '../../src/protocol/types.ts';

type Binding = typeof SerialPortMock.binding;
type MockPort = Awaited<ReturnType<Binding['open']>>;
type Distribute<T> = T extends DeviceFrame ? Omit<T, 'seq' | 'flags'> & { flags?: number } : never;
export type OutFrame = Distribute<DeviceFrame>;

let nextPath = 0;

export interface FakeChipOptions {
  protocol?: [number, number];
  /** Answers nothing at all. */
  silent?: boolean;
  /** Drop the first N commands of these kinds without an ACK (lost on the link). */
  dropFirst?: Partial<Record<HostFrame['kind'], number>>;
  /** ACK status per kind (default OK), and the BAD_ARGUMENT detail. */
  ackStatus?: Partial<Record<HostFrame['kind'], [number, number?]>>;
  /** Custom answer: return true when handled. */
  onCommand?: (frame: HostFrame, chip: FakeChip) => boolean;
}

export const baseStatus: Omit<StatusFrame, 'seq' | 'flags'> = {
  kind: 'STATUS',
  trials: 0,
  temperature: 2500,
  pump: 300,
  bias: [30000, 30000, 30000, 30000],
  dark: [100, 100, 100, 100],
  window: 1000,
  angles: [0, 4500, 2250, 15750],
  faults: 0,
  state: 0,
  source: 0,
  lost: 0,
  delay: 0,
};

export class FakeChip {
  readonly path = `/dev/fake-epq-${process.pid}-${nextPath++}`;
  readonly received: HostFrame[] = [];
  port: MockPort | undefined;
  deviceSeq = 1000;
  state = 0;
  private unplugged = false;
  private readonly dropped: Partial<Record<string, number>> = {};

  constructor(readonly opts: FakeChipOptions = {}) {
    SerialPortMock.binding.createPort(this.path, { echo: false, record: false });
  }

  /** A binding that opens this chip's mock port with its write hooked to the fake firmware. */
  get binding(): Binding {
    const base = SerialPortMock.binding;
    return {
      ...base,
      list: () => base.list(),
      createPort: base.createPort.bind(base),
      reset: base.reset.bind(base),
      open: async (options) => {
        const port = await base.open(options);
        this.port = port;
        const write = port.write.bind(port);
        port.write = async (buf: Buffer) => {
          await write(buf);
          for (let o = 0; o + 64 <= buf.length; o += 64) this.onHostFrame(decodeFrame(buf, o) as HostFrame);
        };
        const read = port.read.bind(port);
        port.read = async (b: Buffer, off: number, len: number) => {
          if (this.unplugged) throw new Error('device unplugged');
          return read(b, off, len);
        };
        return port;
      },
    } as Binding;
  }

  info(): Omit<InfoFrame, 'seq' | 'flags'> {
    return {
      kind: 'INFO',
      protocol: this.opts.protocol ?? [1, 0],
      firmware: [1, 2, 3],
      serial: 'EPQ1-00C0FFEE',
      model: 'EPQ-1',
      maxTrialRate: 1_000_000,
      capabilities: 15,
      settingsFifo: 65536,
    };
  }

  /** Sends device frames (each with the next device seq), in one chunk. */
  send(...frames: OutFrame[]): void {
    if (!this.port?.isOpen) return;
    const bufs = frames.map((f) => encodeFrame({ flags: 0, ...f, seq: this.nextSeq() } as DeviceFrame));
    this.port.emitData(Buffer.concat(bufs));
  }

  /** Raw bytes straight onto the link. */
  sendBytes(bytes: Uint8Array): void {
    this.port?.emitData(Buffer.from(bytes));
  }

  nextSeq(): number {
    const s = this.deviceSeq;
    this.deviceSeq = (this.deviceSeq + 1) >>> 0;
    return s;
  }

  ack(frame: HostFrame, status: number = AckStatus.OK, detail = 0): OutFrame {
    return { kind: 'ACK', ackSeq: frame.seq, ackType: FrameType[frame.kind], status, detail };
  }

  /** TRIALS frames for trials [first, first + count), records (k % 48). */
  trials(first: number, count: number, flags = 0): OutFrame[] {
    const out: OutFrame[] = [];
    for (let i = 0; i < count; i += 40) {
      const n = Math.min(40, count - i);
      const records = new Uint8Array(n).map((_, k) => (first + i + k) % 48);
      out.push({ kind: 'TRIALS', first: first + i, n, records, flags });
    }
    return out;
  }

  /** The mock read fails with a non-canceled error: serialport reports a disconnect. */
  unplug(): void {
    this.unplugged = true;
    const p = this.port as unknown as { pendingRead: ((e?: Error) => void) | null };
    const pending = p.pendingRead;
    p.pendingRead = null;
    pending?.(new Error('device unplugged'));
  }

  count(kind: HostFrame['kind']): number {
    return this.received.filter((f) => f.kind === kind).length;
  }

  private onHostFrame(frame: HostFrame): void {
    this.received.push(frame);
    if (this.opts.silent) return;
    const drop = this.opts.dropFirst?.[frame.kind] ?? 0;
    const seen = (this.dropped[frame.kind] ?? 0) + 1;
    this.dropped[frame.kind] = seen;
    if (seen <= drop) return;
    if (this.opts.onCommand?.(frame, this)) return;
    const st = this.opts.ackStatus?.[frame.kind];
    if (st && st[0] !== AckStatus.OK) {
      this.send(this.ack(frame, st[0], st[1] ?? 0));
      return;
    }
    switch (frame.kind) {
      case 'GET_INFO':
        this.send(this.ack(frame), this.info());
        break;
      case 'GET_STATUS':
        this.send(this.ack(frame), { ...baseStatus, state: this.state });
        break;
      case 'START':
        this.state = 1;
        this.send(this.ack(frame));
        break;
      case 'STOP':
        this.state = 0;
        this.send(this.ack(frame));
        break;
      case 'MEASURE_COUNTS':
        this.send(this.ack(frame));
        setTimeout(() => {
          this.send({
            kind: 'COUNTS',
            id: frame.id,
            angleA: frame.angleA,
            angleB: frame.angleB,
            integration: frame.integration,
            singles: [1, 2, 3, 4],
            coincidences: [5, 6, 7, 8],
            trials: frame.integration * 1000,
            window: 1000,
            delay: 0,
          });
        }, frame.integration);
        break;
      case 'SETTINGS':
        break; // PROTOCOL 4 ACK: SETTINGS are answered only when rejected
      default:
        this.send(this.ack(frame));
    }
  }
}
