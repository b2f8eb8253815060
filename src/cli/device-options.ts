/**
 * Device selection shared by every command that talks to a chip:
 *
 *   --port PATH          a serial port (a real EPQ-1, or a PTY from `epqrng simulate`)
 *   --serial S           the EPQ-1 with this USB serial number (discovery, PROTOCOL 2)
 *   --simulate[=SEED]    the built-in chip simulator, in process (seed default 1)
 *
 * At most one of them; with none, the one EPQ-1 discovered on USB is used
 * (none or several is an error saying what to pass).
 *
 * Simulator extras (only with --simulate):
 *   --sim-mode honest|lhv|postselect|tamper|biased   adversarial chips (default honest)
 *   --sim-uncalibrated   a factory-new chip (no saved calibration: PROTOCOL 7).
 *                        Without it the in-process chip is CALIBRATED, as if
 *                        `epqrng calibrate --save` had been run on it.
 *   --sim-fault k=v      fault injection, repeatable (see `epqrng simulate --help`)
 *   --sim-flash FILE     the chip's flash (saved calibration) persisted in FILE
 */
import { SerialPort } from 'serialport';
import type { BindingInterface } from '../serialport-types.ts';
import { Device, type DeviceOpenOptions } from '../device/index.ts';
import { findBySerial, listDevices, type PortLister } from '../device/index.ts';
import { DeviceError, InputError, UsageError } from '../errors.ts';
import { createSimulatedPort, normalizeFaults, type ChipFaults, type SimulatedPortHandle } from '../simulator/index.ts';
import { integer, keyValue, oneOf, pathValue, validateOption, type OptionSpecs, type ParsedValues } from './options.ts';

export const SIM_MODES = ['honest', 'lhv', 'postselect', 'tamper', 'biased'] as const;
export type SimMode = (typeof SIM_MODES)[number];

export const deviceOptionSpecs = {
  port: { type: 'string' },
  serial: { type: 'string' },
  simulate: { type: 'string', optionalValue: '1' },
  'sim-mode': { type: 'string' },
  'sim-uncalibrated': { type: 'boolean' },
  'sim-fault': { type: 'string', multiple: true },
  'sim-flash': { type: 'string' },
} as const satisfies OptionSpecs;

export const deviceOptionsUsage = `device (at most one; none: the one EPQ-1 found on USB):
  --port PATH            serial port of the chip (or a PTY served by 'epqrng simulate')
  --serial S             the EPQ-1 with this USB serial number, e.g. EPQ1-00C0FFEE
  --simulate[=SEED]      the built-in simulated chip, in process (SEED default 1);
                         it starts CALIBRATED, as if 'epqrng calibrate --save' had run
  --sim-mode MODE        honest, lhv, postselect, tamper or biased (default honest)
  --sim-uncalibrated     a factory-new simulated chip (no saved calibration)
  --sim-fault K=V        simulator fault injection, repeatable
  --sim-flash FILE       keep the simulated chip's flash (calibration) in FILE`;

export type DeviceSelection =
  | { kind: 'port'; path: string }
  | { kind: 'serial'; serial: string }
  | { kind: 'discover' }
  | { kind: 'simulate'; seed: number; mode: SimMode; calibrated: boolean; faults: ChipFaults; flashFile?: string };

/** Validates the device options (one line UsageError on any problem). */
export function deviceSelection(values: ParsedValues<typeof deviceOptionSpecs>): DeviceSelection {
  const chosen = (['port', 'serial', 'simulate'] as const).filter((k) => values[k] !== undefined);
  if (chosen.length > 1)
    throw new UsageError(`${chosen.map((k) => `--${k}`).join(' and ')} are mutually exclusive; pass one`);
  const simExtras = (['sim-mode', 'sim-uncalibrated', 'sim-fault', 'sim-flash'] as const).filter(
    (k) => values[k] !== undefined,
  );
  if (simExtras.length && values.simulate === undefined) throw new UsageError(`--${simExtras[0]} needs --simulate`);
  if (values.port !== undefined) return { kind: 'port', path: validateOption('port', pathValue, values.port) };
  if (values.serial !== undefined)
    return { kind: 'serial', serial: validateOption('serial', pathValue, values.serial) };
  if (values.simulate !== undefined) {
    const faults = parseFaults('sim-fault', values['sim-fault'] ?? []);
    const sel: DeviceSelection = {
      kind: 'simulate',
      seed: validateOption('simulate', integer(0, 0xffffffff), values.simulate),
      mode: validateOption('sim-mode', oneOf(SIM_MODES), values['sim-mode'] ?? 'honest'),
      calibrated: !values['sim-uncalibrated'],
      faults,
    };
    if (values['sim-flash'] !== undefined) sel.flashFile = validateOption('sim-flash', pathValue, values['sim-flash']);
    return sel;
  }
  return { kind: 'discover' };
}

/** Repeated `k=v` fault options, checked by the simulator's own rules (a one-line UsageError naming the key otherwise). */
export function parseFaults(option: string, raw: readonly string[]): ChipFaults {
  const faults: Record<string, string> = {};
  for (const f of raw) {
    const [k, v] = validateOption(option, keyValue, f);
    faults[k] = v;
  }
  try {
    return normalizeFaults(faults);
  } catch (e) {
    throw new UsageError(`--${option}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface OpenDeviceOptions extends Omit<DeviceOpenOptions, 'path'> {
  /** Port lister for --serial and discovery (default SerialPort.list()). */
  lister?: PortLister;
  /** Binding for --port, --serial and discovery (default the native one); --simulate brings its own. */
  binding?: DeviceOpenOptions['binding'];
}

/** Where the selected device is: its path and serialport binding, and the simulated chip when it is one. */
export interface ResolvedPort {
  path: string;
  binding: BindingInterface;
  /** The in-process simulated chip (--simulate), for chip time and the recording's notes. */
  sim?: SimulatedPortHandle;
}

/** Resolves --port, --serial, discovery or --simulate to a path and binding (native unless simulated). */
export async function resolvePort(
  sel: DeviceSelection,
  { lister, binding }: Pick<OpenDeviceOptions, 'lister' | 'binding'> = {},
): Promise<ResolvedPort> {
  const native = binding ?? (SerialPort.binding as unknown as BindingInterface);
  switch (sel.kind) {
    case 'port':
      return { path: sel.path, binding: native };
    case 'serial':
      return { path: (await findBySerial(sel.serial, lister)).path, binding: native };
    case 'discover': {
      const found = await listDevices(lister);
      if (found.length === 0)
        throw new DeviceError('NOT_FOUND', 'no EPQ-1 found on USB; pass --port PATH, --serial S or --simulate');
      if (found.length > 1) {
        throw new UsageError(
          `${found.length} EPQ-1 found (${found.map((d) => d.serialNumber ?? d.path).join(', ')}); choose one with --serial S or --port PATH`,
        );
      }
      return { path: found[0]!.path, binding: native };
    }
    case 'simulate': {
      let sim: SimulatedPortHandle;
      try {
        sim = createSimulatedPort({
          seed: sel.seed,
          mode: sel.mode,
          calibrated: sel.calibrated,
          faults: sel.faults,
          ...(sel.flashFile !== undefined ? { flashFile: sel.flashFile } : {}),
        });
      } catch (e) {
        // The only file the simulator reads or creates at start is --sim-flash: a bad one is bad input, not a bug.
        if (sel.flashFile === undefined) throw e;
        const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
        throw new InputError('SIM_FLASH', `--sim-flash ${sel.flashFile}: ${why}`, { cause: e });
      }
      return { path: sim.path, binding: sim.binding, sim };
    }
  }
}

/** A device notice (e.g. a chip an earlier host left running was stopped): one line on stderr. */
export function noticeOnStderr(line: string): void {
  process.stderr.write(`epqrng: ${line}\n`);
}

/** Opens the selected device (the in-process simulator through its serialport binding: the very Device code used with hardware). */
export async function openDevice(
  sel: DeviceSelection,
  { lister, binding, ...deviceOpts }: OpenDeviceOptions = {},
): Promise<Device> {
  const port = await resolvePort(sel, { lister, binding });
  return Device.open({ onNotice: noticeOnStderr, ...deviceOpts, path: port.path, binding: port.binding });
}
