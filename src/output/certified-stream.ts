/**
 * Certified bytes for users: the top of the data flow.
 *
 *   device.start() --> pipelineBlocks (certify, hash, chain: pipeline.ts) --> bytes, certificates
 *
 * Fail closed: a refused block writes nothing; when certification keeps
 * failing (`maxConsecutiveRefused` blocks in a row, default 3) the stream
 * ends with a CertificationRefusedError naming the cause. Lost trials,
 * GAPs and faults are decided by the certify stage; this stage only counts.
 *
 * The same delivery drives `epqrng stream` (live) and `epqrng replay`
 * (a recording), so a replay with the same seed reproduces the live bytes
 * and certificate lines exactly. Both take one PipelineConfig (config.ts).
 */
import type { Device, Run, RunEvent } from '../device/index.ts';
import { CertificationRefusedError } from '../errors.ts';
import type { RefusedBlock } from '../certify/index.ts';
import { resolvePipelineConfig, type PipelineConfig, type PipelineOptions } from './config.ts';
import { ChaChaSource, CsprngSource, HostSettingsFeeder, SettingsDraw } from './host-settings.ts';
import { pipelineBlocks, type ChainedBlock, type RunSource } from './pipeline.ts';

export { DEFAULT_MAX_CONSECUTIVE_REFUSED, type HostSettingsOptions } from './config.ts';
export type { ChainedBlock, RunSource } from './pipeline.ts';

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

/** What a consumer hears of the delivery. */
export interface DeliveryHooks {
  /** Each certified block: its certificate line (before its bytes are yielded). */
  onCertificate?: (line: string, block: ChainedBlock) => void;
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

/**
 * Certified bytes from any source of run events (a live run or a recording):
 * `options` resolved by resolvePipelineConfig (its `hostSettings`, how a live
 * run draws settings, does not apply: `source.hostSettings` is the ledger of
 * what was sent). Ending the iteration early (break, or `bytes` reached)
 * returns the source iterator, which for a live Run stops the chip (STOP then its ACK).
 */
export function certifyEvents(
  events: AsyncIterable<RunEvent[]>,
  options: PipelineOptions,
  source: RunSource,
  hooks: DeliveryHooks = {},
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  return deliver(events, resolvePipelineConfig(options), source, hooks);
}

/** One line: how many blocks failed and the certify stage's reason for the last one (which names the remedy). */
function refusalMessage(block: RefusedBlock, consecutive: number): string {
  return `certification refused for ${consecutive} block(s) in a row; block ${block.blockIndex}: ${block.reason}`;
}

/** A stream's progress before its first block. */
export function newProgress(): StreamProgress {
  return {
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
}

/** Counts a refused block into the progress. */
function countRefused(p: StreamProgress, r: RefusedBlock): void {
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
}

/** Counts a certified block into the progress. */
function countCertified(p: StreamProgress, r: ChainedBlock): void {
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
}

/** The delivery stage: the pipeline's blocks to bytes, cut at `bytes`, ended by too many refusals in a row. */
async function* deliver(
  events: AsyncIterable<RunEvent[]>,
  config: PipelineConfig,
  source: RunSource,
  hooks: DeliveryHooks,
): AsyncGenerator<Uint8Array, StreamProgress, void> {
  const { onCertificate, onRefused, onProgress, onEnough } = hooks;
  const wanted = config.bytes;
  // PROTOCOL 6: host settings certify only with the echo check, which needs what was sent (the ledger); without it
  // every certificate would still state "echoed by the chip and checked trial by trial".
  if (source.settingsSource === 'host' && !source.hostSettings)
    throw new RangeError('"settingsSource" host needs "hostSettings" (the ledger the echo check reads)');
  const p = newProgress();
  if (wanted === 0) return p;
  let refusedInRow = 0;
  // Bytes the certified blocks will deliver (whole bytes), counted before each hash.
  let promisedBytes = 0;
  const onCertified = (outputBits: number): void => {
    const before = promisedBytes;
    promisedBytes += outputBits / 8;
    if (before < wanted && promisedBytes >= wanted) onEnough?.();
  };
  for await (const r of pipelineBlocks(events, config, source, onCertified)) {
    if (!r.ok) {
      // 'incomplete' is the run's unfinished last block: not a certification failure.
      if (r.test === 'incomplete') continue;
      countRefused(p, r);
      onRefused?.(r);
      onProgress?.(p);
      if (++refusedInRow >= config.maxConsecutiveRefused)
        throw new CertificationRefusedError(`REFUSED_${r.test.toUpperCase()}`, refusalMessage(r, refusedInRow));
      continue;
    }
    refusedInRow = 0;
    countCertified(p, r);
    onCertificate?.(r.line, r);
    const take = Math.min(r.bytes.length, wanted - p.bytes);
    p.bytes += take;
    onProgress?.(p);
    yield take === r.bytes.length ? r.bytes : r.bytes.subarray(0, take);
    if (p.bytes >= wanted) return p;
  }
  return p;
}

/** certifiedStream's options: the pipeline's (config.ts) and the hooks. */
export type CertifiedStreamOptions = PipelineOptions & Omit<DeliveryHooks, 'onEnough'> & StreamHooks;

export interface StreamHooks {
  /** Called with the run once START is acknowledged. */
  onRun?: (run: Run) => void;
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
  const { onRun, onFeeder } = opts;
  // Resolved before START: a bad option (or no bound for the adversary and settings) costs no run.
  const config = resolvePipelineConfig(opts);
  const info = device.info;
  let feeder: HostSettingsFeeder | undefined;
  if (config.hostSettings) {
    const { seed, testRate } = config.hostSettings;
    const random = seed ? new ChaChaSource(seed) : new CsprngSource();
    // PROTOCOL 4 INFO: the chip must say it takes host settings, and how many it can buffer (DeviceError otherwise).
    const fifo = device.hostSettingsFifo();
    feeder = new HostSettingsFeeder(new SettingsDraw(random, testRate), { fifo, blockTrials: config.blockTrials });
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
  const source: RunSource = { device: { serial: info.serial, firmware: info.firmware.join('.') } };
  try {
    if (!feeder) return yield* deliver(run, config, source, { ...opts, onEnough });
    // Host settings: the FFT product on a worker, so the event loop answers every CREDIT in time.
    return yield* deliver(
      readEagerly(run),
      { ...config, offThread: true },
      { ...source, settingsSource: 'host', hostSettings: feeder.ledger },
      { ...opts, onEnough },
    );
  } finally {
    feeder?.stop();
    // Normal end, early return or an error (an echo mismatch included): the chip must not keep running (STOP, then its ACK).
    await run.stop().catch(() => undefined);
  }
}
