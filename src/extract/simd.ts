/**
 * WebAssembly SIMD kernels for the radix-4 and radix-2 FFT stages and the
 * pointwise spectrum product, assembled here byte by byte (no toolchain, no
 * npm package): one complex double per v128 (re in lane 0, im in lane 1).
 *
 * A twiddle w = wr + i wi is stored as two vectors P = (wr, wr) and
 * Q = (-wi, wi), so that
 *   v * w       = v P + swap(v) Q
 *   v * conj(w) = v P - swap(v) Q          (swap(v) = (v.im, v.re)).
 * Tables per stage (`TwiddleMode`): FULL stores P1 Q1 P2 Q2 P3 Q3 for w^j,
 * w^2j, w^3j (96 bytes per j); COMPACT stores P1 Q1 only (32 bytes per j) and
 * forms w^2j, w^3j by complex products, for the large memory-bound stages.
 *
 * Exports, all addresses in bytes, ranges in complex elements:
 *   dif4_{0,1,2}(a, start, end, size, tw)   radix-4 DIF stage (0: no twiddles)
 *   dit4_{0,1,2}(a, start, end, size, tw)   its conjugate transpose
 *   r2(a, start, end)                       twiddle-free radix-2 butterflies
 *   mul(a, s, count)                        a[k] *= s[k], complex
 * They compute exactly what dif4 / dit4 / dif2Last in fft.ts compute.
 */

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

const I32 = 0x7f;
const V128 = 0x7b;

/** A function body under construction: i32 and v128 locals by name. */
class Body {
  readonly code: number[] = [];
  private readonly names = new Map<string, number>();
  private readonly i32Locals: string[] = [];
  private readonly v128Locals: string[] = [];
  constructor(private readonly params: string[], i32: string[], v128: string[]) {
    params.forEach((p, k) => this.names.set(p, k));
    i32.forEach((p) => this.names.set(p, this.names.size));
    v128.forEach((p) => this.names.set(p, this.names.size));
    this.i32Locals = i32;
    this.v128Locals = v128;
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
  encode(): number[] {
    const decl: number[] = [];
    const groups: Array<[number, number]> = [];
    if (this.i32Locals.length) groups.push([this.i32Locals.length, I32]);
    if (this.v128Locals.length) groups.push([this.v128Locals.length, V128]);
    decl.push(...uleb(groups.length));
    for (const [count, type] of groups) decl.push(...uleb(count), type);
    const body = [...decl, ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
  get paramCount(): number {
    return this.params.length;
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
/** (a.lane0, b.lane1) */
const A0B1 = [0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31];
const SIGN0 = [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
const SIGN1 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80];

const i32Add = 0x6a, i32Mul = 0x6c, i32Shl = 0x74, i32ShrU = 0x76, i32LtU = 0x49;

/** dst = v * w (sign +1) or v * conj(w) (sign -1) with w given as P, Q locals. */
function twiddle(b: Body, dst: string, v: string, P: string, Q: string, conj: boolean): void {
  b.get(v).get(P).simd(MUL);
  b.get(v).get(v).shuffle(SWAP).get(Q).simd(MUL);
  b.simd(conj ? SUB : ADD).set(dst);
}

/** From P1, Q1 (w) form Pk, Qk for w^2 and w^3. */
function powers(b: Body): void {
  // c1 = (wr, wi)
  b.get('P1').get('Q1').shuffle(A0B1).set('c');
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

/** Loop skeleton over groups g in [start, end) step size and j < size/4; `inner` emits the butterfly at byte address p0. */
function groupLoops(b: Body, tableBytes: number, inner: () => void): void {
  // q = size >> 2, qb = q << 4
  b.get('size').i32(2).op(i32ShrU).set('q');
  b.get('q').i32(4).op(i32Shl).set('qb');
  b.get('start').set('g');
  b.op(0x02, 0x40); // block
  b.op(0x03, 0x40); // loop g
  b.get('g').get('end').op(i32LtU, 0x45).op(0x0d, 1); // br_if out when !(g < end)
  b.i32(0).set('j');
  b.op(0x03, 0x40); // loop j
  b.get('a').get('g').get('j').op(i32Add).i32(4).op(i32Shl).op(i32Add).set('p0');
  if (tableBytes) b.get('tw').get('j').i32(tableBytes).op(i32Mul).op(i32Add).set('twp');
  inner();
  b.get('j').i32(1).op(i32Add).set('j');
  b.get('j').get('q').op(i32LtU).op(0x0d, 0); // br_if loop j
  b.op(0x0b); // end loop j
  b.get('g').get('size').op(i32Add).set('g');
  b.op(0x0c, 0); // br loop g
  b.op(0x0b); // end loop g
  b.op(0x0b); // end block
}

function loadTwiddles(b: Body, mode: TwiddleMode): void {
  if (mode === TwiddleMode.NONE) return;
  const names = mode === TwiddleMode.FULL ? ['P1', 'Q1', 'P2', 'Q2', 'P3', 'Q3'] : ['P1', 'Q1'];
  names.forEach((nm, k) => b.get('twp').load(16 * k).set(nm));
  if (mode === TwiddleMode.COMPACT) powers(b);
}

/** address of element p of the butterfly: p0 + p * qb */
function addr(b: Body, p: number): void {
  b.get('p0');
  for (let k = 0; k < p; k++) b.get('qb').op(i32Add);
}

function genDif4(mode: TwiddleMode): Body {
  const b = new Body(['a', 'start', 'end', 'size', 'tw'], ['g', 'j', 'q', 'qb', 'p0', 'twp'], V4);
  groupLoops(b, mode === TwiddleMode.FULL ? 96 : mode === TwiddleMode.COMPACT ? 32 : 0, () => {
    loadTwiddles(b, mode);
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
  });
  return b;
}

function genDit4(mode: TwiddleMode): Body {
  const b = new Body(['a', 'start', 'end', 'size', 'tw'], ['g', 'j', 'q', 'qb', 'p0', 'twp'], V4);
  groupLoops(b, mode === TwiddleMode.FULL ? 96 : mode === TwiddleMode.COMPACT ? 32 : 0, () => {
    loadTwiddles(b, mode);
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
  });
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

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function str(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function assemble(): Uint8Array {
  const funcs: Array<[string, Body]> = [
    ['dif4_0', genDif4(TwiddleMode.NONE)],
    ['dif4_1', genDif4(TwiddleMode.FULL)],
    ['dif4_2', genDif4(TwiddleMode.COMPACT)],
    ['dit4_0', genDit4(TwiddleMode.NONE)],
    ['dit4_1', genDit4(TwiddleMode.FULL)],
    ['dit4_2', genDit4(TwiddleMode.COMPACT)],
    ['r2', genR2()],
    ['mul', genMul()],
  ];
  // types: 0 = (i32 x5) -> (), 1 = (i32 x3) -> ()
  const types = [0x60, 5, I32, I32, I32, I32, I32, 0, 0x60, 3, I32, I32, I32, 0];
  const typeSec = section(1, [2, ...types]);
  const importSec = section(2, [1, ...str('env'), ...str('mem'), 0x02, 0x00, ...uleb(1)]);
  const funcSec = section(3, [...uleb(funcs.length), ...funcs.map(([, b]) => (b.paramCount === 5 ? 0 : 1))]);
  const exportSec = section(7, [...uleb(funcs.length), ...funcs.flatMap(([name], k) => [...str(name), 0x00, ...uleb(k)])]);
  const codeSec = section(10, [...uleb(funcs.length), ...funcs.flatMap(([, b]) => b.encode())]);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...typeSec, ...importSec, ...funcSec, ...exportSec, ...codeSec]);
}

export interface SimdKernels {
  dif4: [(a: number, start: number, end: number, size: number, tw: number) => void, (a: number, start: number, end: number, size: number, tw: number) => void, (a: number, start: number, end: number, size: number, tw: number) => void];
  dit4: SimdKernels['dif4'];
  r2: (a: number, start: number, end: number) => void;
  mul: (a: number, s: number, count: number) => void;
}

/**
 * The part of the WebAssembly JS API used here, typed locally: the project's
 * TypeScript lib (ES2022 + @types/node 20) does not declare it.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
export function simdModule(): object | null {
  if (compiled === undefined) {
    const bytes = assemble();
    compiled = wasm !== undefined && wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** A WebAssembly memory of at least `bytes` bytes (64 KiB pages). */
export function createMemory(bytes: number): WasmMemory {
  if (wasm === undefined) throw new Error('WebAssembly is unavailable');
  return new wasm.Memory({ initial: Math.ceil(bytes / 65536) });
}

/** Kernels bound to `memory`, or null where WebAssembly SIMD is unavailable. */
export function instantiateKernels(memory: WasmMemory): SimdKernels | null {
  const mod = simdModule();
  if (mod === null || wasm === undefined) return null;
  const e = new wasm.Instance(mod, { env: { mem: memory } }).exports as Record<string, (...args: number[]) => void>;
  return {
    dif4: [e.dif4_0, e.dif4_1, e.dif4_2],
    dit4: [e.dit4_0, e.dit4_1, e.dit4_2],
    r2: e.r2,
    mul: e.mul,
  };
}

/** For tests: the module bytes. */
export const simdModuleBytes = assemble;
