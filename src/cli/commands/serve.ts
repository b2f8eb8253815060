/**
 * `epqrng serve`: a local entropy service. The certified pipeline runs into
 * a bounded pool; clients take bytes over HTTP (TCP and/or a Unix socket),
 * each byte once, each with the certificate that covers it. SIGINT/SIGTERM:
 * stop accepting, finish in-flight responses, STOP/ACK the chip, exit 0.
 */
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Device } from '../../device/index.ts';
import { EpqError, InputError, UsageError } from '../../errors.ts';
import { resolveExtractorSeed } from '../../extract/index.ts';
import { seedBitsForBlock } from '../../output/config.ts';
import { seedReference } from '../../record/session.ts';
import {
  DEFAULT_HOST,
  DEFAULT_POOL_BYTES,
  DEFAULT_PORT,
  EntropyService,
  listen,
  type ChipReturn,
  type EntropyServer,
  type ServiceOptions,
} from '../../serve/index.ts';
import { INTERNAL_ERROR_EXIT, type CommandIo } from '../framework.ts';
import { integer, parseCommandLine, pathValue, validateOption } from '../options.ts';
import { deviceOptionSpecs, deviceOptionsUsage, deviceSelection, openDevice } from '../device-options.ts';
import { openRecordedDevice } from '../recorded-device.ts';
import { serveRecording } from '../serve-recording.ts';
import { CertifiedSink } from '../certified-sink.ts';
import { certifyOptionSpecs, streamOptionsUsage, streamSettings } from '../stream-options.ts';
import { chipReturn, DEFAULT_RECONNECT_S, reconnectOption } from '../reconnect.ts';

export const usage = `usage: epqrng serve [device options] [--listen HOST:PORT] [--socket PATH] [--pool BYTES]
                    [--token FILE] [--certs FILE] [--record FILE] [certification options]
  --listen HOST:PORT      TCP address (default ${DEFAULT_HOST}:${DEFAULT_PORT}); a non-local HOST needs --token
  --socket PATH           also (or, without --listen, only) serve on this Unix socket (mode 0660)
  --pool BYTES            certified bytes kept ready (default ${DEFAULT_POOL_BYTES}); when full the chip is
                          paused with STOP and started again once half of it is served
  --token FILE            clients must send 'Authorization: Bearer <the file's first line>'; a
                          browser signs in once at / (a session cookie, HttpOnly, SameSite=Strict)
  --record FILE           record the session (both directions of the link) for replay and verify
  --reconnect[=SECONDS]   when the chip goes away, serve the pool and wait (default ${DEFAULT_RECONNECT_S} s) for the
                          same chip (same USB serial), then go on with the certificate chain; exit 3 if it
                          does not come back (default: serve the pool only, until SIGINT/SIGTERM)
API: GET /random?bytes=N[&wait=S], /certificates?since=SEQ, /certificates/SHA256, /status,
     /metrics (Prometheus), /events (SSE), / (dashboard)
${streamOptionsUsage}

${deviceOptionsUsage}`;

const specs = {
  ...deviceOptionSpecs,
  ...certifyOptionSpecs,
  listen: { type: 'string' },
  socket: { type: 'string' },
  pool: { type: 'string' },
  token: { type: 'string' },
  record: { type: 'string' },
  reconnect: { type: 'string', optionalValue: String(DEFAULT_RECONNECT_S) },
} as const;

/** Whether a listen host is this machine only (no token needed). */
export function isLocalHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** HOST:PORT (IPv6 as [ADDR]:PORT). */
export function parseListen(raw: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535))
    throw new UsageError(`--listen must be HOST:PORT, e.g. ${DEFAULT_HOST}:${DEFAULT_PORT} (got '${raw}')`);
  return { host: (m[1] ?? m[2])!, port };
}

/** The token: the file's first line, at least 16 characters (one-line InputError otherwise). */
export function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError('TOKEN_UNREADABLE', `cannot read --token ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new InputError(
      'TOKEN_SHORT',
      `--token ${path}: the first line must be a token of 16 or more non-blank characters`,
    );
  return token;
}

interface ServeSettings {
  tcp?: { host: string; port: number };
  socket?: string;
  poolBytes: number;
  token?: string;
}

function serveSettings(values: { listen?: string; socket?: string; pool?: string; token?: string }): ServeSettings {
  const socket = values.socket === undefined ? undefined : validateOption('socket', pathValue, values.socket);
  const s: ServeSettings = {
    poolBytes:
      values.pool === undefined ? DEFAULT_POOL_BYTES : validateOption('pool', integer(1024, 2 ** 31), values.pool),
  };
  if (values.listen !== undefined || socket === undefined)
    s.tcp = values.listen === undefined ? { host: DEFAULT_HOST, port: DEFAULT_PORT } : parseListen(values.listen);
  if (socket !== undefined) s.socket = socket;
  if (values.token !== undefined) s.token = readToken(validateOption('token', pathValue, values.token));
  if (s.tcp && !isLocalHost(s.tcp.host) && s.token === undefined)
    throw new UsageError(`--listen ${s.tcp.host} is reachable from other machines: it needs --token FILE`);
  return s;
}

/** The --certs file: each line written (the OS has it) before its block's bytes enter the pool. */
async function openCerts(
  path: string | undefined,
): Promise<{ write?: (line: string) => Promise<void>; close(): Promise<void> }> {
  if (path === undefined) return { close: async () => undefined };
  const s = createWriteStream(path);
  try {
    await once(s, 'ready');
  } catch (e) {
    throw new InputError('OUTPUT_UNWRITABLE', `cannot write --certs ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
  return {
    write: (line) => new Promise((resolve, reject) => s.write(`${line}\n`, (e) => (e ? reject(e) : resolve()))),
    close: () => new Promise((resolve) => s.end(resolve)),
  };
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const selection = deviceSelection(values);
  const settings = serveSettings(values);
  const { certsPath, pipeline, extractorSeedFile } = streamSettings(values);
  const { eps, adversary, blockTrials, maxConsecutiveRefused } = pipeline;
  const seed = resolveExtractorSeed({
    ...(extractorSeedFile !== undefined ? { file: extractorSeedFile } : {}),
    seedBits: seedBitsForBlock(blockTrials),
  });
  const recordPath = values.record === undefined ? undefined : validateOption('record', pathValue, values.record);
  const reconnectS = reconnectOption(values.reconnect, selection);
  // A serve recording holds the pool's STOP/START runs, not yet a disconnect and a reconnect between them.
  if (reconnectS !== undefined && recordPath !== undefined)
    throw new UsageError('serve --record cannot be combined with --reconnect yet (stream --record --reconnect can)');
  const others = [
    ...(recordPath !== undefined ? [{ option: '--record', path: recordPath }] : []),
    ...(extractorSeedFile !== undefined ? [{ option: '--extractor-seed', path: extractorSeedFile }] : []),
  ];
  CertifiedSink.check('-', certsPath, others);

  let device: Device;
  let closeRecording: (() => void) | undefined;
  let source: ServiceOptions['source'];
  if (recordPath !== undefined) {
    const rec = await openRecordedDevice(selection, {
      out: recordPath,
      tool: 'serve',
      commandLine: ['serve', ...argv],
      extractorSeed: seedReference(seed, extractorSeedFile !== undefined ? { source: extractorSeedFile } : {}),
    });
    device = rec.device;
    const recording = serveRecording(rec.recorder);
    closeRecording = recording.close;
    source = recording.source;
  } else {
    device = await openDevice(selection);
  }
  try {
    return await serveDevice(device, settings, io, {
      certsPath,
      pipeline: { seed, eps, adversary, blockTrials, maxConsecutiveRefused },
      ...(reconnectS !== undefined ? chipReturn(selection, device, reconnectS) : {}),
      ...(source ? { source } : {}),
    });
  } finally {
    await device.close();
    closeRecording?.();
  }
}

async function serveDevice(
  device: Device,
  settings: ServeSettings,
  io: CommandIo,
  o: {
    certsPath: string | undefined;
    pipeline: ServiceOptions['pipeline'];
    source?: ServiceOptions['source'];
    /** --reconnect: how the chip comes back, and the end of a wait without it. */
    reconnect?: ChipReturn;
    lost?: Promise<Error>;
  },
): Promise<number> {
  const certs = await openCerts(o.certsPath);
  const service = new EntropyService(device, {
    pipeline: o.pipeline,
    poolBytes: settings.poolBytes,
    ...(o.source ? { source: o.source } : {}),
    ...(certs.write ? { writeCertificate: certs.write } : {}),
    ...(o.reconnect ? { reconnect: o.reconnect } : {}),
  });
  let lost: Error | undefined;
  void o.lost?.then((e) => (lost = e));
  service.on('event', (e) => {
    if (e.type === 'state' && service.state === 'failed' && !lost)
      io.stderr.write(`epqrng: serving the pool only, no more blocks: ${service.failure?.message ?? ''}\n`);
  });
  let server: EntropyServer;
  try {
    server = await listen(service, {
      ...(settings.tcp ? { tcp: settings.tcp } : {}),
      ...(settings.socket !== undefined ? { socket: settings.socket } : {}),
      ...(settings.token !== undefined ? { token: settings.token } : {}),
    });
  } catch (e) {
    await certs.close();
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new UsageError(
      `cannot listen on ${settings.tcp ? `${settings.tcp.host}:${settings.tcp.port}` : settings.socket}: ${code}`,
    );
  }
  if (server.address)
    io.stdout.write(
      `http://${server.address.family === 'IPv6' ? `[${server.address.address}]` : server.address.address}:${server.address.port}/\n`,
    );
  if (settings.socket !== undefined) io.stdout.write(`unix:${settings.socket}\n`);
  service.start();
  const signal = await untilSignal(o.lost);
  if (typeof signal === 'string')
    io.stderr.write(`epqrng: ${signal}: finishing in-flight responses, stopping the chip\n`);
  try {
    await server.close();
  } finally {
    await certs.close();
  }
  // The chip did not come back (--reconnect): its one line and exit 3, after the in-flight responses.
  if (typeof signal !== 'string') throw signal;
  if (!service.failure) return 0;
  return service.failure instanceof EpqError ? service.failure.exitCode : INTERNAL_ERROR_EXIT;
}

/** The first SIGINT/SIGTERM, or the error that ends the wait for a chip that went away. */
function untilSignal(chipLost: Promise<Error> | undefined): Promise<NodeJS.Signals | Error> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals | Error): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    void chipLost?.then(on);
  });
}
