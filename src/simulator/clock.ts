/**
 * Chip time. 'virtual' (default): time moves only with work (trials at the
 * run's rate, a measurement's integration, `advance(ms)`). 'realtime': the
 * wall clock since power-up, with a timer that makes trials in batches.
 */
import { performance } from 'node:perf_hooks';
import type { ChipClock } from './options.ts';

/**
 * Realtime: the most wall-clock time one catch-up turns into trials. When the
 * simulator's own event loop stalls (2 shared cores), the chip behaves as if
 * paused rather than dumping a burst that would overflow a host that reads
 * in time; trial indices stay contiguous either way.
 */
const MAX_CATCH_UP_MS = 250;
/**
 * Realtime, host settings: the most trials one catch-up performs, as a share
 * of the settings FIFO. A stalled simulator would otherwise use the whole
 * FIFO in one burst and starve (SETTINGS_STARVED) for a reason of its own,
 * not the host's; a real chip uses settings at a steady rate while its host
 * refills the FIFO as CREDIT comes. A longer stall is a pause, as above.
 */
const HOST_MAX_CATCH_UP_FIFO_SHARE = 1 / 8;

export class ChipTime {
  /** Virtual chip time in ms. */
  virtualMs = 0;
  private readonly wallStart = performance.now();
  private lastTickMs = 0;
  /** Realtime: trials owed by the wall clock, fractional part carried over. */
  private budget = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly kind: ChipClock) {}

  /** Chip time in ms since power-up. */
  get nowMs(): number {
    return this.kind === 'virtual' ? this.virtualMs : performance.now() - this.wallStart;
  }

  /** Realtime: call `tick` every `batchMs` (the timer does not keep the process alive). */
  startTimer(tick: () => void, batchMs: number): void {
    this.lastTickMs = 0;
    this.timer = setInterval(tick, batchMs);
    this.timer.unref();
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** START: the wall clock owes no trials yet. */
  startRun(): void {
    this.lastTickMs = this.nowMs;
    this.budget = 0;
  }

  /** Realtime: marks a catch-up at `nowMs`; returns the wall-clock ms since the last one. */
  sinceLastTick(nowMs: number): number {
    const dt = Math.max(0, nowMs - this.lastTickMs);
    this.lastTickMs = nowMs;
    return dt;
  }

  /**
   * Realtime: the whole trials `dtMs` at `rateHz` add to what is owed, capped
   * (see MAX_CATCH_UP_MS, HOST_MAX_CATCH_UP_FIFO_SHARE). Pump pulses without
   * settings are trials not performed (PROTOCOL 5 host mode): the caller's
   * shortfall is not carried over.
   */
  trialsOwed(dtMs: number, rateHz: number, hostSettings: boolean, fifoSize: number): number {
    const cap = hostSettings ? fifoSize * HOST_MAX_CATCH_UP_FIFO_SHARE : (MAX_CATCH_UP_MS * rateHz) / 1000;
    this.budget = Math.min(this.budget + (dtMs * rateHz) / 1000, cap);
    const n = Math.floor(this.budget);
    this.budget -= n;
    return n;
  }
}
