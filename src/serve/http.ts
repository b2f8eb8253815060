/**
 * The HTTP API as one request handler, `(req, res) => void`, so it mounts
 * in any Node server (http, https, or a framework's raw handler) as well as
 * in `epqrng serve`. Node's own `http`: the API is seven GET routes with
 * strict query parsing, and its server already bounds slow clients
 * (headersTimeout, requestTimeout); a framework would add a dependency to
 * the thing that hands out secrets for no capability we need.
 *
 *   GET /random?bytes=N[&wait=S]   N certified bytes, never served before
 *   GET /certificates?since=SEQ    certificate lines (JSONL) from SEQ on
 *   GET /certificates/SHA256       one certificate line
 *   GET /status, /metrics, /events (SSE), / (dashboard), /plots (its SVG plots)
 *   POST /login, /logout           with a token: the dashboard's session (session.ts)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoveredRange } from './pool.ts';
import { metricsOf, statusOf } from './report.ts';
import type { EntropyService, ServiceEvent } from './service.ts';
import { dashboardHtml } from './dashboard.ts';
import { poolPlot, sPlot } from './plots.ts';
import { login, LoginError, logout, sendLoginPage, Sessions, tokenMatches } from './session.ts';

export const MAX_REQUEST_BYTES = 1024 * 1024;
export const DEFAULT_MAX_WAIT_S = 30;
/** Unread /events output after which the stream is closed. */
const MAX_EVENT_BACKLOG_BYTES = 1024 * 1024;
/** The header naming the certificates that cover a response, in the order of its bytes. */
export const COVERAGE_HEADER = 'x-epqrng-coverage';

export interface HandlerOptions {
  /** Bearer token every request must carry (compared in constant time); none: no check. */
  token?: string;
  /** The longest `wait` accepted, seconds (default 30). */
  maxWaitS?: number;
  /** Period of the SSE status event (which also keeps the stream alive), ms (default 2000). */
  keepAliveMs?: number;
}

export interface EntropyHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Ends every open /events stream (they never end by themselves): call before closing the server. */
  closeEvents(): void;
}

class BadRequest extends Error {}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** `seq=3 block=2 sha256=... offset=0 length=4096, ...`: the certificates of a response's bytes, in order. */
export function formatCoverage(ranges: readonly CoveredRange[]): string {
  return ranges
    .map((r) => `seq=${r.seq} block=${r.blockIndex} sha256=${r.sha256} offset=${r.start} length=${r.end - r.start}`)
    .join(', ');
}

/** Parses a query string strictly: only the named parameters, each at most once. */
function parseQuery(search: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const params = new URLSearchParams(search);
  for (const [k, v] of params) {
    if (!allowed.includes(k))
      throw new BadRequest(`unknown parameter '${k.slice(0, 40)}' (allowed: ${allowed.join(', ')})`);
    if (out.has(k)) throw new BadRequest(`parameter '${k}' given twice`);
    out.set(k, v);
  }
  return out;
}

function intParam(name: string, raw: string | undefined, lo: number, hi: number): number {
  if (raw === undefined) throw new BadRequest(`missing parameter '${name}' (an integer ${lo} to ${hi})`);
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < lo || Number(raw) > hi)
    throw new BadRequest(`'${name}' must be an integer ${lo} to ${hi} (got '${raw.slice(0, 40)}')`);
  return Number(raw);
}

function waitParam(raw: string | undefined, maxS: number): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(raw) || Number(raw) > maxS)
    throw new BadRequest(`'wait' must be seconds, 0 to ${maxS} (got '${raw.slice(0, 40)}')`);
  return Number(raw);
}

/** A bearer token (constant-time check, session.ts) or, from a browser, a live session cookie. */
function authorized(req: IncomingMessage, token: string | undefined, sessions: Sessions): boolean {
  if (token === undefined) return true;
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  return tokenMatches(m?.[1], token) || sessions.valid(req);
}

async function random(service: EntropyService, url: URL, res: ServerResponse, maxWaitS: number) {
  const q = parseQuery(url.search, ['bytes', 'wait']);
  const max = Math.min(MAX_REQUEST_BYTES, service.pool.capacity);
  const n = intParam('bytes', q.get('bytes'), 1, max);
  const waitS = waitParam(q.get('wait'), maxWaitS);
  // A client that goes away while waiting takes nothing.
  const gone = new AbortController();
  const onClose = (): void => gone.abort();
  res.once('close', onClose);
  const t = await service.take(n, waitS * 1000, gone.signal);
  res.off('close', onClose);
  if (!t) {
    if (gone.signal.aborted) return;
    const error = `the pool cannot supply ${n} bytes now (state ${service.state}, pool ${service.pool.level} bytes)`;
    sendJson(res, 503, { error }, { 'retry-after': '1' });
    return;
  }
  // The bytes left the pool: whatever happens to this response (the client disconnects), they are never served again.
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': n,
    'cache-control': 'no-store',
    [COVERAGE_HEADER]: formatCoverage(t.ranges),
  });
  res.end(t.bytes);
}

function certificates(service: EntropyService, url: URL, res: ServerResponse): void {
  const q = parseQuery(url.search, ['since']);
  const since = q.has('since') ? intParam('since', q.get('since'), 0, Number.MAX_SAFE_INTEGER) : 0;
  const lines = service.certificatesSince(since);
  const body = lines.map((l) => `${l.line}\n`).join('');
  res.writeHead(200, {
    'content-type': 'application/x-ndjson',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-epqrng-first-seq': String(lines[0]?.seq ?? since),
  });
  res.end(body);
}

function certificate(service: EntropyService, sha: string, res: ServerResponse): void {
  if (!/^[0-9a-f]{64}$/.test(sha))
    throw new BadRequest('a certificate is named by its SHA-256: 64 lowercase hex digits');
  const line = service.certificateBySha(sha);
  if (line === undefined) {
    sendJson(res, 404, { error: `no certificate ${sha} here` });
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(line) });
  res.end(line);
}

function events(service: EntropyService, res: ServerResponse, open: Set<ServerResponse>, keepAliveMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const send = (e: ServiceEvent): void => {
    // A client that does not read its events is cut off rather than buffered without bound.
    if (res.writableLength > MAX_EVENT_BACKLOG_BYTES) {
      res.destroy();
      return;
    }
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
  };
  send({ type: 'state', data: service.stateData() });
  send({ type: 'status', data: statusOf(service) });
  // A status event every keepAliveMs keeps the connection alive and the served rate current.
  const timer = setInterval(() => send({ type: 'status', data: statusOf(service) }), keepAliveMs);
  // Each block, refusal or state change, then the status it leads to.
  const onEvent = (e: ServiceEvent): void => {
    send(e);
    send({ type: 'status', data: statusOf(service) });
  };
  service.on('event', onEvent);
  open.add(res);
  res.once('close', () => {
    clearInterval(timer);
    service.off('event', onEvent);
    open.delete(res);
  });
}

/** The service's request handler (mount it in any Node http server). */
export function createHandler(service: EntropyService, opts: HandlerOptions = {}): EntropyHandler {
  const maxWaitS = opts.maxWaitS ?? DEFAULT_MAX_WAIT_S;
  const open = new Set<ServerResponse>();
  const ctx = { maxWaitS, open, token: opts.token, keepAliveMs: opts.keepAliveMs ?? 2000, sessions: new Sessions() };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void route(service, req, res, ctx);
  };
  return Object.assign(handler, {
    closeEvents: () => {
      for (const r of open) r.end();
    },
  });
}

interface RouteContext {
  maxWaitS: number;
  open: Set<ServerResponse>;
  token: string | undefined;
  keepAliveMs: number;
  sessions: Sessions;
}

/**
 * With a token: POST /login and /logout (session.ts), the login page for a
 * browser's GET / without a session, 401 for anything else unproven.
 * Returns whether the request was answered here.
 */
async function gate(req: IncomingMessage, res: ServerResponse, url: URL, ctx: RouteContext): Promise<boolean> {
  const token = ctx.token;
  if (token === undefined) return false;
  const post = req.method === 'POST';
  if (post && url.pathname === '/login') {
    await login(req, res, url, token, ctx.sessions);
    return true;
  }
  if (!authorized(req, token, ctx.sessions)) {
    if (req.method === 'GET' && url.pathname === '/') sendLoginPage(res, 200);
    else sendJson(res, 401, { error: 'a valid bearer token is required' }, { 'www-authenticate': 'Bearer' });
    return true;
  }
  if (post && url.pathname === '/logout') {
    logout(req, res, ctx.sessions);
    return true;
  }
  return false;
}

async function route(service: EntropyService, req: IncomingMessage, res: ServerResponse, ctx: RouteContext) {
  try {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      throw new BadRequest('malformed request URL');
    }
    if (await gate(req, res, url, ctx)) return;
    // GET only (POST for the login, above): a HEAD of /random would cut bytes from the pool that nobody receives.
    if (req.method !== 'GET')
      return sendJson(res, 405, { error: `method ${req.method} not allowed: GET only` }, { allow: 'GET' });
    const path = url.pathname;
    if (path === '/random') return await random(service, url, res, ctx.maxWaitS);
    if (path === '/certificates') return certificates(service, url, res);
    if (path.startsWith('/certificates/')) return certificate(service, path.slice('/certificates/'.length), res);
    if (url.search !== '' && path !== '/') throw new BadRequest(`${path} takes no parameters`);
    if (path === '/status') return sendJson(res, 200, statusOf(service));
    if (path === '/metrics') {
      const body = metricsOf(service);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(body);
    }
    if (path === '/events') return events(service, res, ctx.open, ctx.keepAliveMs);
    if (path === '/plots') return sendJson(res, 200, { s: sPlot(service), pool: poolPlot(service) });
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(dashboardHtml());
    }
    return sendJson(res, 404, { error: `no such resource ${path.slice(0, 80)}` });
  } catch (e) {
    if (e instanceof BadRequest) return sendJson(res, 400, { error: e.message });
    if (e instanceof LoginError) return sendJson(res, e.status, { error: e.message });
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    else res.destroy();
  }
}
