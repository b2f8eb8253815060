/**
 * 32-bit word views of byte arrays, for a hot path that reads four bytes at once (the accountant's TRIALS
 * records, src/certify/accounting.ts). An Int32Array reads aligned words only: bytes[i] starts word
 * (bytes.byteOffset + i) / 4 of the memory when that is a whole number. Testing the same bits of each byte does
 * not depend on the host's byte order; taking a word apart into bytes does. The view and the byte offset of the
 * last array asked about are kept: reading a typed array's byteOffset or buffer costs about 20 ns in Node 20.
 */

let lastBytes: Uint8Array | null = null;
let lastWords: Int32Array = new Int32Array(0);
let lastByteOffset = 0;

function remember(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  lastWords = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4)); // 4 GiB has 2^30 words: no 32-bit shift
  lastByteOffset = bytes.byteOffset;
  lastBytes = bytes;
}

/**
 * The index in wordsOf(bytes) of the first of `count` words holding bytes[i, i + 4 * count), or -1 when bytes[i]
 * does not start a word or the view does not reach that far (a memory grown since): then read the bytes one by one.
 */
export function wordIndex(bytes: Uint8Array, i: number, count: number): number {
  if (bytes !== lastBytes) remember(bytes);
  const at = lastByteOffset + i;
  // >>> 2: a typed array's byte index is below 2^32 (Node's largest buffer is 4 GiB).
  return (at & 3) === 0 && (at >>> 2) + count <= lastWords.length ? at >>> 2 : -1;
}

/** The memory under `bytes` as words (index them with wordIndex). */
export function wordsOf(bytes: Uint8Array): Int32Array {
  if (bytes !== lastBytes) remember(bytes);
  return lastWords;
}
