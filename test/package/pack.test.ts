/**
 * The package as a user gets it: `npm pack`, then `npm install <tarball>`
 * into a fresh project (from the npm cache: --prefer-offline), where the
 * README's JavaScript example runs under plain node (no loader), its
 * TypeScript example type-checks against the installed types, the bin
 * works, and no build tool came along (`npm ls tsx` finds nothing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fencedBlocks, root } from './readme.ts';

interface PackEntry {
  filename: string;
  size: number;
  files: Array<{ path: string }>;
}

const npm = (args: string[], cwd: string) =>
  spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

describe('the packed package', () => {
  const work = mkdtempSync(join(tmpdir(), 'epqrng-pack-'));
  const project = join(work, 'project');
  let pack: PackEntry;

  beforeAll(() => {
    // dist/ is current (the test run's global setup builds it when a source is newer); --ignore-scripts keeps
    // npm pack's `prepare` from rewriting it while other test files run the CLI from it.
    const r = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root);
    expect(r.status, r.stderr).toBe(0);
    pack = (JSON.parse(r.stdout) as PackEntry[])[0]!;
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "uses-epqrng", "private": true, "type": "module" }\n');
    const i = npm(['install', join(work, pack.filename), '--prefer-offline', '--no-audit', '--no-fund'], project);
    expect(i.status, i.stderr).toBe(0);
  }, 600_000);

  it('is under 1 MB and ships dist, the frame layouts, the Linux files, README and LICENSE, and no test, bench or fixture', () => {
    expect(pack.size).toBeLessThan(1_000_000);
    const paths = pack.files.map((f) => f.path);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/extract/toeplitz-worker.js']) {
      expect(paths).toContain(p);
    }
    // linux/: the udev rule and systemd units that `epqrng install-linux` writes.
    const shipped = ['firmware-protocol/frames.json', 'README.md', 'LICENSE', 'bin/epqrng.js', 'package.json'];
    for (const p of [...shipped, 'linux/60-epq1.rules', 'linux/epqrng@.service']) {
      expect(paths).toContain(p);
    }
    const tops = new Set(paths.map((p) => p.split('/')[0]));
    const expected = ['LICENSE', 'README.md', 'bin', 'dist', 'firmware-protocol', 'linux', 'package.json'];
    expect([...tops].sort()).toEqual(expected);
    expect(paths.filter((p) => /\.test\.|^test\/|^bench\/|^fixtures\/|^\.ci\/|\.epqrec$/.test(p))).toEqual([]);
  });

  it("runs the README's JavaScript example with plain node", () => {
    const [js] = fencedBlocks('js');
    expect(js).toBeDefined();
    writeFileSync(join(project, 'random.mjs'), js!);
    const r = spawnSync(process.execPath, ['random.mjs'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^block 0: \d+ bytes, S = 2\.\d{3} \(lower bound 2\.\d{3}\), \d+ bits of entropy\n/);
    expect(r.stdout).toMatch(/\n4096 certified bytes\n$/);
  }, 150_000);

  it("type-checks the README's TypeScript example against the installed types", () => {
    const [ts] = fencedBlocks('ts');
    expect(ts).toBeDefined();
    writeFileSync(join(project, 'example.ts'), ts!);
    const config = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['example.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(config, null, 2));
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    // And a type error is caught (the check is real): a wrong option name.
    writeFileSync(join(project, 'example.ts'), `${ts}\ndevice.certifiedBytes({ byts: 1 });\n`);
    const bad = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(bad.stdout).toMatch(/error TS2353|error TS2561/);
  }, 120_000);

  it('the bin works with no loader, and no tsx came along', () => {
    const bin = join(project, 'node_modules/.bin/epqrng');
    const v = spawnSync(bin, ['--version'], { cwd: project, encoding: 'utf8' });
    expect(v.stdout).toMatch(/^epqrng \d+\.\d+\.\d+\n$/);
    const s = spawnSync('bash', ['-c', `set -o pipefail; ${bin} stream --simulate --bytes 64 --out - | od -An -tx1`], {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout.trim().split('\n')).toHaveLength(4); // 64 bytes, 16 per od line
    const ls = npm(['ls', 'tsx', 'esbuild', '--all'], project);
    expect(ls.stdout).toMatch(/\(empty\)/);
    expect(ls.stdout).not.toMatch(/tsx@|esbuild@/);
  }, 150_000);
});
