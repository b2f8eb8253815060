/**
 * Certified bytes for users (issue 3 scope 8): the top of the data flow.
 *
 *   device.start() --> extractRun (certify + Toeplitz) --> bytes, certificates
 *
 * Fail closed: a refused block writes nothing; when certification keeps
 * failing (`maxConsecutiveRefused` blocks in a row, default 3) the stream
 * ends with a CertificationRefusedError naming the cause. Lost trials,
 * GAPs and faults are decided by the certify stage; this stage only counts.
 *
 * The same `certifyEvents` drives `epqrng stream` (live) and `epqrng replay`
 * (a recording), so a replay with the same seed reproduces the live bytes
 * and certificate lines exactly.
 */
import type { Device, Run, RunEvent } from '../device/index.ts';
import { CertificationRefusedError } from '../errors.ts';
import { extractRun, type ExtractedBlock, type ExtractOptions } from '../extract/stream.ts';
import { DEFAULT_BLOCK_TRIALS, type RefusedBlock } from '../certify/index.ts';
import { ChaChaSource, CsprngSource, HostSettingsFeeder, SettingsDraw, testRateFraction } from './host-settings.ts';

export const DEFAULT_MAX_CONSECUTIVE_REFUSED = 3;

export interface StreamProgress {
  blocksPassed: number;
  blocksFailed: number;
  /** Bytes delivered so far (after any --bytes cut). */
  bytes: number;
  /** Trials in finished blocks. */
  trials: number;
  /** Lost trials (device GAP + link) in finished blocks. */
  lostTrials: number;
  /** Certified output bits of passed blocks. */
  certifiedBits: number;
  /** The last finished block's S estimate and lower bound. */
  sEstimate: number;
  sLowerBound: number;
  /** Host settings: random bits drawn for the settings of finished blocks. */
  settingBits: number;
  /** Host settings: the run's net gain so far, certified - setting - extractor seed bits (certificate accounting.run). */
  netGainBits: number;
  /** Host settings: starved intervals (TRIALS frames flagged RESUMED) in finished blocks, certified or refused. */
  resumedFrames: number;
  /** The last certified block's stuck-detector warnings (certificate detectorWarnings), if any. */
  detectorWarnings?: string[];
}

export interface CertifyEventsOptions extends ExtractOptions {
  /** Stop after this many bytes (the last block's output is cut to fit); default unlimited. */
  bytes?: number;
  /** Refused blocks in a row that end the stream with CertificationRefusedError (default 3). */
  maxConsecutiveRefused?: number;
  /** Each certified block: its certificate line (before its bytes are yielded). */
  onCertificate?: (line: string, block: ExtractedBlock) => void;
  /** Each refused block. */
  onRefused?: (block: RefusedBlock) => void;
  /** After every finished block. */
  onProgress?: (p: Readonly<StreamProgress>) => void;
  /**
   * Called once, as soon as the blocks certified so far will deliver `bytes`
   * (before the last of them is hashed): certifiedStream stops the chip
   * there, so a run spends no chip time past what it needs and where it
   * stops does not depend on how long the hash takes.
   */
  onEnough?: () => void;
}

/** One line: how many blocks failed and the certify stage's reason for the last one (which names the remedy). */
function refusalMessage(block: RefusedBlock, consecutive: number): string {
  return `certification refused for ${consecutive} block(s) in a row; block ${block.blockIndex}: ${block.reason}`;
}

/**
 * Certified bytes from any source of run events (a live run or a recording).
 * Ending the iteration early (break, or `bytes` reached) returns the source
 * iterator, which for a live Run stops the chip (STOP then its ACK).
 */
export async function* certifyEvents(
  events: AsyncIterable<RunEvent[]>,
  opts: CertifyEventsOptions,
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  const {
    bytes: wanted = Infinity,
    maxConsecutiveRefused = DEFAULT_MAX_CONSECUTIVE_REFUSED,
    onCertificate,
    onRefused,
    onProgress,
    onEnough,
    ...extract
  } = opts;
  if (!(wanted >= 0)) throw new RangeError('"bytes" must be a non-negative number');
  if (!(Number.isInteger(maxConsecutiveRefused) && maxConsecutiveRefused >= 1))
    throw new RangeError('"maxConsecutiveRefused" must be an integer >= 1');
  // PROTOCOL 6: host settings certify only with the echo check, which needs what was sent (the ledger); without it
  // every certificate would still state "echoed by the chip and checked trial by trial".
  if (extract.settingsSource === 'host' && !extract.hostSettings)
    throw new RangeError('"settingsSource" host needs "hostSettings" (the ledger the echo check reads)');
  const p: StreamProgress = {
    blocksPassed: 0,
    blocksFailed: 0,
    bytes: 0,
    trials: 0,
    lostTrials: 0,
    certifiedBits: 0,
    sEstimate: NaN,
    sLowerBound: NaN,
    settingBits: 0,
    netGainBits: 0,
    resumedFrames: 0,
  };
  if (wanted === 0) return p;
  let refusedInRow = 0;
  // Bytes the certified blocks will deliver (bounds.ts: whole bytes), counted before each hash.
  let promisedBytes = 0;
  const onCertified = (outputBits: number): void => {
    const before = promisedBytes;
    promisedBytes += outputBits / 8;
    if (before < wanted && promisedBytes >= wanted) onEnough?.();
  };
  for await (const r of extractRun(events, { ...extract, onCertified })) {
    if (!r.ok) {
      // 'incomplete' is the run's unfinished last block: not a certification failure.
      if (r.test === 'incomplete') continue;
      p.blocksFailed++;
      p.trials += r.trialRange.count;
      p.lostTrials += r.lostTrials;
      p.sEstimate = r.sEstimate;
      p.sLowerBound = r.sLowerBound;
      if (r.settingBits !== undefined) {
        p.settingBits += r.settingBits;
        p.netGainBits -= r.settingBits;
      }
      p.resumedFrames += r.resumedFrames ?? 0;
      onRefused?.(r);
      onProgress?.(p);
      if (++refusedInRow >= maxConsecutiveRefused)
        throw new CertificationRefusedError(`REFUSED_${r.test.toUpperCase()}`, refusalMessage(r, refusedInRow));
      continue;
    }
    refusedInRow = 0;
    const c = r.certificate;
    p.blocksPassed++;
    p.trials += c.trialRange.count;
    p.lostTrials += c.lostTrials.total;
    p.certifiedBits += c.outputBits;
    p.sEstimate = c.sEstimate;
    p.sLowerBound = c.sLowerBound;
    if (c.accounting) {
      p.settingBits = c.accounting.run.settingBits;
      p.netGainBits = c.accounting.run.netGainBits;
    }
    if (c.hostSettings) p.resumedFrames += c.hostSettings.resumedFrames;
    p.detectorWarnings = c.detectorWarnings?.map((w) => w.warning);
    onCertificate?.(r.line, r);
    const take = Math.min(r.bytes.length, wanted - p.bytes);
    p.bytes += take;
    onProgress?.(p);
    yield take === r.bytes.length ? r.bytes : r.bytes.subarray(0, take);
    if (p.bytes >= wanted) return p;
  }
  return p;
}

export interface HostSettingsOptions {
  /** Seed bytes for replayable settings (ChaCha20 keyed from them); default the OS CSPRNG. */
  seed?: Uint8Array;
  /** Spot-checking test probability gamma, a decimal with at most 6 digits (e.g. 0.01); default 1: every trial a test round. */
  testRate?: number | string;
}

export interface CertifiedStreamOptions
  extends Omit<CertifyEventsOptions, 'device' | 'settingsSource' | 'hostSettings' | 'onEnough'> {
  /** Called with the run once START is acknowledged. */
  onRun?: (run: Run) => void;
  /** Host-supplied settings (PROTOCOL 5 START source 1, issue 6); default the chip's internal settings. */
  hostSettings?: HostSettingsOptions;
  /** Called with the host-settings feeder once it runs (its stats: sent, consumed). */
  onFeeder?: (feeder: HostSettingsFeeder) => void;
}

/**
 * The run's batches, read from the link as fast as they come whatever the
 * consumer does (a host-settings run): the Run's back-pressure would pause
 * the link while a block is hashed, and a paused link holds back the
 * chip's CREDIT frames, so its FIFO (65 ms at 1 M trials/s) runs dry. The
 * batches wait here instead (the certify stage takes them at tens of M
 * trials/s, far above the chip's rate, so the queue stays short). Ending
 * the iteration early ends the run (STOP/ACK) as the Run's own would.
 */
async function* readEagerly(run: Run): AsyncGenerator<RunEvent[]> {
  const it = run[Symbol.asyncIterator]();
  const queue: RunEvent[][] = [];
  let head = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const pump = (async () => {
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        queue.push(r.value);
        wake?.();
      }
    } catch (e) {
      failure = { error: e };
    } finally {
      ended = true;
      wake?.();
    }
  })();
  try {
    for (;;) {
      if (head < queue.length) {
        const batch = queue[head]!;
        queue[head++] = undefined as unknown as RunEvent[];
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        yield batch;
        continue;
      }
      if (ended) {
        if (failure) throw failure.error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    if (!ended) await it.return?.();
    await pump;
  }
}

/**
 * `for await (const bytes of certifiedStream(device, opts))`: certified
 * bytes from a chip's internal-settings run, until `bytes` are delivered,
 * the consumer stops, or certification keeps failing (throws
 * CertificationRefusedError). The run is always ended with STOP/ACK.
 */
export async function* certifiedStream(
  device: Device,
  opts: CertifiedStreamOptions,
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  const { onRun, hostSettings, onFeeder, ...rest } = opts;
  const info = device.info;
  let feeder: HostSettingsFeeder | undefined;
  if (hostSettings) {
    // Drawn before START: a bad gamma costs no run.
    const rate = testRateFraction(hostSettings.testRate ?? 1);
    const source = hostSettings.seed ? new ChaChaSource(hostSettings.seed) : new CsprngSource();
    // PROTOCOL 4 INFO: the chip must say it takes host settings, and how many it can buffer (DeviceError otherwise).
    const fifo = device.hostSettingsFifo();
    feeder = new HostSettingsFeeder(new SettingsDraw(source, rate), {
      fifo,
      blockTrials: rest.blockTrials ?? DEFAULT_BLOCK_TRIALS,
    });
  }
  // PROTOCOL 5 START: source 1 takes x, y only from the host FIFO.
  const run = await device.start({ source: feeder ? 'host' : 'internal' });
  if (feeder) {
    feeder.start(run);
    onFeeder?.(feeder);
  }
  onRun?.(run);
  // Enough certified: the feeder stops and the chip gets STOP at once, while the last block is hashed (its ACK is awaited below).
  const onEnough = (): void => {
    feeder?.stop();
    void run.stop().catch(() => undefined);
  };
  try {
    return yield* certifyEvents(feeder ? readEagerly(run) : run, {
      ...rest,
      onEnough,
      device: { serial: info.serial, firmware: info.firmware.join('.') },
      // Host settings: the FFT product on a worker, so the event loop answers every CREDIT in time.
      ...(feeder ? { settingsSource: 'host' as const, hostSettings: feeder.ledger, offThread: true } : {}),
    });
  } finally {
    feeder?.stop();
    // Normal end, early return or an error (an echo mismatch included): the chip must not keep running (STOP, then its ACK).
    await run.stop().catch(() => undefined);
  }
}
