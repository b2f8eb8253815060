/**
 * The watchdog of a running chip. PROTOCOL 4 STATUS: the chip sends STATUS
 * every status interval (default 1000 ms) in every state, and while RUNNING
 * it sends TRIALS as it performs trials. So a running chip that delivers no
 * valid frame, or no TRIALS, for WATCHDOG_PERIODS status intervals (3 s at
 * the default) is silent, sends only garbage, or claims trials that never
 * arrive: the run ends with a DeviceError (exit 3) naming what was missing.
 *
 * Time the host itself did not read the link does not count: while the run
 * pauses the link (back-pressure) and while this process was stalled (a
 * check that fires late: a loaded machine), the clock is not held against
 * the chip. The clock is injectable, so tests run in simulated time.
 */
import { DeviceError } from '../errors.ts';

/** Status intervals without TRIALS (or without any frame) after which a running chip is declared dead. */
export const WATCHDOG_PERIODS = 3;
/** PROTOCOL 4 STATUS: the default status interval. */
export const DEFAULT_STATUS_INTERVAL_MS = 1000;

/** The watchdog interval for a status interval (0: STATUS off, then the default period still bounds TRIALS). */
export function watchdogIntervalMs(statusIntervalMs: number = DEFAULT_STATUS_INTERVAL_MS): number {
  return WATCHDOG_PERIODS * (statusIntervalMs > 0 ? statusIntervalMs : DEFAULT_STATUS_INTERVAL_MS);
}

export interface WatchdogClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

export const realClock: WatchdogClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
};

export interface WatchdogOptions {
  intervalMs: number;
  /** Where the chip is, for the message (the port path and serial). */
  where: string;
  /** Called once, with the error, when the chip missed its interval. */
  onExpire: (error: DeviceError) => void;
  clock?: WatchdogClock;
}

/** Checks per interval: a dead chip is seen at most a quarter interval late. */
const CHECKS_PER_INTERVAL = 4;

export class RunWatchdog {
  private readonly clock: WatchdogClock;
  private readonly tickMs: number;
  private lastFrameMs: number;
  private lastTrialsMs: number;
  private lastTickMs: number;
  private timer: unknown;
  private suspended = false;
  private done = false;
  /** Counters since the last TRIALS, for the message. */
  private framesSinceTrials = 0;
  private statusSinceTrials = 0;
  private claimedTrials: number | undefined;
  private garbageBytes = 0;
  /** The clock reading shared by the frames of the chunk being scanned (beginChunk), else undefined. */
  private chunkNow: number | undefined = undefined;

  constructor(private readonly opts: WatchdogOptions) {
    this.clock = opts.clock ?? realClock;
    this.tickMs = Math.max(1, opts.intervalMs / CHECKS_PER_INTERVAL);
    const now = this.clock.now();
    this.lastFrameMs = now;
    this.lastTrialsMs = now;
    this.lastTickMs = now;
    this.arm();
  }

  /** A valid frame came in (`trials`: a TRIALS frame; `claimedTrials`: a STATUS's trials counter). */
  frame(kind: 'TRIALS' | 'STATUS' | 'OTHER', claimedTrials?: number): void {
    const now = this.chunkNow ?? this.clock.now();
    this.lastFrameMs = now;
    this.garbageBytes = 0;
    if (kind === 'TRIALS') {
      this.lastTrialsMs = now;
      this.framesSinceTrials = 0;
      this.statusSinceTrials = 0;
      return;
    }
    this.framesSinceTrials++;
    if (kind === 'STATUS') {
      this.statusSinceTrials++;
      this.claimedTrials = claimedTrials;
    }
  }

  /**
   * The frames of one read arrived together: until endChunk they share one
   * clock reading (about a thousand frames per 64 KiB read; a clock call per
   * frame was a measurable share of a replay).
   */
  beginChunk(): void {
    this.chunkNow = this.clock.now();
  }

  endChunk(): void {
    this.chunkNow = undefined;
  }

  /** Bytes that made no valid frame (garbage, CRC errors). */
  garbage(bytes: number): void {
    this.garbageBytes += bytes;
  }

  /** The host stopped reading (back-pressure): the chip's silence is not the chip's fault until resumed. */
  suspend(suspended: boolean): void {
    this.suspended = suspended;
    if (!suspended) this.restartClocks(this.clock.now());
  }

  stop(): void {
    this.done = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private restartClocks(now: number): void {
    this.lastFrameMs = now;
    this.lastTrialsMs = now;
  }

  private arm(): void {
    if (this.done) return;
    this.timer = this.clock.setTimer(() => this.check(), this.tickMs);
  }

  private check(): void {
    if (this.done) return;
    const now = this.clock.now();
    const late = now - this.lastTickMs - this.tickMs;
    this.lastTickMs = now;
    // A check that fires more than a tick late: this process was stalled and did not read; that time is not the chip's.
    if (late > this.tickMs) {
      this.lastFrameMs += late;
      this.lastTrialsMs += late;
    }
    if (this.suspended) this.restartClocks(now);
    const error = this.verdict(now);
    if (error) {
      this.stop();
      this.opts.onExpire(error);
      return;
    }
    this.arm();
  }

  private verdict(now: number): DeviceError | undefined {
    const { intervalMs, where } = this.opts;
    const rule = `a running EPQ-1 sends TRIALS and a STATUS every status interval, PROTOCOL 4; watchdog ${intervalMs} ms`;
    const silentMs = Math.round(now - this.lastFrameMs);
    if (silentMs >= intervalMs) {
      const what = this.garbageBytes > 0 ? `only garbage (${this.garbageBytes} bytes that were no frame)` : 'nothing';
      return new DeviceError('WATCHDOG', `${where} sent ${what} for ${silentMs} ms while running (${rule})`, {
        detail: { missing: 'frames', silentMs, garbageBytes: this.garbageBytes },
      });
    }
    const noTrialsMs = Math.round(now - this.lastTrialsMs);
    if (noTrialsMs >= intervalMs) {
      const claim = this.claimedTrials !== undefined ? ` (STATUS claims ${this.claimedTrials} trials performed)` : '';
      return new DeviceError(
        'WATCHDOG',
        `${where} sent no TRIALS for ${noTrialsMs} ms while running, only ${this.framesSinceTrials} other frame(s)${claim} (${rule})`,
        { detail: { missing: 'TRIALS', silentMs: noTrialsMs, statusFrames: this.statusSinceTrials } },
      );
    }
    return undefined;
  }
}
