/**
 * Sessions of several runs on ports opened one after another (`stream
 * --record --reconnect`): the recording side and the replay side of the run
 * events (format.ts `R` records).
 *
 * Recording: the first port is recorded as any (recording-binding.ts). When
 * it is lost, the host writes `disconnect`, then closes it (a STOP it still
 * sends there is recorded after the event, and skipped by a replay: the
 * replayed port is already gone); while it waits for
 * the chip, every port it tries is held in memory (a port that does not
 * answer yet is dropped with what it carried, so that the file holds no
 * polling that a replay could not reproduce); the port of the chip that
 * answered is written after a `reconnect` event, then recorded as it goes.
 *
 *   ...run 1's records... R{disconnect} R{reconnect, at, device, trialsDropped} GET_INFO INFO ... START ...
 *
 * Replay: RunSegments cuts the recording at its run events; each port the
 * replayed host opens plays the next run's records (replay-binding.ts), and
 * the reconnect event tells the replayed host when the chip came back.
 */
import type * as sp from '../serialport-types.ts';
import { InputError } from '../errors.ts';
import { Direction, RunEventSchema, describeZodIssue, type RunEvent } from './format.ts';
import { openRecording, type Recording, type RecordEntry } from './reader.ts';
import { RecordingPort, type RecordSink } from './recording-binding.ts';
import type { RecordingWriter } from './writer.ts';

type Held = { direction: 'D' | 'H'; bytes: Buffer; timeUs: number };

/** One port's records, held until the port turns out to be the chip (commit) or is dropped. */
export class HeldRecords implements RecordSink {
  private held: Held[] | null = [];
  constructor(private readonly writer: RecordingWriter) {}

  get path(): string {
    return this.writer.path;
  }
  get isOpen(): boolean {
    return this.writer.isOpen;
  }

  deviceToHost(bytes: Uint8Array): void {
    this.keep('D', bytes);
  }
  hostToDevice(bytes: Uint8Array): void {
    this.keep('H', bytes);
  }

  private keep(direction: 'D' | 'H', bytes: Uint8Array): void {
    if (this.held === null) {
      if (direction === 'D') this.writer.deviceToHost(bytes);
      else this.writer.hostToDevice(bytes);
    } else this.held.push({ direction, bytes: Buffer.from(bytes), timeUs: this.writer.timeUs });
  }

  /** Writes `event`, then what the port carried so far; from then on the port is recorded as it goes. */
  commit(event: RunEvent): void {
    const held = this.held ?? [];
    this.held = null;
    this.writer.runEvent(event, held[0]?.timeUs);
    for (const h of held) {
      if (h.direction === 'D') this.writer.deviceToHost(h.bytes, h.timeUs);
      else this.writer.hostToDevice(h.bytes, h.timeUs);
    }
  }
}

/** `inner` with each port it opens held (HeldRecords); `last()` is the holder of the latest port. */
export function heldBinding(
  inner: sp.BindingInterface,
  writer: RecordingWriter,
): { binding: sp.BindingInterface; last(): HeldRecords | undefined } {
  let last: HeldRecords | undefined;
  const binding: sp.BindingInterface = {
    list: () => inner.list(),
    async open(options: sp.OpenOptions) {
      const port = await inner.open(options);
      last = new HeldRecords(writer);
      return new RecordingPort(port, last);
    },
  };
  return { binding, last: () => last };
}

/** The run event of an `R` record; a malformed one is bad input, named. */
export function parseRunEvent(entry: RecordEntry): RunEvent {
  let value: unknown;
  try {
    value = JSON.parse(entry.bytes.toString('utf8'));
  } catch {
    throw new InputError('RECORDING_RUN_EVENT', `recording record ${entry.index}: run event: not valid JSON`);
  }
  const parsed = RunEventSchema.safeParse(value);
  if (!parsed.success)
    throw new InputError(
      'RECORDING_RUN_EVENT',
      `recording record ${entry.index}: run event: ${describeZodIssue(parsed.error)}`,
    );
  return parsed.data;
}

export type ReconnectEvent = Extract<RunEvent, { event: 'reconnect' }>;

/**
 * A recording cut into its runs at the run events: `run()` is a Recording
 * that ends where the current run's port was lost (its `disconnect`), and
 * `nextRun()` reads the `reconnect` after it. The file is read once, in
 * order; the views do not close it (`close()` does).
 */
export class RunSegments {
  private readonly it: AsyncGenerator<RecordEntry[], void, void>;
  private carry: RecordEntry[] = [];
  private done = false;
  /** The `disconnect` that ended the run read last, once read. */
  private boundary: { entry: RecordEntry; event: RunEvent } | null = null;
  /** Runs opened so far. */
  runs = 0;

  constructor(private readonly recording: Recording) {
    this.it = recording.batches();
  }

  private async nextBatch(): Promise<RecordEntry[] | null> {
    if (this.carry.length > 0) return this.carry.splice(0);
    if (this.done) return null;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return null;
    }
    return r.value;
  }

  /**
   * The records of the current run, up to its `disconnect` (kept as the
   * boundary) or the end of the file; `run-end` events are left out
   * (runEndBlocks reads them).
   */
  private async *runBatches(): AsyncGenerator<RecordEntry[], void, void> {
    for (;;) {
      const batch = await this.nextBatch();
      if (batch === null) return;
      let from = 0;
      for (let k = batch.findIndex(isRunEvent); k >= 0; k = batch.findIndex(isRunEvent)) {
        // The records before the event are played first, even when the event turns out to be bad.
        if (k > from) yield batch.slice(from, k);
        const entry = batch[k]!;
        const event = parseRunEvent(entry);
        if (event.event === 'reconnect') throw misplaced(entry, event, 'a disconnect or run-end');
        if (event.event === 'disconnect') {
          this.boundary = { entry, event };
          this.carry = batch.slice(k + 1);
          return;
        }
        batch[k] = SKIPPED;
        from = k + 1;
      }
      if (from < batch.length) yield from === 0 ? batch : batch.slice(from);
    }
  }

  /** The current run as a Recording (its batches end at the run's end); its close() closes the file when `closesFile`. */
  run(closesFile = false): Recording {
    this.runs++;
    const r = this.recording;
    const batches = () => this.runBatches();
    return {
      path: r.path,
      kind: r.kind,
      header: r.header,
      get cut() {
        return r.cut;
      },
      get records() {
        return r.records;
      },
      get end() {
        return r.end;
      },
      batches,
      close: async () => {
        if (closesFile) await this.close();
      },
    };
  }

  /**
   * After a run played to its `disconnect`: the `reconnect` that follows
   * (the next run's records come after it), or null when the session ended
   * there (the chip never came back). Anything else there is bad input.
   */
  async nextRun(): Promise<ReconnectEvent | null> {
    const b = this.boundary;
    if (b === null) return null;
    this.boundary = null;
    if (b.event.event !== 'disconnect') throw misplaced(b.entry, b.event, 'a disconnect');
    const entry = await this.nextEvent();
    if (entry === null) return null;
    const event = parseRunEvent(entry);
    if (event.event !== 'reconnect') throw misplaced(entry, event, 'a reconnect');
    return event;
  }

  /**
   * The next run event, past what the lost port still carried after its
   * disconnect (the STOP closing it sent, an answer read meanwhile: no part
   * of any run); null at the end of the file.
   */
  private async nextEvent(): Promise<RecordEntry | null> {
    for (;;) {
      const batch = await this.nextBatch();
      if (batch === null) return null;
      const k = batch.findIndex(isRunEvent);
      if (k < 0) continue;
      this.carry = batch.slice(k + 1);
      return batch[k]!;
    }
  }

  close(): Promise<void> {
    return this.recording.close();
  }
}

function isRunEvent(r: RecordEntry): boolean {
  return r.direction === Direction.RUN_EVENT;
}

/** Stands in for a run-end event already handed on (findIndex then finds the next). */
const SKIPPED: RecordEntry = {
  index: -1,
  offset: -1,
  direction: Direction.DEVICE_TO_HOST,
  timeUs: 0,
  bytes: Buffer.alloc(0),
};

function misplaced(entry: RecordEntry, event: RunEvent, wanted: string): InputError {
  return new InputError(
    'RECORDING_RUN_EVENT',
    `recording record ${entry.index}: run event ${event.event} where ${wanted} belongs`,
  );
}

/**
 * The blocks the host took from each run (its `run-end` events, run 1
 * first), read ahead of a replay: the replay must stop taking blocks where
 * the live host did, and the event follows its run. A run with no event
 * (the host killed) has none in the list.
 */
export async function runEndBlocks(path: string): Promise<number[]> {
  const recording = await openRecording(path);
  const blocks: number[] = [];
  for await (const batch of recording.batches()) {
    for (const entry of batch) {
      if (entry.direction !== Direction.RUN_EVENT) continue;
      const event = parseRunEvent(entry);
      if (event.event === 'run-end') blocks[event.run - 1] = event.blocks;
    }
  }
  return blocks;
}
