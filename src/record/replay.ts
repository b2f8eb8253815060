/**
 * The trial runs held in a recording or a raw capture, as the RunEvent[]
 * batches the certify stage takes, by the same code paths as a live run:
 *
 * - a raw capture (device-to-host bytes only): runEventsFromBytes, the
 *   scanner and assembler of a live run, over the file streamed in chunks;
 * - a recording made by `epqrng record`: the Device itself over the replay
 *   binding, driven by record's own host logic (trialRun), so the run holds
 *   exactly the events the live run held (nothing from before START or
 *   after STOP's ACK) and every host command is checked against the file.
 *
 * Recordings made by `stream --record` replay through the stream stage
 * itself (src/cli/commands/replay.ts), which owns that host logic.
 */
import { Device, runEventsFromBytes, emptyRunStats, type RunEvent, type RunStats } from '../device/index.ts';
import { DeviceError } from '../errors.ts';
import { frameAlignedPieces } from '../protocol/aligned.ts';
import { openRecording, deviceBytes } from './reader.ts';
import { createReplayBinding, EndOfRecordingError, type ReplaySession } from './replay-binding.ts';
import { trialRun, trialRunOptionsFrom } from './trial-run.ts';

export interface ReplaySourceOptions {
  /** The one-line warning of a cut recording. */
  onWarning?: (message: string) => void;
  /** File read size (memory is a small multiple of it). */
  chunkBytes?: number;
}

/** The RunEvent batches of every device-to-host byte of a file (raw capture or recording). */
export async function* captureEvents(
  path: string,
  { onWarning, chunkBytes = 1 << 18 }: ReplaySourceOptions = {},
  stats: RunStats = emptyRunStats(),
): AsyncGenerator<RunEvent[], void, void> {
  // Every view of a chunk is scanned (and what is kept copied) before the next is read: one read buffer, reused.
  const recording = await openRecording(path, { onWarning, chunkBytes, reuseChunks: true });
  // Back-to-back frames: cut at frame boundaries once FrameSync has locked; the run's scanner still checks every one.
  yield* runEventsFromBytes(frameAlignedPieces(deviceBytes(recording)), stats);
}

export interface RecordedRun {
  /** The run's event batches; throws the divergence if the host strayed. */
  events: AsyncGenerator<RunEvent[], RunStats | undefined, void>;
  session: ReplaySession;
}

/**
 * Plays a recording made by `epqrng record` through the Device with
 * record's host logic (START with the recorded limit and rate; STOP where the
 * recording has it).
 */
export function recordedRunEvents(
  path: string,
  commandLine: readonly string[],
  { onWarning, chunkBytes }: ReplaySourceOptions = {},
): RecordedRun {
  const { limitTrials, rateTrialsPerS } = trialRunOptionsFrom(commandLine);
  let stopRun: (() => void) | undefined;
  let cut = false;
  const session = createReplayBinding(path, {
    onWarning: (m) => {
      cut = true;
      onWarning?.(m);
    },
    chunkBytes,
    // A recording that ends while the host still reads (its host was killed) ends the replay there, and no
    // recorded host write is waited for forever.
    atEnd: 'disconnect',
    hostTurnTimeoutMs: HOST_TURN_TIMEOUT_MS,
    // A live run that ended on a clock (or a signal) got STOP here; one that
    // reached its limit had ended by itself. The host sees the bytes already
    // delivered once the pending I/O callbacks ran, so decide after them.
    onHostTurn: (kind) => {
      if (kind !== 'STOP') return;
      setImmediate(() => setImmediate(() => stopRun?.()));
    },
  });
  async function* events(): AsyncGenerator<RunEvent[], RunStats | undefined, void> {
    let device: Device | undefined;
    try {
      device = await Device.open({ path: session.path, binding: session.binding as never, retries: 0 });
      // stop() is a no-op on a run that has ended (Run.stop).
      const run = trialRun(device, { limitTrials, rateTrialsPerS, onRun: (stop) => (stopRun = stop) });
      let r = await run.next();
      while (!r.done) {
        yield r.value;
        r = await run.next();
      }
      return r.value;
    } catch (e) {
      // The divergence names what went wrong better than the device's view of it (a failed write, a closed port).
      if (session.divergence) throw session.divergence;
      if (session.port && !session.port.atEnd && e instanceof DeviceError && e.code === 'NO_ANSWER') throw e;
      // Played to the cut (the warning named it): the run ends there, as the live one did.
      if (cut && session.port?.atEnd && isEndOfRecording(e)) return undefined;
      if (session.port?.atEnd && e instanceof DeviceError) {
        throw new DeviceError('REPLAY_ENDED', `the recording ended before the session did: ${e.message}`, { cause: e });
      }
      throw e;
    } finally {
      await device?.close().catch(() => undefined);
    }
  }
  return { events: events(), session };
}

/**
 * Longest a replayed host may take to send the command the recording has
 * next (its STOP, say) before the replay fails as stalled (REPLAY_STALLED).
 * It only ever waits while the replayed host works (certifying, hashing a
 * block: well under a second per 2^22 trials); the bound makes every replay
 * end, whatever the recording holds.
 */
export const HOST_TURN_TIMEOUT_MS = 10_000;

/** Whether `e` (or its cause chain) is the replay port's end of the recording. */
export function isEndOfRecording(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof EndOfRecordingError) return true;
    if (c instanceof Error && /end of the recording/.test(c.message)) return true;
  }
  return false;
}
