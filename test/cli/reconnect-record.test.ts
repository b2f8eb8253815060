/**
 * `stream --record --reconnect` through an unplug and a replug of the same
 * simulated chip at the same PTY path: the recording holds both runs, with
 * the disconnect and the reconnect between them as run events; `verify`
 * accepts it (every certificate recomputed, the chain unbroken across the
 * reconnect, the reconnect fields the recorded ones), `replay` writes the
 * same bytes and certificate lines. A modified recording is refused with one
 * line: a flipped byte in the second run, the second run removed, a reconnect
 * to another serial, another reconnect time or trial count. A chip whose
 * link went silent (the watchdog) and that answered again records and
 * verifies the same way. A replug with another serial, recorded, verifies
 * as the session it was (refused, exit 3).
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Direction } from '../../src/record/format.ts';
import { decodeFrame } from '../../src/protocol/decode.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { FRAME_SIZE, type InfoFrame } from '../../src/protocol/types.ts';
import { hasSocat } from './pty-pair.ts';
import { certLines, unplugReplug, type Replugged } from './replug.ts';
import { epqrng, expectOneLineError } from './run-cli.ts';
import { flipTrialByte, readEntries, rewriteRecording, type Entry } from '../record/rewrite.ts';

const N = 60_000; // several 2^20-trial blocks (about 16 kB each), so the unplug falls mid-stream
const LONG = 120_000;

const isEvent = (e: Entry) => e.direction === Direction.RUN_EVENT;
const eventOf = (e: Entry) => JSON.parse(e.bytes.toString('utf8'));

/** The recording with its reconnect event edited by `edit`. */
function editReconnect(entries: Entry[], edit: (event: Record<string, unknown>) => void): Entry[] {
  return entries.map((e) => {
    if (!isEvent(e) || eventOf(e).event !== 'reconnect') return e;
    const event = eventOf(e);
    edit(event);
    return { ...e, bytes: Buffer.from(JSON.stringify(event)) };
  });
}

/** The second run's INFO frame (the answer to its GET_INFO) given another serial, CRC and all. */
function otherSerial(entries: Entry[], serial: string): Entry[] {
  const from = entries.findIndex((e) => isEvent(e) && eventOf(e).event === 'reconnect');
  let done = false;
  return entries.map((e, i) => {
    if (done || i <= from || e.direction !== Direction.DEVICE_TO_HOST) return e;
    const bytes = Buffer.from(e.bytes);
    for (let at = 0; at + FRAME_SIZE <= bytes.length; at += FRAME_SIZE) {
      const frame = decodeFrame(bytes, at);
      if (frame.kind !== 'INFO') continue;
      encodeFrame({ ...(frame as InfoFrame), serial }, bytes, at);
      done = true;
    }
    return { ...e, bytes };
  });
}

describe.skipIf(!hasSocat)('stream --record --reconnect', () => {
  let live: Replugged;
  let rec: string;
  let entries: Entry[];
  const verify = (file: string) => epqrng(['verify', file, '--certs', live.certs, '--output', live.out], {}, LONG);
  /** verify of the recording changed by `change`: exit 1, one line matching `why`. */
  const refused = async (name: string, change: (e: Entry[]) => Entry[], why: RegExp) => {
    const file = join(live.dir, `${name}.epqrec`);
    await rewriteRecording(rec, file, change);
    expectOneLineError(await verify(file), 1, why);
    return file;
  };

  beforeAll(async () => {
    rec = join(mkdtempSync(join(tmpdir(), 'epqrng-mrec-')), 'both-runs.epqrec');
    live = await unplugReplug(1, N, ['--record', rec]);
    entries = (await readEntries(rec)).entries;
  }, 180_000);

  it('records both runs, the disconnect and the reconnect between them', async () => {
    expect(live.code, live.stderr).toBe(0);
    expect(statSync(live.out).size).toBe(N);
    const events = entries.filter(isEvent).map(eventOf);
    expect(events.map((e) => e.event)).toEqual(['disconnect', 'reconnect']);
    const [lost, back] = events;
    expect(lost.run).toBe(1);
    expect(lost.reason).toMatch(/disconnected/);
    const marked = certLines(live.certs)
      .map((l) => JSON.parse(l))
      .filter((c) => c.reconnect);
    expect(marked).toHaveLength(1);
    // the certificate's reconnect is the recorded one; the chip that answered is the first run's
    expect(back).toMatchObject({
      run: 2,
      at: marked[0].reconnect.at,
      trialsDropped: marked[0].reconnect.trialsDropped,
    });
    const { header, end } = await readEntries(rec);
    expect(back.device).toEqual(header!.device);
    const blocks = certLines(live.certs).length;
    expect(end?.session).toMatchObject({ ending: 'bytes', runs: 2, delivered: { blocks, bytes: N } });
  });

  it(
    'verify accepts the recording of both runs: exit 0, every certificate and byte, 2 runs',
    async () => {
      const r = await verify(rec);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(
          `^verified ${certLines(live.certs).length} certificates and ${N} output bytes .*: all match; .*, 2 runs\\n$`,
        ),
      );
    },
    LONG,
  );

  it(
    'replay plays it run by run: the same bytes and certificate lines',
    async () => {
      const out = join(live.dir, 'replayed.bin');
      const certs = join(live.dir, 'replayed.jsonl');
      const r = await epqrng(['replay', rec, '--out', out, '--certs', certs], {}, LONG);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(out).equals(readFileSync(live.out))).toBe(true);
      expect(readFileSync(certs, 'utf8')).toBe(readFileSync(live.certs, 'utf8'));
    },
    LONG,
  );

  it(
    'a flipped byte in the second run: exit 1, the block named',
    async () => {
      const from = entries.findIndex((e) => isEvent(e) && eventOf(e).event === 'reconnect');
      // a trial byte deep in the second run (from the 80th record after the reconnect)
      await refused('flipped', (all) => flipTrialByte(all, from + 80), /^epqrng: verify: block \d+/);
    },
    LONG,
  );

  it(
    'the second run removed: exit 1',
    async () => {
      const from = entries.findIndex(isEvent);
      await refused(
        'removed',
        (all) => all.slice(0, from),
        /^epqrng: verify: .* does not replay: .* ends where run 1 lost its chip, but its end record counts 2 runs/,
      );
    },
    LONG,
  );

  it(
    'a reconnect to another serial: verify exit 1, replay exit 3 as live',
    async () => {
      const serial = 'EPQ1-0BADC0DE';
      const file = await refused(
        'other-serial',
        (all) =>
          otherSerial(
            editReconnect(all, (e) => ((e.device as { serial: string }).serial = serial)),
            serial,
          ),
        /^epqrng: verify: .* does not replay: a different chip \(EPQ1-0BADC0DE\) answered .*: refused/,
      );
      const r = await epqrng(['replay', file, '--out', join(live.dir, 'o.bin')], {}, LONG);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^epqrng: a different chip \(EPQ1-0BADC0DE\)/m);
      // the event alone names another chip than the port's INFO: the recording contradicts itself
      await refused(
        'event-serial',
        (all) => editReconnect(all, (e) => ((e.device as { serial: string }).serial = serial)),
        /^epqrng: verify: .* does not replay: replay diverged at run 2: the recording's reconnect names EPQ1-0BADC0DE/,
      );
    },
    LONG,
  );

  it(
    'another reconnect time or trial count: exit 1, the field named',
    async () => {
      await refused(
        'at',
        (all) => editReconnect(all, (e) => (e.at = '2001-01-01T00:00:00.000Z')),
        /^epqrng: verify: block \d+ \(line \d+ of .*\): reconnect\.at is "[^"]+" in the certificate, "2001-01-01T00:00:00\.000Z" recomputed/,
      );
      await refused(
        'dropped',
        (all) => editReconnect(all, (e) => (e.trialsDropped = (e.trialsDropped as number) + 1)),
        /^epqrng: verify: .* does not replay: replay diverged at run 2: the recording's reconnect follows run 1 with \d+ trials dropped/,
      );
    },
    LONG,
  );
});

describe.skipIf(!hasSocat)('stream --record --reconnect, a chip gone silent (watchdog) that answers again', () => {
  it('live exit 0; the STOP sent to the silent port is kept between the events; verify exit 0, replay the same', async () => {
    const rec = join(mkdtempSync(join(tmpdir(), 'epqrng-mrec-')), 'silent.epqrec');
    const live = await unplugReplug(1, N, ['--record', rec], true);
    expect(live.code, live.stderr).toBe(0);
    const { entries } = await readEntries(rec);
    const [lost, back] = entries.flatMap((e, i) => (isEvent(e) ? [i] : []));
    expect(eventOf(entries[lost!]!)).toMatchObject({ event: 'disconnect', reason: expect.stringMatching(/watchdog/) });
    expect(eventOf(entries[back!]!)).toMatchObject({ event: 'reconnect', run: 2 });
    // closing the silent port sent STOP: recorded after the disconnect, no part of either run
    expect(entries.slice(lost! + 1, back).some((e) => e.direction === Direction.HOST_TO_DEVICE)).toBe(true);
    const v = await epqrng(['verify', rec, '--certs', live.certs, '--output', live.out], {}, LONG);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/all match; .*, 2 runs\n$/);
    const out = join(live.dir, 'replayed.bin');
    const r = await epqrng(['replay', rec, '--out', out], {}, LONG);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(live.out))).toBe(true);
  }, 240_000);
});

describe.skipIf(!hasSocat)('stream --record --reconnect, another chip replugged', () => {
  it('live exit 3; the recording verifies as that session (exit 0) and replays to the same refusal (exit 3)', async () => {
    const rec = join(mkdtempSync(join(tmpdir(), 'epqrng-mrec-')), 'refused.epqrec');
    const live = await unplugReplug(2, 1_000_000, ['--record', rec]);
    expect(live.code, live.stderr).toBe(3);
    const v = await epqrng(['verify', rec, '--certs', live.certs, '--output', live.out], {}, LONG);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/all match .*a different chip .*; session ended by a device fault/);
    const r = await epqrng(['replay', rec, '--out', join(live.dir, 'o.bin')], {}, LONG);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^epqrng: a different chip \(EPQ1-[0-9A-F]{8}\) answered/m);
    expect(readFileSync(join(live.dir, 'o.bin')).equals(readFileSync(live.out))).toBe(true);
  }, 240_000);
});
