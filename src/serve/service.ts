/**
 * EntropyService: runs the certified pipeline into the pool and keeps what
 * /status, /metrics, /events and /certificates report.
 *
 *   chip run --certifiedBlocks--> certificate line written --> pool --> take(n)
 *
 * Pool full: the chip is paused with STOP (PROTOCOL 5: one command, its ACK
 * within 50 ms) and started again once the pool has drained to half, or at
 * once when a request waits for more than the pool holds. That
 * is cheaper than keeping it running and discarding blocks: a discarded
 * block still costs its certification and its Toeplitz hash on the host
 * (about 0.3 s of CPU per 2^22-trial block), forever while nobody reads,
 * and its trials feed nothing. A STOP costs the unfinished block's trials
 * only (never certified, so nothing is lost from the ledger); each START
 * begins a new run (PROTOCOL 5: trial index 0) and a new certificate chain.
 * The pool may pass its capacity by the one block being hashed when the
 * level reached it.
 *
 * Fail closed: certification that keeps failing, or a device error, ends
 * production (state 'failed', with the reason); the pool is still served,
 * then requests get 503.
 *
 * With `reconnect` (serve --reconnect), a chip that goes away is waited for
 * instead (state 'waiting', `waitingFor` its serial): the unfinished block
 * is dropped with its run, the pool is still served, and when the same chip
 * answers again production resumes on it. Its first certificate continues
 * the chain (prevCertificateSha256: the last line written before the chip
 * went away) and records the reconnect; a wait that ends without the chip
 * ends production (state 'failed').
 */
import { EventEmitter } from 'node:events';
import type { Device, Run } from '../device/index.ts';
import { DeviceError } from '../errors.ts';
import type { RefusedBlock } from '../certify/index.ts';
import type { StreamProgress } from '../output/certified-stream.ts';
import type { CertifiedChunk } from '../output/with-certificates.ts';
import { certifiedBlocks, type BlockSourceOptions } from './source.ts';
import { EntropyPool, type Taken } from './pool.ts';

export type ServiceState = 'starting' | 'running' | 'paused' | 'waiting' | 'stopping' | 'stopped' | 'failed';

/** How a chip that went away comes back (the CLI's `--reconnect` rules: the same serial, at the same place). */
export interface ChipReturn {
  /** Whether an error of a run says the chip went away (a replug can cure it). */
  isDisconnect(error: unknown): boolean;
  /** The same chip opened again; undefined once gaveUp() is true; throws when the wait ends without it. */
  wait(serial: string, gaveUp: () => boolean): Promise<Device | undefined>;
}

export interface ServiceOptions {
  /** The pipeline's options (seed, eps, adversary, blockTrials, maxConsecutiveRefused, hostSettings). */
  pipeline: Omit<BlockSourceOptions, 'onRefused' | 'onProgress' | 'onRun'>;
  /** Pool capacity in bytes (default DEFAULT_POOL_BYTES). */
  poolBytes?: number;
  /** Writes one certificate line durably (e.g. to --certs); a block enters the pool only once it resolved. */
  writeCertificate?: (line: string) => Promise<void>;
  /** Certificate lines kept in memory for /certificates (default 10,000, about 17 MB: 11 hours of 2^22-trial blocks; older ones are in --certs). */
  keepCertificates?: number;
  /** Wait for a chip that went away (default: a lost chip ends production). */
  reconnect?: ChipReturn;
  /** Opens the next chip run's blocks (default certifiedBlocks): the one seam to the pipeline. */
  source?: (device: Device, opts: BlockSourceOptions) => AsyncIterable<CertifiedChunk>;
}

export const DEFAULT_POOL_BYTES = 4 * 1024 * 1024;

/** One finished block, certified or refused, as /status and the dashboard show it. */
export interface BlockSummary {
  seq: number;
  ok: boolean;
  blockIndex: number;
  trials: number;
  lostTrials: number;
  sEstimate: number;
  sLowerBound: number;
  bitsPerTrial: number;
  outputBytes: number;
  sha256?: string;
  /** Refused: the first test that failed and the certify stage's one line. */
  test?: string;
  reason?: string;
  atMs: number;
}

export interface ServiceCounters {
  blocksCertified: number;
  blocksRefused: number;
  refusedByTest: Record<string, number>;
  /** Blocks in which each test failed (a refused block can fail several). */
  failedByTest: Record<string, number>;
  trials: number;
  lostTrials: number;
  certifiedBits: number;
  requests: number;
  /** Times the chip came back after going away. */
  reconnects: number;
}

export interface ServiceEvent {
  type: 'block' | 'refused' | 'state' | 'status';
  data: unknown;
}

const HISTORY = 64;

export class EntropyService extends EventEmitter<{ event: [ServiceEvent] }> {
  readonly pool: EntropyPool;
  state: ServiceState = 'starting';
  /** Why production ended (state 'failed'). */
  failure: Error | undefined;
  /** The serial of the chip waited for (state 'waiting'). */
  waitingFor: string | undefined;
  readonly counters: ServiceCounters = {
    blocksCertified: 0,
    blocksRefused: 0,
    refusedByTest: {},
    failedByTest: {},
    trials: 0,
    lostTrials: 0,
    certifiedBits: 0,
    requests: 0,
    reconnects: 0,
  };
  /** The last blocks, oldest first. */
  readonly history: BlockSummary[] = [];
  /** Pool level and bytes served over time (at each block and at most every 250 ms of requests), oldest first. */
  readonly levels: { atMs: number; pool: number; served: number }[] = [];
  readonly startedAt = Date.now();
  /** Certificate lines by service sequence number (the oldest dropped beyond keepCertificates). */
  private readonly certs = new Map<number, { line: string; sha256: string }>();
  private readonly bySha = new Map<string, number>();
  private seq = 0;
  private run: Run | undefined;
  private runs = 0;
  /** SHA-256 of the last certificate line written: where a run after a reconnect continues the chain. */
  private lastSha: string | null = null;
  /** The reconnect the next certificate records (certificate.ts `reconnect`). */
  private reconnected: { at: string; trialsDropped: number; previousRuns: number } | undefined;
  private currentDevice: Device;
  /** Link errors counted by the chips closed after they went away (a reopened chip's stats start at 0). */
  private readonly linkErrorsBefore = { lost: 0, duplicate: 0, invalid: 0 };
  /** The chip that went away, once its link errors are in linkErrorsBefore. */
  private retired: Device | undefined;
  private producer: Promise<void> | undefined;
  private stopRequested = false;
  private resume: (() => void) | undefined;
  private readonly resumeBelow: number;
  /** The counters when the current chip run started (a run's progress counts from 0). */
  private runBase = { trials: 0, lostTrials: 0, certifiedBits: 0 };

  constructor(
    private readonly firstDevice: Device,
    private readonly opts: ServiceOptions,
  ) {
    super();
    this.currentDevice = firstDevice;
    this.pool = new EntropyPool(opts.poolBytes ?? DEFAULT_POOL_BYTES);
    this.resumeBelow = Math.floor(this.pool.capacity / 2);
  }

  /** The chip served from: the one given, or the same chip opened again after it went away. */
  get device(): Device {
    return this.currentDevice;
  }

  /** Device frames lost, duplicated or invalid on the link, over every chip served from (counters never go back). */
  linkErrors(): { lost: number; duplicate: number; invalid: number } {
    const b = this.linkErrorsBefore;
    if (this.currentDevice === this.retired) return { ...b };
    const st = this.currentDevice.stats;
    return {
      lost: b.lost + st.linkLostFrames,
      duplicate: b.duplicate + st.duplicateFrames,
      invalid: b.invalid + st.invalidFrames,
    };
  }

  /** Starts production in the background (returns at once); `stop()` ends it. */
  start(): void {
    this.producer ??= this.produce();
  }

  /** Stops the chip (STOP/ACK) and production; the pool stays as it is. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    if (this.state !== 'failed') this.setState('stopping');
    this.resume?.();
    await this.run?.stop().catch(() => undefined);
    await this.producer;
    if (this.state !== 'failed') this.setState('stopped');
    // A chip opened again after a reconnect is the service's own; the first one is the caller's.
    if (this.currentDevice !== this.firstDevice) await this.currentDevice.close();
  }

  /** Exactly n certified bytes (or undefined after waitMs): see EntropyPool.take. */
  async take(n: number, waitMs: number, signal?: AbortSignal): Promise<Taken | undefined> {
    this.counters.requests++;
    // Nothing more will come: do not make the client wait for it.
    const producing = ['running', 'paused', 'starting', 'waiting'].includes(this.state);
    const pending = this.pool.take(n, producing ? waitMs : 0, signal);
    // A request waiting for more than the pool holds restarts a paused chip (else it would wait out its time).
    this.maybeResume();
    const t = await pending;
    this.maybeResume();
    if (t) this.sampleLevels(false);
    return t;
  }

  /** Certificate lines from service sequence number `since` on. */
  certificatesSince(since: number): { seq: number; line: string }[] {
    const out: { seq: number; line: string }[] = [];
    for (const [seq, c] of this.certs) if (seq >= since) out.push({ seq, line: c.line });
    return out;
  }

  certificateBySha(sha256: string): string | undefined {
    const seq = this.bySha.get(sha256);
    return seq === undefined ? undefined : this.certs.get(seq)?.line;
  }

  private setState(state: ServiceState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('event', { type: 'state', data: this.stateData() });
  }

  /** What a state event says: the state, why production failed, the chip waited for. */
  stateData(): { state: ServiceState; failure: string | null; waitingFor: string | null } {
    return { state: this.state, failure: this.failure?.message ?? null, waitingFor: this.waitingFor ?? null };
  }

  /** Whether the chip should be paused: the pool is above half and no request waits for more than it holds. */
  private get full(): boolean {
    return this.pool.level > this.resumeBelow && this.pool.waiting === 0;
  }

  private maybeResume(): void {
    if (this.resume && !this.full) this.resume();
  }

  private async produce(): Promise<void> {
    const source = this.opts.source ?? certifiedBlocks;
    try {
      while (!this.stopRequested) {
        if (this.full) {
          this.setState('paused');
          await new Promise<void>((r) => (this.resume = r));
          this.resume = undefined;
          if (this.stopRequested) break;
        }
        this.setState('running');
        let ended: Awaited<ReturnType<typeof this.oneRun>>;
        try {
          ended = await this.oneRun(source);
        } catch (e) {
          if (!this.opts.reconnect?.isDisconnect(e) || this.stopRequested) throw e;
          await this.awaitChip(this.opts.reconnect);
          continue;
        }
        // PROTOCOL 5: a run that ends without our STOP was ended by the chip.
        if (ended === 'chip')
          throw new DeviceError(
            'RUN_ENDED',
            'the chip ended the run (a STATUS in state IDLE that no STOP of this host asked for, PROTOCOL 5)',
          );
      }
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.pool.cancelWaiters();
      this.setState('failed');
    } finally {
      this.run = undefined;
    }
  }

  /**
   * The chip went away: the unfinished block is dropped with its run (its
   * trials never mix with the next run's), the port is closed (free to open
   * again), and the same chip is waited for while the pool is served.
   */
  private async awaitChip(reconnect: ChipReturn): Promise<void> {
    // Trials received in the run minus those in its finished blocks.
    const dropped = Math.max(0, (this.run?.stats.trials ?? 0) - (this.counters.trials - this.runBase.trials));
    this.run = undefined;
    await this.currentDevice.close();
    Object.assign(this.linkErrorsBefore, this.linkErrors());
    this.retired = this.currentDevice;
    const serial = this.currentDevice.info.serial;
    this.waitingFor = serial;
    this.setState('waiting');
    let back: Device | undefined;
    try {
      back = await reconnect.wait(serial, () => this.stopRequested);
    } finally {
      this.waitingFor = undefined;
    }
    if (!back) return;
    this.currentDevice = back;
    this.counters.reconnects++;
    // A run that went away before its first certificate adds its dropped trials to the reconnect still to record.
    const before = this.reconnected?.trialsDropped ?? 0;
    this.reconnected = { at: new Date().toISOString(), trialsDropped: before + dropped, previousRuns: this.runs };
  }

  /** One chip run, until the pool is full ('full'), stop() ('stop') or the chip ends it ('chip'). */
  private async oneRun(source: NonNullable<ServiceOptions['source']>): Promise<'full' | 'stop' | 'chip'> {
    const { trials, lostTrials, certifiedBits } = this.counters;
    this.runBase = { trials, lostTrials, certifiedBits };
    // After a reconnect the chain goes on from the last line written; otherwise each run starts a chain of its own.
    const after = this.reconnected;
    const blocks = source(this.currentDevice, {
      ...this.opts.pipeline,
      ...(after ? { prevCertificateSha256: this.lastSha, reconnect: after } : {}),
      onRun: (r) => {
        this.run = r;
        this.runs++;
        if (this.stopRequested) void r.stop().catch(() => undefined);
      },
      onRefused: (b) => this.onRefused(b),
      onProgress: (p) => this.onProgress(p),
    });
    for await (const b of blocks) {
      await this.admit(b);
      if (this.pool.level >= this.pool.capacity) return 'full';
      if (this.stopRequested) return 'stop';
    }
    return this.stopRequested ? 'stop' : 'chip';
  }

  /** Writes the certificate line, then (only then) lets its bytes into the pool. */
  private async admit(b: CertifiedChunk): Promise<void> {
    await this.opts.writeCertificate?.(b.line);
    this.lastSha = b.sha256;
    this.reconnected = undefined;
    const seq = this.seq++;
    this.certs.set(seq, { line: b.line, sha256: b.sha256 });
    this.bySha.set(b.sha256, seq);
    const keep = this.opts.keepCertificates ?? 10_000;
    for (const [old, c] of this.certs) {
      if (this.certs.size <= keep) break;
      this.certs.delete(old);
      this.bySha.delete(c.sha256);
    }
    const c = b.certificate;
    this.pool.add({ seq, blockIndex: c.blockIndex, sha256: b.sha256, bytes: b.bytes });
    this.counters.blocksCertified++;
    const summary: BlockSummary = {
      seq,
      ok: true,
      blockIndex: c.blockIndex,
      trials: c.trialRange.count,
      lostTrials: c.lostTrials.total,
      sEstimate: c.sEstimate,
      sLowerBound: c.sLowerBound,
      bitsPerTrial: c.outputBits / c.trialRange.count,
      outputBytes: b.bytes.length,
      sha256: b.sha256,
      atMs: Date.now() - this.startedAt,
    };
    this.remember(summary);
    this.emit('event', { type: 'block', data: { ...summary, pool: this.pool.level, served: this.pool.servedBytes } });
  }

  private onRefused(b: RefusedBlock): void {
    this.counters.blocksRefused++;
    this.counters.refusedByTest[b.test] = (this.counters.refusedByTest[b.test] ?? 0) + 1;
    for (const t of b.failedTests) this.counters.failedByTest[t] = (this.counters.failedByTest[t] ?? 0) + 1;
    const summary: BlockSummary = {
      seq: -1,
      ok: false,
      blockIndex: b.blockIndex,
      trials: b.trialRange.count,
      lostTrials: b.lostTrials,
      sEstimate: b.sEstimate,
      sLowerBound: b.sLowerBound,
      bitsPerTrial: 0,
      outputBytes: 0,
      test: b.test,
      reason: b.reason,
      atMs: Date.now() - this.startedAt,
    };
    this.remember(summary);
    this.emit('event', { type: 'refused', data: { ...summary, pool: this.pool.level, served: this.pool.servedBytes } });
  }

  /** Run totals (progress counts this run's finished blocks) folded into the service's. */
  private onProgress(p: Readonly<StreamProgress>): void {
    const c = this.counters;
    c.trials = this.runBase.trials + p.trials;
    c.lostTrials = this.runBase.lostTrials + p.lostTrials;
    c.certifiedBits = this.runBase.certifiedBits + p.certifiedBits;
  }

  private remember(s: BlockSummary): void {
    this.history.push(s);
    if (this.history.length > HISTORY) this.history.shift();
    this.sampleLevels(true);
  }

  private sampleLevels(always: boolean): void {
    const atMs = Date.now() - this.startedAt;
    const last = this.levels.at(-1);
    if (!always && last && atMs - last.atMs < 250) return;
    this.levels.push({ atMs, pool: this.pool.level, served: this.pool.servedBytes });
    if (this.levels.length > 4 * HISTORY) this.levels.shift();
  }
}
