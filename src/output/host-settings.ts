/**
 * Host-supplied settings (issue 6 scope 1): the host draws x, y for every
 * trial and streams them to the chip in SETTINGS frames within its CREDIT.
 *
 *   random bits (OS CSPRNG | ChaCha20 keyed from --settings-seed)
 *     --> SettingsDraw (per trial: uniform x, y; or spot-checking: T ~ Bernoulli(gamma)
 *         by an exact arithmetic-decoding sampler, uniform x, y on test rounds, (0, 0) else)
 *     --> SettingsLedger (certify/echo.ts: what was sent, for the echo check)
 *     --> HostSettingsFeeder --SETTINGS--> chip FIFO, never beyond its free slots
 *
 * Flow control (PROTOCOL 4 CREDIT, 5 SETTINGS): the chip's FIFO holds
 * `fifo` settings (PROTOCOL 4 INFO settings fifo) and rejects a SETTINGS
 * frame beyond its free slots whole (SETTINGS_OVERFLOW). CREDIT reports
 * `consumed`, the settings used since START; the FIFO then holds at most
 * sent - consumed, so sending while sent < consumed + fifo never overflows
 * it, whatever is still in flight on the link. At START the FIFO is empty:
 * the feeder fills it at once, then tops it up at every CREDIT (one per
 * 4096 settings used), seen as it comes off the link (Run.onCredit).
 */
import { createCipheriv, createHash, randomFillSync } from 'node:crypto';
import type { Run } from '../device/index.ts';
import { LEDGER_TEST_ROUND, SettingsLedger, type SettingsGenerator, type SettingsPlan } from '../certify/echo.ts';
import { GENERATION_SETTINGS } from '../certify/spot-check.ts';

/** Uniform random bytes, counted. */
export interface RandomByteSource {
  readonly generator: SettingsGenerator;
  /** Bits handed out so far (8 per byte). */
  readonly bitsConsumed: number;
  nextByte(): number;
}

const CHUNK_BYTES = 64 * 1024;

abstract class BufferedSource implements RandomByteSource {
  abstract readonly generator: SettingsGenerator;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private handedOut = 0;

  get bitsConsumed(): number {
    return this.handedOut * 8;
  }

  protected abstract refill(): Uint8Array;

  nextByte(): number {
    if (this.pos === this.buf.length) {
      this.buf = this.refill();
      this.pos = 0;
    }
    this.handedOut++;
    return this.buf[this.pos++]!;
  }
}

/** The OS CSPRNG (node:crypto randomFillSync), read in 64 KiB chunks. */
export class CsprngSource extends BufferedSource {
  readonly generator = 'os-csprng' as const;
  private readonly chunk = new Uint8Array(CHUNK_BYTES);
  protected refill(): Uint8Array {
    return randomFillSync(this.chunk);
  }
}

/**
 * A deterministic generator for replayable settings: the ChaCha20 keystream
 * (RFC 8439 cipher via node:crypto) with key SHA-256(seed file bytes) and a
 * zero nonce and counter. The same file gives the same settings.
 */
export class ChaChaSource extends BufferedSource {
  readonly generator = 'chacha20-seeded' as const;
  private readonly cipher;
  private readonly zeros = new Uint8Array(CHUNK_BYTES);
  constructor(seed: Uint8Array) {
    super();
    if (seed.length < 16) throw new RangeError('"seed" must hold at least 16 bytes (128 bits)');
    const key = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  }
  protected refill(): Uint8Array {
    return new Uint8Array(this.cipher.update(this.zeros));
  }
}

/** Scale of the sampler's interval: kept in [2^40, 2^48) so every product stays an exact float64 integer. */
const RANGE_LOW = 2 ** 40;

/**
 * Bernoulli(p / q) trials from uniform bytes, exactly, spending about
 * h(p/q) bits per trial amortised: arithmetic decoding of a uniform real
 * U in [0, 1) (Han & Hoshi, IEEE Trans. Inf. Theory 43, 599 (1997), the
 * interval algorithm, in the integer form of a range decoder).
 *
 * State: U lies uniformly in an interval of `range` equal cells, `code`
 * the cell it is in. A trial splits the interval at range * p / q: the
 * trial is 1 (a test round) when code falls below, and the interval shrinks
 * to that side; code stays uniform on it. Exactness: the split is taken only
 * when range is a multiple of q, so P(1) = p / q exactly; otherwise the
 * range is cut to the largest multiple of q, and when code falls in the cut
 * remainder (probability < q / 2^40) the remainder becomes the new interval
 * (rejection, no bias). Fresh bytes enter only when range < 2^40: each bit
 * read halves the interval's uncertainty, so the bits read track the
 * information -log2 of the decided outcomes' probability, h(p/q) per trial.
 */
export class BernoulliSampler {
  readonly numerator: number;
  readonly denominator: number;
  private range = 1;
  private code = 0;

  constructor(
    numerator: number,
    denominator: number,
    private readonly source: RandomByteSource,
  ) {
    if (
      !(
        Number.isInteger(numerator) &&
        Number.isInteger(denominator) &&
        numerator > 0 &&
        numerator < denominator &&
        denominator <= 2 ** 24
      )
    ) {
      throw new RangeError('"numerator" / "denominator" must be integers with 0 < numerator < denominator <= 2^24');
    }
    this.numerator = numerator;
    this.denominator = denominator;
  }

  private fill(): void {
    while (this.range < RANGE_LOW) {
      this.range *= 256;
      this.code = this.code * 256 + this.source.nextByte();
    }
  }

  /** One trial: 1 with probability numerator / denominator exactly, else 0. */
  next(): number {
    const q = this.denominator;
    for (;;) {
      this.fill();
      const usable = this.range - (this.range % q);
      if (this.code < usable) {
        this.range = usable;
        break;
      }
      // The remainder: code is uniform on it; make it the interval and read more.
      this.code -= usable;
      this.range -= usable;
    }
    const split = (this.range / q) * this.numerator;
    if (this.code < split) {
      this.range = split;
      return 1;
    }
    this.code -= split;
    this.range -= split;
    return 0;
  }
}

/** gamma as an exact decimal fraction p / 10^d (d <= 6), e.g. 0.01 -> 1 / 100, in lowest terms. */
export function testRateFraction(gamma: number | string): { numerator: number; denominator: number } {
  const text = typeof gamma === 'number' ? String(gamma) : gamma.trim();
  const m = /^0?\.(\d{1,6})$|^(0)$|^(1)(\.0*)?$/.exec(text);
  const value = Number(text);
  if (!m || !(value > 0 && value <= 1))
    throw new RangeError('"gamma" must be a decimal in (0, 1] with at most 6 digits after the point');
  if (value === 1) return { numerator: 1, denominator: 1 };
  const digits = m[1]!;
  let numerator = Number(digits);
  let denominator = 10 ** digits.length;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(numerator, denominator);
  numerator /= g;
  denominator /= g;
  return { numerator, denominator };
}

/**
 * Draws the ledger bytes of consecutive trials (bit 2 test round, bits 1..0
 * (x << 1) | y) and attributes the random bits spent to each trial's block.
 */
export class SettingsDraw {
  readonly plan: SettingsPlan;
  private readonly sampler?: BernoulliSampler;
  private bits = 0;
  private left = 0;
  private nextTrial = 0;

  constructor(
    private readonly source: RandomByteSource,
    testRate: { numerator: number; denominator: number } | null,
  ) {
    const spot = testRate !== null && testRate.numerator < testRate.denominator;
    this.plan = { generator: source.generator, testRate: spot ? { ...testRate } : null };
    if (spot) this.sampler = new BernoulliSampler(testRate.numerator, testRate.denominator, source);
  }

  /** Two uniform bits (x, y of a test round). */
  private twoBits(): number {
    if (this.left === 0) {
      this.bits = this.source.nextByte();
      this.left = 4;
    }
    const v = this.bits & 3;
    this.bits >>= 2;
    this.left--;
    return v;
  }

  /**
   * Ledger bytes of the next `count` trials into `out`; the random bits read
   * go to `ledger`'s block accounting, split at block boundaries.
   */
  draw(out: Uint8Array, count: number, ledger: SettingsLedger, blockTrials: number): void {
    const sampler = this.sampler;
    let k = 0;
    while (k < count) {
      const block = Math.floor(this.nextTrial / blockTrials);
      const take = Math.min(count - k, (block + 1) * blockTrials - this.nextTrial);
      const before = this.source.bitsConsumed;
      const end = k + take;
      if (sampler) {
        // ARV 2019 DIRE: test round with probability gamma, uniform x, y; else the generation inputs (0, 0).
        for (; k < end; k++) out[k] = sampler.next() === 1 ? LEDGER_TEST_ROUND | this.twoBits() : GENERATION_SETTINGS;
      } else {
        for (; k < end; k++) out[k] = LEDGER_TEST_ROUND | this.twoBits();
      }
      this.nextTrial += take;
      ledger.addBlockBits(block, this.source.bitsConsumed - before);
    }
  }
}

export interface HostSettingsFeederOptions {
  /** The chip's settings FIFO (PROTOCOL 4 INFO settings fifo). */
  fifo: number;
  /** Trials per certification block (for the per-block bit accounting). */
  blockTrials: number;
  /** Settings per write at most (default 65536: the chip's whole FIFO, 342 SETTINGS frames, 21 KiB, in one write at START). */
  maxWriteSettings?: number;
  /**
   * The run's START limit (0: until STOP). The chip goes IDLE by itself at
   * the limit and answers SETTINGS still in flight with BAD_STATE, which
   * would fail the device's next run: the feeder sends no settings beyond it.
   */
  limitTrials?: number;
}

export interface FeederStats {
  /** Settings sent to the chip. */
  sent: number;
  /** The chip's last CREDIT: settings used since START, and free slots. */
  consumed: number;
  free: number;
  creditFrames: number;
  writes: number;
}

/** Keeps the chip's host-settings FIFO filled, never beyond it (PROTOCOL 5 SETTINGS). */
/** The most settings the feeder keeps in flight, whatever FIFO the chip claims (the EPQ-1's is 65,536). */
export const MAX_FEEDER_FIFO = 2 ** 20;
/** Settings awaiting their echo, in FIFOs: 16 x 65,536 is about 1 s of trials at 1 M/s, above any honest backlog. */
export const MAX_HELD_FIFOS = 16;

export class HostSettingsFeeder {
  readonly ledger: SettingsLedger;
  readonly stats: FeederStats = { sent: 0, consumed: 0, free: 0, creditFrames: 0, writes: 0 };
  private readonly fifo: number;
  private readonly blockTrials: number;
  private readonly maxWrite: number;
  private readonly limit: number;
  private readonly buf: Uint8Array;
  private run: Run | undefined;
  private stopped = false;
  private error: unknown;

  constructor(
    private readonly draw: SettingsDraw,
    { fifo, blockTrials, maxWriteSettings = 65536, limitTrials = 0 }: HostSettingsFeederOptions,
  ) {
    if (!(Number.isInteger(fifo) && fifo > 0)) throw new RangeError('"fifo" must be a positive integer');
    // The chip is untrusted: a claimed FIFO of 2^32 - 1 would have the host draw and keep 4 G settings
    // at once. Using fewer slots than the chip offers can never overflow it.
    this.fifo = Math.min(fifo, MAX_FEEDER_FIFO);
    this.blockTrials = blockTrials;
    this.maxWrite = maxWriteSettings;
    this.limit = limitTrials > 0 ? limitTrials : Infinity;
    this.buf = new Uint8Array(maxWriteSettings);
    this.ledger = new SettingsLedger(draw.plan);
  }

  /** The first write error, if any (the run fails on its own as well). */
  get failure(): unknown {
    return this.error;
  }

  /** Starts feeding a run that START(source host) just opened: fills the empty FIFO, then follows CREDIT. */
  start(run: Run): void {
    this.run = run;
    run.onCredit = (free, consumed) => {
      this.stats.creditFrames++;
      this.stats.free = free;
      // A chip cannot have used settings the host never sent: a larger claim is clamped (its records
      // for those trials fail the echo check), so a hostile CREDIT cannot make the host send without end.
      const used = Math.min(consumed, this.stats.sent);
      if (used > this.stats.consumed) this.stats.consumed = used;
      this.top();
    };
    this.top();
  }

  stop(): void {
    this.stopped = true;
    if (this.run) this.run.onCredit = undefined;
  }

  /** Sends while sent < consumed + fifo (PROTOCOL 5: never more than the free slots). */
  private top(): void {
    const run = this.run;
    if (!run || this.stopped || !run.active) return;
    for (;;) {
      // Never more than consumed + fifo in the chip (PROTOCOL 5), nor more than MAX_HELD_FIFOS fifos'
      // worth awaiting their echo: CREDIT is the chip's word, and a chip that claims to use settings
      // without returning their trials must not grow the ledger without end.
      const room =
        Math.min(
          this.stats.consumed + this.fifo,
          this.limit,
          this.stats.sent - this.ledger.held + MAX_HELD_FIFOS * this.fifo,
        ) - this.stats.sent;
      if (room <= 0) return;
      const count = Math.min(room, this.maxWrite);
      const out = this.buf.subarray(0, count);
      this.draw.draw(out, count, this.ledger, this.blockTrials);
      // The ledger first: a record can never arrive before its settings are known.
      this.ledger.append(out);
      const wire = new Uint8Array(count);
      for (let i = 0; i < count; i++) wire[i] = out[i]! & 3;
      this.stats.sent += count;
      this.stats.writes++;
      run.sendSettings(wire).catch((e: unknown) => {
        this.error ??= e;
      });
    }
  }
}
