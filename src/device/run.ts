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
import type { CreditFrame, DeviceFrame, StatusFrame, TrialsFrame, UnknownFrame } from '../protocol/types.ts';
import { DeviceError } from '../errors.ts';
import { createLinkScanner, type InvalidFrameReport } from './link.ts';

export type RunEvent =
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

/**
 * PROTOCOL 3: the device numbers its frames with one counter, +1 per frame,
 * wrapping after 0xFFFFFFFF; a jump means frames were lost on the link.
 * A repeat of the last seq is a duplicate (dropped) only when the frame is
 * the same as the last one: a different frame under a repeated seq is not
 * the link repeating itself, so it is kept (a STATUS with fault bits, say,
 * must not vanish; repeated TRIALS indices then end the run in certify) and
 * counted in `repeatedSeqFrames`. A backward jump (more than 2^31 ahead
 * modulo 2^32) is taken as a counter restart, not a loss.
 */
export class DeviceSeqTracker {
  private last: number | undefined;
  private lastFrame: unknown;
  lostFrames = 0;
  duplicateFrames = 0;
  repeatedSeqFrames = 0;
  restarts = 0;

  /**
   * Returns the number of frames lost before this one, or -1 for a duplicate
   * to drop. `frame` (the decoded frame) tells a duplicate from a different
   * frame under the same seq; without it a repeat counts as a duplicate.
   */
  observe(seq: number, frame?: unknown): number {
    const last = this.last;
    const previous = this.lastFrame;
    this.lastFrame = frame;
    if (last === undefined) {
      this.last = seq;
      return 0;
    }
    const ahead = (seq - last) >>> 0;
    if (ahead === 0) {
      if (frame !== undefined && previous !== undefined && !sameFrame(frame, previous)) {
        this.repeatedSeqFrames++;
        return 0;
      }
      this.duplicateFrames++;
      return -1;
    }
    this.last = seq;
    if (ahead >= 0x80000000) {
      this.restarts++;
      return 0;
    }
    const lost = ahead - 1;
    this.lostFrames += lost;
    return lost;
  }
}

/** Deep equality of two decoded frames (plain objects, arrays, typed arrays, primitives). */
function sameFrame(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka)
    if (!sameFrame((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** Turns device frames into RunEvents, collecting one batch at a time. */
export class RunEventAssembler {
  private batch: RunEvent[] = [];
  /** `stats` is updated in place as frames come in. */
  constructor(readonly stats: RunStats = emptyRunStats()) {}

  trials(f: TrialsFrame): void {
    this.stats.trialsFrames++;
    this.stats.trials += f.n;
    // PROTOCOL 4 TRIALS: GAP means trials were lost inside the device before this frame.
    if (f.flags & 0x01) this.stats.gapFrames++;
    this.batch.push({ kind: 'trials', first: f.first, n: f.n, records: f.records, flags: f.flags, seq: f.seq });
  }
  status(status: StatusFrame): void {
    this.stats.statusFrames++;
    this.batch.push({ kind: 'status', status });
  }
  credit(f: CreditFrame): void {
    this.stats.creditFrames++;
    this.batch.push({ kind: 'credit', free: f.free, consumed: f.consumed });
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
    this.batch.push({ kind: 'linkLoss', frames });
  }
  invalid(report: InvalidFrameReport): void {
    this.stats.invalidFrames++;
    const ev: RunEvent = { kind: 'invalid', reason: report.reason };
    if (report.field !== undefined) ev.field = report.field;
    if (report.type !== undefined) ev.type = report.type;
    this.batch.push(ev);
  }
  /** The events collected since the last take (possibly empty). */
  take(): RunEvent[] {
    const b = this.batch;
    if (b.length) this.batch = [];
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
  /** Queued events above which the link is paused (default 16384, about 650k trials). */
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
    this.queuedEvents += batch.length;
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
      this.queue[this.head++] = undefined as unknown as RunEvent[];
      this.queuedEvents -= batch.length;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
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
  const scanner = createLinkScanner(onFrame, (r) => {
    if (r.seq !== undefined) {
      const lost = seqs.observe(r.seq);
      if (lost > 0) assembler.linkLoss(lost);
    }
    assembler.invalid(r);
  });
  for await (const chunk of source) {
    scanner.push(chunk);
    const batch = assembler.take();
    if (batch.length) yield batch;
  }
}
