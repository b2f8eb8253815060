import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RecordingWriter } from '../../src/record/writer.ts';
import { RecordingParser, openRecording, deviceBytes, type RecordEntry } from '../../src/record/reader.ts';
import {
  Direction,
  MAGIC,
  HEADER_MAX_BYTES,
  type RecordingHeader,
  RECORD_OVERHEAD,
  encodeFilePreamble,
} from '../../src/record/format.ts';
import { InputError } from '../../src/errors.ts';
import { mulberry32 as rng } from '../prng.ts';

const header: RecordingHeader = {
  format: 'epqrng-recording',
  version: 1,
  tool: 'test',
  commandLine: ['record', '--trials', '1000'],
  clock: 'none',
  device: {
    protocol: [1, 0],
    firmware: [1, 2, 3],
    serial: 'EPQ1-00C0FFEE',
    model: 'EPQ-1',
    maxTrialRate: 1_000_000,
    capabilities: 15,
    settingsFifo: 65536,
  },
  extractorSeed: { sha256: 'ab'.repeat(32) },
};

interface Written {
  direction: number;
  timeUs: number;
  bytes: Buffer;
}

function randomRecords(seed: number, count: number): Written[] {
  const r = rng(seed);
  const out: Written[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(r() * 300);
    const bytes = Buffer.alloc(len);
    for (let k = 0; k < len; k++) bytes[k] = Math.floor(r() * 256);
    t += Math.floor(r() * 5000);
    out.push({ direction: r() < 0.3 ? Direction.HOST_TO_DEVICE : Direction.DEVICE_TO_HOST, timeUs: t, bytes });
  }
  return out;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epq-rec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeRecording(path: string, records: Written[], { headerLate = false } = {}): void {
  const w = new RecordingWriter(path, { header: headerLate ? undefined : header, bufferBytes: 1024 });
  for (const [i, rec] of records.entries()) {
    w.append(rec.direction as 0x44, rec.bytes, rec.timeUs);
    if (headerLate && i === 2) w.begin(header);
  }
  w.close();
}

function parseAll(file: Buffer, chunk: number): { entries: RecordEntry[]; parser: RecordingParser } {
  const parser = new RecordingParser();
  const entries: RecordEntry[] = [];
  for (let at = 0; at < file.length; at += chunk) entries.push(...parser.push(file.subarray(at, at + chunk)));
  parser.finish();
  return { entries, parser };
}

describe('recording format round trip', () => {
  it('reads back every record byte for byte, with direction and time, in any chunking', async () => {
    const records = randomRecords(1, 400);
    const path = join(dir, 'round.epqrec');
    writeRecording(path, records);
    const file = readFileSync(path);
    for (const chunk of [1, 7, 64, 1000, file.length]) {
      const { entries, parser } = parseAll(file, chunk);
      expect(parser.header).toEqual(header);
      expect(parser.cut).toBeNull();
      expect(parser.end).toEqual({
        records: 400,
        deviceBytes: records
          .filter((r) => r.direction === Direction.DEVICE_TO_HOST)
          .reduce((s, r) => s + r.bytes.length, 0),
        hostBytes: records
          .filter((r) => r.direction === Direction.HOST_TO_DEVICE)
          .reduce((s, r) => s + r.bytes.length, 0),
      });
      expect(entries.length).toBe(records.length);
      entries.forEach((e, i) => {
        expect(e.index).toBe(i);
        expect(e.direction).toBe(records[i]!.direction);
        expect(e.timeUs).toBe(records[i]!.timeUs);
        expect(e.bytes.equals(records[i]!.bytes)).toBe(true);
      });
    }
    // The file reader agrees, with a small chunk so records span reads (a torn record is read in behind its
    // start), whether each read has a buffer of its own or one buffer serves every read (copied here at once).
    for (const reuseChunks of [false, true]) {
      const warnings: string[] = [];
      const rec = await openRecording(path, { chunkBytes: 333, onWarning: (m) => warnings.push(m), reuseChunks });
      expect(rec.kind).toBe('recording');
      expect(rec.header).toEqual(header);
      const got: Buffer[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for await (const b of deviceBytes(rec)) {
        got.push(Buffer.from(b));
        buffers.add(b.buffer);
      }
      expect(
        Buffer.concat(got).equals(
          Buffer.concat(records.filter((r) => r.direction === Direction.DEVICE_TO_HOST).map((r) => r.bytes)),
        ),
      ).toBe(true);
      expect(warnings).toEqual([]);
      expect(rec.cut).toBeNull();
      if (reuseChunks) expect(buffers.size).toBeLessThanOrEqual(3); // one per size a torn record needed
    }
  });

  it('keeps records that arrive before the header, in order, after it', () => {
    const records = randomRecords(2, 10);
    const path = join(dir, 'late.epqrec');
    writeRecording(path, records, { headerLate: true });
    const { entries, parser } = parseAll(readFileSync(path), 4096);
    expect(parser.header?.device?.serial).toBe('EPQ1-00C0FFEE');
    expect(entries.map((e) => e.bytes.toString('hex'))).toEqual(records.map((r) => r.bytes.toString('hex')));
  });

  it('encodes timestamps above 2^32 microseconds exactly', () => {
    const records: Written[] = [
      { direction: Direction.DEVICE_TO_HOST, timeUs: 2 ** 40 + 12345, bytes: Buffer.from([1, 2, 3]) },
    ];
    const path = join(dir, 'time.epqrec');
    writeRecording(path, records);
    expect(parseAll(readFileSync(path), 100).entries[0]!.timeUs).toBe(2 ** 40 + 12345);
  });
});

describe('a recording cut at any byte', () => {
  it('replays every complete record before the cut and names the cut', () => {
    const records = randomRecords(3, 120);
    const path = join(dir, 'cut.epqrec');
    writeRecording(path, records);
    const file = readFileSync(path);
    const preambleBytes = encodeFilePreamble(header).length;
    // Record k ends at preamble + sum of (overhead + len) of records 0..k.
    const ends: number[] = [];
    let at = preambleBytes;
    for (const r of records) {
      at += RECORD_OVERHEAD + r.bytes.length;
      ends.push(at);
    }
    const r = rng(4);
    for (let trial = 0; trial < 300; trial++) {
      const cutAt = Math.floor(r() * file.length);
      const truncated = file.subarray(0, cutAt);
      if (cutAt < preambleBytes) {
        expect(() => parseAll(truncated, 97)).toThrow(InputError);
        continue;
      }
      const { entries, parser } = parseAll(truncated, 97);
      const complete = ends.filter((e) => e <= cutAt).length;
      expect(entries.length).toBe(complete);
      expect(parser.cut).not.toBeNull();
      expect(parser.cut!.recordIndex).toBe(complete);
      // The cut starts where the first incomplete record starts.
      expect(parser.cut!.offset).toBe(complete === 0 ? preambleBytes : ends[complete - 1]);
      entries.forEach((e, i) => {
        expect(e.bytes.equals(records[i]!.bytes)).toBe(true);
      });
    }
  });

  it('warns once through openRecording with the byte offset and record index', async () => {
    const records = randomRecords(5, 50);
    const path = join(dir, 'cut2.epqrec');
    writeRecording(path, records);
    const file = readFileSync(path);
    const cutPath = join(dir, 'cut2-short.epqrec');
    writeFileSync(cutPath, file.subarray(0, file.length - 30));
    const warnings: string[] = [];
    const rec = await openRecording(cutPath, { chunkBytes: 500, onWarning: (m) => warnings.push(m) });
    let n = 0;
    for await (const batch of rec.batches()) n += batch.length;
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(new RegExp(`^recording cut at byte ${rec.cut!.offset} \\(record ${n}: `));
    expect(warnings[0]).toContain(`replaying the ${n} complete records before it`);
  });

  it('stops at a record whose CRC fails in the middle of the file', () => {
    const records = randomRecords(6, 30);
    const path = join(dir, 'flip.epqrec');
    writeRecording(path, records);
    const file = Buffer.from(readFileSync(path));
    const preambleBytes = encodeFilePreamble(header).length;
    let at = preambleBytes;
    for (let k = 0; k < 10; k++) at += RECORD_OVERHEAD + records[k]!.bytes.length;
    file[at + 16]! ^= 0x01; // first data byte of record 10
    const { entries, parser } = parseAll(file, 4096);
    expect(entries.length).toBe(10);
    expect(parser.cut).toEqual({ offset: at, recordIndex: 10, reason: 'CRC mismatch' });
  });

  it('any chunking gives the same records, cut and trailing bytes as one read', () => {
    const path = join(dir, 'chunks.epqrec');
    const records = randomRecords(11, 60);
    writeRecording(path, records);
    const clean = readFileSync(path);
    const withTrailing = Buffer.concat([clean, Buffer.from('junk after the end record')]);
    const damaged = Buffer.from(clean);
    damaged[Math.floor(clean.length * 0.6)]! ^= 0x10;
    const summary = (file: Buffer, chunk: number) => {
      const { entries, parser } = parseAll(file, chunk);
      return {
        entries: entries.map((e) => [e.index, e.offset, e.direction, e.timeUs, e.bytes.toString('hex')]),
        cut: parser.cut,
        end: parser.end,
        trailing: parser.trailing,
      };
    };
    for (const file of [clean, withTrailing, damaged]) {
      const whole = summary(file, file.length);
      for (const chunk of [1, 5, 16, 21, 100, 333, 4096]) {
        const got = summary(file, chunk);
        // `trailing` counts bytes after the end record; after a cut it only counts the reads that follow
        if (file === damaged) expect({ ...got, trailing: 0 }).toEqual({ ...whole, trailing: 0 });
        else expect(got).toEqual(whole);
      }
    }
    expect(summary(withTrailing, withTrailing.length).trailing).toBe(25);
    expect(summary(damaged, damaged.length).cut).not.toBeNull();
  });

  it('notices a recording cut exactly at a record boundary (no end record)', () => {
    const path = join(dir, 'abandon.epqrec');
    const w = new RecordingWriter(path, { header });
    w.deviceToHost(Buffer.from([1, 2, 3]), 5);
    w.abandon();
    const { entries, parser } = parseAll(readFileSync(path), 4096);
    expect(entries.length).toBe(1);
    expect(parser.cut?.reason).toBe('end of file without the end record');
    expect(parser.cut?.recordIndex).toBe(1);
  });
});

describe('a damaged header is refused with the field named', () => {
  const good = (): Buffer => {
    const path = join(dir, 'hdr.epqrec');
    writeRecording(path, randomRecords(7, 3));
    return Buffer.from(readFileSync(path));
  };
  const refuse = (file: Buffer): string => {
    try {
      parseAll(file, 4096);
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };
  /** A header with a valid CRC but the given JSON. */
  const withJson = (json: string): Buffer => {
    const body = Buffer.from(json);
    const pre = Buffer.alloc(12 + body.length + 4);
    MAGIC.copy(pre);
    pre.writeUInt32LE(body.length, 8);
    body.copy(pre, 12);
    pre.writeUInt32LE(crc32(pre.subarray(8, 12 + body.length)), 12 + body.length);
    return pre;
  };

  it('a flipped header byte fails the header CRC', () => {
    const f = good();
    f[20]! ^= 0x20;
    expect(refuse(f)).toMatch(/^recording header: CRC mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)$/);
  });
  it('a wrong magic after the EPQ prefix', () => {
    const f = good();
    f[6] = 0x58;
    expect(refuse(f)).toBe('recording: bad magic (expected 89 45 50 51 52 45 43 0a, got 89 45 50 51 52 45 58 0a)');
  });
  it('an absurd header length', () => {
    const f = good();
    f.writeUInt32LE(0xffffffff, 8);
    expect(refuse(f)).toBe(`recording header: field headerLength: 4294967295 outside 2..${HEADER_MAX_BYTES}`);
  });
  it('a header that is not JSON', () => {
    expect(refuse(withJson('{"format":'))).toBe('recording header: not valid JSON');
  });
  it('a schema breach names the field', () => {
    const bad = { ...header, device: { ...header.device, serial: 42 } };
    expect(refuse(withJson(JSON.stringify(bad)))).toMatch(/^recording header: field device\.serial: /);
    const noSeed: Record<string, unknown> = { ...header };
    delete noSeed.extractorSeed;
    expect(refuse(withJson(JSON.stringify(noSeed)))).toMatch(/^recording header: field extractorSeed: /);
  });
  it('a later format version', () => {
    expect(refuse(withJson(JSON.stringify({ ...header, version: 2 })))).toBe(
      'recording header: format version 2 is not supported (this epqrng reads version 1)',
    );
  });
  it('a file cut inside its header', () => {
    expect(refuse(good().subarray(0, 30))).toBe('recording header: truncated (file ends at byte 30)');
  });
});

describe('raw captures', () => {
  it('a file without the recording magic is device-to-host bytes, whole', async () => {
    const bytes = Buffer.alloc(5000);
    const r = rng(8);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    bytes[0] = 0xe5; // a capture starts wherever the port was opened; here on a frame
    const path = join(dir, 'capture.bin');
    writeFileSync(path, bytes);
    for (const reuseChunks of [false, true]) {
      const rec = await openRecording(path, { chunkBytes: 777, reuseChunks });
      expect(rec.kind).toBe('raw');
      expect(rec.header).toBeNull();
      const got: Buffer[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for await (const b of deviceBytes(rec)) {
        got.push(Buffer.from(b));
        buffers.add(b.buffer);
      }
      expect(Buffer.concat(got).equals(bytes)).toBe(true);
      if (reuseChunks) expect(buffers.size).toBe(1);
      expect(rec.cut).toBeNull();
    }
  });
  it('an empty file is an empty capture', async () => {
    const path = join(dir, 'empty.bin');
    writeFileSync(path, Buffer.alloc(0));
    const rec = await openRecording(path);
    expect(rec.kind).toBe('raw');
    let n = 0;
    for await (const b of deviceBytes(rec)) n += b.length;
    expect(n).toBe(0);
  });
  it('a missing file is an InputError naming it', async () => {
    await expect(openRecording(join(dir, 'nope.epqrec'))).rejects.toThrow(
      `cannot open recording ${join(dir, 'nope.epqrec')}: no such file`,
    );
  });
});

describe('gzip-compressed recordings', () => {
  it('read the same records, and a cut .gz replays up to its cut', async () => {
    const { gzipSync } = await import('node:zlib');
    const records = randomRecords(9, 200);
    const path = join(dir, 'plain.epqrec');
    writeRecording(path, records);
    const gz = gzipSync(readFileSync(path));
    const gzPath = join(dir, 'plain.epqrec.gz');
    writeFileSync(gzPath, gz);
    const rec = await openRecording(gzPath, { chunkBytes: 1000 });
    expect(rec.kind).toBe('recording');
    expect(rec.header).toEqual(header);
    const got: RecordEntry[] = [];
    for await (const batch of rec.batches()) got.push(...batch.map((e) => ({ ...e, bytes: Buffer.from(e.bytes) })));
    expect(got.map((e) => e.bytes.toString('hex'))).toEqual(records.map((r) => r.bytes.toString('hex')));
    expect(rec.cut).toBeNull();

    const cutPath = join(dir, 'cut.epqrec.gz');
    writeFileSync(cutPath, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const warnings: string[] = [];
    const cut = await openRecording(cutPath, { chunkBytes: 1000, onWarning: (m) => warnings.push(m) });
    let n = 0;
    for await (const batch of cut.batches()) {
      for (const e of batch) expect(e.bytes.equals(records[n++]!.bytes)).toBe(true);
    }
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(records.length);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`(record ${n}: `);
  });
});

describe('the writer', () => {
  it('puts each record in the file as it is appended (a crash loses nothing the host has seen)', () => {
    const path = join(dir, 'live-writes.epqrec');
    const w = new RecordingWriter(path, { header });
    const preamble = encodeFilePreamble(header).length;
    expect(readFileSync(path).length).toBe(preamble);
    w.deviceToHost(Buffer.alloc(100, 7), 1);
    expect(readFileSync(path).length).toBe(preamble + RECORD_OVERHEAD + 100);
    w.hostToDevice(Buffer.alloc(64, 1), 2);
    const { entries, parser } = parseAll(readFileSync(path), 4096);
    expect(entries.map((e) => e.bytes.length)).toEqual([100, 64]);
    expect(parser.cut?.reason).toBe('end of file without the end record');
    w.close();
    expect(parseAll(readFileSync(path), 4096).parser.cut).toBeNull();
  });
});

describe('a flipped bit anywhere after the header', () => {
  it('never lets a damaged record through: replay stops at the record it hit', () => {
    const records = randomRecords(10, 80);
    const path = join(dir, 'flips.epqrec');
    writeRecording(path, records);
    const file = readFileSync(path);
    const preamble = encodeFilePreamble(header).length;
    const starts: number[] = [];
    let at = preamble;
    for (const r of records) {
      starts.push(at);
      at += RECORD_OVERHEAD + r.bytes.length;
    }
    starts.push(at); // the end record
    const r = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const pos = preamble + Math.floor(r() * (file.length - preamble));
      const bad = Buffer.from(file);
      bad[pos]! ^= 1 << Math.floor(r() * 8);
      const hit = starts.filter((s) => s <= pos).length - 1; // the record holding pos (records.length: the end record)
      const { entries, parser } = parseAll(bad, 333);
      expect(entries.length).toBe(Math.max(0, hit));
      entries.forEach((e, i) => {
        expect(e.bytes.equals(records[i]!.bytes)).toBe(true);
      });
      expect(parser.cut).not.toBeNull();
      expect(parser.cut!.recordIndex).toBe(Math.max(0, hit));
    }
  });

  it('a directory named as the recording: one InputError (exit 2), not a raw EISDIR', async () => {
    const err = await openRecording(tmpdir()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`cannot open recording ${tmpdir()}: is a directory`);
  });
});
