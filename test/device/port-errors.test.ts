/**
 * A port this user may not open (EACCES) gives one line with a hint: the
 * group that owns the port (from /etc/group), or the udev rule; exit 3.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.ts';
import { groupName, openFailureMessage, permissionHint } from '../../src/device/port-errors.ts';
import { DeviceError, ExitCode } from '../../src/errors.ts';
import { FakeChip } from './fake-chip.ts';

const denied = () => Object.assign(new Error('Error: Permission denied, cannot open /dev/ttyACM0'), { errno: 13 });

describe('permission hints', () => {
  it('names the group that owns the port, from the group database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-groups-'));
    const groups = join(dir, 'group');
    writeFileSync(groups, 'root:x:0:\ndialout:x:20:alice\nplugdev:x:46:\n');
    expect(groupName(20, groups)).toBe('dialout');
    expect(groupName(99, groups)).toBeUndefined();
    const port = join(dir, 'ttyACM0');
    writeFileSync(port, '');
    expect(permissionHint(port, () => 'dialout')).toBe(
      'join group dialout (sudo usermod -aG dialout $USER, then log in again), or install the EPQ-1 udev rule (epqrng install-linux --write) that gives it to group plugdev',
    );
    // a root-owned node, or one that cannot be looked at: the usual group and the rule
    expect(permissionHint(port, () => 'root')).toMatch(/^join the group that owns it \(usually dialout\), or install/);
    expect(permissionHint('/nonexistent/ttyACM9')).toMatch(/^join the group that owns it/);
  });

  it('a permission error at open: one-line DeviceError (exit 3) with the hint; others unchanged', async () => {
    const chip = new FakeChip();
    const binding = {
      ...chip.binding,
      open: async () => {
        throw denied();
      },
    };
    const err = await Device.open({ path: '/dev/ttyACM0', binding }).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.exitCode).toBe(ExitCode.DEVICE);
    expect(err.code).toBe('OPEN_FAILED');
    expect(err.message).toMatch(/^cannot open \/dev\/ttyACM0: Permission denied; join .*udev rule/);
    expect(err.message).not.toMatch(/\n/);
    expect(openFailureMessage('/dev/x', new Error('Error: No such file or directory, cannot open /dev/x'))).toBe(
      'cannot open /dev/x: No such file or directory',
    );
  });
});
