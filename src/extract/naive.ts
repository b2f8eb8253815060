/**
 * Reference Toeplitz product over GF(2): bit by bit, obviously correct, slow
 * (O(n * m)). The fast product in toeplitz.ts is tested against it.
 *
 * Convention (shared by every extractor function of this folder):
 *
 *   input  x: n bits            x_j, j = 0 .. n-1
 *   seed   s: n + m - 1 bits    s_t, t = 0 .. n+m-2
 *   output y: m bits            y_i, i = 0 .. m-1
 *
 *   T[i][j] = s[i - j + n - 1]          (constant along diagonals: Toeplitz)
 *   y_i     = XOR_j ( T[i][j] AND x_j )
 *
 * so y_i is coefficient i + n - 1 of the GF(2)[z] product x(z) * s(z)
 * (the "middle product").
 *
 * Bits are packed LSB-first: bit k of a string is (buf[k >> 3] >> (k & 7)) & 1.
 * Output bits past m in the last byte are zero.
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
