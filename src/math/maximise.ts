/**
 * Golden-section search over the integers (Kiefer 1953): the maximiser of a
 * unimodal f on [lo, hi]. The interval shrinks by 1/phi per step until it is
 * at most `scanWidth` wide (or the two probes round to the same integer),
 * then every integer left is evaluated, so the result is exact for a
 * unimodal f and f is evaluated O(log(hi - lo) + scanWidth) times.
 */
export function maximiseInteger(f: (v: number) => number, lo: number, hi: number, scanWidth = 3): number {
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = Math.ceil(lo);
  let b = Math.floor(hi);
  while (b - a > scanWidth) {
    const c = Math.round(b - phi * (b - a));
    const d = Math.round(a + phi * (b - a));
    if (c >= d) break;
    if (f(c) >= f(d)) b = d;
    else a = c;
  }
  let best = a;
  let bestV = f(a);
  for (let v = a + 1; v <= b; v++) {
    const fv = f(v);
    if (fv > bestV) {
      best = v;
      bestV = fv;
    }
  }
  return best;
}
