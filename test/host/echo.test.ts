/**
 * The echo check (PROTOCOL 6, issue 6 scope 2) at the library level:
 * - the Certifier against a SettingsLedger, frame by frame: a match passes,
 *   lost trials are not checked but stay lost, one mismatch (or a trial the
 *   host sent no settings for) ends the run naming the trial, and the block
 *   it lies in never completes;
 * - certifiedStream against the echo-falsifying simulated chip ('tamper'),
 *   lying for the first time a few blocks into the run: the blocks before
 *   the lie are output, nothing from the lying block on, the error
 *   (exit 1) names the trial, and the chip is stopped.
 */
import { describe, expect, it } from 'vitest';
import { Certifier, type BlockResult } from '../../src/certify/index.ts';
import { LEDGER_TEST_ROUND, SettingsLedger } from '../../src/certify/echo.ts';
import { Device, type RunEvent } from '../../src/device/index.ts';
import { CertificationRefusedError } from '../../src/errors.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { seedBitsForBlock } from '../../src/extract/stream.ts';
import { certifiedStream } from '../../src/output/certified-stream.ts';
import { DeviceState, TRIALS_FLAG } from '../../src/protocol/types.ts';
import { createSimulatedPort } from '../../src/simulator/index.ts';

const HOST: number = TRIALS_FLAG.HOST_SETTINGS;

/** A TRIALS event whose records echo `settings` (x << 1 | y per trial) with outcome bits `clicks`. */
function trials(first: number, settings: number[], flags = HOST, clicks = 0b1010): RunEvent {
  const records = new Uint8Array(40);
  settings.forEach((xy, k) => {
    records[k] = (xy << 4) | clicks;
  });
  return { kind: 'trials', first, n: settings.length, records, flags, seq: first };
}

function certifierWith(sent: number[], blockTrials = 8) {
  const ledger = new SettingsLedger({ generator: 'os-csprng', testRate: null });
  ledger.append(Uint8Array.from(sent, (xy) => LEDGER_TEST_ROUND | xy));
  const certifier = new Certifier({
    blockTrials,
    device: { serial: 'EPQ1-TEST', firmware: '1.0.0' },
    settingsSource: 'host',
    hostSettings: ledger,
  });
  return { certifier, ledger };
}

const sent = Array.from({ length: 64 }, (_, i) => (i * 7 + (i >> 3)) & 3);

describe('Certifier echo check', () => {
  it('passes records that echo the settings sent, and counts them', () => {
    const { certifier } = certifierWith(sent);
    const out = certifier.push([trials(0, sent.slice(0, 20)), trials(20, sent.slice(20, 40))]);
    expect(out.map((b) => b.ok === false && b.test)).toHaveLength(5); // blocks 0..4 of 8 trials
    expect(certifier.stats.echoChecked).toBe(40);
  });

  it('one mismatch: CertificationRefusedError ECHO_MISMATCH naming the trial; earlier blocks are results, the lying block never completes', () => {
    const { certifier } = certifierWith(sent);
    const lie = sent.slice(16, 40);
    lie[37 - 16]! ^= 2; // trial 37 echoes the other x
    const results: BlockResult[] = [];
    let error: unknown;
    try {
      results.push(...certifier.push([trials(0, sent.slice(0, 16))]));
      results.push(...certifier.push([trials(16, lie)]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CertificationRefusedError);
    const err = error as CertificationRefusedError;
    expect(err.code).toBe('ECHO_MISMATCH');
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(
      /^echo check failed at trial 37: sent x=\d y=\d, chip echoed x=\d y=\d; .* nothing output from block 4 on$/,
    );
    expect(err.message.split('\n')).toHaveLength(1);
    // Blocks 0 and 1 (trials 0..15) completed before the lying frame; blocks 2.. (the frame of the lie) never do.
    expect(results.map((r) => (r.ok ? r.draft.blockIndex : r.blockIndex))).toEqual([0, 1]);
    expect(() => certifier.push([trials(40, sent.slice(40, 48))])).toThrow();
  });

  it('lost trials (GAP) are not checked and stay lost; the records after them are checked at their own index', () => {
    const { certifier } = certifierWith(sent);
    certifier.push([trials(0, sent.slice(0, 10)), trials(30, sent.slice(30, 40), HOST | TRIALS_FLAG.GAP)]);
    expect(certifier.stats.echoChecked).toBe(20);
    expect(certifier.stats.lostDeviceTrials).toBe(20);
    const bad = sent.slice(40, 41).map((xy) => xy ^ 1);
    expect(() => certifier.push([trials(40, bad)])).toThrow(/at trial 40: /);
  });

  it('a record for a trial the host sent no settings for is an attack too', () => {
    const { certifier } = certifierWith(sent.slice(0, 10));
    expect(() => certifier.push([trials(0, sent.slice(0, 12))])).toThrow(
      /at trial 10: the chip reports a trial the host sent no settings for/,
    );
  });
});

describe('certifiedStream against the echo-falsifying chip', () => {
  it('caught within the block where it first lies: the blocks before are output, 0 bytes from that block on, exit 1 naming the trial, chip stopped', async () => {
    const blockTrials = 2 ** 21;
    // The chip measures 1 in 5 M trials at another setting and echoes that (a false echo): here first at a trial in
    // block >= 1.
    const sim = createSimulatedPort({ seed: 12, calibrated: true, mode: 'tamper', tamperRate: 2e-7, clock: 'virtual' });
    const device = await Device.open({ path: sim.path, binding: sim.binding });
    const certified: number[] = [];
    const sizes: number[] = [];
    let delivered = 0;
    let error: unknown;
    try {
      const seed = randomSeed(seedBitsForBlock(blockTrials));
      for await (const bytes of certifiedStream(device, {
        seed,
        blockTrials,
        // Replayable settings (ChaCha20 from a fixed seed): the chip's draws, and so where it first lies, are fixed.
        hostSettings: { seed: new Uint8Array(32).fill(6) },
        maxConsecutiveRefused: 1000,
        onCertificate: (_line, b) => {
          certified.push(b.certificate.blockIndex);
          sizes.push(b.certificate.extraction.outputBytes);
        },
      })) {
        delivered += bytes.length;
      }
    } catch (e) {
      error = e;
    }
    const state = (await device.getStatus()).state;
    await device.close();
    expect(error).toBeInstanceOf(CertificationRefusedError);
    const err = error as CertificationRefusedError;
    expect(err.code).toBe('ECHO_MISMATCH');
    expect(err.exitCode).toBe(1);
    const trial = Number(/at trial (\d+):/.exec(err.message)?.[1]);
    const lyingBlock = Math.floor(trial / blockTrials);
    // the seed puts the first lie after block 0, so something was output before it
    expect(lyingBlock).toBeGreaterThanOrEqual(1);
    expect(sim.chip.stats.tamperedTrials).toBeGreaterThanOrEqual(1);
    // Exactly the blocks before the lie were output, and their bytes; none from the lying block on.
    expect(certified).toEqual(Array.from({ length: lyingBlock }, (_, i) => i));
    expect(delivered).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(delivered).toBeGreaterThan(0);
    // The run was stopped (STOP/ACK): the chip is idle.
    expect(state).toBe(DeviceState.IDLE);
  }, 120_000);
});
