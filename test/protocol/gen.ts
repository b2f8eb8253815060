/**
 * Random VALID frames of any type, generated from the layouts (for the
 * round-trip and stream property tests). Deterministic for a seed.
 */
import { LAYOUTS, type TypeLayout } from '../../src/protocol/layouts.ts';
import type { Frame } from '../../src/protocol/types.ts';

export { mulberry32 } from '../prng.ts';

export type Rand = () => number;

export function randInt(rand: Rand, lo: number, hi: number): number {
  const span = hi - lo + 1;
  if (span <= 4294967296) return lo + Math.floor(rand() * span);
  // 53-bit uniform for u64 ranges
  const r = Math.floor(rand() * 2097152) * 4294967296 + Math.floor(rand() * 4294967296);
  return lo + (r % span);
}

/** Edge values are more likely than uniform draws (bounds are where codecs break). */
function pick(rand: Rand, ranges: ReadonlyArray<readonly [number, number]>): number {
  const [lo, hi] = ranges[Math.floor(rand() * ranges.length)]!;
  const u = rand();
  if (u < 0.15) return lo;
  if (u < 0.3) return hi;
  return randInt(rand, lo, hi);
}

export function randomFrame(rand: Rand, layout: TypeLayout): Frame {
  let flags = 0;
  for (const m of Object.values(layout.flags)) if (rand() < 0.3) flags |= m;
  const f: Record<string, unknown> = { kind: layout.kind, flags, seq: pick(rand, [[0, 0xffffffff]]) };
  for (const op of layout.ops) {
    if (op.op === 'scalar') {
      const one = (): number => {
        const v = pick(rand, op.ranges);
        return op.bitsMask !== undefined ? (v & op.bitsMask) >>> 0 : v;
      };
      f[op.name] = op.isArray ? Array.from({ length: op.count }, one) : one();
    } else if (op.op === 'records') {
      const n = f[op.countField] as number;
      const itemMask = op.bitsPerItem === 8 ? 0xff & ~op.reservedBitsMask : (1 << op.bitsPerItem) - 1;
      f[op.name] = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256) & itemMask);
    } else if (op.op === 'ascii') {
      const len = randInt(rand, 0, op.size);
      f[op.name] = String.fromCharCode(...Array.from({ length: len }, () => randInt(rand, 0x20, 0x7e)));
    }
  }
  return f as unknown as Frame;
}

export const DEVICE_LAYOUTS = LAYOUTS.filter((l) => l.direction === 'device');
export const HOST_LAYOUTS = LAYOUTS.filter((l) => l.direction === 'host');

/** A random frame of a random type among `layouts`, TRIALS weighted up (it is most of the traffic). */
export function randomFrameOf(rand: Rand, layouts: readonly TypeLayout[]): Frame {
  const trials = layouts.find((l) => l.kind === 'TRIALS');
  const layout = trials && rand() < 0.5 ? trials : layouts[Math.floor(rand() * layouts.length)]!;
  return randomFrame(rand, layout);
}
