/**
 * Analyzer angles: the device takes centidegrees 0..17999 (PROTOCOL 5
 * SET_ANGLES, MEASURE_COUNTS); a polarization analyzer at theta and at
 * theta + 180 degrees is the same analyzer, so every angle wraps modulo
 * 180 degrees.
 */

export const HALF_TURN_CENTIDEG = 18000;

/** Degrees (any real) to wire centidegrees, wrapped into 0..17999 (PROTOCOL 5 SET_ANGLES: each 0..17999). */
export function toCentidegrees(deg: number): number {
  const c = Math.round(deg * 100) % HALF_TURN_CENTIDEG;
  return c < 0 ? c + HALF_TURN_CENTIDEG : c;
}

/** Wraps degrees into (-90, 90], the principal range of a rotation of a polarization analyzer. */
export function wrapHalfTurnDeg(deg: number): number {
  let d = deg % 180;
  if (d <= -90) d += 180;
  if (d > 90) d -= 180;
  return d;
}

/**
 * The factory CHSH angles (PROTOCOL 7): A = (0, 45), B = (22.5, 157.5)
 * degrees maximise S = E00 + E01 + E10 - E11 when rot = 0.
 */
export const FACTORY_CHSH_DEG = [0, 45, 22.5, 157.5] as const;

/**
 * CHSH angles compensating a rotation rot between the stations: the fringe
 * 1 + V cos 2(alpha - beta + rot) (PROTOCOL 7) depends on alpha - beta + rot,
 * so turning B's analyzers by +rot restores every alpha - beta of the rot = 0
 * optimum. Returns [A(x=0), A(x=1), B(y=0), B(y=1)] in degrees (unwrapped).
 */
export function chshAnglesDeg(
  rotDeg: number,
  base: readonly number[] = FACTORY_CHSH_DEG,
): [number, number, number, number] {
  return [base[0]!, base[1]!, base[2]! + rotDeg, base[3]! + rotDeg];
}

export function chshAnglesCentideg(
  rotDeg: number,
  base: readonly number[] = FACTORY_CHSH_DEG,
): [number, number, number, number] {
  return chshAnglesDeg(rotDeg, base).map(toCentidegrees) as [number, number, number, number];
}
