/**
 * WebAssembly SIMD kernels for the radix-4 and radix-2 FFT stages and the pointwise spectrum product, assembled here
 * byte by byte (no toolchain, no npm package): one complex double per v128 (re in lane 0, im in lane 1). More in
 * README.md (simd.ts).
 */
import { ROOT_FINE_BITS } from './fft.ts';
import { SIMD_MODULE_BASE64 } from './simd-bytes.ts';

export enum TwiddleMode {
  NONE = 0,
  FULL = 1,
  COMPACT = 2,
}

// ------------------------------------------------------------ assembler

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/**
 * Butterflies per call of a SIMD top stage. V8 runs a WebAssembly function
 * in its baseline tier until a call has used up a budget, and switches to
 * optimized code only for later calls: one call over the whole array would
 * run a cold first hash several times slower.
 */
export const TOP_CHUNK = 1 << 12;

/** The kernels' memory maximum in 64 KiB pages (4 GiB, all of wasm32): any memory createMemory makes fits it. */
const MAX_PAGES = 65536;

const I32 = 0x7f;
const V128 = 0x7b;

const F64 = 0x7c;

/** A function body under construction: i32, f64 and v128 locals by name; i32 params; no result or one f64. */
class Body {
  readonly code: number[] = [];
  private readonly names = new Map<string, number>();
  private readonly groups: Array<[number, number]> = [];
  constructor(
    private readonly params: string[],
    i32: string[],
    v128: string[],
    f64: string[] = [],
    readonly result: 'none' | 'f64' = 'none',
  ) {
    params.forEach((p, k) => {
      this.names.set(p, k);
    });
    for (const [list, type] of [
      [i32, I32],
      [v128, V128],
      [f64, F64],
    ] as Array<[string[], number]>) {
      if (list.length === 0) continue;
      list.forEach((p) => {
        this.names.set(p, this.names.size);
      });
      this.groups.push([list.length, type]);
    }
  }
  idx(name: string): number {
    const k = this.names.get(name);
    if (k === undefined) throw new Error(`wasm local ${name} undeclared`);
    return k;
  }
  get(name: string): this {
    this.code.push(0x20, ...uleb(this.idx(name)));
    return this;
  }
  set(name: string): this {
    this.code.push(0x21, ...uleb(this.idx(name)));
    return this;
  }
  i32(n: number): this {
    this.code.push(0x41, ...sleb(n));
    return this;
  }
  f64(x: number): this {
    const buf = Buffer.alloc(8);
    buf.writeDoubleLE(x);
    this.code.push(0x44, ...buf);
    return this;
  }
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  simd(opcode: number): this {
    this.code.push(0xfd, ...uleb(opcode));
    return this;
  }
  /** v128.load from the address on the stack plus `offset`. */
  load(offset = 0): this {
    this.simd(0x00);
    this.code.push(4, ...uleb(offset));
    return this;
  }
  /** v128.store (address, value on the stack) plus `offset`. */
  store(offset = 0): this {
    this.simd(0x0b);
    this.code.push(4, ...uleb(offset));
    return this;
  }
  shuffle(lanes: number[]): this {
    this.simd(0x0d);
    this.code.push(...lanes);
    return this;
  }
  const128(bytes: number[]): this {
    this.simd(0x0c);
    this.code.push(...bytes);
    return this;
  }
  /** v128.const with x in both f64 lanes. */
  splat(x: number): this {
    const buf = Buffer.alloc(16);
    buf.writeDoubleLE(x, 0);
    buf.writeDoubleLE(x, 8);
    return this.const128([...buf]);
  }
  encode(): number[] {
    const decl: number[] = [...uleb(this.groups.length)];
    for (const [count, type] of this.groups) decl.push(...uleb(count), type);
    const body = [...decl, ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
  /** The function type: (i32 ...) -> () or f64. */
  signature(): number[] {
    return [
      0x60,
      ...uleb(this.params.length),
      ...this.params.map(() => I32),
      ...(this.result === 'f64' ? [1, F64] : [0]),
    ];
  }
}

// opcodes
const ADD = 0xf0; // f64x2.add
const SUB = 0xf1; // f64x2.sub
const MUL = 0xf2; // f64x2.mul
const XOR = 0x51; // v128.xor
const SWAP = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const LANE0 = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7];
const LANE1 = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const SIGN0 = [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
const SIGN1 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];

const i32Add = 0x6a,
  i32Mul = 0x6c,
  i32Shl = 0x74,
  i32ShrU = 0x76,
  i32LtU = 0x49;

/** dst = v * w (sign +1) or v * conj(w) (sign -1) with w given as P, Q locals. */
function twiddle(b: Body, dst: string, v: string, P: string, Q: string, conj: boolean): void {
  b.get(v).get(P).simd(MUL);
  b.get(v).get(v).shuffle(SWAP).get(Q).simd(MUL);
  b.simd(conj ? SUB : ADD).set(dst);
}

/** From c = w = (wr, wi) and its P1, Q1 form Pk, Qk for w^2 and w^3. */
function powersOf(b: Body): void {
  for (const k of [2, 3]) {
    // c = c * w1
    b.get('c').get('P1').simd(MUL);
    b.get('c').get('c').shuffle(SWAP).get('Q1').simd(MUL);
    b.simd(ADD).set('c');
    b.get('c').get('c').shuffle(LANE0).set(`P${k}`);
    b.get('c').get('c').shuffle(LANE1).const128(SIGN0).simd(XOR).set(`Q${k}`);
  }
}

const V4 = ['x0', 'x1', 'x2', 'x3', 't0', 't1', 't2', 't3', 'v', 'c', 'P1', 'Q1', 'P2', 'Q2', 'P3', 'Q3'];

/**
 * Loop skeleton over groups g in [start, end) step size and j < size/4;
 * `twiddles` loads the twiddles of j, `inner` emits the butterfly at byte
 * address p0. Groups outer, or j outer (used for the twiddle-free last
 * stage, where it is one flat loop; for twiddled stages j outer measured
 * slower: it walks memory with a stride).
 */
function groupLoops(b: Body, tableBytes: number, jOuter: boolean, twiddles: () => void, inner: () => void): void {
  // q = size >> 2, qb = q << 4
  b.get('size').i32(2).op(i32ShrU).set('q');
  b.get('q').i32(4).op(i32Shl).set('qb');
  if (jOuter) {
    b.get('size').i32(4).op(i32Shl).set('step');
    b.get('a').get('end').i32(4).op(i32Shl).op(i32Add).set('pend');
    b.i32(0).set('j');
    b.op(0x03, 0x40); // loop j
    if (tableBytes) b.get('tw').get('j').i32(tableBytes).op(i32Mul).op(i32Add).set('twp');
    twiddles();
    b.get('a').get('start').get('j').op(i32Add).i32(4).op(i32Shl).op(i32Add).set('p0');
    b.op(0x03, 0x40); // loop g (start < end: at least one group)
    inner();
    b.get('p0').get('step').op(i32Add).set('p0');
    b.get('p0').get('pend').op(i32LtU).op(0x0d, 0); // br_if loop g
    b.op(0x0b); // end loop g
    b.get('j').i32(1).op(i32Add).set('j');
    b.get('j').get('q').op(i32LtU).op(0x0d, 0); // br_if loop j
    b.op(0x0b); // end loop j
    return;
  }
  b.get('start').set('g');
  b.op(0x02, 0x40); // block
  b.op(0x03, 0x40); // loop g
  b.get('g').get('end').op(i32LtU, 0x45).op(0x0d, 1); // br_if out when !(g < end)
  b.i32(0).set('j');
  b.op(0x03, 0x40); // loop j
  b.get('a').get('g').get('j').op(i32Add).i32(4).op(i32Shl).op(i32Add).set('p0');
  if (tableBytes) b.get('tw').get('j').i32(tableBytes).op(i32Mul).op(i32Add).set('twp');
  twiddles();
  inner();
  b.get('j').i32(1).op(i32Add).set('j');
  b.get('j').get('q').op(i32LtU).op(0x0d, 0); // br_if loop j
  b.op(0x0b); // end loop j
  b.get('g').get('size').op(i32Add).set('g');
  b.op(0x0c, 0); // br loop g
  b.op(0x0b); // end loop g
  b.op(0x0b); // end block
}

/** COMPACT stage tables: w^j = coarse[j >> STAGE_FINE_BITS] fine[j & (2^STAGE_FINE_BITS - 1)] (as fft.ts rootsOfUnity). */
export const STAGE_FINE_BITS = 10;

function loadTwiddles(b: Body, mode: TwiddleMode): void {
  if (mode === TwiddleMode.NONE) return;
  if (mode === TwiddleMode.FULL) {
    ['P1', 'Q1', 'P2', 'Q2', 'P3', 'Q3'].forEach((nm, k) => {
      b.get('twp')
        .load(16 * k)
        .set(nm);
    });
    return;
  }
  // COMPACT: c = coarse[j >> F] fine[j & (2^F - 1)]: the fine table at tw as P, Q pairs (32 bytes), the coarse one
  // after it as complex values (16 bytes; rightangle.ts writeSimdTwiddles)
  b.get('tw')
    .get('j')
    .i32((1 << STAGE_FINE_BITS) - 1)
    .op(i32And)
    .i32(5)
    .op(i32Shl)
    .op(i32Add)
    .set('twp');
  b.get('twp').load().set('P2');
  b.get('twp').load(16).set('Q2');
  b.get('tw')
    .get('j')
    .i32(STAGE_FINE_BITS)
    .op(i32ShrU)
    .i32(4)
    .op(i32Shl)
    .op(i32Add)
    .load(32 << STAGE_FINE_BITS)
    .set('c');
  twiddle(b, 'c', 'c', 'P2', 'Q2', false);
  b.get('c').get('c').shuffle(LANE0).set('P1');
  b.get('c').get('c').shuffle(LANE1).const128(SIGN0).simd(XOR).set('Q1');
  powersOf(b);
}

/** address of element p of the butterfly: p0 + p * qb */
function addr(b: Body, p: number): void {
  b.get(`p${p}`);
}

/** p1, p2, p3 = p0 + qb, p0 + 2 qb, p0 + 3 qb */
function addresses(b: Body): void {
  for (let p = 1; p < 4; p++)
    b.get(`p${p - 1}`)
      .get('qb')
      .op(i32Add)
      .set(`p${p}`);
}

function genDif4(mode: TwiddleMode, jOuter: boolean): Body {
  const b = new Body(
    ['a', 'start', 'end', 'size', 'tw'],
    ['g', 'j', 'q', 'qb', 'p0', 'twp', 'step', 'pend', 'p1', 'p2', 'p3'],
    V4,
  );
  const bytes = mode === TwiddleMode.FULL ? 96 : 0;
  groupLoops(
    b,
    bytes,
    jOuter,
    () => loadTwiddles(b, mode),
    () => {
      addresses(b);
      for (let p = 0; p < 4; p++) {
        addr(b, p);
        b.load().set(`x${p}`);
      }
      b.get('x0').get('x2').simd(ADD).set('t0');
      b.get('x0').get('x2').simd(SUB).set('t1');
      b.get('x1').get('x3').simd(ADD).set('t2');
      // t3 = (x1 - x3) * (-i) = (d.im, -d.re)
      b.get('x1').get('x3').simd(SUB).set('v');
      b.get('v').get('v').shuffle(SWAP).const128(SIGN1).simd(XOR).set('t3');
      addr(b, 0);
      b.get('t0').get('t2').simd(ADD).store();
      const outs: Array<[number, string, string, number]> = [
        [1, 't1', 't3', ADD],
        [2, 't0', 't2', SUB],
        [3, 't1', 't3', SUB],
      ];
      for (const [p, l, r, op] of outs) {
        b.get(l).get(r).simd(op).set('v');
        if (mode !== TwiddleMode.NONE) twiddle(b, 'v', 'v', `P${p}`, `Q${p}`, false);
        addr(b, p);
        b.get('v').store();
      }
    },
  );
  return b;
}

function genDit4(mode: TwiddleMode, jOuter: boolean): Body {
  const b = new Body(
    ['a', 'start', 'end', 'size', 'tw'],
    ['g', 'j', 'q', 'qb', 'p0', 'twp', 'step', 'pend', 'p1', 'p2', 'p3'],
    V4,
  );
  const bytes = mode === TwiddleMode.FULL ? 96 : 0;
  groupLoops(
    b,
    bytes,
    jOuter,
    () => loadTwiddles(b, mode),
    () => {
      addresses(b);
      for (let p = 0; p < 4; p++) {
        addr(b, p);
        b.load().set(`x${p}`);
        if (p > 0 && mode !== TwiddleMode.NONE) twiddle(b, `x${p}`, `x${p}`, `P${p}`, `Q${p}`, true);
      }
      b.get('x0').get('x2').simd(ADD).set('t0');
      b.get('x0').get('x2').simd(SUB).set('t1');
      b.get('x1').get('x3').simd(ADD).set('t2');
      // t3 = (y1 - y3) * (+i) = (-d.im, d.re)
      b.get('x1').get('x3').simd(SUB).set('v');
      b.get('v').get('v').shuffle(SWAP).const128(SIGN0).simd(XOR).set('t3');
      const outs: Array<[number, string, string, number]> = [
        [0, 't0', 't2', ADD],
        [1, 't1', 't3', ADD],
        [2, 't0', 't2', SUB],
        [3, 't1', 't3', SUB],
      ];
      for (const [p, l, r, op] of outs) {
        addr(b, p);
        b.get(l).get(r).simd(op).store();
      }
    },
  );
  return b;
}

function genR2(): Body {
  const b = new Body(['a', 'start', 'end'], ['p', 'e'], ['x0', 'x1']);
  b.get('a').get('start').i32(4).op(i32Shl).op(i32Add).set('p');
  b.get('a').get('end').i32(4).op(i32Shl).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('p').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  b.get('p').load(0).set('x0');
  b.get('p').load(16).set('x1');
  b.get('p').get('x0').get('x1').simd(ADD).store(0);
  b.get('p').get('x0').get('x1').simd(SUB).store(16);
  b.get('p').i32(32).op(i32Add).set('p');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

function genMul(): Body {
  const b = new Body(['a', 's', 'count'], ['p', 'e', 'ps'], ['x', 'y']);
  b.get('a').set('p');
  b.get('s').set('ps');
  b.get('a').get('count').i32(4).op(i32Shl).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('p').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  b.get('p').load().set('x');
  b.get('ps').load().set('y');
  // x * y = x.re * y + x.im * (-y.im, y.re)
  b.get('p');
  b.get('x').get('x').shuffle(LANE0).get('y').simd(MUL);
  b.get('x').get('x').shuffle(LANE1).get('y').get('y').shuffle(SWAP).const128(SIGN0).simd(XOR).simd(MUL);
  b.simd(ADD).store();
  b.get('p').i32(16).op(i32Add).set('p');
  b.get('ps').i32(16).op(i32Add).set('ps');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

/**
 * acc[k] += a[k] * s[k], complex (the frequency-domain sum of chunk products, chunked.ts); with `set`, acc[k] =
 * a[k] * s[k] (the first chunk of a sum: no pass zeroing the sum first, and acc is not read).
 */
function genMac(set: boolean): Body {
  const b = new Body(['a', 's', 'acc', 'count'], ['p', 'e', 'ps', 'pc'], ['x', 'y']);
  b.get('a').set('p');
  b.get('s').set('ps');
  b.get('acc').set('pc');
  b.get('a').get('count').i32(4).op(i32Shl).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('p').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  b.get('p').load().set('x');
  b.get('ps').load().set('y');
  // acc + x * y, x * y = x.re * y + x.im * (-y.im, y.re) (as mul)
  b.get('pc');
  b.get('x').get('x').shuffle(LANE0).get('y').simd(MUL);
  b.get('x').get('x').shuffle(LANE1).get('y').get('y').shuffle(SWAP).const128(SIGN0).simd(XOR).simd(MUL);
  b.simd(ADD);
  accumulate(b, set, 0);
  b.get('p').i32(16).op(i32Add).set('p');
  b.get('ps').i32(16).op(i32Add).set('ps');
  b.get('pc').i32(16).op(i32Add).set('pc');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

/**
 * Stores the product on the stack (under the address pc) at pc + offset: added to the value there, or in its place
 * (`set`, the sum's first chunk: 0 + x is x but for the sign of a zero, which no later step reads).
 */
function accumulate(b: Body, set: boolean, offset: number): void {
  if (!set) b.get('pc').load(offset).simd(ADD);
  b.store(offset);
}

// ------------------------------------------------ fused top stages (rightangle.ts)

const i32And = 0x71,
  i32Or = 0x72,
  i32Sub = 0x6b;
const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** Pushes the complex product a * c (locals). */
function cmulPush(b: Body, a: string, c: string): void {
  b.get(a).get(a).shuffle(LANE0).get(c).simd(MUL);
  b.get(a).get(a).shuffle(LANE1).get(c).get(c).shuffle(SWAP).const128(SIGN0).simd(XOR).simd(MUL);
  b.simd(ADD);
}

/** Pushes (-i) src (minusI) or (+i) src. */
function mulIPush(b: Body, src: string, minusI: boolean): void {
  b.get(src)
    .get(src)
    .shuffle(SWAP)
    .const128(minusI ? SIGN1 : SIGN0)
    .simd(XOR);
}

/** dst = x * c (v128 constant splat) + y * d. */
function lin(b: Body, dst: string, x: string, c: number, y: string, d: number): void {
  b.get(x).splat(c).simd(MUL).get(y).splat(d).simd(MUL).simd(ADD).set(dst);
}

/**
 * The twiddle-free last radix-4 DIF stage (dif4_0) fused with mac: for each
 * group of 4 values of a (from a + 16 start to a + 16 end), the butterfly's
 * outputs y_k are multiplied by s and added into acc (s and acc addressed
 * like a, from their own bases), and a is not written back: one pass over
 * the cache block instead of two (rightangle.ts BitProductSum).
 */
function genDif4Mac(set: boolean): Body {
  const b = new Body(
    ['a', 's', 'acc', 'count'],
    ['p', 'e', 'ps', 'pc'],
    ['x0', 'x1', 'x2', 'x3', 't0', 't1', 't2', 't3', 'v', 'y'],
  );
  b.get('a').set('p');
  b.get('s').set('ps');
  b.get('acc').set('pc');
  b.get('a').get('count').i32(4).op(i32Shl).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('p').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  for (let q = 0; q < 4; q++)
    b.get('p')
      .load(16 * q)
      .set(`x${q}`);
  b.get('x0').get('x2').simd(ADD).set('t0');
  b.get('x0').get('x2').simd(SUB).set('t1');
  b.get('x1').get('x3').simd(ADD).set('t2');
  b.get('x1').get('x3').simd(SUB).set('v');
  b.get('v').get('v').shuffle(SWAP).const128(SIGN1).simd(XOR).set('t3'); // (x1 - x3) (-i), as dif4_0
  const outs: Array<[string, string, number]> = [
    ['t0', 't2', ADD],
    ['t1', 't3', ADD],
    ['t0', 't2', SUB],
    ['t1', 't3', SUB],
  ];
  outs.forEach(([l, r, op], k) => {
    b.get(l).get(r).simd(op).set('v');
    b.get('ps')
      .load(16 * k)
      .set('y');
    b.get('pc');
    cmulPush(b, 'v', 'y');
    accumulate(b, set, 16 * k);
  });
  b.get('p').i32(64).op(i32Add).set('p');
  b.get('ps').i32(64).op(i32Add).set('ps');
  b.get('pc').i32(64).op(i32Add).set('pc');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

/** Pushes v * c for a complex constant c = cr + i ci: v (cr, cr) + swap(v) (-ci, ci). */
function cmulConstPush(b: Body, v: string, cr: number, ci: number): void {
  const pair = (x: number, y: number) => {
    const buf = Buffer.alloc(16);
    buf.writeDoubleLE(x, 0);
    buf.writeDoubleLE(y, 8);
    return [...buf];
  };
  b.get(v).const128(pair(cr, cr)).simd(MUL);
  b.get(v).get(v).shuffle(SWAP).const128(pair(-ci, ci)).simd(MUL);
  b.simd(ADD);
}

/**
 * The last two radix-4 DIF stages (sizes 16 and 4) in one pass over groups
 * of 16 values: the size-16 stage's twiddles w16^(pj) are constants here
 * (dif4 reads them from its table), the size-4 stage has none. With `mac`
 * the outputs y_k are multiplied by s and added into acc (a is left as it
 * was, as genDif4Mac); without, they are stored back into a. Arguments
 * (a, s, acc, count): byte addresses, count complex values (a multiple of
 * 16; s and acc unused without mac).
 */
function genDif16(mac: false | 'add' | 'set'): Body {
  const xs = Array.from({ length: 16 }, (_, i) => `x${i}`);
  const b = new Body(['a', 's', 'acc', 'count'], ['p', 'e', 'ps', 'pc'], [...xs, 't0', 't1', 't2', 't3', 'v', 'y']);
  /** In-place radix-4 DIF butterfly on locals i0..i3 (as dif4 / dif4Last). */
  const bfly = (i: number[]) => {
    const [a0, a1, a2, a3] = i.map((k) => `x${k}`) as [string, string, string, string];
    b.get(a0).get(a2).simd(ADD).set('t0');
    b.get(a0).get(a2).simd(SUB).set('t1');
    b.get(a1).get(a3).simd(ADD).set('t2');
    b.get(a1).get(a3).simd(SUB).set('v');
    b.get('v').get('v').shuffle(SWAP).const128(SIGN1).simd(XOR).set('t3');
    b.get('t0').get('t2').simd(ADD).set(a0);
    b.get('t1').get('t3').simd(ADD).set(a1);
    b.get('t0').get('t2').simd(SUB).set(a2);
    b.get('t1').get('t3').simd(SUB).set(a3);
  };
  b.get('a').set('p');
  b.get('s').set('ps');
  b.get('acc').set('pc');
  b.get('a').get('count').i32(4).op(i32Shl).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('p').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  for (let i = 0; i < 16; i++)
    b.get('p')
      .load(16 * i)
      .set(`x${i}`);
  // size-16 stage: butterfly j on j, j + 4, j + 8, j + 12; output p (at j + 4p) times w16^(pj), w16 = exp(-2 pi i / 16)
  for (let j = 0; j < 4; j++) {
    bfly([j, j + 4, j + 8, j + 12]);
    for (let p = 1; p < 4; p++) {
      if (j === 0) continue;
      const angle = (-2 * Math.PI * p * j) / 16;
      cmulConstPush(b, `x${j + 4 * p}`, Math.cos(angle), Math.sin(angle));
      b.set(`x${j + 4 * p}`);
    }
  }
  // size-4 stage: groups 4p .. 4p + 3
  for (let p = 0; p < 4; p++) bfly([4 * p, 4 * p + 1, 4 * p + 2, 4 * p + 3]);
  for (let i = 0; i < 16; i++) {
    if (mac) {
      b.get('ps')
        .load(16 * i)
        .set('y');
      b.get('pc');
      cmulPush(b, `x${i}`, 'y');
      accumulate(b, mac === 'set', 16 * i);
    } else {
      b.get('p')
        .get(`x${i}`)
        .store(16 * i);
    }
  }
  b.get('p').i32(256).op(i32Add).set('p');
  b.get('ps').i32(256).op(i32Add).set('ps');
  b.get('pc').i32(256).op(i32Add).set('pc');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

/**
 * DFT of radix r on locals x0.. into v0..: forward roots exp(-2 pi i / r),
 * or their conjugates (conj), exactly the butterflies of fft.ts.
 */
function butterfly(b: Body, r: number, conj: boolean): void {
  const minusI = !conj;
  if (r === 4) {
    b.get('x0').get('x2').simd(ADD).set('a1');
    b.get('x0').get('x2').simd(SUB).set('b1');
    b.get('x1').get('x3').simd(ADD).set('a2');
    b.get('x1').get('x3').simd(SUB).set('m1');
    mulIPush(b, 'm1', minusI);
    b.set('b2');
    b.get('a1').get('a2').simd(ADD).set('v0');
    b.get('b1').get('b2').simd(ADD).set('v1');
    b.get('a1').get('a2').simd(SUB).set('v2');
    b.get('b1').get('b2').simd(SUB).set('v3');
  } else if (r === 3) {
    b.get('x1').get('x2').simd(ADD).set('a1');
    b.get('x1').get('x2').simd(SUB).set('b1');
    b.get('x0').get('a1').simd(ADD).set('v0');
    b.get('x0').get('a1').splat(0.5).simd(MUL).simd(SUB).set('p1');
    b.get('b1').splat(S3).simd(MUL).set('m1');
    mulIPush(b, 'm1', minusI);
    b.set('m1');
    b.get('p1').get('m1').simd(ADD).set('v1');
    b.get('p1').get('m1').simd(SUB).set('v2');
  } else {
    b.get('x1').get('x4').simd(ADD).set('a1');
    b.get('x1').get('x4').simd(SUB).set('b1');
    b.get('x2').get('x3').simd(ADD).set('a2');
    b.get('x2').get('x3').simd(SUB).set('b2');
    b.get('x0').get('a1').simd(ADD).get('a2').simd(ADD).set('v0');
    lin(b, 'p1', 'a1', C5_1, 'a2', C5_2);
    b.get('p1').get('x0').simd(ADD).set('p1');
    lin(b, 'p2', 'a1', C5_2, 'a2', C5_1);
    b.get('p2').get('x0').simd(ADD).set('p2');
    lin(b, 'm1', 'b1', S5_1, 'b2', S5_2);
    lin(b, 'm2', 'b1', S5_2, 'b2', -S5_1);
    mulIPush(b, 'm1', minusI);
    b.set('m1');
    mulIPush(b, 'm2', minusI);
    b.set('m2');
    b.get('p1').get('m1').simd(ADD).set('v1');
    b.get('p1').get('m1').simd(SUB).set('v4');
    b.get('p2').get('m2').simd(ADD).set('v2');
    b.get('p2').get('m2').simd(SUB).set('v3');
  }
}

const TOP_V128 = [
  'x0',
  'x1',
  'x2',
  'x3',
  'x4',
  'v0',
  'v1',
  'v2',
  'v3',
  'v4',
  'a1',
  'b1',
  'a2',
  'b2',
  'p1',
  'p2',
  'm1',
  'm2',
  't',
  'w',
  'tc',
  'z',
  'u0',
  'u1',
  'u2',
  'u3',
  'u4',
];

/** conj(rho^k) = twc[k >> FINE] twf[k & (2^FINE - 1)]: bits of k in the fine table (README.md, simd.ts). */
export const TWIDDLE_FINE_BITS = 11;

/**
 * Pushes conj(rho^k), rho = exp(i pi / 2N), for the i32 local k: the product of the coarse and the fine table entry
 * (twc and twf, 16 bytes each; rightangle.ts writeConjRho). Uses the locals t and w.
 */
function conjRhoPush(b: Body, k: string): void {
  b.get('twc').get(k).i32(TWIDDLE_FINE_BITS).op(i32ShrU).i32(4).op(i32Shl).op(i32Add).load().set('t');
  b.get('twf')
    .get(k)
    .i32((1 << TWIDDLE_FINE_BITS) - 1)
    .op(i32And)
    .i32(4)
    .op(i32Shl)
    .op(i32Add)
    .load()
    .set('w');
  cmulPush(b, 't', 'w');
}

/** t = rho^j, w = conj(t)^4 (rho^j from the coarse and fine tables: conjRhoPush). */
function topTwiddles(b: Body): void {
  conjRhoPush(b, 'j');
  b.set('w');
  b.get('w').const128(SIGN1).simd(XOR).set('t');
  cmulPush(b, 'w', 'w');
  b.set('w');
  cmulPush(b, 'w', 'w');
  b.set('w');
}

/** for (j = j0; j < j1; j++) inner() */
function jLoop(b: Body, inner: () => void): void {
  b.get('j0').set('j');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('j').get('j1').op(i32LtU, 0x45).op(0x0d, 1);
  inner();
  b.get('j').i32(1).op(i32Add).set('j');
  b.op(0x0c, 0, 0x0b, 0x0b);
}

/**
 * Fused top DIF stage of radix r (rightangle.ts topLoad), for j0 <= j < j1
 * (called in chunks, so that V8 moves it to its optimizing tier early in a
 * long first call instead of after it): input q of
 * butterfly j is lut[q][bit(j + qQ) | bit(j + qQ + N) << 1] (lut: 4 v128 per
 * q), output p is multiplied by t_p = rho^j w^p, w = conj(rho^j)^4.
 */
/**
 * A FULL radix-4 stage's SIMD table (rightangle.ts writeSimdTwiddles) from fft.ts rootTables: for j < q and p = 1, 2,
 * 3, w = coarse[pj >> ROOT_FINE_BITS] fine[pj & (2^ROOT_FINE_BITS - 1)] by cmulPush (re = cr fr - ci fi, im =
 * cr fi + ci fr: the products of rootsOfUnity, the same bits), stored as P = (wr, wr), Q = (-wi, wi), 96 bytes per j.
 * Arguments (coarse, fine, out, q), byte addresses.
 */
function genFullTwiddles(): Body {
  const b = new Body(['coarse', 'fine', 'out', 'q'], ['j', 'k', 'e'], ['c', 'f', 'w']);
  b.get('out').get('q').i32(96).op(i32Mul).op(i32Add).set('e');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('out').get('e').op(i32LtU, 0x45).op(0x0d, 1);
  for (let p = 1; p < 4; p++) {
    b.get('j').i32(p).op(i32Mul).set('k');
    b.get('coarse').get('k').i32(ROOT_FINE_BITS).op(i32ShrU).i32(4).op(i32Shl).op(i32Add).load().set('c');
    b.get('fine')
      .get('k')
      .i32((1 << ROOT_FINE_BITS) - 1)
      .op(i32And)
      .i32(4)
      .op(i32Shl)
      .op(i32Add)
      .load()
      .set('f');
    cmulPush(b, 'c', 'f');
    b.set('w');
    b.get('out')
      .get('w')
      .get('w')
      .shuffle(LANE0)
      .store(32 * (p - 1));
    b.get('out')
      .get('w')
      .get('w')
      .shuffle(LANE1)
      .const128(SIGN0)
      .simd(XOR)
      .store(32 * (p - 1) + 16);
  }
  b.get('out').i32(96).op(i32Add).set('out');
  b.get('j').i32(1).op(i32Add).set('j');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

function genTopLoad(r: number): Body {
  const b = new Body(['bits', 'lut', 'twc', 'twf', 'out', 'q', 'n', 'j0', 'j1'], ['j', 'k', 'c', 'po', 'qb'], TOP_V128);
  b.get('q').i32(4).op(i32Shl).set('qb');
  jLoop(b, () => {
    b.get('j').set('k');
    for (let qi = 0; qi < r; qi++) {
      if (qi > 0) b.get('k').get('q').op(i32Add).set('k');
      // c = bit(k) | bit(k + n) << 1
      b.get('bits')
        .get('k')
        .i32(3)
        .op(i32ShrU)
        .op(i32Add)
        .op(0x2d, 0, 0)
        .get('k')
        .i32(7)
        .op(i32And)
        .op(i32ShrU)
        .i32(1)
        .op(i32And);
      b.get('bits').get('k').get('n').op(i32Add).i32(3).op(i32ShrU).op(i32Add).op(0x2d, 0, 0);
      b.get('k')
        .get('n')
        .op(i32Add)
        .i32(7)
        .op(i32And)
        .op(i32ShrU)
        .i32(1)
        .op(i32And)
        .i32(1)
        .op(i32Shl)
        .op(i32Or)
        .set('c');
      b.get('lut')
        .get('c')
        .i32(4)
        .op(i32Shl)
        .op(i32Add)
        .load(64 * qi)
        .set(`x${qi}`);
    }
    butterfly(b, r, false);
    topTwiddles(b);
    b.get('out').get('j').i32(4).op(i32Shl).op(i32Add).set('po');
    for (let p = 0; p < r; p++) {
      if (p > 0) {
        cmulPush(b, 't', 'w');
        b.set('t');
        b.get('po').get('qb').op(i32Add).set('po');
      }
      b.get('po');
      cmulPush(b, `v${p}`, 't');
      b.store();
    }
  });
  return b;
}

/**
 * One output range p of the fused top DIF stage from precomputed codes (rightangle.ts BitProductSum): only output p of
 * each butterfly, stored at out + 16 j for j0 <= j < j1 (a buffer of Q values, not the whole transform: the outputs of
 * range p are an independent transform below the top stage). More in README.md (simd.ts: genTopLoadCodes).
 */
function genTopLoadCodes(r: number, p: number): Body {
  const b = new Body(
    ['codes', 'tab', 'codesX', 'tabX', 'twc', 'twf', 'out', 'outX', 'j0', 'j1'],
    ['j', 'k'],
    ['v0', 'v1', 't', 'w'],
  );
  const loadCode = (codes: string) => {
    if (r === 5)
      b.get(codes).get('j').i32(1).op(i32Shl).op(i32Add).op(0x2f, 1, 0); // i32.load16_u
    else b.get(codes).get('j').op(i32Add).op(0x2d, 0, 0); // i32.load8_u
  };
  jLoop(b, () => {
    loadCode('codes');
    b.i32(4).op(i32Shl).get('tab').op(i32Add).load().set('v0');
    loadCode('codesX');
    b.i32(4).op(i32Shl).get('tabX').op(i32Add).load().set('v1');
    // t_0 = rho^j = conj(conj(rho^j)); t_p = conj(rho^((4p - 1) j))
    if (p === 0) {
      conjRhoPush(b, 'j');
      b.const128(SIGN1).simd(XOR).set('t');
    } else {
      b.get('j')
        .i32(4 * p - 1)
        .op(i32Mul)
        .set('k');
      conjRhoPush(b, 'k');
      b.set('t');
    }
    b.get('out').get('j').i32(4).op(i32Shl).op(i32Add);
    cmulPush(b, 'v0', 't');
    b.store();
    b.get('outX').get('j').i32(4).op(i32Shl).op(i32Add);
    cmulPush(b, 'v1', 't');
    b.store();
  });
  return b;
}

/**
 * Output range (p, p2) of the top stage and the radix-4 stage below it, straight from the packed codes (rightangle.ts
 * BitProductSum): for j2 < Q/4, sum_m tab[m][codes[j2 + m Q/4]] (tab[m] folds the top output v_p, the top twiddle's
 * constant part conj(rho^((4p - 1) m Q/4)) and the butterfly root (-i)^(p2 m)), times the twiddle of both stages at
 * j2, conj(rho^e), e = (4p - 1 + 4 r p2) j2 (from the coarse and fine tables, conjRhoPush). More in README.md (simd.ts:
 * genTopLoad2).
 */
function genTopLoad2(r: number, p: number, p2: number): Body {
  const b = new Body(
    ['codes', 'tab', 'codesX', 'tabX', 'twc', 'twf', 'out', 'outX', 'q4', 'j0', 'j1'],
    ['j', 'k', 'jm'],
    ['v0', 'v1', 't', 'w'],
  );
  const tabBytes = 16 * 4 ** r;
  const loadCode = (codes: string) => {
    if (r === 5)
      b.get(codes).get('jm').i32(1).op(i32Shl).op(i32Add).op(0x2f, 1, 0); // i32.load16_u
    else b.get(codes).get('jm').op(i32Add).op(0x2d, 0, 0); // i32.load8_u
  };
  jLoop(b, () => {
    for (let m = 0; m < 4; m++) {
      if (m === 0) b.get('j').set('jm');
      else b.get('jm').get('q4').op(i32Add).set('jm');
      for (const [codes, tab, v] of [
        ['codes', 'tab', 'v0'],
        ['codesX', 'tabX', 'v1'],
      ] as const) {
        loadCode(codes);
        b.i32(4)
          .op(i32Shl)
          .get(tab)
          .op(i32Add)
          .load(m * tabBytes);
        if (m > 0) b.get(v).simd(ADD);
        b.set(v);
      }
    }
    const e = 4 * p - 1 + 4 * r * p2;
    // e = -1 (p = p2 = 0): conj(rho^-j) = rho^j = conj(conj(rho^j))
    if (e < 0) {
      conjRhoPush(b, 'j');
      b.const128(SIGN1).simd(XOR).set('t');
    } else {
      b.get('j').i32(e).op(i32Mul).set('k');
      conjRhoPush(b, 'k');
      b.set('t');
    }
    b.get('out').get('j').i32(4).op(i32Shl).op(i32Add);
    cmulPush(b, 'v0', 't');
    b.store();
    b.get('outX').get('j').i32(4).op(i32Shl).op(i32Add);
    cmulPush(b, 'v1', 't');
    b.store();
  });
  return b;
}

/**
 * Packs the codes of genTopLoadCodes for radix r from a padded bit string,
 * 8 butterflies per source byte: codes[j] = sum_q (bit(j + qQ) |
 * bit(j + qQ + N) << 1) << 2q, j < Q, for the source bytes b0 <= b < b1
 * (j = 8b .. 8b + 7). `spread` holds, per byte value v, the `per` words
 * that put bit i of v in the low bit of code lane i (u8 lanes for r <= 4,
 * per = 2; u16 lanes for r = 5, per = 4): rightangle.ts SPREAD8 / SPREAD16.
 */
function genPackCodes(r: number): Body {
  const per = r === 5 ? 4 : 2;
  const srcs = Array.from({ length: 2 * r }, (_, i) => i);
  const b = new Body(
    ['bits', 'codes', 'spread', 'q', 'n', 'b0', 'b1'],
    ['b', 'pw', 'word', ...srcs.map((i) => `s${i}`), ...srcs.map((i) => `v${i}`)],
    [],
  );
  // s_src = bits + ((qi q + lane n) >> 3), src = 2 qi + lane
  for (const src of srcs) {
    b.get('bits')
      .get('q')
      .i32(src >> 1)
      .op(i32Mul);
    if (src & 1) b.get('n').op(i32Add);
    b.i32(3).op(i32ShrU).op(i32Add).set(`s${src}`);
  }
  b.get('b0').set('b');
  b.get('codes')
    .get('b0')
    .i32(4 * per)
    .op(i32Mul)
    .op(i32Add)
    .set('pw');
  b.op(0x02, 0x40, 0x03, 0x40);
  b.get('b').get('b1').op(i32LtU, 0x45).op(0x0d, 1);
  for (const src of srcs) {
    // v_src = spread + 4 per * bits[s_src + b]
    b.get(`s${src}`)
      .get('b')
      .op(i32Add)
      .op(0x2d, 0, 0)
      .i32(4 * per)
      .op(i32Mul)
      .get('spread')
      .op(i32Add)
      .set(`v${src}`);
  }
  for (let k = 0; k < per; k++) {
    for (const src of srcs) {
      b.get(`v${src}`).op(0x28, 2, ...uleb(4 * k)); // i32.load offset 4k
      if (src > 0) b.i32(src).op(i32Shl);
      if (src > 0) b.op(i32Or);
    }
    b.set('word');
    b.get('pw')
      .get('word')
      .op(0x36, 2, ...uleb(4 * k)); // i32.store offset 4k
  }
  b.get('pw')
    .i32(4 * per)
    .op(i32Add)
    .set('pw');
  b.get('b').i32(1).op(i32Add).set('b');
  b.op(0x0c, 0, 0x0b, 0x0b);
  return b;
}

/**
 * Rounds lane `lane` of z as coefficient k (+ n when hi) into the output bits; tracks the largest rounding distance.
 */
function emitCoefficient(b: Body, lane: number, hi: boolean): void {
  b.get('k');
  if (hi) b.get('n').op(i32Add);
  b.get('first').op(i32Sub).set('i');
  b.get('i').get('count').op(i32LtU).op(0x04, 0x40); // if wanted
  b.get('z').simd(0x21).op(lane).set('val');
  b.get('val').op(0x9e).set('rnd'); // f64.nearest
  // e = |val - rnd|; maxErr = e > maxErr ? e : maxErr (select: f64.max is slow in V8), NaN noted apart
  b.get('val').get('rnd').op(0xa1, 0x99).set('e');
  b.get('e').get('maxErr').get('e').get('maxErr').op(0x64, 0x1b).set('maxErr'); // f64.gt, select
  b.get('nan').get('e').get('e').op(0x62, i32Or).set('nan'); // f64.ne: e != e only for NaN
  // out[i >> 3] |= (rnd & 1) << (i & 7), branch-free (i32.trunc_sat_f64_s)
  b.get('out').get('i').i32(3).op(i32ShrU).op(i32Add).set('pb');
  b.get('pb');
  b.get('pb').op(0x2d, 0, 0);
  // store8
  b.get('rnd').op(0xfc, 0x02).i32(1).op(i32And).get('i').i32(7).op(i32And).op(i32Shl).op(i32Or).op(0x3a, 0, 0);
  b.op(0x0b);
}

/**
 * Fused top DIT stage of radix r (rightangle.ts topExtract), for j0 <= j < j1 (in chunks, as topLoad): input p is
 * multiplied by conj(t_p), the conjugate butterfly runs, output q times uw[q] = conj(C_q) holds coefficient j + qQ
 * (lane 0) and j + qQ + N (lane 1); those in [first, first + count) are rounded into bit k - first of `out`. More in
 * README.md (simd.ts: genTopExtract).
 */
function genTopExtract(r: number): Body {
  const b = new Body(
    ['a', 'twc', 'twf', 'uw', 'out', 'q', 'n', 'first', 'count', 'mask', 'j0', 'j1'],
    ['j', 'k', 'i', 'pa', 'qb', 'nan', 'pb'],
    TOP_V128,
    ['maxErr', 'val', 'rnd', 'e'],
    'f64',
  );
  b.get('q').i32(4).op(i32Shl).set('qb');
  for (let qi = 0; qi < r; qi++)
    b.get('uw')
      .load(16 * qi)
      .set(`u${qi}`);
  b.f64(0).set('maxErr');
  jLoop(b, () => {
    topTwiddles(b);
    b.get('a').get('j').i32(4).op(i32Shl).op(i32Add).set('pa');
    for (let p = 0; p < r; p++) {
      if (p > 0) {
        cmulPush(b, 't', 'w');
        b.set('t');
        b.get('pa').get('qb').op(i32Add).set('pa');
      }
      b.get('t').const128(SIGN1).simd(XOR).set('tc');
      b.get('pa').load().set(`x${p}`);
      cmulPush(b, `x${p}`, 'tc');
      b.set(`x${p}`);
    }
    butterfly(b, r, true);
    b.get('j').set('k');
    for (let qi = 0; qi < r; qi++) {
      if (qi > 0) b.get('k').get('q').op(i32Add).set('k');
      // only the (q, lane) streams that `mask` marks can hold wanted coefficients
      b.get('mask')
        .i32(3 << (2 * qi))
        .op(i32And)
        .op(0x04, 0x40);
      cmulPush(b, `v${qi}`, `u${qi}`);
      b.set('z');
      b.get('mask')
        .i32(1 << (2 * qi))
        .op(i32And)
        .op(0x04, 0x40);
      emitCoefficient(b, 0, false);
      b.op(0x0b);
      b.get('mask')
        .i32(2 << (2 * qi))
        .op(i32And)
        .op(0x04, 0x40);
      emitCoefficient(b, 1, true);
      b.op(0x0b, 0x0b);
    }
  });
  // a NaN anywhere makes the result NaN, which fails every tolerance check
  b.f64(NaN).get('maxErr').get('nan').op(0x1b);
  return b;
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function str(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function assemble(): Uint8Array {
  const funcs: Array<[string, Body]> = [
    ['dif4_0', genDif4(TwiddleMode.NONE, true)],
    ['dif4_1', genDif4(TwiddleMode.FULL, false)],
    ['dif4_2', genDif4(TwiddleMode.COMPACT, false)],
    ['dit4_0', genDit4(TwiddleMode.NONE, true)],
    ['dit4_1', genDit4(TwiddleMode.FULL, false)],
    ['dit4_2', genDit4(TwiddleMode.COMPACT, false)],
    ['r2', genR2()],
    ['mul', genMul()],
    ['load3', genTopLoad(3)],
    ['load4', genTopLoad(4)],
    ['load5', genTopLoad(5)],
    ['extract3', genTopExtract(3)],
    ['extract4', genTopExtract(4)],
    ['extract5', genTopExtract(5)],
    ['mac', genMac(false)],
    ['dif4mac', genDif4Mac(false)],
    ['dif16', genDif16(false)],
    ...[3, 4, 5].flatMap((r) =>
      Array.from({ length: 4 * r }, (_, i): [string, Body] => [`load2_${r}_${i}`, genTopLoad2(r, i >> 2, i & 3)]),
    ),
    ['dif16mac', genDif16('add')],
    ['pack3', genPackCodes(3)],
    ['pack4', genPackCodes(4)],
    ['pack5', genPackCodes(5)],
    ...[3, 4, 5].flatMap((r) =>
      Array.from({ length: r }, (_, p): [string, Body] => [`loadc${r}_${p}`, genTopLoadCodes(r, p)]),
    ),
    ['macset', genMac(true)],
    ['dif4macset', genDif4Mac(true)],
    ['dif16macset', genDif16('set')],
    ['fulltw', genFullTwiddles()],
  ];
  const sigs: string[] = [];
  const typeOf = funcs.map(([, b]) => {
    const sig = b.signature().join(',');
    if (!sigs.includes(sig)) sigs.push(sig);
    return sigs.indexOf(sig);
  });
  const typeSec = section(1, [...uleb(sigs.length), ...sigs.flatMap((sig) => sig.split(',').map(Number))]);
  // the memory is imported shared (limits flag 3: shared, with a maximum): one sum's memory serves both threads
  // (rightangle.ts BitProductSum, sum-ranges.ts)
  const importSec = section(2, [1, ...str('env'), ...str('mem'), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]);
  const funcSec = section(3, [...uleb(funcs.length), ...typeOf.flatMap((t) => uleb(t))]);
  const exportSec = section(7, [
    ...uleb(funcs.length),
    ...funcs.flatMap(([name], k) => [...str(name), 0x00, ...uleb(k)]),
  ]);
  const codeSec = section(10, [...uleb(funcs.length), ...funcs.flatMap(([, b]) => b.encode())]);
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...typeSec,
    ...importSec,
    ...funcSec,
    ...exportSec,
    ...codeSec,
  ]);
}

export interface SimdKernels {
  /** Radix-4 stages indexed by TwiddleMode: 0 none (last stage), 1 FULL, 2 COMPACT. */
  dif4: Array<(a: number, start: number, end: number, size: number, tw: number) => void>;
  dit4: SimdKernels['dif4'];
  r2: (a: number, start: number, end: number) => void;
  mul: (a: number, s: number, count: number) => void;
  /** acc[k] += a[k] s[k] over count complex values. */
  mac: (a: number, s: number, acc: number, count: number) => void;
  /** The last (twiddle-free) radix-4 DIF stage of a, fused with acc += a s (genDif4Mac); count a multiple of 4. */
  dif4mac: (a: number, s: number, acc: number, count: number) => void;
  /**
   * The last two radix-4 DIF stages (sizes 16 and 4) in one pass, in place (dif16; s, acc unused)
   * or fused with acc += a s (dif16mac); count a multiple of 16.
   */
  dif16: (a: number, s: number, acc: number, count: number) => void;
  /** By radix 3, 4, 5, then 4 p + p2: output range (p, p2) of the top two stages from packed codes (genTopLoad2). */
  load2: Record<
    number,
    Array<
      (
        codes: number,
        tab: number,
        codesX: number,
        tabX: number,
        twc: number,
        twf: number,
        out: number,
        outX: number,
        q4: number,
        j0: number,
        j1: number,
      ) => void
    >
  >;
  dif16mac: (a: number, s: number, acc: number, count: number) => void;
  /** mac, dif4mac and dif16mac storing the product (acc = a s) instead of adding it: a sum's first chunk. */
  macSet: SimdKernels['mac'];
  dif4macSet: SimdKernels['mac'];
  dif16macSet: SimdKernels['mac'];
  /** A FULL stage's SIMD twiddle table from rootTables' coarse and fine values (genFullTwiddles), q = S / 4. */
  fullTwiddles: (coarse: number, fine: number, out: number, q: number) => void;
  /** By radix 3, 4, 5: the packed codes of genTopLoadCodes for source bytes [b0, b1) (genPackCodes). */
  pack: Record<
    number,
    (bits: number, codes: number, spread: number, q: number, n: number, b0: number, b1: number) => void
  >;
  /**
   * By radix 3, 4, 5, then output range p: one range of the fused top stage from packed codes and a table of outputs
   * (genTopLoadCodes).
   */
  loadCodes: Record<
    number,
    Array<
      (
        codes: number,
        tab: number,
        codesX: number,
        tabX: number,
        twc: number,
        twf: number,
        out: number,
        outX: number,
        j0: number,
        j1: number,
      ) => void
    >
  >;
  /** By radix 3, 4, 5: fused top stages (see genTopLoad / genTopExtract). */
  load: Record<
    number,
    (
      bits: number,
      lut: number,
      twc: number,
      twf: number,
      out: number,
      q: number,
      n: number,
      j0: number,
      j1: number,
    ) => void
  >;
  extract: Record<
    number,
    (
      a: number,
      twc: number,
      twf: number,
      uw: number,
      out: number,
      q: number,
      n: number,
      first: number,
      count: number,
      mask: number,
      j0: number,
      j1: number,
    ) => number
  >;
}

/**
 * The part of the WebAssembly JS API used here, typed locally: the project's
 * TypeScript lib (ES2022 + @types/node 20) does not declare it.
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

/**
 * The compiled module (compiled once per thread), or null where WebAssembly SIMD is unavailable. Its bytes are
 * assemble()'s, kept in simd-bytes.ts: assembling them costs each thread that hashes about 50 to 400 ms and
 * about 12 MB of heap it may keep (test/extract/simd.test.ts checks the two are the same bytes).
 */
export function simdModule(): object | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(SIMD_MODULE_BASE64.replace(/\s+/g, ''), 'base64');
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/**
 * A shared WebAssembly memory of at least `bytes` bytes (64 KiB pages, never grown: its maximum is its size). Shared
 * because the module imports it so (assemble): a BitProductSum's memory may be posted to another thread, whose own
 * instance of the kernels then works in it (sum-ranges.ts); every other memory is used by its own thread only.
 */
export function createMemory(bytes: number): WasmMemory {
  if (wasm === undefined) throw new Error('WebAssembly is unavailable');
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  if (pages > MAX_PAGES) throw new RangeError(`a WebAssembly memory of ${bytes} bytes is above the kernels' maximum`);
  return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
}

/** One exported kernel: byte addresses and counts in, a number out. */
type Kernel = (...args: number[]) => number;

/**
 * Kernels bound to `memory`, or null where WebAssembly SIMD is unavailable. `module`: the compiled module, when another
 * thread posted its own (sum-ranges.ts SumShare); else this thread's (simdModule).
 */
export function instantiateKernels(memory: WasmMemory, module: object | null = simdModule()): SimdKernels | null {
  const mod = module;
  if (mod === null || wasm === undefined) return null;
  const exports = new wasm.Instance(mod, { env: { mem: memory } }).exports as Record<string, Kernel | undefined>;
  // Every name below is emitted by assemble(); a missing one is a bug in this module, not bad input.
  const e = (name: string): Kernel => {
    const f = exports[name];
    if (f === undefined) throw new Error(`simd: the module has no export ${name}`);
    return f;
  };
  return {
    dif4: [e('dif4_0'), e('dif4_1'), e('dif4_2')],
    dit4: [e('dit4_0'), e('dit4_1'), e('dit4_2')],
    r2: e('r2'),
    mul: e('mul'),
    load: { 3: e('load3'), 4: e('load4'), 5: e('load5') },
    extract: { 3: e('extract3'), 4: e('extract4'), 5: e('extract5') },
    mac: e('mac'),
    dif4mac: e('dif4mac'),
    dif16: e('dif16'),
    load2: Object.fromEntries([3, 4, 5].map((r) => [r, Array.from({ length: 4 * r }, (_, i) => e(`load2_${r}_${i}`))])),
    dif16mac: e('dif16mac'),
    macSet: e('macset'),
    dif4macSet: e('dif4macset'),
    dif16macSet: e('dif16macset'),
    fullTwiddles: e('fulltw'),
    pack: { 3: e('pack3'), 4: e('pack4'), 5: e('pack5') },
    loadCodes: Object.fromEntries([3, 4, 5].map((r) => [r, Array.from({ length: r }, (_, p) => e(`loadc${r}_${p}`))])),
  };
}

/** For tests (and to regenerate simd-bytes.ts): the module bytes, assembled. */
export const simdModuleBytes = assemble;
