/**
 * The independent ranges of a BitProductSum's transforms (rightangle.ts), run by whichever thread claims them from a
 * task board in the sum's shared WebAssembly memory: the thread that owns the sum, and a helper that joined it with
 * the sum's SumShare (off-thread.ts: the main thread, while it waits for the block). More in README.md (sum-ranges.ts).
 */
import { BLOCK } from './fft.ts';
import { instantiateKernels, TOP_CHUNK, type SimdKernels, type WasmMemory } from './simd.ts';

/** What the range kernels need of an FFT stage. */
export interface StageShape {
  radix: number;
  size: number;
  /** FULL twiddles (simd.ts) rather than COMPACT. */
  full: boolean;
}

/**
 * Everything a thread needs to run a sum's ranges: the shared memory, the compiled module and the sum's plain layout
 * data (structured-cloneable: posted to the helper thread as it is).
 */
export interface SumShare {
  memory: WasmMemory;
  /** The compiled kernels (a WebAssembly.Module: posting it shares the code, no second compilation). */
  module: object;
  radix: number;
  quarter: number;
  size: number;
  /** Whether the ranges are those of the top two stages (simd.ts genTopLoad2): 4 r ranges of Q/4 values. */
  two: boolean;
  stages: StageShape[];
  twPtr: number[];
  codesS: number;
  codesX: number;
  /** The second set of packed codes (the next chunk is packed while the ranges of this one run). */
  codes2S: number;
  codes2X: number;
  tabS: number;
  tabX: number;
  tab2S: number;
  tab2X: number;
  twc: number;
  twf: number;
  uw: number;
  acc: number;
  /** Output bits of extract's rounding pass, one buffer per thread (OR-ed into thread 0's at the end). */
  outs: number[];
  /** Range buffers, two per thread: thread t's s range at bufs[2 t], its x range at bufs[2 t + 1]. */
  bufs: number[];
  /** Byte offset of the task board's words (BOARD_BYTES). */
  board: number;
}

/** Bytes of the task board. */
export const BOARD_BYTES = 64;

/**
 * Task kinds: a range of add (ADD_FIRST: the first since clear, which stores into the range's slice of the sum), an
 * inverse range below the second stage (or below the top), a second-stage range, a span of the rounding pass.
 */
export const ADD = 1;
export const ADD_FIRST = 2;
export const INVERSE_LOW = 3;
export const INVERSE_MID = 4;
export const ROUND = 5;

/**
 * Board words (Int32): the claim word (seq << 25 | leave-last << 24 | open count << 16 | next index), the kind, the
 * done count, failed, the rounding pass's first, count and mask, the add round's code set; from byte ERRS, each
 * thread's largest rounding distance (f64).
 */
const CLAIM = 0;
const KIND = 1;
const DONE = 2;
const FAILED = 3;
const FIRST = 4;
const COUNT = 5;
const MASK = 6;
const CODES = 7;
const ERRS = 32;
/** Threads a board holds rounding distances for (the owner and up to 3 helpers). */
export const MAX_THREADS = 4;

/**
 * j values (butterflies of the top stage) per task of the rounding pass (in calls of TOP_CHUNK): 4 TOP_CHUNK, more
 * when a round would otherwise have over MAX_TASKS tasks.
 */
const ROUND_SPAN = 4 * TOP_CHUNK;

/** Tasks a round may have (the claim word holds the count in 8 bits). */
const MAX_TASKS = 255;

/**
 * The longest the owner waits for a helper's claimed range (one range is a few ms of work): past it the block fails
 * (an error, never a wrong byte: the range is not redone while the helper may still be writing it).
 */
const HELPER_WAIT_MS = 30_000;

/** SIMD radix-4 kernel variant for a stage (simd.ts): twiddle-free (last stage), full or compact twiddles. */
export function variant(st: { full: boolean }, last: boolean): number {
  if (last) return 0;
  return st.full ? 1 : 2;
}

/**
 * The tasks of one sum as one thread runs them, on that thread's own range buffers: range i of add (load from the
 * packed codes, forward transform, multiply-add into the sum's slice i), and the inverse ranges of extract. Any
 * thread computes a task to the same bits (same kernels, same inputs): only which thread runs it varies.
 */
export class SumRanges {
  private readonly bufS: number;
  private readonly bufX: number;
  private readonly out: number;
  private readonly span: number;

  constructor(
    private readonly s: SumShare,
    private readonly kernels: SimdKernels,
    private readonly board: TaskBoard,
    private readonly thread: number,
  ) {
    this.bufS = s.bufs[2 * thread]!;
    this.bufX = s.bufs[2 * thread + 1]!;
    this.out = s.outs[thread]!;
    this.span = TOP_CHUNK * Math.max(ROUND_SPAN / TOP_CHUNK, Math.ceil(s.quarter / TOP_CHUNK / MAX_TASKS));
  }

  /** Ranges of one add: 4 r with the two-stage load, else r. */
  get addCount(): number {
    return this.s.two ? 4 * this.s.radix : this.s.radix;
  }

  /**
   * Whether extract's inverse runs in two rounds: the ranges below the second stage, then the second stage's r
   * ranges (when that stage is too large for the cache; else one round of r ranges below the top).
   */
  get inverseDeep(): boolean {
    return this.s.stages[1]!.size > BLOCK;
  }

  /** Tasks of extract's first inverse round. */
  get inverseCount(): number {
    return this.inverseDeep ? this.s.radix * this.s.stages[1]!.radix : this.s.radix;
  }

  /** Tasks of the rounding pass. */
  get roundCount(): number {
    return Math.ceil(this.s.quarter / this.span);
  }

  run(kind: number, i: number): void {
    const s = this.s;
    if (kind === ADD_FIRST || kind === ADD) this.addRange(i, kind === ADD_FIRST);
    else if (kind === INVERSE_LOW) this.inverseLow(i);
    else if (kind === INVERSE_MID) this.dit(s.acc, i * s.quarter, (i + 1) * s.quarter, 1);
    else if (kind === ROUND) this.roundSpan(i);
    else throw new Error(`sum ranges: no task kind ${kind}`);
  }

  /**
   * Span i of the rounding pass (simd.ts genTopExtract) into this thread's output bits; its largest rounding distance
   * kept in this thread's slot of the board.
   */
  private roundSpan(i: number): void {
    const s = this.s;
    const { first, count, mask } = this.board.roundParams();
    const extract = this.kernels.extract[s.radix]!;
    const end = Math.min(s.quarter, (i + 1) * this.span);
    let err = this.board.error(this.thread);
    for (let j0 = i * this.span; j0 < end; j0 += TOP_CHUNK) {
      const e = extract(
        s.acc,
        s.twc,
        s.twf,
        s.uw,
        this.out,
        s.quarter,
        s.size,
        first,
        count,
        mask,
        j0,
        Math.min(end, j0 + TOP_CHUNK),
      );
      if (!(e <= err)) err = Number.isNaN(err) ? err : e; // NaN stays
    }
    this.board.setError(this.thread, err);
  }

  /**
   * Range i of add: (p, p2) = (i >> 2, i & 3) of the top two stages, or p = i of the top stage. `first`: the sum's
   * first add since clear, which stores its products into the range's slice instead of adding them (every value of
   * the slice is written: no pass zeroing it first).
   */
  private addRange(i: number, first: boolean): void {
    const s = this.s;
    const k = this.kernels;
    const tabBytes = 16 * 4 ** s.radix;
    // the codes of this round's chunk (stable while this task runs: the owner waits for it before the next round)
    const second = this.board.codeSet() !== 0;
    const codesS = second ? s.codes2S : s.codesS;
    const codesX = second ? s.codes2X : s.codesX;
    if (s.two) {
      // range (p, p2) of the top two stages straight from the codes (simd.ts genTopLoad2), Q/4 values
      const q4 = s.quarter / 4;
      const load2 = k.load2[s.radix]![i]!;
      const tab = 4 * i * tabBytes;
      for (let j0 = 0; j0 < q4; j0 += TOP_CHUNK) {
        const j1 = Math.min(q4, j0 + TOP_CHUNK);
        load2(codesS, s.tab2S + tab, codesX, s.tab2X + tab, s.twc, s.twf, this.bufS, this.bufX, q4, j0, j1);
      }
      this.forwardRange(this.bufS, 0, 2);
      this.macRange(0, 2, s.acc + 16 * i * q4, first);
      return;
    }
    const load = k.loadCodes[s.radix]![i]!;
    for (let j0 = 0; j0 < s.quarter; j0 += TOP_CHUNK) {
      const j1 = Math.min(s.quarter, j0 + TOP_CHUNK);
      load(codesS, s.tabS + i * tabBytes, codesX, s.tabX + i * tabBytes, s.twc, s.twf, this.bufS, this.bufX, j0, j1);
    }
    this.forwardRange(this.bufS, 0, 1);
    this.macRange(0, 1, s.acc + 16 * i * s.quarter, first);
  }

  /** Inverse task i of the first round: range (p, p2) below the second stage, or range p below the top. */
  private inverseLow(i: number): void {
    const s = this.s;
    if (!this.inverseDeep) {
      this.inverseRange(i * s.quarter, 1);
      return;
    }
    const r1 = s.stages[1]!.radix;
    this.inverseRange(Math.floor(i / r1) * s.quarter + (i % r1) * (s.quarter / r1), 2);
  }

  private dif(base: number, off: number, end: number, level: number): void {
    const stages = this.s.stages;
    const st = stages[level]!;
    if (st.radix === 4)
      this.kernels.dif4[variant(st, level === stages.length - 1)]!(base, off, end, st.size, this.s.twPtr[level]!);
    else this.kernels.r2(base, off, end);
  }

  private dit(base: number, off: number, end: number, level: number): void {
    const stages = this.s.stages;
    const st = stages[level]!;
    if (st.radix === 4)
      this.kernels.dit4[variant(st, level === stages.length - 1)]!(base, off, end, st.size, this.s.twPtr[level]!);
    else this.kernels.r2(base, off, end);
  }

  /**
   * Forward stages from `level` down over [off, off + size of level) of the buffer at `base` (depth first, as
   * BitConvolution).
   */
  private forwardRange(base: number, off: number, level: number): void {
    const stages = this.s.stages;
    const st = stages[level]!;
    if (st.size <= BLOCK) {
      const pair = this.lastPair(level);
      for (let lv = level; lv < stages.length - (pair ? 2 : 0); lv++) this.dif(base, off, off + st.size, lv);
      if (pair) this.kernels.dif16(base + 16 * off, 0, 0, st.size);
      return;
    }
    this.dif(base, off, off + st.size, level);
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.forwardRange(base, off + p * q, level + 1);
  }

  /** Whether the last two stages below `level` are radix 4 of sizes 16 and 4 (one dif16 pass, simd.ts). */
  private lastPair(level: number): boolean {
    const stages = this.s.stages;
    const last = stages.length - 1;
    return (
      last - 1 > level && stages[last]!.radix === 4 && stages[last - 1]!.radix === 4 && stages[last - 1]!.size === 16
    );
  }

  /**
   * As forwardRange on the x buffer, then, while each cache block is hot, sum += x s (s's range already transformed),
   * or sum = x s (`set`: the sum's first add).
   */
  private macRange(off: number, level: number, accBase: number, set: boolean): void {
    const stages = this.s.stages;
    const st = stages[level]!;
    if (st.size <= BLOCK) {
      const last = stages.length - 1;
      // the last two radix-4 stages (or the last one) run fused with the multiply-add (simd.ts dif16mac, dif4mac)
      const pair = this.lastPair(level);
      const fused = pair || (stages[last]!.radix === 4 && last > level);
      const k = this.kernels;
      const kernel = pair
        ? set
          ? k.dif16macSet
          : k.dif16mac
        : fused
          ? set
            ? k.dif4macSet
            : k.dif4mac
          : set
            ? k.macSet
            : k.mac;
      for (let lv = level; lv < stages.length - (pair ? 2 : fused ? 1 : 0); lv++)
        this.dif(this.bufX, off, off + st.size, lv);
      kernel(this.bufX + 16 * off, this.bufS + 16 * off, accBase + 16 * off, st.size);
      return;
    }
    this.dif(this.bufX, off, off + st.size, level);
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.macRange(off + p * q, level + 1, accBase, set);
  }

  /** Inverse stages below the top over [off, off + size of level) of the sum, depth first. */
  private inverseRange(off: number, level: number): void {
    const stages = this.s.stages;
    const st = stages[level]!;
    const base = this.s.acc;
    if (st.size <= BLOCK) {
      for (let lv = stages.length - 1; lv >= level; lv--) this.dit(base, off, off + st.size, lv);
      return;
    }
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.inverseRange(off + p * q, level + 1);
    this.dit(base, off, off + st.size, level);
  }
}

/** Atomics.waitAsync (ES2024), typed here: the project's lib is ES2022. */
type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
  timeout: number,
) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * The task board of one sum, in its shared memory: the owner opens a round of tasks (`round`), every thread claims
 * them one at a time with one atomic add on the claim word, and the round ends when every claimed task is done.
 * The claim word holds the round's sequence number, its open count and the next index, so a claim tells by itself
 * whether it is valid: a claim that lands after the round closed (count 0) or past the count claims nothing.
 */
export class TaskBoard {
  private readonly words: Int32Array;
  private readonly errs: Float64Array;
  private seq = 0;
  /** The owner's round still open or unfinished (its task count), or -1. */
  private pending = -1;
  /** A helper's range outlived HELPER_WAIT_MS: it may still write, so no round starts again. */
  private stuck = false;

  constructor(memory: WasmMemory, offset: number) {
    this.words = new Int32Array(memory.buffer, offset, ERRS / 4);
    this.errs = new Float64Array(memory.buffer, offset + ERRS, MAX_THREADS);
  }

  /** The owner's side: the rounding pass's parameters for the next round (read by every thread's ROUND tasks). */
  setRoundParams(first: number, count: number, mask: number): void {
    this.words[FIRST] = first;
    this.words[COUNT] = count;
    this.words[MASK] = mask;
    this.errs.fill(0);
  }

  roundParams(): { first: number; count: number; mask: number } {
    return { first: this.words[FIRST]!, count: this.words[COUNT]!, mask: this.words[MASK]! };
  }

  /** The largest rounding distance thread t has seen this rounding pass (NaN if it saw NaN). */
  error(thread: number): number {
    return this.errs[thread]!;
  }

  setError(thread: number, e: number): void {
    this.errs[thread] = e;
  }

  /** Which of the two sets of packed codes the open add round reads (0 or 1). */
  codeSet(): number {
    return this.words[CODES]!;
  }

  /** A whole round: start() then finish(); a helper leaves its last task to the owner. */
  round(kind: number, count: number, run: (i: number) => void): void {
    this.start(kind, count, run, { leaveLast: true });
    this.finish();
  }

  /**
   * The owner's side: opens `count` tasks of `kind` (reading code set `codes`), runs what it claims and closes the
   * round, without waiting for the tasks a helper still runs (finish() does, and must come before the next round).
   * A task of its own that throws: the round is finished, then the error rethrown. `leaveLast`: a helper takes a
   * task only while two are open (where the owner has nothing to do after its claims, it would otherwise often wait
   * for a last task a helper took late).
   */
  start(kind: number, count: number, run: (i: number) => void, { leaveLast = false, codes = 0 } = {}): void {
    if (this.pending >= 0) throw new Error('task board: a round is still unfinished');
    if (!(count >= 0 && count <= MAX_TASKS)) throw new RangeError(`task board: ${count} tasks, at most ${MAX_TASKS}`);
    if (this.stuck) throw new Error('task board: a helper never finished a range of an earlier round');
    const w = this.words;
    this.seq = (this.seq + 1) & 0x7f;
    w[KIND] = kind;
    w[CODES] = codes;
    Atomics.store(w, DONE, 0);
    Atomics.store(w, FAILED, 0);
    this.pending = count;
    Atomics.store(w, CLAIM, (this.seq << 25) | (leaveLast ? 1 << 24 : 0) | (count << 16));
    Atomics.notify(w, CLAIM);
    try {
      for (;;) {
        const i = Atomics.add(w, CLAIM, 1) & 0xffff;
        if (i >= count) break;
        try {
          run(i);
        } finally {
          Atomics.add(w, DONE, 1);
        }
      }
    } catch (e) {
      // no task in flight when the error leaves; the own task's error is the one reported
      try {
        this.finish();
      } catch {}
      throw e;
    }
  }

  /**
   * The owner's side: closes the round (later claims find count 0) and waits for every task claimed in it. Throws,
   * after that, when a helper's task failed (the helper reports its own error to its thread). Nothing to do when no
   * round is open.
   */
  finish(): void {
    const count = this.pending;
    if (count < 0) return;
    this.pending = -1;
    const w = this.words;
    const claimed = Math.min(Atomics.exchange(w, CLAIM, this.seq << 25) & 0xffff, count);
    // every task's writes, the helper's included, are visible once its done count is (Atomics are sequentially
    // consistent over the whole shared memory)
    const deadline = Date.now() + HELPER_WAIT_MS;
    for (let done = Atomics.load(w, DONE); done < claimed; done = Atomics.load(w, DONE)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.stuck = true;
        throw new Error(`extract: a helper thread held a range of the block for over ${HELPER_WAIT_MS} ms`);
      }
      Atomics.wait(w, DONE, done, left);
    }
    if (Atomics.load(w, FAILED) !== 0) throw new Error('extract: the helper thread failed on its share of the block');
  }

  /**
   * A helper's side: claims one open task and runs it; false when none is open. A task that throws is reported to
   * the owner (its round fails) and rethrown here.
   */
  helpOne(ranges: { run(kind: number, i: number): void }): boolean {
    const w = this.words;
    const left = (v: number): number => ((v >>> 16) & 0xff) - (v & 0xffff);
    const v0 = Atomics.load(w, CLAIM);
    if (left(v0) < ((v0 >>> 24) & 1) + 1) return false;
    const v = Atomics.add(w, CLAIM, 1);
    if (left(v) < 1) return false;
    try {
      // the kind cannot change before this task is counted done: the owner waits for it
      ranges.run(Atomics.load(w, KIND), v & 0xffff);
    } catch (e) {
      Atomics.store(w, FAILED, 1);
      throw e;
    } finally {
      Atomics.add(w, DONE, 1);
      Atomics.notify(w, DONE);
    }
    return true;
  }

  /** Resolves when the claim word changes (a round opens or closes), on wake(), or after `ms`. */
  changed(ms: number): Promise<unknown> {
    const w = this.words;
    if (waitAsync === undefined) return new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5)));
    const r = waitAsync(w, CLAIM, Atomics.load(w, CLAIM), ms);
    return r.async ? (r.value as Promise<string>) : Promise.resolve(r.value);
  }

  /** Ends this thread's waits in changed(). */
  wake(): void {
    Atomics.notify(this.words, CLAIM);
  }
}

/** A helper thread's hold on a sum: its own instance of the kernels in the sum's memory, its ranges and the board. */
export class SumHelper {
  readonly board: TaskBoard;
  readonly ranges: SumRanges;

  /** Joins the sum as helper `thread` (1 for the first), or null where the kernels cannot be instantiated here. */
  static join(share: SumShare, thread = 1): SumHelper | null {
    const kernels = instantiateKernels(share.memory, share.module);
    return kernels === null ? null : new SumHelper(share, kernels, thread);
  }

  private constructor(share: SumShare, kernels: SimdKernels, thread: number) {
    this.board = new TaskBoard(share.memory, share.board);
    this.ranges = new SumRanges(share, kernels, this.board, thread);
  }

  /** Claims and runs one open task of the sum; false when none is open. */
  helpOne(): boolean {
    return this.board.helpOne(this.ranges);
  }
}
