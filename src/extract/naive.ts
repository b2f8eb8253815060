/**
 * Reference Toeplitz product over GF(2): bit by bit, obviously correct, slow (O(n * m)). The fast product in
 * toeplitz.ts is tested against it. More in README.md (naive.ts).
 */

/** Bit k of an LSB-first packed bit string. */
export function getBit(buf: Uint8Array, k: number): number {
  return (buf[k >> 3]! >> (k & 7)) & 1;
}

/** Number of bytes that hold `bits` packed bits. */
export function bytesForBits(bits: number): number {
  return (bits + 7) >>> 3;
}

/** y = T x over GF(2) with T[i][j] = seed[i - j + n - 1], bit by bit. */
export function toeplitzHashNaive(input: Uint8Array, n: number, m: number, seed: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytesForBits(m));
  for (let i = 0; i < m; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) acc ^= getBit(seed, i - j + n - 1) & getBit(input, j);
    out[i >> 3]! |= acc << (i & 7);
  }
  return out;
}
