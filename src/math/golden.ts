/**
 * Golden-section search for the minimum of a unimodal function on [lo, hi]
 * (Kiefer 1953): each step keeps the bracket around the smaller of two
 * interior points, shrinking it by 1/phi = 0.618; one new evaluation per step.
 */
export function goldenSectionMin(
  f: (x: number) => number,
  lo: number,
  hi: number,
  iterations: number,
): { x: number; value: number } {
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let x1 = b - phi * (b - a);
  let x2 = a + phi * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < iterations; i++) {
    if (f1 < f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - phi * (b - a);
      f1 = f(x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + phi * (b - a);
      f2 = f(x2);
    }
  }
  return f1 < f2 ? { x: x1, value: f1 } : { x: x2, value: f2 };
}
