/** The README's examples, as the tests run them. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export function readme(): string {
  return readFileSync(`${root}README.md`, 'utf8');
}

/** The body of every fenced block in a language (```js, ```ts). */
export function fencedBlocks(lang: string): string[] {
  const re = new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm');
  return [...readme().matchAll(re)].map((m) => m[1]!);
}

/** Every indented (4-space) code block outside fences, as its lines without the indent. */
export function indentedBlocks(): string[][] {
  const blocks: string[][] = [];
  let fenced = false;
  let current: string[] | undefined;
  let prevBlank = true;
  for (const line of readme().split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && line.startsWith('    ') && (current || prevBlank)) {
      current ??= [];
      current.push(line.slice(4));
    } else if (line.trim() !== '' || !current) {
      if (current) blocks.push(current);
      current = undefined;
    }
    prevBlank = line.trim() === '';
  }
  if (current) blocks.push(current);
  return blocks;
}

const usesChip = (line: string): boolean => /--simulate|fixtures\/|\.epqrec\b/.test(line);
/**
 * An epqrng line left out: one that talks to a real chip (a device command without --simulate), or one
 * that runs until interrupted (`serve`, `simulate --pty`).
 */
const needsHardware = (line: string): boolean =>
  /^(npm install && )?(npx )?epqrng (serve|simulate)\b/.test(line) ||
  (/^(npm install && )?(npx )?epqrng (list|stream|info|calibrate|record)\b/.test(line) && !line.includes('--simulate'));

/** The runnable lines of a block, or none when it uses neither the simulator nor a recording. */
export function runnable(block: readonly string[]): string[] {
  if (!block.some(usesChip)) return [];
  return block.filter((l) => l.trim() !== '' && !needsHardware(l));
}
