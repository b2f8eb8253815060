/**
 * `epqrng info [device options] [--json]`: what the chip says about itself
 * (PROTOCOL 4 INFO) and its calibration state (STATUS fault bit 5
 * UNCALIBRATED: no calibration saved in flash).
 */
import { faultNames, type Device } from '../../device/index.ts';
import { Capability, DeviceState, Fault } from '../../protocol/types.ts';
import type { CommandIo } from '../framework.ts';
import { parseCommandLine } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, openDevice } from '../device-options.ts';
import { checkDetectors } from '../detector-check.ts';

export const usage = `usage: epqrng info [--port P | --serial S | --simulate[=SEED]] [--json]
  --json    print the same fields as one JSON object

${deviceOptionsUsage}`;

const specs = { ...deviceOptionSpecs, json: { type: 'boolean' } } as const;

const CAPABILITY_NAMES: [number, string][] = [
  [Capability.HOST_SETTINGS, 'host settings'],
  [Capability.COUNTS_MODE, 'counts mode'],
  [Capability.BIAS_CONTROL, 'bias control'],
  [Capability.DELAY_CONTROL, 'delay control'],
];
const STATE_NAMES = Object.fromEntries(Object.entries(DeviceState).map(([k, v]) => [v, k.toLowerCase()])) as Record<
  number,
  string
>;

export interface InfoReport {
  path: string;
  serial: string;
  model: string;
  firmware: string;
  protocol: string;
  calibration: 'calibrated' | 'uncalibrated';
  maxTrialRate: number;
  capabilities: string[];
  settingsFifo: number;
  state: string;
  faults: string[];
  /** Stuck detectors seen in a short run (detector-check.ts); null when the chip was not idle. */
  detectorWarnings: string[] | null;
}

export async function describeDevice(device: Device): Promise<InfoReport> {
  const info = device.info;
  const status = await device.getStatus();
  return {
    path: device.path,
    serial: info.serial,
    model: info.model,
    firmware: info.firmware.join('.'),
    protocol: info.protocol.join('.'),
    // PROTOCOL 4 STATUS fault bit 5 UNCALIBRATED: no calibration saved in flash.
    calibration: status.faults & Fault.UNCALIBRATED ? 'uncalibrated' : 'calibrated',
    maxTrialRate: info.maxTrialRate,
    capabilities: CAPABILITY_NAMES.filter(([bit]) => info.capabilities & bit).map(([, name]) => name),
    settingsFifo: info.settingsFifo,
    state: STATE_NAMES[status.state] ?? String(status.state),
    faults: faultNames(status.faults),
    detectorWarnings:
      status.state === DeviceState.IDLE ? (await checkDetectors(device)).warnings.map((w) => w.warning) : null,
  };
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const selection = deviceSelection(values);
  const device = await openDevice(selection);
  try {
    const r = await describeDevice(device);
    if (values.json) {
      io.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      const rows: [string, string][] = [
        ['serial', r.serial],
        ['model', r.model],
        ['firmware', r.firmware],
        ['protocol', r.protocol],
        ['calibration', r.calibration],
        ['max rate', `${r.maxTrialRate} trials/s`],
        ['capabilities', r.capabilities.join(', ') || 'none'],
        ['settings fifo', `${r.settingsFifo} trials`],
        ['state', r.state],
        ['faults', r.faults.join(', ') || 'none'],
        [
          'detectors',
          r.detectorWarnings === null ? 'not checked (chip not idle)' : r.detectorWarnings.join('; ') || 'ok',
        ],
        ['path', r.path],
      ];
      for (const [k, v] of rows) io.stdout.write(`${(`${k}:`).padEnd(15)}${v}\n`);
    }
    return 0;
  } finally {
    await device.close();
  }
}
