/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (the
 * format's own spec: https://prometheus.io/docs/instrumenting/exposition_formats/),
 * for tests. npm's parse-prometheus-text-format (last release years ago,
 * not maintained by the Prometheus project) is lenient where this must not
 * be. Throws on anything the format does not allow:
 * - `# HELP name text` and `# TYPE name counter|gauge|histogram|summary|untyped`
 *   at most once per family, TYPE before the family's first sample;
 * - samples `name{l="v",...} value [timestamp]`, names [a-zA-Z_:][a-zA-Z0-9_:]*,
 *   label names [a-zA-Z_][a-zA-Z0-9_]*, values escaped \\ \" \n only;
 * - a family's samples contiguous; no duplicate series.
 */
export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value in '${line}'`);
  return Number(s);
}

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('=', i);
    const name = body.slice(i, eq);
    if (eq < 0 || !LABEL.test(name) || body[eq + 1] !== '"') throw new Error(`bad label in '${line}'`);
    let j = eq + 2;
    let v = '';
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\') {
        const e = body[++j];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new Error(`bad escape in '${line}'`);
      } else v += body[j];
    }
    if (body[j] !== '"') throw new Error(`unterminated label value in '${line}'`);
    if (name in labels) throw new Error(`duplicate label ${name} in '${line}'`);
    labels[name] = v;
    i = j + 1;
    if (body[i] === ',') i++;
    else if (i !== body.length) throw new Error(`bad label separator in '${line}'`);
  }
  return labels;
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const out = new Map<string, MetricFamily>();
  const family = (name: string): MetricFamily => {
    if (!out.has(name)) out.set(name, { name, type: 'untyped', help: '', samples: [] });
    return out.get(name)!;
  };
  const closed = new Set<string>();
  let current = '';
  const series = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name '${name}'`);
      const f = family(name);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest) || f.samples.length > 0) throw new Error(`bad or late TYPE: '${line}'`);
        f.type = rest;
      } else f.help = rest;
      continue;
    }
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line '${line}'`);
    const name = m[1]!;
    if (name !== current) {
      if (closed.has(name)) throw new Error(`samples of ${name} are not contiguous`);
      if (current) closed.add(current);
      current = name;
    }
    const labels = m[3] === undefined ? {} : parseLabels(m[3], line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`duplicate series '${line}'`);
    series.add(key);
    family(name).samples.push({ labels, value: parseValue(m[4]!, line) });
  }
  return out;
}
