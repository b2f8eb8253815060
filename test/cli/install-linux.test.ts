/**
 * The Linux integration files (linux/) and `epqrng install-linux`: a dry run
 * by default, the files' content (the udev rule, the hardened systemd
 * template unit, the rngd drop-in), and the verifiers run where present
 * (`systemd-analyze verify`; `udevadm verify`, udev 253 and later).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { epqrngInProcess } from './run-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const epqrngBin = join(root, 'bin', 'epqrng.js');
const works = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const hasSystemdAnalyze = works('systemd-analyze', ['--version']);
const hasUdevadmVerify = works('udevadm', ['verify', '--help']);

async function install(): Promise<string> {
  const prefix = mkdtempSync(join(tmpdir(), 'epqrng-linux-'));
  const r = await epqrngInProcess(
    'install-linux',
    '--prefix',
    prefix,
    '--write',
    '--epqrng',
    epqrngBin,
    '--rngd',
    '/bin/true',
  );
  expect(r.code, r.stderr).toBe(0);
  return prefix;
}
const read = (prefix: string, path: string) => readFileSync(join(prefix, path), 'utf8');

describe('epqrng install-linux', () => {
  it('is a dry run by default: prints each file and where it goes, writes nothing', async () => {
    const prefix = mkdtempSync(join(tmpdir(), 'epqrng-linux-'));
    const r = await epqrngInProcess('install-linux', '--prefix', prefix);
    expect(r.code).toBe(0);
    for (const f of [
      'etc/udev/rules.d/60-epq1.rules',
      'etc/systemd/system/epqrng@.service',
      'etc/systemd/system/rngd.service.d/epqrng.conf',
      'etc/default/epqrng',
    ]) {
      expect(r.stdout).toContain(`# would write ${join(prefix, f)}\n`);
      expect(existsSync(join(prefix, f))).toBe(false);
    }
    expect(r.stdout).toContain('ExecStart=/usr/local/bin/epqrng stream --serial %i --reconnect');
    expect(r.stdout).toMatch(/# dry run: nothing written \(pass --write\)\n$/);
  });

  it('the udev rule: EPQ-1 ids, group plugdev 0660, /dev/epq1-<serial>, starts epqrng@<serial>', async () => {
    const rule = read(await install(), 'etc/udev/rules.d/60-epq1.rules')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(rule).toHaveLength(1);
    const keys = rule[0]!.split(/,\s*/);
    expect(keys).toEqual([
      'SUBSYSTEM=="tty"',
      'ATTRS{idVendor}=="1209"', // PROTOCOL 2: vendor 0x1209
      'ATTRS{idProduct}=="0001"', // product 0x0001
      'GROUP="plugdev"',
      'MODE="0660"',
      'SYMLINK+="epq1-$attr{serial}"',
      'TAG+="systemd"',
      'ENV{SYSTEMD_WANTS}+="epqrng@$attr{serial}.service"',
    ]);
  });

  it('the unit: stream --serial %i --reconnect into EPQRNG_OUT, hardened, restarted on failure', async () => {
    const unit = read(await install(), 'etc/systemd/system/epqrng@.service');
    const has = (line: string) => expect(unit.split('\n')).toContain(line);
    has(
      `ExecStart=${epqrngBin} stream --serial %i --reconnect --out \${EPQRNG_OUT} --certs /var/lib/epqrng/%i.certs.jsonl`,
    );
    has('Environment=EPQRNG_OUT=/run/epqrng/random');
    has('EnvironmentFile=-/etc/default/epqrng');
    for (const line of [
      'DynamicUser=yes',
      'SupplementaryGroups=plugdev',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'ProtectHome=yes',
      'Restart=on-failure',
      'DevicePolicy=closed',
    ])
      has(line);
  });

  it('the rngd drop-in reads the FIFO; the settings file names both outputs', async () => {
    const prefix = await install();
    const dropIn = read(prefix, 'etc/systemd/system/rngd.service.d/epqrng.conf').split('\n');
    expect(dropIn).toContain('ExecStart=');
    expect(dropIn).toContain('ExecStart=/bin/true -f -r /run/epqrng/random');
    const defaults = read(prefix, 'etc/default/epqrng');
    expect(defaults).toMatch(/^EPQRNG_OUT=\/run\/epqrng\/random$/m);
    expect(defaults).toContain('/dev/random');
  });

  it('an unwritable prefix is one line, exit 2', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'epqrng-linux-')), 'file');
    writeFileSync(file, '');
    const r = await epqrngInProcess('install-linux', '--prefix', file, '--write');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^epqrng: cannot write under .*file: ENOTDIR/);
  });

  it.skipIf(!hasSystemdAnalyze)(
    'systemd-analyze verify accepts the unit (an instance) and the rngd drop-in',
    async () => {
      const prefix = await install();
      const dir = join(prefix, 'etc/systemd/system');
      copyFileSync(join(dir, 'epqrng@.service'), join(dir, 'epqrng@EPQ1-00C0FFEE.service'));
      writeFileSync(join(dir, 'rngd.service'), '[Service]\nExecStart=/bin/true\n');
      for (const unit of ['epqrng@EPQ1-00C0FFEE.service', 'rngd.service']) {
        const r = spawnSync('systemd-analyze', ['verify', unit], {
          encoding: 'utf8',
          env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr.trim(), unit).toBe('');
      }
    },
  );

  it.skipIf(!hasUdevadmVerify)('udevadm verify accepts the rule', async () => {
    const prefix = await install();
    const r = spawnSync('udevadm', ['verify', join(prefix, 'etc/udev/rules.d/60-epq1.rules')], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });
});

describe('linux/ folder', () => {
  it('holds what install-linux installs', () => {
    for (const f of ['60-epq1.rules', 'epqrng@.service', 'epqrng.default', 'rngd.service.d/epqrng.conf'])
      expect(existsSync(join(root, 'linux', f)), f).toBe(true);
  });
});
