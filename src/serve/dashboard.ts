/**
 * The dashboard: one self-contained HTML page (inline CSS, script and SVG,
 * no external resource), shipped in the package beside this file.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function dashboardHtml(): string {
  cached ??= readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');
  return cached;
}
