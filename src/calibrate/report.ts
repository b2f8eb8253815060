/**
 * The calibration report: one self-contained HTML page (inline CSS and SVG,
 * no scripts, no external resources) drawn from a profile alone, so a saved
 * profile can be re-rendered later. Plots: dark curves, efficiency (bias)
 * curves, Rabi curve, delay scan, fringes, S before/after.
 */
import { DETECTORS } from './click-model.ts';
import { darkClickProbability, darkRateAtBias, efficiencyAtBias, gateFraction, rabiBrightness } from './models.ts';
import { fringeCorrelator } from './steps/fringes.ts';
import { DARK_REF_BIAS_MV } from './steps/dark.ts';
import { STEP_ORDER, STEP_TITLES } from './plan.ts';
import type { CalibrationProfile, ProfileSettings } from './profile.ts';
import { CHSH_BOUNDS, PALETTE, escapeXml, renderPlot, sampleCurve, type Series } from '../plot/svg.ts';

const RAD = Math.PI / 180;

function pm(e: { value: number; error: number }, digits = 2, unit = ''): string {
  return `${e.value.toFixed(digits)} &plusmn; ${e.error.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

function darkPlot(p: CalibrationProfile): string {
  const d = p.steps.dark;
  const series: Series[] = [];
  const us = d.points.map((q) => q.biasMv);
  const lo = Math.min(...us);
  const hi = Math.max(...us);
  DETECTORS.forEach((name, i) => {
    series.push({
      name: `${name} measured`,
      kind: 'points',
      color: PALETTE[i]!,
      points: d.points
        .filter((q) => q.clicks[i]! > 0)
        .map((q) => {
          const rate = -Math.log1p(-q.clicks[i]! / q.trials) / (d.windowPs * 1e-12);
          return { x: q.biasMv, y: rate, err: rate / Math.sqrt(q.clicks[i]!) };
        }),
    });
    const c = d.curves[i]!;
    series.push({
      name: `${name} fit, U_d ${c.slopeMv.value.toFixed(0)} mV`,
      kind: 'line',
      color: PALETTE[i]!,
      points: sampleCurve((u) => darkRateAtBias(u, c.refRatePerS.value, DARK_REF_BIAS_MV, c.slopeMv.value), lo, hi),
    });
  });
  return renderPlot({
    title: 'Dark counts (pump off)',
    xLabel: 'bias U (mV)',
    yLabel: 'dark rate (counts/s)',
    series,
    logY: true,
  });
}

function biasPlot(p: CalibrationProfile): string {
  const b = p.steps.bias;
  const series: Series[] = [];
  const us = b.points.map((q) => q.biasMv);
  const lo = Math.min(...us, 24000);
  const hi = Math.max(...us, ...p.settings.biasMv);
  DETECTORS.forEach((name, i) => {
    series.push({
      name: `${name} Klyshko`,
      kind: 'points',
      color: PALETTE[i]!,
      points: b.samples[i]!.map((s) => ({ x: s.biasMv, y: s.eta, err: s.error })),
    });
    const c = b.curves[i]!;
    series.push({
      name: `${name} fit: eta_max ${c.etaMax.value.toFixed(3)}, U_bd ${c.breakdownMv.value.toFixed(0)} mV`,
      kind: 'line',
      color: PALETTE[i]!,
      points: sampleCurve((u) => efficiencyAtBias(u, c.etaMax.value, c.breakdownMv.value, c.slopeMv.value), lo, hi),
    });
  });
  const markers = p.settings.biasMv.map((u, i) => ({ x: u, label: `${DETECTORS[i]}`, color: PALETTE[i] }));
  return renderPlot({
    title: 'Detector efficiency vs bias (chosen biases dashed)',
    xLabel: 'bias U (mV)',
    yLabel: 'efficiency eta',
    series,
    markers,
    yMin: 0,
    height: 380,
  });
}

function operatingPointPlots(p: CalibrationProfile): string {
  const op = p.steps.operatingPoint;
  // Zoom on the top of the curves, where the choice is made.
  const top = Math.max(...op.biasScan.flat().map((q) => q.s), ...op.windowScan.map((q) => q.s));
  const yMin = top - 0.12;
  const yMax = top + 0.01;
  const biasSvg = renderPlot({
    title: 'Model S vs each bias (others as chosen)',
    xLabel: 'bias U (mV)',
    yLabel: 'predicted S',
    series: op.biasScan.map((scan, i) => ({
      name: DETECTORS[i]!,
      kind: 'line' as const,
      color: PALETTE[i]!,
      points: scan.map((q) => ({ x: q.x, y: q.s })),
    })),
    markers: p.settings.biasMv.map((u, i) => ({ x: u, label: DETECTORS[i]!, color: PALETTE[i]! })),
    yMin,
    yMax,
  });
  const windowSvg = renderPlot({
    title: 'Model S vs window (jitter vs dark counts)',
    xLabel: 'window w (ps)',
    yLabel: 'predicted S',
    series: [
      { name: 'model', kind: 'line', color: PALETTE[0]!, points: op.windowScan.map((q) => ({ x: q.x, y: q.s })) },
    ],
    markers: [{ x: p.settings.windowPs, label: 'chosen' }],
    yMin,
    yMax,
    width: 460,
  });
  return biasSvg + windowSvg;
}

function rabiPlot(p: CalibrationProfile): string {
  const r = p.steps.pump;
  const pts = r.points.map((q) => ({
    x: q.pumpMicrowatts,
    y: q.singlesA / q.trials,
    err: Math.sqrt(Math.max(q.singlesA, 1)) / q.trials,
  }));
  const lo = Math.min(...pts.map((q) => q.x));
  const hi = Math.max(...pts.map((q) => q.x));
  return renderPlot({
    title: 'Rabi curve: singles of A vs pump power',
    xLabel: 'pump P (uW)',
    yLabel: 'A0 + A1 clicks per trial',
    series: [
      { name: 'measured', kind: 'points', color: PALETTE[0]!, points: pts },
      {
        name: `fit: P_pi ${r.piPulseMicrowatts.value.toFixed(1)} uW`,
        kind: 'line',
        color: PALETTE[1]!,
        points: sampleCurve(
          (x) => rabiBrightness(x, r.amplitude.value, r.piPulseMicrowatts.value) + r.background.value,
          lo,
          hi,
        ),
      },
    ],
    markers: [{ x: p.settings.pumpMicrowatts, label: 'P_pi' }],
    yMin: 0,
  });
}

function delayPlots(p: CalibrationProfile): string {
  const d = p.steps.delay;
  const f = d.fit;
  const fine = d.fine.map((q) => ({
    x: q.delayPs,
    y: q.coincidences / q.trials,
    err: Math.sqrt(Math.max(q.coincidences, 1)) / q.trials,
  }));
  const lo = Math.min(...fine.map((q) => q.x));
  const hi = Math.max(...fine.map((q) => q.x));
  const fineSvg = renderPlot({
    title: `Delay scan, ${d.fineWindowPs} ps window`,
    xLabel: 'gate delay d (ps)',
    yLabel: 'coincidences per trial',
    series: [
      { name: 'measured', kind: 'points', color: PALETTE[0]!, points: fine },
      {
        name: `fit: D ${f.pathDelayPs.value.toFixed(1)} ps, sigma ${f.jitterPs.value.toFixed(1)} ps`,
        kind: 'line',
        color: PALETTE[1]!,
        points: sampleCurve(
          (x) =>
            f.amplitude.value * gateFraction(x, f.pathDelayPs.value, f.jitterPs.value, f.windowPs) + f.background.value,
          lo,
          hi,
        ),
      },
    ],
    markers: [{ x: p.settings.delayPs, label: 'delay set' }],
    yMin: 0,
  });
  const coarseSvg = renderPlot({
    title: `Coarse delay scan, ${d.coarseWindowPs} ps window`,
    xLabel: 'gate delay d (ps)',
    yLabel: 'coincidences per trial',
    series: [
      {
        name: 'measured',
        kind: 'points',
        color: PALETTE[2]!,
        points: d.coarse.map((q) => ({ x: q.delayPs, y: q.coincidences / q.trials })),
      },
    ],
    markers: [{ x: d.coarseCentrePs, label: 'centroid' }],
    yMin: 0,
    width: 420,
  });
  return fineSvg + coarseSvg;
}

function fringePlot(p: CalibrationProfile): string {
  const fr = p.steps.fringes;
  const alphas = [...new Set(fr.points.map((q) => q.alphaDeg))];
  const series: Series[] = [];
  alphas.forEach((a, i) => {
    series.push({
      name: `A at ${a} deg`,
      kind: 'points',
      color: PALETTE[i]!,
      points: fr.points
        .filter((q) => q.alphaDeg === a)
        .map((q) => {
          const { e, n } = fringeCorrelator(q.coincidences);
          return { x: q.betaDeg, y: e, err: Math.sqrt(Math.max(1 - e * e, 1e-4) / Math.max(n, 1)) };
        }),
    });
    series.push({
      name: `fit A at ${a} deg`,
      kind: 'line',
      color: PALETTE[i]!,
      points: sampleCurve(
        (b) => fr.offset.value + fr.visibility.value * Math.cos(2 * (a - b + fr.rotDeg.value) * RAD),
        0,
        180,
      ),
    });
  });
  return renderPlot({
    title: `Fringes: rot ${fr.rotDeg.value.toFixed(2)} deg, V ${fr.visibility.value.toFixed(4)}`,
    xLabel: "B's analyzer angle beta (deg)",
    yLabel: 'coincidence correlator E',
    series,
    yMin: -1,
    yMax: 1,
  });
}

function sPlot(p: CalibrationProfile): string {
  return renderPlot({
    title: 'CHSH S over all trials: before and after',
    xLabel: '',
    yLabel: 'S',
    categories: ['before', 'after', 'model prediction'],
    series: [
      {
        name: 'S',
        kind: 'bars',
        color: PALETTE[0]!,
        points: [
          { x: 0, y: p.before.s, err: p.before.sError },
          { x: 1, y: p.after.s, err: p.after.sError },
          { x: 2, y: p.estimates.predictedS },
        ],
      },
    ],
    hlines: CHSH_BOUNDS,
    yMin: 0,
    yMax: 3,
    width: 460,
  });
}

function settingsRow(name: string, s: ProfileSettings): string {
  return `<tr><th>${name}</th><td>${s.anglesCentideg.map((a) => (a / 100).toFixed(2)).join(', ')}</td><td>${s.windowPs}</td><td>${s.delayPs}</td><td>${s.pumpMicrowatts}</td><td>${s.biasMv.join(', ')}</td></tr>`;
}

export function renderReport(p: CalibrationProfile): string {
  const e = p.estimates;
  const rows: [string, string][] = [
    ['polarization rotation rot', pm(e.rotDeg, 3, 'deg')],
    ['visibility V (state, corrected)', pm(e.visibility, 4)],
    ['fringe visibility (coincidences)', pm(e.fringeVisibility, 4)],
    ['path delay D', pm(e.pathDelayPs, 1, 'ps')],
    ['timing jitter sigma', pm(e.jitterPs, 1, 'ps')],
    ['pi pulse P_pi', pm(e.piPulseMicrowatts, 1, 'uW')],
    ['pair probability b at P_pi', e.brightness.toFixed(4)],
    [`multi-pair g2 (${e.g2Source})`, pm(e.g2, 4)],
    ...p.steps.bias.curves.map((c, i): [string, string] => [
      `${DETECTORS[i]}: eta_max, U_bd, U_s, R0`,
      `${pm(c.etaMax, 3)}; ${pm(c.breakdownMv, 0, 'mV')}; ${pm(c.slopeMv, 0, 'mV')}; ${c.darkAtBreakdownPerS.toFixed(1)} counts/s`,
    ]),
    ...p.steps.dark.curves.map((c, i): [string, string] => [
      `${DETECTORS[i]}: dark at ${DARK_REF_BIAS_MV} mV, U_d`,
      `${pm(c.refRatePerS, 1, 'counts/s')}; ${pm(c.slopeMv, 0, 'mV')}`,
    ]),
    [
      'model S / bits per trial at the chosen point',
      `${e.predictedS.toFixed(4)} / ${e.predictedBitsPerTrial.toFixed(4)}`,
    ],
  ];
  const darkAtOp = p.settings.biasMv.map((u, i) => {
    const c = p.steps.dark.curves[i]!;
    return darkClickProbability(
      darkRateAtBias(u, c.refRatePerS.value, DARK_REF_BIAS_MV, c.slopeMv.value),
      p.settings.windowPs,
    );
  });
  const chipRows = STEP_ORDER.filter((s) => p.chipTimeMs.steps[s] !== undefined || p.wallTimeMs.steps[s] !== undefined)
    .map(
      (s) =>
        `<tr><th>${escapeXml(STEP_TITLES[s])}</th><td>${((p.chipTimeMs.steps[s] ?? 0) / 1000).toFixed(2)}</td><td>${((p.wallTimeMs.steps[s] ?? 0) / 1000).toFixed(2)}</td></tr>`,
    )
    .join('\n');
  const verifyRow = (name: string, v: CalibrationProfile['before']) =>
    `<tr><th>${name}</th><td>${v.trials.toLocaleString('en-US')}</td><td>${v.lostTrials}</td><td>${v.s.toFixed(4)} &plusmn; ${v.sError.toFixed(4)}</td><td>${v.bitsPerTrial.toFixed(4)}</td><td>${v.quantumBitsPerTrial.toFixed(4)}</td><td>${v.correlators.map((c) => c.toFixed(3)).join(', ')}</td></tr>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>EPQ-1 calibration ${escapeXml(p.device.serial)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f4f4f4; font-weight: normal; }
.outcome { padding: 8px 12px; background: ${p.saved ? '#e8f5e9' : '#fff8e1'}; border: 1px solid #ccc; display: inline-block; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots svg { border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>EPQ-1 calibration report</h1>
<p>Device ${escapeXml(p.device.serial)} (${escapeXml(p.device.model)}, firmware ${escapeXml(p.device.firmware)}, protocol ${escapeXml(p.device.protocol)}),
${escapeXml(p.createdAt)}, ${p.mode} plan. Profile version ${p.version}.</p>
<p class="outcome">${escapeXml(p.outcome)}</p>
<h2>Result</h2>
<table>
<tr><th></th><th>trials</th><th>lost</th><th>S (all trials)</th><th>bits/trial, classical side info (Pironio et al. 2010)</th><th>bits/trial, quantum side info (asymptotic EAT rate)</th><th>E00, E01, E10, E11</th></tr>
${verifyRow('before (previous calibration)', p.before)}
${verifyRow('after (new calibration)', p.after)}
</table>
<div class="plots">${sPlot(p)}</div>
<h2>Settings</h2>
<table>
<tr><th></th><th>angles A0, A1, B0, B1 (deg)</th><th>window (ps)</th><th>delay (ps)</th><th>pump (uW)</th><th>bias A0, A1, B0, B1 (mV)</th></tr>
${settingsRow(p.previous.uncalibrated ? 'previous (uncalibrated)' : 'previous', p.previous)}
${settingsRow('new', p.settings)}
</table>
<p>Dark click probability per gate at the new biases and window: ${darkAtOp.map((d, i) => `${DETECTORS[i]} ${d.toExponential(2)}`).join(', ')}.</p>
<h2>Fitted values (one standard deviation)</h2>
<table>
${rows.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${v}</td></tr>`).join('\n')}
</table>
<h2>Time per step</h2>
<table>
<tr><th>step</th><th>chip time (s)</th><th>wall time (s)</th></tr>
${chipRows}
<tr><th>total</th><td>${(p.chipTimeMs.total / 1000).toFixed(2)}</td><td>${(p.wallTimeMs.total / 1000).toFixed(2)}</td></tr>
</table>
<h2>Measurements and fits</h2>
<div class="plots">
${biasPlot(p)}
${darkPlot(p)}
${operatingPointPlots(p)}
${rabiPlot(p)}
${delayPlots(p)}
${fringePlot(p)}
</div>
</body>
</html>
`;
}
