/**
 * A trial run as the host sees it: `AsyncIterable<RunEvent[]>`, one batch of
 * events per chunk read from the link (a replay goes at 25 M trials/s, so
 * there is no await per frame).
 *
 *   chunk of bytes -> link scanner (protocol FrameSync: sync, CRC, checks)
 *                  -> frames -> RunEventAssembler (seq tracking, events)
 *                  -> RunEvent[] batch -> Run queue -> consumer
 *
 * The same assembler serves a live Device run and `runEventsFromBytes` (any
 * byte source, e.g. a raw capture file), so a replay takes exactly the path
 * of a live run.
 *
 * Contract of a Run:
 * - events are delivered in link order, none lost or duplicated by the host;
 * - while the consumer is slow (more than `highWaterEvents` queued) the link
 *   is paused (back-pressure: the chip then overflows and says so with GAP,
 *   PROTOCOL 4 TRIALS), and resumed below a quarter of that;
 * - the iterator completes when the chip ends the run: after the last TRIALS
 *   and a STATUS in state IDLE (limit reached, PROTOCOL 5 START), or at the
 *   ACK of STOP (PROTOCOL 5 STOP: whatever arrives after it belongs to no run);
 * - it throws a DeviceError (after delivering every event received before it)
 *   on unplug, close, a fatal fault STATUS or a rejected SETTINGS frame;
 * - breaking out of the loop stops the run on the chip.
 */
import {
  FRAME_SIZE,
  TRIALS_FLAG,
  type CreditFrame,
  type DeviceFrame,
  type StatusFrame,
  type TrialsFrame,
  type UnknownFrame,
} from '../protocol/types.ts';
import { DeviceError } from '../errors.ts';
import type { TrialsSink } from '../protocol/sync.ts';
import { createLinkScanner, type InvalidFrameReport } from './link.ts';
import { DeviceSeqTracker } from './seq-tracker.ts';
import { RECORDS_STRIDE, trialsBatchFor, type TrialsBatch } from './trials-batch.ts';

export { DeviceSeqTracker } from './seq-tracker.ts';
export { TrialsBatch, RECORDS_STRIDE, recycleTrialsBatch, trialsBatchOf } from './trials-batch.ts';

export type RunEvent =
  /** TRIALS frames as the link delivers them: one batch per unbroken stretch of frames in a chunk (trials-batch.ts). */
  | { kind: 'trialsBatch'; batch: TrialsBatch }
  /** One TRIALS frame's worth of trials (n may exceed a frame's 40): how tests and tools hand trials to certify. */
  | { kind: 'trials'; first: number; n: number; records: Uint8Array; flags: number; seq: number }
  | { kind: 'status'; status: StatusFrame }
  | { kind: 'credit'; free: number; consumed: number }
  /** The device seq jumped: `frames` frames were lost on the link (PROTOCOL 3). */
  | { kind: 'linkLoss'; frames: number }
  /** A CRC-valid frame that failed its checks (e.g. reserved record bits), dropped (PROTOCOL 3). */
  | { kind: 'invalid'; reason: string; field?: string; type?: number };

export interface RunStats {
  /** TRIALS frames delivered. */
  trialsFrames: number;
  /** Trial records delivered. */
  trials: number;
  /** TRIALS frames flagged GAP (PROTOCOL 4 TRIALS: trials lost inside the device). */
  gapFrames: number;
  /** Device frames lost on the link (device seq jumps, PROTOCOL 3). */
  linkLostFrames: number;
  /** CRC-valid frames dropped for failing their checks. */
  invalidFrames: number;
  statusFrames: number;
  creditFrames: number;
}

export function emptyRunStats(): RunStats {
  return {
    trialsFrames: 0,
    trials: 0,
    gapFrames: 0,
    linkLostFrames: 0,
    invalidFrames: 0,
    statusFrames: 0,
    creditFrames: 0,
  };
}

/** An event, only ever put in an empty list and taken out again (eventList). */
const NO_EVENT: RunEvent = { kind: 'credit', free: 0, consumed: 0 };

/**
 * A new, empty list of events, made as a list of objects: V8 makes `[]` a list of small integers and changes
 * its kind at the first event pushed, which threw away the code compiled for the other kind.
 */
function eventList(): RunEvent[] {
  const list = [NO_EVENT];
  list.pop();
  return list;
}

/**
 * Turns device frames into RunEvents, collecting one batch at a time. TRIALS
 * frames go into packed TrialsBatch events (no object per frame); any other
 * event closes the open one, so the events stay in link order.
 */
export class RunEventAssembler {
  private batch: RunEvent[] = eventList();
  /** The TRIALS batch frames are appended to; null once another event (or a take) closed it. */
  private open: TrialsBatch | null = null;
  /** Frames a new TRIALS batch holds (expectBytes). */
  private capacity = 64;
  private weight = 0;
  /** The size of the batch last taken, a TRIALS batch counted by its frames (the Run's back-pressure unit). */
  takenWeight = 0;
  /** `stats` is updated in place as frames come in. */
  constructor(readonly stats: RunStats = emptyRunStats()) {}

  /** The next chunk read is `bytes` long: a TRIALS batch opened for it holds every frame it can complete. */
  expectBytes(bytes: number): void {
    this.capacity = Math.max(16, Math.ceil(bytes / FRAME_SIZE) + 1);
  }

  /**
   * A checked TRIALS frame (PROTOCOL 4) whose n records are source[at, at + n): copied into the open batch, which
   * is returned (the frame is its last).
   */
  trialsIn(source: Uint8Array, at: number, n: number, flags: number, seq: number, first: number): TrialsBatch {
    this.stats.trialsFrames++;
    this.stats.trials += n;
    // PROTOCOL 4 TRIALS: GAP means trials were lost inside the device before this frame.
    if (flags & TRIALS_FLAG.GAP) this.stats.gapFrames++;
    let open = this.open;
    if (open === null || open.full) {
      open = trialsBatchFor(this.capacity);
      this.open = open;
      this.batch.push({ kind: 'trialsBatch', batch: open });
    }
    open.append(source, at, n, flags, seq, first);
    this.weight++;
    return open;
  }
  /** A decoded TRIALS frame (PROTOCOL 4 TRIALS: 1 to 40 records). */
  trials(f: TrialsFrame): void {
    if (!(f.n >= 1 && f.n <= RECORDS_STRIDE && f.n <= f.records.length))
      throw new RangeError(`TRIALS frame seq ${f.seq}: n = ${f.n} with ${f.records.length} records`);
    this.trialsIn(f.records, 0, f.n, f.flags, f.seq, f.first);
  }
  status(status: StatusFrame): void {
    this.stats.statusFrames++;
    this.event({ kind: 'status', status });
  }
  credit(f: CreditFrame): void {
    this.stats.creditFrames++;
    this.event({ kind: 'credit', free: f.free, consumed: f.consumed });
    this.lastCredit = { free: f.free, consumed: f.consumed };
    // PROTOCOL 4 CREDIT: a host-settings feeder must see it as it arrives, not when the consumer gets to the batch.
    this.onCredit?.(f.free, f.consumed);
  }
  /** The latest CREDIT of the run (PROTOCOL 4: the first comes right after START's ACK, possibly before start() resolves). */
  lastCredit: { free: number; consumed: number } | undefined = undefined;
  /** Called synchronously for every CREDIT frame (host-settings flow control). */
  onCredit: ((free: number, consumed: number) => void) | undefined = undefined;
  linkLoss(frames: number): void {
    this.stats.linkLostFrames += frames;
    this.event({ kind: 'linkLoss', frames });
  }
  invalid(report: InvalidFrameReport): void {
    this.stats.invalidFrames++;
    const ev: RunEvent = { kind: 'invalid', reason: report.reason };
    if (report.field !== undefined) ev.field = report.field;
    if (report.type !== undefined) ev.type = report.type;
    this.event(ev);
  }
  private event(ev: RunEvent): void {
    this.open = null;
    this.weight++;
    this.batch.push(ev);
  }
  /** The events collected since the last take (possibly empty); `takenWeight` says how many frames and events. */
  take(): RunEvent[] {
    const b = this.batch;
    this.open = null;
    this.takenWeight = this.weight;
    this.weight = 0;
    if (b.length) this.batch = eventList();
    return b;
  }
}

/** What a Run needs from its device (no import of device.ts: no cycle). */
export interface RunControl {
  /** Sends STOP; resolves at its ACK (by then the device has ended the run). */
  stop(): Promise<void>;
  /** Sends SETTINGS frames for these per-trial settings, (x << 1) | y each. */
  sendSettings(settings: Uint8Array): Promise<void>;
  /** Link flow control for back-pressure. */
  pause(): void;
  resume(): void;
}

export interface RunOptions {
  /** Queued frames and events above which the link is paused (default 16384, about 650k trials). */
  highWaterEvents?: number;
}

type Waiter = { resolve: (r: IteratorResult<RunEvent[]>) => void; reject: (e: unknown) => void };

export class Run implements AsyncIterable<RunEvent[]> {
  readonly stats: RunStats;
  /** Set by the device once START is acknowledged. */
  acknowledged = false;
  /** Called once when the run ends or fails (the device stops its watchdog). */
  onFinish: (() => void) | undefined = undefined;
  private readonly queue: RunEvent[][] = [];
  /** Each queued batch's weight (RunEventAssembler.takenWeight: frames and other events). */
  private readonly queueWeights: number[] = [];
  /** Frames and other events queued (a TRIALS batch counts by its frames). */
  private queuedEvents = 0;
  private head = 0;
  private waiter: Waiter | undefined;
  private state: 'active' | 'ended' | 'failed' = 'active';
  private error: unknown;
  private paused = false;
  private stopping = false;
  private linkNeeded = false;
  private abandoned = false;
  private iterating = false;
  private readonly highWater: number;
  private readonly lowWater: number;
  private stopPromise: Promise<void> | undefined;

  constructor(
    private readonly control: RunControl,
    readonly assembler: RunEventAssembler = new RunEventAssembler(),
    { highWaterEvents = 16384 }: RunOptions = {},
  ) {
    this.stats = assembler.stats;
    this.highWater = highWaterEvents;
    this.lowWater = Math.max(1, highWaterEvents >> 2);
  }

  /** Whether the run still takes events (not ended, not failed). */
  get active(): boolean {
    return this.state === 'active';
  }

  // ---- producer side (the device) ----

  /** Moves the assembler's current batch to the queue (call once per chunk read). */
  flush(): void {
    const batch = this.assembler.take();
    if (batch.length === 0 || this.state !== 'active') return;
    if (this.abandoned) return;
    if (this.waiter && this.head === this.queue.length) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: batch, done: false });
      return;
    }
    this.queue.push(batch);
    this.queueWeights.push(this.assembler.takenWeight);
    this.queuedEvents += this.assembler.takenWeight;
    this.applyBackpressure();
  }

  private applyBackpressure(): void {
    if (
      !this.paused &&
      !this.stopping &&
      !this.linkNeeded &&
      this.state === 'active' &&
      this.queuedEvents > this.highWater
    ) {
      this.paused = true;
      this.control.pause();
    }
  }

  /** The chip ended the run: deliver what is queued, then complete. */
  end(): void {
    if (this.state !== 'active') return;
    this.flush();
    this.state = 'ended';
    this.release();
    this.onFinish?.();
  }

  /** The run broke (unplug, fault, rejected settings): deliver what is queued, then throw `error`. */
  fail(error: unknown): void {
    if (this.state !== 'active') return;
    this.flush();
    this.state = 'failed';
    this.error = error;
    this.release();
    this.onFinish?.();
  }

  private release(): void {
    if (this.paused) {
      this.paused = false;
      this.control.resume();
    }
    if (this.waiter && this.head === this.queue.length) {
      const w = this.waiter;
      this.waiter = undefined;
      if (this.state === 'failed') w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /**
   * While the device waits for an ACK it needs the link flowing whatever the
   * consumer does: back-pressure is lifted until `needed` is false again.
   */
  setLinkNeeded(needed: boolean): void {
    this.linkNeeded = needed;
    if (needed && this.paused) {
      this.paused = false;
      this.control.resume();
    } else if (!needed) {
      this.applyBackpressure();
    }
  }

  /** Lifts back-pressure for good (the run is stopping: the link must flow to STOP's ACK). */
  releaseBackpressure(): void {
    this.stopping = true;
    if (this.paused) {
      this.paused = false;
      this.control.resume();
    }
  }

  // ---- consumer side ----

  /** Asks the chip to stop; the iterator then delivers the flushed trials and completes. */
  stop(): Promise<void> {
    if (this.state !== 'active') return Promise.resolve();
    if (!this.stopPromise) {
      this.releaseBackpressure();
      // A STOP the chip never acknowledges (it is gone) ends the run with that error: the consumer must not wait on.
      this.stopPromise = this.control.stop().catch((e: unknown) => {
        this.fail(e);
        throw e;
      });
    }
    return this.stopPromise;
  }

  /**
   * Host-settings mode: called synchronously for every CREDIT frame as it
   * comes off the link (PROTOCOL 4 CREDIT), ahead of the event queue, so
   * that a feeder keeps the chip's FIFO filled whatever the consumer does.
   */
  set onCredit(listener: ((free: number, consumed: number) => void) | undefined) {
    this.assembler.onCredit = listener;
    // A CREDIT that arrived with START's ACK, before the listener existed, is not lost: replay the latest.
    const last = this.assembler.lastCredit;
    if (listener && last && this.state === 'active') listener(last.free, last.consumed);
  }

  /** Host-settings mode: sends SETTINGS frames (at most 192 trials each) for these settings, (x << 1) | y per trial. */
  sendSettings(settings: Uint8Array): Promise<void> {
    if (this.state !== 'active')
      return Promise.reject(new DeviceError('RUN_ENDED', 'cannot send settings: the run has ended'));
    return this.control.sendSettings(settings);
  }

  private next(): Promise<IteratorResult<RunEvent[]>> {
    if (this.head < this.queue.length) {
      const batch = this.queue[this.head]!;
      this.queue[this.head] = undefined as unknown as RunEvent[];
      this.queuedEvents -= this.queueWeights[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.queueWeights.splice(0, this.head);
        this.head = 0;
      }
      if (this.paused && this.queuedEvents <= this.lowWater) {
        this.paused = false;
        this.control.resume();
      }
      return Promise.resolve({ value: batch, done: false });
    }
    if (this.state === 'ended') return Promise.resolve({ value: undefined, done: true });
    if (this.state === 'failed') return Promise.reject(this.error);
    if (this.waiter)
      return Promise.reject(new Error('Run supports one consumer: next() called before the previous one settled'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent[]> {
    if (this.iterating) throw new Error('Run can be iterated once');
    this.iterating = true;
    return {
      next: () => this.next(),
      return: async () => {
        // The consumer left early: stop the chip and drop whatever still arrives.
        this.abandoned = true;
        this.queue.length = 0;
        this.queueWeights.length = 0;
        this.head = 0;
        this.queuedEvents = 0;
        if (this.state === 'active') {
          try {
            await this.stop();
          } catch {
            // The consumer is gone; a failure to stop (device unplugged) has no one to tell.
          }
        }
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * The RunEvent batches held in any byte stream from a device (a raw capture,
 * a recording's device direction): one batch per chunk that yields events,
 * through exactly the scanner and assembler of a live run. Non-run frames
 * (ACK, INFO, COUNTS, unknown types) are skipped; exact duplicates dropped.
 * `stats` (optional) is updated in place as the bytes are read.
 */
export async function* runEventsFromBytes(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  stats: RunStats = emptyRunStats(),
): AsyncGenerator<RunEvent[]> {
  const assembler = new RunEventAssembler(stats);
  const seqs = new DeviceSeqTracker();
  const onFrame = (frame: DeviceFrame | UnknownFrame): void => {
    const lost = seqs.observe(frame.seq, frame);
    if (lost < 0) return;
    if (lost > 0) assembler.linkLoss(lost);
    switch (frame.kind) {
      case 'TRIALS':
        assembler.trials(frame);
        break;
      case 'STATUS':
        assembler.status(frame);
        break;
      case 'CREDIT':
        assembler.credit(frame);
        break;
      default:
        break;
    }
  };
  const onTrials: TrialsSink = (source, at, n, flags, seq, first) => {
    const lost = seqs.observeTrials(seq, source, at, n, flags, first);
    if (lost < 0) return;
    if (lost > 0) assembler.linkLoss(lost);
    seqs.keptIn(assembler.trialsIn(source, at, n, flags, seq, first));
  };
  const onInvalid = (r: InvalidFrameReport): void => {
    if (r.seq !== undefined) {
      const lost = seqs.observe(r.seq);
      if (lost > 0) assembler.linkLoss(lost);
    }
    assembler.invalid(r);
  };
  const scanner = createLinkScanner(onFrame, onInvalid, onTrials);
  for await (const chunk of source) {
    assembler.expectBytes(chunk.length);
    scanner.push(chunk);
    const batch = assembler.take();
    if (batch.length) yield batch;
  }
}

/**
 * A run's events with each TRIALS batch spelled out as one 'trials' event
 * per frame (records copied): for tests and tools that look at frames one by
 * one. It allocates per frame, so no hot path uses it.
 */
export function perFrameEvents(events: readonly RunEvent[]): RunEvent[] {
  const out: RunEvent[] = [];
  for (const ev of events) {
    if (ev.kind !== 'trialsBatch') {
      out.push(ev);
      continue;
    }
    const b = ev.batch;
    for (let i = 0; i < b.frames; i++) {
      const at = b.recordsAt(i);
      const records = b.records.slice(at, at + b.n[i]!);
      out.push({ kind: 'trials', first: b.first[i]!, n: b.n[i]!, records, flags: b.flags[i]!, seq: b.seq[i]! });
    }
  }
  return out;
}
