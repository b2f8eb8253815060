/**
 * Serves a SimulatedChip on a real pseudo-terminal, for other processes: a socat PTY pair whose internal end the
 * realtime chip drives through serialport's native binding. More in README.md (pty.ts). The server ends when
 * socat does or when its end of the PTY hangs up: `ended` resolves with the reason (simulate says why, exit 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { withHangupDetection } from '../device/hangup.ts';
import { SimulatedChip, type ChipOptions } from './chip.ts';

export interface PtyServeOptions extends Omit<ChipOptions, 'clock'> {
  /** Where socat links the chip's own end (default `<ptyPath>.chip`). */
  internalPath?: string;
  /** How long to wait for socat's links (default 5000 ms). */
  startTimeoutMs?: number;
  /** socat executable (default `socat` on PATH). */
  socatPath?: string;
}

export interface PtyServer {
  chip: SimulatedChip;
  /** The path a host opens. */
  path: string;
  /** Stops the chip, closes the port, ends socat. */
  close(): Promise<void>;
  /** Resolves, with the reason, when the bridge ends by itself (socat exited, the PTY hung up); never after close(). */
  ended: Promise<string>;
  /** The socat bridge's process id (tests kill it to unplug the chip). */
  bridgePid: number | undefined;
}

/** How much chip output one port write carries at most. */
const WRITE_CHUNK_BYTES = 16 * 1024;

export async function servePty(ptyPath: string, opts: PtyServeOptions): Promise<PtyServer> {
  const internalPath = opts.internalPath ?? `${ptyPath}.chip`;
  const timeoutMs = opts.startTimeoutMs ?? 5000;
  const socat = spawn(
    opts.socatPath ?? 'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${ptyPath}`, `pty,raw,echo=0,link=${internalPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let socatLog = '';
  socat.stderr?.on('data', (d: Buffer) => {
    if (socatLog.length < 4096) socatLog += d.toString();
  });
  const exited = new Promise<number | string | null>((resolve) =>
    socat.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const spawnError = new Promise<Error>((resolve) => socat.once('error', resolve));

  try {
    await waitForLinks([ptyPath, internalPath], timeoutMs, exited, spawnError, () => socatLog);
  } catch (e) {
    socat.kill('SIGTERM');
    throw e;
  }

  const { internalPath: _i, startTimeoutMs: _t, socatPath: _s, ...chipOpts } = opts;
  let chip: SimulatedChip;
  let port: SerialPortStream;
  try {
    chip = new SimulatedChip({ ...chipOpts, clock: 'realtime' });
    // A hang-up of socat's end must end the server, not spin the native binding's read (hangup.ts).
    const binding = withHangupDetection(SerialPort.binding as unknown as Parameters<typeof withHangupDetection>[0]);
    port = new SerialPortStream({ binding, path: realpathSync(internalPath), baudRate: 921600, autoOpen: false });
    const p = port;
    await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())));
  } catch (e) {
    await stopProcess(socat, exited);
    throw e;
  }

  let writing = false;
  let closing = false;
  const pump = (): void => {
    if (writing || closing || !port.isOpen) return;
    const bytes = chip.read(WRITE_CHUNK_BYTES);
    if (bytes.length === 0) return;
    writing = true;
    port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), (err) => {
      writing = false;
      if (err) return;
      // Back-pressure: the next write only once the port took this one.
      if (port.writableLength > WRITE_CHUNK_BYTES) port.once('drain', pump);
      else setImmediate(pump);
    });
  };
  chip.onOutput = pump;
  port.on('data', (d: Buffer) => chip.receive(new Uint8Array(d)));
  port.on('error', () => {
    /* the host side went away: keep serving until close() */
  });
  let endedBy: ((reason: string) => void) | undefined;
  const ended = new Promise<string>((resolve) => (endedBy = resolve));
  const end = (reason: string): void => {
    if (closing) return;
    endedBy?.(reason);
    void close();
  };
  void exited.then((code) => {
    // Killed by a signal: say which; an exit code: with socat's last log line (its reason).
    const last = socatLog.trim().split('\n').pop() ?? '';
    end(typeof code === 'string' ? `socat was killed (${code})` : `socat exited (code ${code}): ${last}`);
  });
  // The PTY hangs up when socat ends: give socat's exit a moment to be the reason given.
  port.on('close', (err?: Error) => {
    const why = `its end of the PTY ${err ? `hung up (${err.message})` : 'closed'}`;
    setTimeout(() => end(why), 300);
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      chip.close();
      chip.onOutput = undefined;
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
      await stopProcess(socat, exited);
    })();
    return closed;
  };
  return { chip, path: ptyPath, close, ended, bridgePid: socat.pid };
}

async function waitForLinks(
  paths: string[],
  timeoutMs: number,
  exited: Promise<number | string | null>,
  spawnError: Promise<Error>,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let failure: Error | undefined;
  void exited.then((code) => {
    failure ??= new Error(
      `socat exited (code ${code}) before creating ${paths.join(' and ')}: ${log().trim().split('\n').pop() ?? ''}`,
    );
  });
  void spawnError.then((e) => {
    failure ??= new Error(`cannot run socat: ${e.message}`);
  });
  for (;;) {
    if (failure) throw failure;
    if (paths.every((p) => existsSync(p))) return;
    if (Date.now() > deadline) throw new Error(`socat did not create ${paths.join(' and ')} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<number | string | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
