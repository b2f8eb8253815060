/**
 * Replaying a session of several runs (run-events.ts), as the live host ran
 * it:
 *
 * - `stream --reconnect`: the live reconnecting stream
 *   (src/output/reconnecting-stream.ts) over the replay binding in runs
 *   'many'; where the recording lost its port, the replayed port is lost too,
 *   and the chip "comes back" as the next run of the recording, at the time
 *   its `reconnect` event says. The trials dropped and the chip that
 *   answered must be the recorded ones; another serial is refused as live.
 * - `serve`: certifiedStream run after run on one port; each run ends where
 *   the live host stopped taking blocks (its `run-end` event) or where the
 *   recording has its STOP, and the next starts where the recording has its
 *   START. Each serve run starts a new certificate chain, as live.
 */
import { Device, type Run } from '../device/index.ts';
import { DeviceError } from '../errors.ts';
import { certifiedStream, type CertifiedStreamOptions, type StreamProgress } from '../output/certified-stream.ts';
import { reconnectingStream, sameChip, type LostRun, type Reopen } from '../output/reconnecting-stream.ts';
import type { RecordingHeader } from './format.ts';
import type { ReplaySession } from './replay-binding.ts';
import { runEndBlocks } from './run-events.ts';

/** Whether a recorded command line ran with --reconnect (its recording may hold several runs). */
export function recordedWithReconnect(commandLine: readonly string[]): boolean {
  return commandLine.some((a) => a === '--reconnect' || a.startsWith('--reconnect='));
}

/** The replay's chip coming back: the recording's next run, checked against its `reconnect` event. */
export function replayedReopen(session: ReplaySession): Reopen {
  return async (serial, lost) => {
    const event = await session.nextRun();
    if (event === null) return noNextRun(session, serial, lost);
    const where = `replay diverged at run ${event.run}`;
    if (event.run !== lost.runs + 1 || event.trialsDropped !== lost.trialsDropped)
      throw new DeviceError(
        'REPLAY_DIVERGED',
        `${where}: the recording's reconnect follows run ${event.run - 1} with ${event.trialsDropped} trials dropped, the replayed host lost run ${lost.runs} with ${lost.trialsDropped}`,
      );
    const device = await Device.open({ path: session.path, binding: session.binding as never });
    if (device.info.serial !== event.device.serial) {
      await device.close();
      throw new DeviceError(
        'REPLAY_DIVERGED',
        `${where}: the recording's reconnect names ${event.device.serial}, its port answers as ${device.info.serial}`,
      );
    }
    return { device: await sameChip(device, serial), at: event.at };
  };
}

/**
 * The recording has no run after the lost one: the live session ended
 * there, waiting for the chip (a signal: no error; the wait timed out:
 * NOT_FOUND, as live; the host killed: the loss itself), or, when its end
 * record says otherwise, runs were taken out of it.
 */
function noNextRun(session: ReplaySession, serial: string, lost: LostRun): undefined {
  const end = session.port?.end?.session;
  if (!end) throw lost.cause;
  if (end.ending === 'signal') return undefined;
  if (end.ending === 'device-fault')
    throw new DeviceError('NOT_FOUND', `${serial} did not come back (the recording ends after its disconnect)`);
  throw new DeviceError(
    'REPLAY_ENDED',
    `${session.path} ends where run ${lost.runs} lost its chip, but its end record counts ${end.runs ?? 'more'} runs (ending ${end.ending})`,
  );
}

/**
 * A serve recording's runs on one port: each run's certified blocks, at most
 * `runBlocks[n]` of run n (the blocks the live host took: it stopped taking
 * there, and STOP followed), then the next run when the recording starts one.
 */
export async function* serveRuns(
  device: Device,
  session: ReplaySession,
  opts: Omit<CertifiedStreamOptions, 'onRun'> & { onRun: (r: Run) => void },
  runBlocks: readonly number[],
): AsyncGenerator<Uint8Array, StreamProgress | undefined, void> {
  let last: StreamProgress | undefined;
  for (let n = 0; ; n++) {
    const limit = runBlocks[n] ?? Infinity;
    let taken = 0;
    const onProgress = (p: StreamProgress): void => {
      last = p;
      opts.onProgress?.(p);
    };
    // Only the blocks the live host took are delivered, certificates included (each comes before its bytes).
    const onCertificate: CertifiedStreamOptions['onCertificate'] = (line, block) => {
      if (taken < limit) opts.onCertificate?.(line, block);
    };
    for await (const bytes of certifiedStream(device, { ...opts, onProgress, onCertificate })) {
      if (taken >= limit) continue; // a run the live host took no block from: played to its STOP
      yield bytes;
      if (++taken >= limit) break; // the live host stopped taking blocks here: STOP follows (the stream's end)
    }
    if ((await session.port?.nextHostWrite()) !== 'START') return last;
  }
}

/**
 * The host logic of a recorded session, run against its replay: serve's
 * runs, stream --reconnect's runs, or one stream run.
 */
export async function* recordedRuns(
  header: RecordingHeader,
  device: Device,
  session: ReplaySession,
  opts: Omit<CertifiedStreamOptions, 'onRun'> & { onRun: (r: Run) => void },
): AsyncGenerator<Uint8Array, StreamProgress | undefined, void> {
  if (header.tool === 'serve') return yield* serveRuns(device, session, opts, await runEndBlocks(session.path));
  if (recordedWithReconnect(header.commandLine))
    return yield* reconnectingStream(device, opts, replayedReopen(session));
  return yield* certifiedStream(device, opts);
}
