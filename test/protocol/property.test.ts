/**
 * Issue 2 acceptance: over 100,000 random cases (fast-check, fixed seed) of
 * random bytes and of valid frame streams that are truncated, bit-flipped,
 * byte-dropped, byte-duplicated or mixed with noise, fed in random chunks,
 * the decoder
 * - never throws;
 * - never emits a frame that fails its checks: every emitted frame
 *   re-encodes to exactly the 64 input bytes at its stream offset, and is one
 *   of the frames sent;
 * - re-locks within 128 bytes after the last corruption: every intact sent
 *   frame starting >= 128 bytes after the last corrupted byte is emitted
 *   (in fact every intact frame is, which is checked too).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import type { Frame } from '../../src/protocol/types.ts';
import { DEVICE_LAYOUTS, HOST_LAYOUTS, mulberry32, randInt, randomFrameOf, type Rand } from './gen.ts';

const RUNS = 100_000;
const RELOCK_BYTES = 128;

type Mutation = 'random' | 'truncate' | 'bitflip' | 'drop' | 'duplicate' | 'noise' | 'mixed' | 'none';

interface Stream {
  bytes: Uint8Array;
  /** Per output byte: its offset in the clean stream, or -1 for a byte that is not an original one. */
  tags: Int32Array;
  /** Clean-stream offset of each sent device frame, with its bytes as hex. */
  sent: Map<number, string>;
}

function build(rand: Rand, mutation: Mutation): Stream {
  if (mutation === 'random') {
    const n = randInt(rand, 0, 400);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = rand() < 0.05 ? (rand() < 0.5 ? 0xe5 : 0x51) : Math.floor(rand() * 256);
    return { bytes, tags: new Int32Array(n).fill(-1), sent: new Map() };
  }
  const count = randInt(rand, 1, 8);
  const sent = new Map<number, string>();
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // a host frame now and then: valid, but never to be emitted at a host (accept 'device')
    const isHost = rand() < 0.1;
    const f = randomFrameOf(rand, isHost ? HOST_LAYOUTS : DEVICE_LAYOUTS);
    const b = encodeFrame(f);
    if (!isHost) sent.set(i * 64, b.toString('hex'));
    parts.push(b);
  }
  const clean = Buffer.concat(parts);
  let bytes: number[] = Array.from(clean);
  let tags: number[] = bytes.map((_, i) => i);
  const edits = mutation === 'none' ? 0 : randInt(rand, 1, 4);
  for (let e = 0; e < edits; e++) {
    const kind: Mutation =
      mutation === 'mixed'
        ? (['truncate', 'bitflip', 'drop', 'duplicate', 'noise'] as const)[randInt(rand, 0, 4)]!
        : mutation;
    const at = randInt(rand, 0, Math.max(0, bytes.length - 1));
    switch (kind) {
      case 'truncate': {
        // cut a run out (a frame cut short), or cut the stream's end
        const len = randInt(rand, 1, 63);
        if (rand() < 0.3) {
          bytes = bytes.slice(0, at);
          tags = tags.slice(0, at);
        } else {
          bytes.splice(at, len);
          tags.splice(at, len);
        }
        break;
      }
      case 'bitflip': {
        if (bytes.length === 0) break;
        const flips = randInt(rand, 1, 3);
        for (let k = 0; k < flips; k++) {
          const j = Math.min(bytes.length - 1, at + randInt(rand, 0, 8));
          bytes[j]! ^= 1 << randInt(rand, 0, 7);
          tags[j] = -1;
        }
        break;
      }
      case 'drop': {
        const len = randInt(rand, 1, 3);
        bytes.splice(at, len);
        tags.splice(at, len);
        break;
      }
      case 'duplicate': {
        if (bytes.length === 0) break;
        const len = randInt(rand, 1, 3);
        const copy = bytes.slice(at, at + len);
        bytes.splice(at + copy.length, 0, ...copy);
        tags.splice(at + copy.length, 0, ...copy.map(() => -1));
        break;
      }
      case 'noise': {
        const len = randInt(rand, 1, 80);
        const noise = Array.from({ length: len }, () => (rand() < 0.1 ? 0xe5 : Math.floor(rand() * 256)));
        bytes.splice(at, 0, ...noise);
        tags.splice(at, 0, ...noise.map(() => -1));
        break;
      }
    }
  }
  return { bytes: Uint8Array.from(bytes), tags: Int32Array.from(tags), sent };
}

/** Index of the last corrupted output byte: a non-original byte, or the first byte after a gap. -1 if none. */
function lastCorruption(tags: Int32Array): number {
  let last = -1;
  for (let j = 0; j < tags.length; j++) {
    if (tags[j] === -1 || (j > 0 && tags[j - 1] !== -1 && tags[j] !== tags[j - 1]! + 1) || (j === 0 && tags[0] !== 0))
      last = j;
    else if (j > 0 && tags[j - 1] === -1) {
      // after inserted bytes, the original sequence must resume where it left off
      let k = j - 1;
      while (k >= 0 && tags[k] === -1) k--;
      if ((k >= 0 ? tags[k]! + 1 : 0) !== tags[j]) last = j;
    }
  }
  return last;
}

/** Output offsets of sent frames whose 64 original bytes are all present, contiguous and untouched. */
function intactFrames(s: Stream): Map<number, number> {
  const at = new Map<number, number>(); // output offset -> clean offset
  for (let j = 0; j + 64 <= s.tags.length; j++) {
    const t = s.tags[j]!;
    if (t < 0 || !s.sent.has(t)) continue;
    let ok = true;
    for (let k = 1; k < 64 && ok; k++) ok = s.tags[j + k] === t + k;
    if (ok) at.set(j, t);
  }
  return at;
}

describe('decoder property (issue 2 acceptance)', () => {
  it(`never throws, never emits a bad frame, re-locks within ${RELOCK_BYTES} bytes: ${RUNS} cases`, () => {
    const counts = { cases: 0, emitted: 0, intact: 0, intactAfterRelock: 0, mutated: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.constantFrom<Mutation>('random', 'truncate', 'bitflip', 'drop', 'duplicate', 'noise', 'mixed', 'none'),
        (seed, mutation) => {
          const rand = mulberry32(seed);
          const s = build(rand, mutation);
          const emitted: Array<[Frame, number]> = [];
          const sync = new FrameSync({ accept: 'device', onFrame: (f, at) => emitted.push([f, at]) });
          // random chunking, awkward boundaries included
          for (let o = 0; o < s.bytes.length; ) {
            const n = randInt(rand, 1, 150);
            sync.push(s.bytes.subarray(o, o + n));
            if (sync.pending > 63) throw new Error(`pending ${sync.pending}`);
            o += n;
          }
          sync.flush();
          const sentHex = new Set(s.sent.values());
          for (const [f, at] of emitted) {
            const input = Buffer.from(s.bytes.subarray(at, at + 64)).toString('hex');
            const again = encodeFrame(f).toString('hex');
            if (again !== input || !sentHex.has(again)) throw new Error(`bad frame emitted at ${at}`);
          }
          const emittedAt = new Set(emitted.map(([, at]) => at));
          const last = lastCorruption(s.tags);
          const intact = intactFrames(s);
          for (const [outAt] of intact) {
            if (outAt - last >= RELOCK_BYTES && !emittedAt.has(outAt))
              throw new Error(`no re-lock: intact frame at ${outAt}, last corruption at ${last}`);
            if (!emittedAt.has(outAt))
              throw new Error(`intact frame at ${outAt} not emitted (last corruption at ${last})`);
          }
          // (more may be emitted than the tags call intact: noise ending in the bytes a frame starts with
          // rebuilds that frame exactly, and then it is a genuine, valid frame)
          const st = sync.stats;
          if (st.bytesIn !== s.bytes.length || st.bytesSkipped + 64 * st.frames !== st.bytesIn)
            throw new Error(`byte accounting ${JSON.stringify(st)}`);
          counts.cases++;
          counts.emitted += emitted.length;
          counts.intact += intact.size;
          if (last >= 0) counts.mutated++;
          for (const [outAt] of intact) if (outAt - last >= RELOCK_BYTES) counts.intactAfterRelock++;
          return true;
        },
      ),
      { numRuns: RUNS, seed: 20261126 },
    );
    expect(counts.cases).toBe(RUNS);
    // the cases must actually exercise corruption and re-locking
    expect(counts.mutated).toBeGreaterThan(RUNS / 2);
    expect(counts.intactAfterRelock).toBeGreaterThan(RUNS / 4);
    console.log(`property: ${JSON.stringify(counts)}`);
  });
});
