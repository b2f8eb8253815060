/**
 * An in-process serialport binding (BindingInterface of @serialport/bindings-interface) wired to a SimulatedChip, so
 * that `new SerialPortStream({ binding, path, baudRate: 921600 })` talks to the simulated chip through the very code
 * path used with hardware. More in README.md (binding.ts).
 */
import type * as sp from '../serialport-types.ts';
import { epq1PortInfo, withOpenDefaults } from '../protocol/transport.ts';
import { SimulatedChip, type ChipOptions } from './chip.ts';

/** PROTOCOL 2: USB descriptor values (re-exported: their home is protocol/transport.ts). */
export { USB_VENDOR_ID, USB_PRODUCT_ID, USB_MANUFACTURER } from '../protocol/transport.ts';

class CanceledError extends Error {
  readonly canceled = true;
  constructor(message: string) {
    super(message);
    this.name = 'CanceledError';
  }
}

class SimulatedPort implements sp.BindingPortInterface {
  readonly openOptions: Required<sp.OpenOptions>;
  isOpen = true;
  private waiter: (() => void) | undefined;
  private readonly release: () => void;

  constructor(
    private readonly chip: SimulatedChip,
    openOptions: Required<sp.OpenOptions>,
    release: () => void,
  ) {
    this.openOptions = openOptions;
    this.release = release;
    chip.onOutput = () => this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!Buffer.isBuffer(buffer)) throw new TypeError('"buffer" is not a Buffer');
    for (;;) {
      if (!this.isOpen) throw new CanceledError('Read canceled');
      const bytes = this.chip.read(length);
      if (bytes.length > 0) {
        // Let timers and I/O run between chunks (a virtual-time chip answers every read at once).
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!this.isOpen) throw new CanceledError('Read canceled');
        buffer.set(bytes, offset);
        return { buffer, bytesRead: bytes.length };
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  async write(buffer: Buffer): Promise<void> {
    if (!Buffer.isBuffer(buffer)) throw new TypeError('"buffer" is not a Buffer');
    if (!this.isOpen) throw new CanceledError('Write canceled');
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.isOpen) throw new CanceledError('Write canceled');
    this.chip.receive(new Uint8Array(buffer));
  }

  async close(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.isOpen = false;
    this.chip.onOutput = undefined;
    this.release();
    this.wake();
  }

  async update(options: sp.UpdateOptions): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    if (typeof options?.baudRate !== 'number') throw new TypeError('"options.baudRate" is not a number');
    // PROTOCOL 2: the baud rate is ignored.
  }

  async set(_options: sp.SetOptions): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
  }

  async get(): Promise<sp.PortStatus> {
    if (!this.isOpen) throw new Error('Port is not open');
    return { cts: true, dsr: true, dcd: true };
  }

  async getBaudRate(): Promise<{ baudRate: number }> {
    if (!this.isOpen) throw new Error('Port is not open');
    return { baudRate: this.openOptions.baudRate };
  }

  /** Discards what the chip has queued and the host has not read (the OS receive buffer). */
  async flush(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
    this.chip.discardOutput();
  }

  async drain(): Promise<void> {
    if (!this.isOpen) throw new Error('Port is not open');
  }
}

export interface SimulatedPortOptions extends ChipOptions {
  /** The path the binding answers to (default `/dev/ttyEPQSIM<seed>`). */
  path?: string;
}

export interface SimulatedPortHandle {
  binding: sp.BindingInterface;
  path: string;
  chip: SimulatedChip;
}

/** A serialport binding with one simulated EPQ-1 behind `path`. */
export function createSimulatedPort(opts: SimulatedPortOptions): SimulatedPortHandle {
  const { path = `/dev/ttyEPQSIM${opts.seed}`, ...chipOpts } = opts;
  const chip = new SimulatedChip(chipOpts);
  let openPort: SimulatedPort | undefined;
  const binding: sp.BindingInterface = {
    async list(): Promise<sp.PortInfo[]> {
      return [epq1PortInfo(path, chip.serial)];
    },
    async open(options: sp.OpenOptions): Promise<sp.BindingPortInterface> {
      if (!options || typeof options !== 'object') throw new TypeError('"options" is not an object');
      if (!options.path) throw new TypeError('"path" is not a valid port');
      if (!options.baudRate) throw new TypeError('"baudRate" is not a valid baudRate');
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.path !== path) throw new Error(`Error: No such file or directory, cannot open ${options.path}`);
      if (openPort?.isOpen) throw new Error('Error Resource temporarily unavailable Cannot lock port');
      openPort = new SimulatedPort(chip, withOpenDefaults(options), () => {
        openPort = undefined;
      });
      return openPort;
    },
  };
  return { binding, path, chip };
}
