import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { epqrngInProcess, expectOneLineError } from './run-cli.ts';
import { deviceOptionSpecs, deviceSelection, openDevice } from '../../src/cli/device-options.ts';
import { parseCommandLine } from '../../src/cli/options.ts';
import { DeviceError, UsageError } from '../../src/errors.ts';
import { createSimulatedPort } from '../../src/simulator/index.ts';

const select = (...argv: string[]) => deviceSelection(parseCommandLine(argv, deviceOptionSpecs).values);

describe('deviceSelection', () => {
  it('reads each way of naming a device', () => {
    expect(select('--port', '/dev/ttyACM0')).toEqual({ kind: 'port', path: '/dev/ttyACM0' });
    expect(select('--serial', 'EPQ1-00C0FFEE')).toEqual({ kind: 'serial', serial: 'EPQ1-00C0FFEE' });
    expect(select()).toEqual({ kind: 'discover' });
    expect(select('--simulate')).toEqual({ kind: 'simulate', seed: 1, mode: 'honest', calibrated: true, faults: {} });
    expect(
      select(
        '--simulate=42',
        '--sim-mode',
        'lhv',
        '--sim-uncalibrated',
        '--sim-fault',
        'byteDropRate=1e-4',
        '--sim-fault',
        'latchedDetector=2',
        '--sim-flash',
        '/tmp/f.json',
      ),
    ).toEqual({
      kind: 'simulate',
      seed: 42,
      mode: 'lhv',
      calibrated: false,
      faults: { byteDropRate: 1e-4, latchedDetector: 2 },
      flashFile: '/tmp/f.json',
    });
  });

  it('refuses contradictions in one line', () => {
    expect(() => select('--port', 'a', '--serial', 'b')).toThrow(
      new UsageError('--port and --serial are mutually exclusive; pass one'),
    );
    expect(() => select('--sim-uncalibrated')).toThrow(new UsageError('--sim-uncalibrated needs --simulate'));
    expect(() => select('--simulate', '--sim-fault', 'nope')).toThrow(
      new UsageError("--sim-fault must be key=value (got 'nope')"),
    );
  });
});

describe('openDevice', () => {
  const sim = createSimulatedPort({ seed: 21, calibrated: true });

  it('opens by serial and by discovery through the lister (PROTOCOL 2 ids)', async () => {
    const lister = () => sim.binding.list();
    const bySerial = await openDevice(
      { kind: 'serial', serial: sim.chip.serial.toLowerCase() },
      { lister, binding: sim.binding },
    );
    expect(bySerial.path).toBe(sim.path);
    expect(bySerial.info.serial).toBe(sim.chip.serial);
    await bySerial.close();
    const found = await openDevice({ kind: 'discover' }, { lister, binding: sim.binding });
    expect(found.info.serial).toBe(sim.chip.serial);
    await found.close();
  });

  it('says what to pass when discovery finds none or several', async () => {
    const none = await openDevice({ kind: 'discover' }, { lister: async () => [] }).catch((e) => e);
    expect(none).toBeInstanceOf(DeviceError);
    expect(none.message).toBe('no EPQ-1 found on USB; pass --port PATH, --serial S or --simulate');
    const [p] = await sim.binding.list();
    const two = await openDevice(
      { kind: 'discover' },
      { lister: async () => [p!, { ...p!, path: '/dev/ttyACM9', serialNumber: 'EPQ1-00000002' }] },
    ).catch((e) => e);
    expect(two).toBeInstanceOf(UsageError);
    expect(two.message).toBe(
      `2 EPQ-1 found (${p!.serialNumber}, EPQ1-00000002); choose one with --serial S or --port PATH`,
    );
  });
});

describe('--sim-flash as user input', () => {
  it('a flash file that cannot be created or is not a flash file: exit 2, one line naming --sim-flash (not an internal error)', async () => {
    expectOneLineError(
      await epqrngInProcess('info', '--simulate', '--sim-flash', '/nonexistent/dir/flash.json'),
      2,
      /^epqrng: --sim-flash \/nonexistent\/dir\/flash\.json: ENOENT$/,
    );
    const notFlash = join(mkdtempSync(join(tmpdir(), 'epqrng-flash-')), 'flash.json');
    writeFileSync(notFlash, 'not a flash file');
    expectOneLineError(
      await epqrngInProcess('info', '--simulate', '--sim-flash', notFlash),
      2,
      /^epqrng: --sim-flash \S+flash\.json: simulator flash file \S+ is not JSON/,
    );
  });
});
