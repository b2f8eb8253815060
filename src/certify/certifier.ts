/**
 * certifyRun: trial records in, certified blocks (or refusals) out
 * (issue 3 scopes 1-5 and 7).
 *
 *   RunEvent[] batches --> TrialAccountant (blocks of N indices, lost trials kept)
 *                      --> OutcomeHealthTests (RCT, APT on a and b), STATUS faults
 *                      --> per block: estimate (S-hat), bound (entropy k, output m),
 *                          settings uniformity --> BlockResult
 *
 * A certified block carries the extractor input (2 bits per trial, a then b,
 * LSB first) and m; the extract stage hashes it and completes the
 * certificate draft. A refused block carries nothing to extract: a failing
 * block emits nothing.
 *
 * Defaults: quantum adversary, eps = 2^-64 per block, blocks of 2^22 =
 * 4,194,304 trials (4.2 s of chip time at 1 M trials/s). minBlockTrials gives
 * the smallest block with output at a given S: about 0.29 M trials at
 * S = 2.4 and 0.53 M at S = 2.3 (quantum, 2^-64), so 2^22 certifies a
 * mid-range calibrated chip (S about 2.4: m about 1,066 kbit per block) with
 * margin down to S = 2.3 (m about 668 kbit), and the first bytes come after
 * about 4.2 s of chip time, well within 30 s.
 */
import { recycleTrialsBatch, type RunEvent, type TrialsBatch } from '../device/run.ts';
import { CertificationRefusedError, DeviceError } from '../errors.ts';
import { Fault, FrameType, TRIALS_FLAG, faultNames } from '../protocol/types.ts';
import { TrialAccountant, type BlockTally } from './accounting.ts';
import { failedChecks, type BlockTest } from './block-checks.ts';
import type { BlockResult, CertifiedBlock, RefusedBlock } from './block-result.ts';
import { ADVERSARIES, type Adversary } from './bounds/bound.ts';
import { BOUNDS, certifyBlockBound, missingBoundReason, type BlockBound } from './bounds/registry.ts';
import { PefPlanner, probabilityEstimationBound } from './bounds/probability-estimation.ts';
import type { Bound } from './bounds/bound.ts';
import type { Behaviour } from './pef/model.ts';
import { assumptionsFor, CERTIFICATE_VERSION, type CertificateDraft } from './certificate.ts';
import { stuckDetectors } from './detector-health.ts';
import { estimateFromHistogram, type ChshEstimate } from './estimate.ts';
import { OutcomeHealthTests, type HealthCounters, type HealthOptions } from './health.ts';
import { BINNING } from './outcomes.ts';
import { checkEcho, type EchoTally, type SettingsLedger } from './echo.ts';
import { GENERATION_SETTINGS_NAME, spotCheckSEstimate } from './spot-check.ts';
import { type CertifierStats, emptyCertifierStats } from './certifier-stats.ts';
import { pefStoppingBound, STOPPING_SEGMENT_TRIALS, StoppingRule } from './bounds/pef-stopping.ts';
import { VariableBlocks } from './variable-blocks.ts';

export const DEFAULT_BLOCK_TRIALS = 2 ** 22;
export const DEFAULT_EPS = 2 ** -64;
export const DEFAULT_MAX_LOST_SHARE = 0.01;

export interface CertifyOptions {
  /** Trials per block, N (default 2^22). */
  blockTrials?: number;
  /** Total error per block (default 2^-64), split as epsSplit states. */
  eps?: number;
  /** Side information of the adversary (default 'quantum'). */
  adversary?: Adversary;
  /**
   * The bound for adversary 'classical' (default 'pironio-massar'):
   * 'pef' certifies by probability estimation (bounds/probability-estimation.ts),
   * each block's PEF designed before its data from `pefPrior` (first block)
   * or the previous block's S-hat.
   */
  classicalBound?: 'pironio-massar' | 'pef';
  /** The design behaviour of the first block's PEF and where it comes from (default: the symmetric one at S = 2.4). */
  pefPrior?: { behaviour: Behaviour; origin: string };
  /** false: every block uses the prior's PEF (a chip known in advance); default true: designed from the previous block. */
  pefAdapt?: boolean;
  /**
   * Early stopping (classicalBound 'pef', internal settings only): each block
   * ends as soon as it certifies this many output bits (a multiple of 8), or
   * at blockTrials trials, its largest length (bounds/pef-stopping.ts).
   */
  targetBits?: number;
  /** The device, as its INFO frame names it (firmware 'major.minor.patch'). */
  device: { serial: string; firmware: string };
  /** Where x, y come from (default 'internal'); TRIALS frames must agree (PROTOCOL 4 TRIALS: HOST_SETTINGS). */
  settingsSource?: 'internal' | 'host';
  /** Largest share of lost trials a block may hold (default 0.01). */
  maxLostShare?: number;
  /** Health-test parameters (health.ts defaults). */
  health?: HealthOptions;
  /** STATUS fault bits that do not fail a block (default UNCALIBRATED, plus SETTINGS_STARVED with host settings). */
  ignoredFaults?: number;
  /**
   * Host settings: what the host sent, by trial index (echo.ts). Every
   * record is checked against it (PROTOCOL 6); one mismatch ends the run
   * with CertificationRefusedError('ECHO_MISMATCH'). With a spot-checking
   * plan (testRate) blocks are certified by spot-check.ts.
   */
  hostSettings?: SettingsLedger;
  /** The extractor seed's length in bits, for the certificate's accounting (extract stage). */
  extractorSeedBits?: number;
  /**
   * certifyRun only: the consumer is done with a certified block's `input`
   * when it asks for the next result, so its buffer may be reused for a
   * later block (the extract stage sets it: no block-sized garbage per
   * block). Default false: every block's input stays the consumer's.
   */
  recycleInputs?: boolean;
  /** certifyRun only: nobody else reads the run's TRIALS batches, so each goes back to the link once certified. */
  recycleBatches?: boolean;
}

export type { BlockResult, BlockTest, CertifiedBlock, RefusedBlock };

export type { CertifierStats };

/** Push-based certifier: feed RunEvent batches, get BlockResults. certifyRun wraps it. */
export class Certifier {
  readonly blockTrials: number;
  readonly eps: number;
  readonly adversary: Adversary;
  readonly settingsSource: 'internal' | 'host';
  readonly maxLostShare: number;
  readonly ignoredFaults: number;
  readonly health: OutcomeHealthTests;
  private readonly device: { serial: string; firmware: string };
  private readonly accountant: TrialAccountant;
  private healthAtBlockStart: HealthCounters;
  private faultBits = 0;
  private faultFromBlock = -1;
  private faultToBlock = -1;
  private finished = false;
  private pendingError: unknown = undefined;
  /** Blocks completed by the frame being accounted (reused). */
  private readonly done: BlockTally[] = [];
  /**
   * The largest trial count a STATUS reported (PROTOCOL 4 STATUS: trials since START). -0, i.e. 0, is a float:
   * V8 then keeps the field a float, and a count read as a float does not change the object's layout (which
   * threw away the code compiled for it).
   */
  private trialsReported = -0;
  readonly stats: CertifierStats = emptyCertifierStats();

  readonly hostSettings?: SettingsLedger;
  /** The bounds this run may certify with (bounds/registry.ts BOUNDS, or the run's probability-estimation bound). */
  private readonly bounds: readonly Bound[] = BOUNDS;
  private readonly extractorSeedBits?: number;
  private readonly recycleInputs: boolean;
  /** With a stopping rule (targetBits): the accountant's blocks are segments, merged here into the run's blocks. */
  private readonly variable?: VariableBlocks;
  /** The STATUS faults of the segments of the open variable block. */
  private readonly segmentFaults = new Set<string>();
  /** Echo tallies of the blocks being filled, by block index. */
  private readonly echoTallies = new Map<number, EchoTally & { resumed: number }>();
  private readonly echoTallyOf = (block: number): EchoTally & { resumed: number } => {
    let t = this.echoTallies.get(block);
    if (!t) {
      t = { checked: 0, testRounds: 0, testWins: 0, resumed: 0 };
      this.echoTallies.set(block, t);
    }
    return t;
  };
  /** Host settings: setting bits of every finished block, and certified bits of the certified ones (the run's accounting). */
  private runSettingBits = 0;
  private runCertifiedBits = 0;

  constructor({
    blockTrials = DEFAULT_BLOCK_TRIALS,
    eps = DEFAULT_EPS,
    adversary = 'quantum',
    device,
    settingsSource = 'internal',
    maxLostShare = DEFAULT_MAX_LOST_SHARE,
    health,
    ignoredFaults = Fault.UNCALIBRATED | (settingsSource === 'host' ? Fault.SETTINGS_STARVED : 0),
    hostSettings,
    extractorSeedBits,
    recycleInputs = false,
    classicalBound = 'pironio-massar',
    pefPrior,
    pefAdapt = true,
    targetBits,
  }: CertifyOptions) {
    if (!(eps > 0 && eps < 1)) throw new RangeError('"eps" must be in (0, 1)');
    if (!ADVERSARIES.includes(adversary)) throw new RangeError(`"adversary" must be ${ADVERSARIES.join(' or ')}`);
    if (!(maxLostShare >= 0 && maxLostShare < 1)) throw new RangeError('"maxLostShare" must be in [0, 1)');
    if (!device || typeof device.serial !== 'string' || typeof device.firmware !== 'string')
      throw new TypeError('"device" must name serial and firmware');
    this.blockTrials = blockTrials;
    this.eps = eps;
    this.adversary = adversary;
    this.settingsSource = settingsSource;
    this.maxLostShare = maxLostShare;
    this.ignoredFaults = ignoredFaults;
    this.device = { serial: device.serial, firmware: device.firmware };
    if (hostSettings && settingsSource !== 'host') throw new RangeError('"hostSettings" needs settingsSource host');
    // PROTOCOL 6: host settings are only as good as the echo check, which reads the ledger; without it every
    // host-flagged record would pass unchecked under certificates that claim the check.
    if (settingsSource === 'host' && !hostSettings)
      throw new RangeError('settingsSource host needs "hostSettings" (the ledger the echo check reads)');
    const rate = hostSettings?.plan.testRate;
    // Fail before the first trial: a run no registered bound can certify must not run (bounds/registry.ts).
    const missing = missingBoundReason(adversary, rate ? rate.numerator / rate.denominator : 1);
    if (missing !== null) throw new RangeError(missing);
    this.hostSettings = hostSettings;
    if (classicalBound !== 'pironio-massar' && classicalBound !== 'pef')
      throw new RangeError('"classicalBound" must be pironio-massar or pef');
    if (classicalBound === 'pef' && adversary !== 'classical')
      throw new RangeError('"classicalBound" pef needs adversary classical');
    // Probability estimation replaces the registry's classical bounds for this run (its PEF plan is per run).
    if (classicalBound === 'pef' && targetBits === undefined)
      this.bounds = [probabilityEstimationBound(new PefPlanner(blockTrials, eps, pefPrior, pefAdapt))];
    if (targetBits !== undefined) {
      // Early stopping: segments accounted, merged into blocks that end when the rule fires (variable-blocks.ts).
      if (classicalBound !== 'pef') throw new RangeError('"targetBits" needs classicalBound pef');
      if (hostSettings) throw new RangeError('"targetBits" needs internal settings');
      const rule = new StoppingRule(targetBits, blockTrials, eps, pefPrior, pefAdapt);
      this.bounds = [pefStoppingBound(rule)];
      this.variable = new VariableBlocks(rule);
    }
    this.extractorSeedBits = extractorSeedBits;
    this.recycleInputs = recycleInputs;
    const tests = new OutcomeHealthTests(health);
    this.health = tests;
    this.accountant = new TrialAccountant({
      blockTrials: this.variable ? STOPPING_SEGMENT_TRIALS : blockTrials,
      onCodes: (input, from, to) => tests.updateCodes(input, from, to),
    });
    this.healthAtBlockStart = this.health.snapshot();
  }

  /**
   * Feeds one batch of run events; returns the blocks it completed, in order.
   * A protocol error (DeviceError) is thrown once every block completed
   * before it has been returned: at once, or at the next push/finish.
   */
  push(events: readonly RunEvent[]): BlockResult[] {
    this.throwPending();
    if (this.finished) throw new Error('certifier already finished');
    const out: BlockResult[] = [];
    try {
      this.pushEvents(events, out);
    } catch (e) {
      // Blocks a frame completed before its bad record are still results.
      this.complete(this.done, out);
      if (out.length === 0) throw e;
      this.pendingError = e;
    }
    return out;
  }

  /** One TRIALS frame's n records at records[at, at + n): settings source, echo check, then accounted into `done`. */
  private addFrame(first: number, n: number, records: Uint8Array, at: number, flags: number, seq: number): void {
    const host = (flags & TRIALS_FLAG.HOST_SETTINGS) !== 0;
    if (host !== (this.settingsSource === 'host')) {
      // PROTOCOL 4 TRIALS: HOST_SETTINGS says where x, y came from; it must match the run.
      const why = `settings source ${host ? 'host' : 'internal'} but the run uses ${this.settingsSource} settings`;
      throw new DeviceError('PROTOCOL', `TRIALS frame seq ${seq}: ${why}`, { detail: { seq } });
    }
    const ledger = this.hostSettings;
    if (ledger) {
      // PROTOCOL 6: every record echoes the x, y the host sent for its trial index; one mismatch is an attack.
      // Checked before the frame is accounted: the block it lies in never completes.
      try {
        checkEcho(ledger, first, Math.min(n, records.length - at), records, this.blockTrials, this.echoTallyOf, at);
      } catch (e) {
        if (e instanceof CertificationRefusedError) this.finished = true;
        throw e;
      }
      this.stats.echoChecked += n;
      // PROTOCOL 4 TRIALS: RESUMED: trials paused before this frame because host settings ran out.
      if ((flags & TRIALS_FLAG.RESUMED) !== 0) {
        this.stats.resumedFrames++;
        this.echoTallyOf(Math.floor(first / this.blockTrials)).resumed++;
      }
    }
    this.accountant.addTrials(first, n, records, flags, seq, this.done, at);
    ledger?.release(this.accountant.nextTrial);
  }

  /**
   * A batch's frames, as addFrame takes them. With internal settings (no echo to check) the frames before the
   * first flagged HOST_SETTINGS are accounted as a batch (TrialAccountant.addFrames); addFrame refuses that one.
   */
  private addBatch(b: TrialsBatch, out: BlockResult[]): void {
    const done = this.done;
    const stop = this.hostSettings ? 0 : framesBeforeHostFlag(b);
    let i = 0;
    while (i < b.frames) {
      if (i < stop) {
        i = this.accountant.addFrames(b, i, stop, done);
      } else {
        this.addFrame(b.first[i]!, b.n[i]!, b.records, b.recordsAt(i), b.flags[i]!, b.seq[i]!);
        i++;
      }
      if (done.length > 0) this.complete(done, out);
    }
  }

  private throwPending(): void {
    if (this.pendingError !== undefined) {
      const e = this.pendingError;
      this.pendingError = undefined;
      this.finished = true;
      throw e;
    }
  }

  private pushEvents(events: readonly RunEvent[], out: BlockResult[]): void {
    const done = this.done;
    for (const ev of events) {
      switch (ev.kind) {
        case 'trialsBatch':
          this.addBatch(ev.batch, out);
          break;
        case 'trials':
          this.addFrame(ev.first, ev.n, ev.records, 0, ev.flags, ev.seq);
          if (done.length > 0) this.complete(done, out);
          break;
        case 'status':
          this.stats.statusFrames++;
          if (ev.status.trials > this.trialsReported) this.trialsReported = ev.status.trials;
          this.noteStatus(ev.status.faults, ev.status.trials);
          break;
        case 'linkLoss':
          this.stats.linkLostFrames += ev.frames;
          break;
        case 'invalid':
          this.stats.invalidFrames++;
          if (ev.type === FrameType.TRIALS) {
            // PROTOCOL 4 TRIALS: a CRC-valid TRIALS frame failing its checks (reserved record bits): its trials are unknowable.
            throw new DeviceError(
              'PROTOCOL',
              `invalid TRIALS frame: ${ev.reason}${ev.field ? ` (field ${ev.field})` : ''}`,
              { detail: { field: ev.field } },
            );
          }
          break;
        case 'credit':
          break;
      }
    }
  }

  /** Hands back a certified block's input once nothing reads it (TrialAccountant.releaseInput). */
  releaseInput(input: Uint8Array): void {
    if (this.variable) this.variable.releaseInput(input);
    else this.accountant.releaseInput(input);
  }

  /**
   * Finishes the accounting blocks just completed (and empties `done`): each
   * is a block, or with a stopping rule a segment merged into the open
   * block, which is finished when the rule ends it (variable-blocks.ts).
   */
  private complete(done: BlockTally[], out: BlockResult[]): void {
    for (const t of done) {
      if (!this.variable) {
        out.push(this.finalize(t));
        continue;
      }
      for (const f of this.faultsOf(t.index)) this.segmentFaults.add(f);
      const block = this.variable.add(t);
      this.accountant.releaseInput(t.input);
      if (block) out.push(this.finalize(block, false, this.takeSegmentFaults()));
    }
    done.length = 0;
  }

  /** The faults of the variable block just ended, clearing them for the next. */
  private takeSegmentFaults(): string[] {
    const faults = [...this.segmentFaults];
    this.segmentFaults.clear();
    return faults;
  }

  /**
   * The run ended. Trials a STATUS reported as performed but that never
   * arrived are lost (PROTOCOL 6) and may complete blocks; the incomplete
   * last block, if any, is refused (it is never extracted).
   */
  finish(): BlockResult[] {
    this.throwPending();
    if (this.finished) return [];
    this.finished = true;
    const done: BlockTally[] = [];
    const t = this.accountant.finish(this.trialsReported, done);
    const out: BlockResult[] = [];
    this.complete(done, out);
    if (this.variable) {
      if (t) for (const f of this.faultsOf(t.index)) this.segmentFaults.add(f);
      const last = this.variable.finish(t);
      if (last) out.push(this.finalize(last, true, this.takeSegmentFaults()));
    } else if (t) out.push(this.finalize(t, true));
    return out;
  }

  /** PROTOCOL 4 STATUS: a fault other than the ignored ones fails every block it may cover. */
  private noteStatus(faults: number, trialsSinceStart: number): void {
    if ((faults & Fault.OVERFLOW) !== 0) this.stats.overflowStatusFrames++;
    if ((faults & Fault.SETTINGS_STARVED) !== 0) this.stats.starvedStatusFrames++;
    const bits = faults & ~this.ignoredFaults;
    if (bits === 0) return;
    this.stats.faultStatusFrames++;
    const open = this.accountant.openBlockIndex;
    const last = Math.max(open, Math.floor(Math.max(0, trialsSinceStart - 1) / this.accountant.blockTrials));
    if (this.faultFromBlock < 0) this.faultFromBlock = open;
    this.faultToBlock = Math.max(this.faultToBlock, last);
    this.faultBits |= bits;
  }

  /** The fault names that fail block `index` (PROTOCOL 4 STATUS), clearing the fault window once it is passed. */
  private faultsOf(index: number): string[] {
    let faultBits = 0;
    if (this.faultFromBlock >= 0 && index >= this.faultFromBlock && index <= this.faultToBlock)
      faultBits = this.faultBits;
    if (this.faultFromBlock >= 0 && index >= this.faultToBlock) {
      this.faultFromBlock = -1;
      this.faultToBlock = -1;
      this.faultBits = 0;
    }
    return faultNames(faultBits);
  }

  /** The health-test failures since the previous block ended (SP 800-90B 4.4), outcome a then b. */
  private healthDelta(): { rct: [number, number]; apt: [number, number] } {
    const h = this.health.snapshot();
    const h0 = this.healthAtBlockStart;
    this.healthAtBlockStart = h;
    return { rct: [h.rctA - h0.rctA, h.rctB - h0.rctB], apt: [h.aptA - h0.aptA, h.aptB - h0.aptB] };
  }

  /** Runs the block checks (block-checks.ts) and returns the block certified or refused. */
  private finalize(t: BlockTally, incomplete = false, faults?: string[]): BlockResult {
    const lost = t.lostDevice + t.lostLink;
    const est = estimateFromHistogram(t.histogram, lost);
    const ledger = this.hostSettings;
    const echo = ledger ? this.echoTallyOf(t.index) : undefined;
    this.echoTallies.delete(t.index);
    const settingBits = ledger ? ledger.takeBlockBits(t.index) : 0;
    const rate = ledger?.plan.testRate ?? null;
    const gamma = rate ? rate.numerator / rate.denominator : 1;
    // Spot-checking: S from the won test rounds over all trials (spot-check.ts); else the uniform-settings estimate.
    if (rate && echo) est.sEstimate = spotCheckSEstimate(t.trials, echo.testWins, gamma);
    const bound = certifyBlockBound(
      {
        trials: t.trials,
        sEstimate: est.sEstimate,
        testRate: gamma,
        counts: est.counts,
        lostTrials: lost,
        blockIndex: t.index,
      },
      this.eps,
      this.adversary,
      this.bounds,
    );
    const failed = failedChecks({
      tally: t,
      blockTrials: this.blockTrials,
      incomplete,
      lost,
      maxLostShare: this.maxLostShare,
      faults: faults ?? this.faultsOf(t.index),
      est,
      bound,
      health: this.health,
      ...this.healthDelta(),
      testSettings: !ledger,
    });

    this.stats.blocks++;
    this.stats.recordedTrials += t.recorded;
    this.stats.settingBits += settingBits;
    this.runSettingBits += settingBits;
    this.stats.lostDeviceTrials += t.lostDevice;
    this.stats.lostLinkTrials += t.lostLink;
    const first = failed[0];
    if (first !== undefined) {
      this.stats.refused++;
      // a refused block's input is never handed out
      if (this.recycleInputs) this.releaseInput(t.input);
      return {
        ok: false,
        blockIndex: t.index,
        trialRange: { first: t.firstTrial, count: t.trials },
        reason: first[1],
        test: first[0],
        failedTests: failed.map(([test]) => test),
        counts: est.counts,
        sEstimate: est.sEstimate,
        sLowerBound: bound.sLowerBound,
        lostTrials: lost,
        ...(ledger ? { settingBits, resumedFrames: echo?.resumed ?? 0 } : {}),
      };
    }
    this.stats.certified++;
    this.stats.certifiedBits += bound.outputBits;
    const draft = this.draftOf(t, est, bound);
    if (ledger && echo) this.addHostSettings(draft, ledger, echo, settingBits, bound.outputBits);
    const stuck = stuckDetectors(t.histogram, t.recorded);
    if (stuck.length > 0) draft.detectorWarnings = stuck;
    return { ok: true, draft, input: t.input, inputBits: bound.inputBits, outputBits: bound.outputBits };
  }

  /** The certificate draft of a certified block: adversary, assumptions and bound all from the bound used. */
  private draftOf(t: BlockTally, est: ChshEstimate, bound: BlockBound): CertificateDraft {
    return {
      version: CERTIFICATE_VERSION,
      device: { ...this.device },
      blockIndex: t.index,
      trialRange: { first: t.firstTrial, count: t.trials },
      lostTrials: { device: t.lostDevice, link: t.lostLink, total: t.lostDevice + t.lostLink },
      counts: est.counts,
      countsOrder: 'N(a,b|x,y) at index 8x+4y+2a+b',
      sEstimate: est.sEstimate,
      sLowerBound: bound.sLowerBound,
      sEvaluated: bound.sEvaluated ?? bound.sLowerBound,
      eps: { ...bound.eps },
      adversary: bound.used.adversary,
      bound: bound.bound,
      entropyBits: bound.entropyBits,
      inputBits: bound.inputBits,
      outputBits: bound.outputBits,
      binning: BINNING,
      settingsSource: this.settingsSource,
      assumptions: assumptionsFor(this.settingsSource, bound.used),
      ...(bound.pef ? { pef: bound.pef } : {}),
      ...(bound.stopping ? { stopping: bound.stopping } : {}),
    };
  }

  /** Host settings: what the echo check saw, and the randomness-expansion accounting (certificate.ts). */
  private addHostSettings(
    draft: CertificateDraft,
    ledger: SettingsLedger,
    echo: EchoTally & { resumed: number },
    settingBits: number,
    outputBits: number,
  ): void {
    const rate = ledger.plan.testRate;
    draft.hostSettings = {
      generator: ledger.plan.generator,
      testRate: rate
        ? {
            gamma: rate.numerator / rate.denominator,
            numerator: rate.numerator,
            denominator: rate.denominator,
            generationSettings: GENERATION_SETTINGS_NAME,
          }
        : null,
      echoChecked: echo.checked,
      testRounds: echo.testRounds,
      testWins: echo.testWins,
      resumedFrames: echo.resumed,
    };
    this.runCertifiedBits += outputBits;
    const seedBits = this.extractorSeedBits ?? 0;
    draft.accounting = {
      settingBits,
      extractorSeedBits: seedBits,
      extractorSeed: 'reused',
      certifiedBits: outputBits,
      netGainBits: outputBits - settingBits,
      run: {
        settingBits: this.runSettingBits,
        certifiedBits: this.runCertifiedBits,
        extractorSeedBits: seedBits,
        netGainBits: this.runCertifiedBits - this.runSettingBits - seedBits,
      },
    };
  }
}

/**
 * Certifies a run block by block. Yields one BlockResult per block of
 * `blockTrials` trial indices, in order, and a refused 'incomplete' result
 * for a partial last block. Throws DeviceError on a protocol violation
 * (overlapping indices, reserved record bits, settings-source mismatch),
 * after yielding every block completed before it.
 */
export async function* certifyRun(run: AsyncIterable<RunEvent[]>, opts: CertifyOptions): AsyncGenerator<BlockResult> {
  const certifier = new Certifier(opts);
  const recycle = opts.recycleInputs === true;
  for await (const batch of run) {
    const results = certifier.push(batch);
    // certified: nothing reads these TRIALS batches any more (CertifyOptions.recycleBatches)
    if (opts.recycleBatches) for (const ev of batch) if (ev.kind === 'trialsBatch') recycleTrialsBatch(ev.batch);
    for (const r of results) {
      yield r;
      // the consumer asked for the next result: it is done with this block's input (CertifyOptions.recycleInputs)
      if (recycle && r.ok) certifier.releaseInput(r.input);
    }
  }
  for (const r of certifier.finish()) yield r;
}

/** PROTOCOL 4 TRIALS: the frames of `b` before the first flagged HOST_SETTINGS (all of them if none is). */
function framesBeforeHostFlag(b: TrialsBatch): number {
  let i = 0;
  while (i < b.frames && (b.flags[i]! & TRIALS_FLAG.HOST_SETTINGS) === 0) i++;
  return i;
}
