/**
 * Sessions that end badly still verify: `stream --record` ended every way a
 * session ends (STOP for --bytes, SIGINT, SIGTERM, a chip fault, the chip
 * killed, the host SIGKILLed), each live in its own process as a user runs
 * it. On each genuine recording `verify` (without --bytes) exits 0 and names
 * the ending, and exits 1 after any single edit of a certificate or an output
 * byte; `replay` writes the delivered bytes and certificates again, exit 0.
 * One row per ending.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { seedBitsForBlock } from '../../src/output/config.ts';
import { readSessionEnd } from '../../src/record/ending.ts';
import { epqrngInProcess } from '../cli/run-cli.ts';
import { spawnChip, type ChipProcess } from '../host/chip-process.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BLOCK = 2 ** 18;
/** Small blocks certify with the classical bound at eps 1e-6 on a calibrated simulated chip. */
const CERT_OPTS = ['--block-trials', String(BLOCK), '--adversary', 'classical', '--eps', '1e-6'];
/** How long a live session may take to start and certify its first blocks on a loaded 2-core machine. */
const START_MS = 60_000;

interface Ending {
  name: string;
  /** Options besides the recording, outputs and certification options. */
  device: string[];
  extra?: string[];
  /** Ends the session once it has written `blocks` certificates (nothing: it ends by itself). */
  end?: (child: ChildProcess, chip: ChipProcess | undefined) => Promise<void> | void;
  /** The live exit code (null: killed by a signal). */
  liveCode: number | null;
  /** What verify names (null: no end record, a warning instead). */
  ending: RegExp | null;
  /** The chip in its own process (epqrng simulate --pty), the host on its PTY. */
  chip?: boolean;
  /** Run in this process (no signal to send: the session ends by itself), which spares a process start. */
  inProcess?: boolean;
  /** replay's exit code (default 0): a chip fault is replayed as the live run met it. */
  replayCode?: number;
  /** Why the row cannot run yet, if it cannot. */
  pending?: string;
}

const ENDINGS: Ending[] = [
  {
    name: 'bytes',
    device: ['--simulate=5'],
    extra: ['--bytes', '20000'],
    inProcess: true,
    liveCode: 0,
    ending: /ended by STOP once --bytes/,
  },
  {
    name: 'sigint',
    device: ['--simulate=6'],
    end: (c) => void c.kill('SIGINT'),
    liveCode: 0,
    ending: /ended by SIGINT/,
  },
  {
    name: 'sigterm-bytes',
    device: ['--simulate=7'],
    extra: ['--bytes', '100000000'],
    end: (c) => void c.kill('SIGTERM'),
    liveCode: 143,
    ending: /ended by SIGTERM/,
  },
  {
    name: 'chip-fault',
    device: ['--simulate=8', '--sim-fault', 'pumpUnlocked=1', '--sim-fault', 'atMs=1500'],
    inProcess: true,
    liveCode: 3,
    ending: /ended by a device fault/,
    replayCode: 3,
  },
  {
    name: 'chip-killed',
    device: [],
    chip: true,
    end: (_c, chip) => chip?.close(),
    liveCode: 3,
    ending: /ended when the device was lost/,
    // The chip's process (simulate --pty) dies: the host sees the hang-up and ends the session as device-lost.
  },
  { name: 'host-sigkill', device: ['--simulate=9'], end: (c) => void c.kill('SIGKILL'), liveCode: null, ending: null },
];

let dir: string;
let seed: string;

interface Live {
  rec: string;
  out: string;
  certs: string;
  code: number | null;
  stderr: string;
}

function lines(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
}

/** Runs `epqrng stream ... --record` in its own process and ends it as the row says. */
async function liveSession(e: Ending): Promise<Live> {
  const base = join(dir, e.name);
  const files = { rec: `${base}.epqrec`, out: `${base}.bin`, certs: `${base}.certs` };
  const chip = e.chip ? await spawnChip(['--seed', '10']) : undefined;
  const device = chip ? ['--port', chip.path] : e.device;
  const outputs = ['--out', files.out, '--certs', files.certs, '--record', files.rec];
  const args = [...device, ...CERT_OPTS, '--extractor-seed', seed, ...(e.extra ?? []), ...outputs];
  if (e.inProcess) {
    const r = await epqrngInProcess('stream', ...args);
    return { ...files, code: r.code, stderr: r.stderr };
  }
  // At the lowest priority: a live session runs the in-process simulated chip flat out, and the suite's other tests
  // (the fixture regeneration above all, whose STOP lands by timing) must not starve meanwhile. Not against a chip
  // in its own process: the host must read its ACKs within the protocol's 500 ms.
  const child = spawn('nice', ['-n', chip ? '0' : '19', process.execPath, `${root}bin/epqrng.js`, 'stream', ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    if (e.end) {
      const deadline = Date.now() + START_MS;
      // Two whole certificates written: the session is in full flow.
      while (lines(files.certs) < 2 && child.exitCode === null && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await e.end(child, chip);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), START_MS);
    const code = await exited;
    clearTimeout(timer);
    return { ...files, code, stderr };
  } finally {
    await chip?.close();
  }
}

const sessions = new Map<string, Live>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'epq-endings-'));
  seed = join(dir, 'seed.bin');
  writeFileSync(seed, Buffer.alloc(Math.ceil(seedBitsForBlock(BLOCK) / 8), 0x5a));
  // Two at a time: the machine has two cores.
  const rows = ENDINGS.filter((e) => !e.pending);
  for (let i = 0; i < rows.length; i += 2) {
    const pair = rows.slice(i, i + 2);
    const done = await Promise.all(pair.map((e) => liveSession(e)));
    for (const [k, e] of pair.entries()) sessions.set(e.name, done[k]!);
  }
}, 8 * START_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The file with one byte changed (the byte at `at`, xor 0x01: still ASCII in a certificate line). */
function edited(path: string, at: number, name: string): string {
  const bytes = readFileSync(path);
  bytes[at]! ^= 0x01;
  const to = join(dir, name);
  writeFileSync(to, bytes);
  return to;
}

describe.each(ENDINGS)('a session ended by $name', (e) => {
  const it = e.pending ? test.skip : test;
  it('ends live as it should, certificates and bytes written', () => {
    const s = sessions.get(e.name)!;
    expect(s.code, s.stderr).toBe(e.liveCode);
    expect(lines(s.certs), s.stderr).toBeGreaterThanOrEqual(e.name === 'host-sigkill' ? 1 : 2);
  });

  it('verify (no --bytes) exits 0 and names the ending; replay writes the same bytes and certificates, exit 0', async () => {
    const s = sessions.get(e.name)!;
    const v = await epqrngInProcess('verify', s.rec, '--certs', s.certs, '--output', s.out);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/all match/);
    if (e.ending) {
      expect(v.stdout).toMatch(e.ending);
      expect((await readSessionEnd(s.rec))?.session?.delivered.bytes).toBe(readFileSync(s.out).length);
    } else {
      expect(await readSessionEnd(s.rec)).toBeNull();
      expect(v.stderr).toMatch(/has no end record \(its host was killed or crashed\)/);
    }
    const out = join(dir, `${e.name}.replay.bin`);
    const certs = join(dir, `${e.name}.replay.certs`);
    const r = await epqrngInProcess('replay', s.rec, '--out', out, '--certs', certs);
    expect(r.code, r.stderr).toBe(e.replayCode ?? 0);
    const live = readFileSync(s.out);
    const again = readFileSync(out);
    if (e.ending) {
      expect(again.equals(live)).toBe(true);
      expect(readFileSync(certs, 'utf8')).toBe(readFileSync(s.certs, 'utf8'));
    } else {
      // Killed: the live files are a prefix of what the recording certifies (it is always ahead of them).
      expect(again.subarray(0, live.length).equals(live)).toBe(true);
      expect(readFileSync(certs, 'utf8').startsWith(readFileSync(s.certs, 'utf8'))).toBe(true);
    }
  });

  it('verify exits 1 after one edited byte of a certificate or of the output', async () => {
    const s = sessions.get(e.name)!;
    const certText = readFileSync(s.certs);
    const outLength = readFileSync(s.out).length;
    // A byte inside the first certificate, one inside the last whole one, the first and the last output byte.
    const lastWhole = certText.lastIndexOf('\n', certText.length - 2);
    const cases: Array<['certs' | 'out', number]> = [
      ['certs', 40],
      ['certs', Math.max(0, lastWhole) + 60],
      ['out', 0],
      ['out', outLength - 1],
    ];
    for (const [what, at] of cases) {
      const certs = what === 'certs' ? edited(s.certs, at, `${e.name}.${at}.certs`) : s.certs;
      const out = what === 'out' ? edited(s.out, at, `${e.name}.${at}.bin`) : s.out;
      const v = await epqrngInProcess('verify', s.rec, '--certs', certs, '--output', out);
      expect(v.code, `${what} byte ${at}: ${v.stdout}${v.stderr}`).toBe(1);
      expect(v.stderr).toMatch(/^(epqrng: warning: .*\n)*epqrng: verify: /);
    }
  });
});
