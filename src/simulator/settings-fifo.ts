/**
 * PROTOCOL 5 host settings: the chip's settings FIFO (65536 slots, one
 * (x << 1) | y value each), filled by SETTINGS frames and emptied one slot
 * per trial, with the counts PROTOCOL 4 CREDIT reports.
 */
export class SettingsFifo {
  private readonly slots: Uint8Array;
  private head = 0;
  /** Settings waiting. */
  count = 0;
  /** Settings used since START. */
  consumed = 0;
  /** Slots freed since the last CREDIT. */
  freedSinceCredit = 0;

  constructor(size: number) {
    this.slots = new Uint8Array(size);
  }

  get size(): number {
    return this.slots.length;
  }

  get free(): number {
    return this.slots.length - this.count;
  }

  /** START: empty, counters at zero. */
  reset(): void {
    this.head = 0;
    this.count = 0;
    this.consumed = 0;
    this.freedSinceCredit = 0;
  }

  /** Appends `count` settings; false (nothing appended) when they do not fit: PROTOCOL 5 SETTINGS_OVERFLOW. */
  push(settings: ArrayLike<number>, count: number): boolean {
    if (count > this.free) return false;
    for (let k = 0; k < count; k++) {
      this.slots[(this.head + this.count) % this.slots.length] = settings[k]!;
      this.count++;
    }
    return true;
  }

  /** The oldest setting, removed (the caller checks `count` first). */
  shift(): number {
    const xy = this.slots[this.head]!;
    this.head = (this.head + 1) % this.slots.length;
    this.count--;
    this.consumed++;
    this.freedSinceCredit++;
    return xy;
  }
}
