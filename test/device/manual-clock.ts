/** A watchdog clock that moves only when a test says so (simulated time). */
import type { WatchdogClock } from '../../src/device/watchdog.ts';

export class ManualClock implements WatchdogClock {
  nowMs = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;

  now(): number {
    return this.nowMs;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.nowMs + ms, fn });
    return id;
  }
  clearTimer(t: unknown): void {
    this.timers.delete(t as number);
  }
  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.nowMs = due[1].at;
      due[1].fn();
    }
    this.nowMs = end;
  }
  /** Jumps time without firing timers (this process stalled), then fires what is due. */
  stall(ms: number): void {
    const end = this.nowMs + ms;
    const due = [...this.timers.entries()].filter(([, t]) => t.at <= end);
    this.nowMs = end;
    for (const [id, t] of due) {
      this.timers.delete(id);
      t.fn();
    }
  }
}
