/**
 * Test proxies around a serialport binding, on the chip-to-host direction:
 * - `dropFrames`: drops device frames a predicate picks (e.g. one ACK lost on
 *   the link), reassembling whole 64-byte frames from the byte stream (the
 *   simulated chip without link faults sends frame-aligned bytes);
 * - `unpluggable`: a port whose read fails at a moment the test chooses, the
 *   way a kernel reports an unplug: end of file (hang-up) or EIO / ENXIO / EBADF.
 */
import type { Device } from '../../src/device/index.ts';
import { decodeFrame } from '../../src/protocol/decode.ts';
import type { DeviceFrame } from '../../src/protocol/types.ts';

type Binding = NonNullable<Parameters<typeof Device.open>[0]['binding']>;
type Port = Awaited<ReturnType<Binding['open']>>;
type ReadResult = { buffer: Buffer; bytesRead: number };

function wrapRead(binding: Binding, wrap: (port: Port, read: Port['read']) => Port['read']): Binding {
  return {
    list: () => binding.list(),
    async open(options) {
      const port = await binding.open(options);
      port.read = wrap(port, port.read.bind(port));
      return port;
    },
  };
}

/** The binding with the device frames `drop` picks removed from what the host reads. */
export function dropFrames(binding: Binding, drop: (frame: DeviceFrame) => boolean): Binding {
  return wrapRead(binding, (_port, read) => {
    let pending = Buffer.alloc(0);
    const ready: Buffer[] = [];
    return async (buffer, offset, length): Promise<ReadResult> => {
      for (;;) {
        const out = ready.shift();
        if (out) {
          const n = Math.min(out.length, length);
          out.copy(buffer, offset, 0, n);
          if (n < out.length) ready.unshift(out.subarray(n));
          return { buffer, bytesRead: n };
        }
        const tmp = Buffer.alloc(65536);
        const { bytesRead } = await read(tmp, 0, tmp.length);
        pending = Buffer.concat([pending, tmp.subarray(0, bytesRead)]);
        const whole = pending.length - (pending.length % 64);
        const kept: Buffer[] = [];
        for (let o = 0; o < whole; o += 64) {
          const frame = pending.subarray(o, o + 64);
          let decoded: DeviceFrame | undefined;
          try {
            decoded = decodeFrame(frame, 0) as DeviceFrame;
          } catch {
            decoded = undefined;
          }
          if (!decoded || !drop(decoded)) kept.push(Buffer.from(frame));
        }
        pending = Buffer.from(pending.subarray(whole));
        if (kept.length) ready.push(Buffer.concat(kept));
      }
    };
  });
}

export type UnplugKind = 'EOF' | 'EIO' | 'ENXIO' | 'EBADF';

export interface Unpluggable {
  binding: Binding;
  /** From now on every read (the pending one too) fails as `kind`; returns how many reads saw it. */
  unplug(kind: UnplugKind): void;
  /** Reads made after the unplug (a busy loop would make thousands). */
  readsAfterUnplug: number;
}

export function unpluggable(binding: Binding): Unpluggable {
  let unplugged: UnplugKind | undefined;
  let wake: (() => void) | undefined;
  const handle: Unpluggable = {
    binding: wrapRead(binding, (_port, read) => async (buffer, offset, length): Promise<ReadResult> => {
      const failNow = (): ReadResult => {
        handle.readsAfterUnplug++;
        if (unplugged === 'EOF') return { buffer, bytesRead: 0 };
        throw Object.assign(new Error(`${unplugged}: simulated unplug, read`), { code: unplugged });
      };
      if (unplugged) return failNow();
      const gone = new Promise<'gone'>((resolve) => (wake = () => resolve('gone')));
      const r = await Promise.race([read(buffer, offset, length), gone]);
      if (r === 'gone' || unplugged) return failNow();
      return r;
    }),
    unplug(kind) {
      unplugged = kind;
      wake?.();
    },
    readsAfterUnplug: 0,
  };
  return handle;
}
