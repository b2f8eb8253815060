/**
 * A host-settings run measured from outside (issue 6 acceptance): the very
 * composition certifiedStream uses (START source 1, HostSettingsFeeder
 * within CREDIT, echo check and certification in the Certifier), with a tap
 * on the events that counts what the chip reported:
 *
 * - echo mismatches (the run ends with CertificationRefusedError ECHO_MISMATCH),
 * - starved intervals after start-up: TRIALS frames flagged RESUMED
 *   (PROTOCOL 4 TRIALS bit 2) from trial `fifo` on (start-up is the chip's
 *   first FIFO of settings, in flight while the chip already runs), and STATUS frames with
 *   SETTINGS_STARVED (bit 4) after the first STATUS (which may carry the
 *   start-up interval, before the first SETTINGS reached the chip),
 * - the trial rate: trials over the wall time from the first to the last
 *   TRIALS frame, against the chip's rate.
 *
 * Shared by test/host/pty.test.ts (10^6 trials) and bench/host.bench.ts (10^7).
 */
import { perFrameEvents, type Device, type RunEvent } from '../../src/device/index.ts';
import { Certifier } from '../../src/certify/index.ts';
import { Fault, TRIALS_FLAG } from '../../src/protocol/types.ts';
import { CsprngSource, HostSettingsFeeder, SettingsDraw, testRateFraction } from '../../src/output/host-settings.ts';

export interface HostRunMetrics {
  trials: number;
  seconds: number;
  trialsPerSecond: number;
  /** The trial rate asked for (START rate), or the chip's maximum (PROTOCOL 4 INFO). */
  chipTrialsPerSecond: number;
  echoChecked: number;
  echoMismatch: string | null;
  resumedAfterStart: number;
  /** Trial indices of the first RESUMED frames after start-up. */
  resumedAt: number[];
  starvedStatusAfterFirst: number;
  lostTrials: number;
  settingsSent: number;
  blocks: number;
  settingBitsPerTrial: number;
}

export async function measureHostRun(
  device: Device,
  {
    trials,
    blockTrials = 2 ** 20,
    testRate = '1',
    rateTrialsPerS = 0,
  }: { trials: number; blockTrials?: number; testRate?: string; rateTrialsPerS?: number },
): Promise<HostRunMetrics> {
  const draw = new SettingsDraw(new CsprngSource(), testRateFraction(testRate));
  const feeder = new HostSettingsFeeder(draw, { fifo: device.info.settingsFifo, blockTrials, limitTrials: trials });
  const certifier = new Certifier({
    blockTrials,
    device: { serial: device.info.serial, firmware: device.info.firmware.join('.') },
    settingsSource: 'host',
    hostSettings: feeder.ledger,
  });
  const run = await device.start({ source: 'host', limitTrials: trials, rateTrialsPerS });
  feeder.start(run);
  let first = -1;
  let last = 0;
  let received = 0;
  let resumed = 0;
  const startUpTrials = device.info.settingsFifo;
  const resumedAt: number[] = [];
  let statusFrames = 0;
  let starvedStatus = 0;
  let mismatch: string | null = null;
  let blocks = 0;
  try {
    for await (const batch of run as AsyncIterable<RunEvent[]>) {
      const now = performance.now();
      for (const ev of perFrameEvents(batch)) {
        if (ev.kind === 'trials') {
          if (first < 0) first = now;
          last = now;
          received += ev.n;
          if ((ev.flags & TRIALS_FLAG.RESUMED) !== 0 && ev.first >= startUpTrials) {
            resumed++;
            resumedAt.push(ev.first);
          }
        } else if (ev.kind === 'status') {
          if (statusFrames++ > 0 && (ev.status.faults & Fault.SETTINGS_STARVED) !== 0) starvedStatus++;
        }
      }
      blocks += certifier.push(batch).length;
    }
    blocks += certifier.finish().length;
  } catch (e) {
    mismatch = (e as Error).message;
    await run.stop().catch(() => undefined);
  } finally {
    feeder.stop();
  }
  const seconds = (last - first) / 1000;
  return {
    trials: received,
    seconds,
    trialsPerSecond: received / seconds,
    chipTrialsPerSecond: rateTrialsPerS > 0 ? rateTrialsPerS : device.info.maxTrialRate,
    echoChecked: certifier.stats.echoChecked,
    echoMismatch: mismatch,
    resumedAfterStart: resumed,
    resumedAt: resumedAt.slice(0, 20),
    starvedStatusAfterFirst: starvedStatus,
    lostTrials: certifier.stats.lostDeviceTrials + certifier.stats.lostLinkTrials,
    settingsSent: feeder.stats.sent,
    blocks,
    settingBitsPerTrial:
      certifier.stats.settingBits /
      Math.max(1, certifier.stats.recordedTrials + certifier.stats.lostDeviceTrials + certifier.stats.lostLinkTrials),
  };
}
