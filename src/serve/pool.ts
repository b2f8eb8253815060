/**
 * The pool: certified bytes not yet served, block by block, and the ledger
 * that proves none is served twice.
 *
 * A block enters only after its certificate line was written (the service
 * calls add() once the write completed). take(n) removes exactly n bytes
 * from the front, all or nothing, and says which certificate covers each
 * range; the bytes it hands out are wiped from the pool's copy, so no later
 * take can see them. Ledger: certifiedBytes = servedBytes + level, always.
 *
 * Waiting requests queue first come, first served: a big request at the
 * head is not overtaken by small ones (it would starve), and one that gives
 * up (timeout, client gone) leaves the queue having taken nothing.
 */

export interface PoolBlock {
  /** The service's own sequence number of the block (0, 1, ... across chip runs). */
  seq: number;
  /** The certificate's blockIndex within its chip run. */
  blockIndex: number;
  /** SHA-256 of the certificate line. */
  sha256: string;
  bytes: Uint8Array;
}

/** Bytes [start, end) of one block's output, as served. */
export interface CoveredRange {
  seq: number;
  blockIndex: number;
  sha256: string;
  start: number;
  end: number;
}

export interface Taken {
  bytes: Uint8Array;
  ranges: CoveredRange[];
}

interface Waiter {
  n: number;
  resolve: (t: Taken | undefined) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Held {
  block: PoolBlock;
  /** First byte not yet served. */
  offset: number;
}

export class EntropyPool {
  private readonly blocks: Held[] = [];
  private readonly waiters: Waiter[] = [];
  /** Bytes in the pool. */
  level = 0;
  certifiedBytes = 0;
  servedBytes = 0;

  constructor(
    /** The level at which the service pauses the chip. */
    readonly capacity: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError('"capacity" must be an integer >= 1');
  }

  /** A certified block whose certificate line is already written. */
  add(block: PoolBlock): void {
    this.certifiedBytes += block.bytes.length;
    if (block.bytes.length === 0) return;
    // Our own copy: served bytes are wiped from it, whatever else holds the pipeline's buffer.
    this.blocks.push({ block: { ...block, bytes: Uint8Array.from(block.bytes) }, offset: 0 });
    this.level += block.bytes.length;
    this.serveWaiters();
  }

  /** Exactly n bytes now, or undefined (nothing taken) when the pool has fewer or others wait first. */
  tryTake(n: number): Taken | undefined {
    if (this.waiters.length > 0 || n > this.level) return undefined;
    return this.cut(n);
  }

  /**
   * Exactly n bytes, waiting up to waitMs for the pool to hold them (queued
   * behind earlier waiters); undefined when the time ran out or `signal`
   * aborted first: then nothing was taken.
   */
  take(n: number, waitMs: number, signal?: AbortSignal): Promise<Taken | undefined> {
    const now = this.tryTake(n);
    if (now || waitMs <= 0 || signal?.aborted) return Promise.resolve(now);
    return new Promise((resolve) => {
      const w: Waiter = { n, resolve, timer: undefined };
      const give = (t: Taken | undefined): void => {
        clearTimeout(w.timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(t);
      };
      const giveUp = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        give(undefined);
        this.serveWaiters(); // the head may have been the only thing blocking the others
      };
      w.resolve = give;
      w.timer = setTimeout(giveUp, waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiters.push(w);
    });
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Gives up every waiting request (service shutting down). */
  cancelWaiters(): void {
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0 && this.waiters[0]!.n <= this.level) {
      const w = this.waiters.shift()!;
      w.resolve(this.cut(w.n));
    }
  }

  /** Removes n <= level bytes from the front and wipes them from the pool's copy. */
  private cut(n: number): Taken {
    const bytes = new Uint8Array(n);
    const ranges: CoveredRange[] = [];
    let filled = 0;
    while (filled < n) {
      const h = this.blocks[0]!;
      const k = Math.min(n - filled, h.block.bytes.length - h.offset);
      const src = h.block.bytes.subarray(h.offset, h.offset + k);
      bytes.set(src, filled);
      src.fill(0);
      const { seq, blockIndex, sha256 } = h.block;
      ranges.push({ seq, blockIndex, sha256, start: h.offset, end: h.offset + k });
      h.offset += k;
      filled += k;
      if (h.offset === h.block.bytes.length) this.blocks.shift();
    }
    this.level -= n;
    this.servedBytes += n;
    return { bytes, ranges };
  }
}
