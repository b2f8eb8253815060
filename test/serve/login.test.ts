/**
 * The dashboard behind --token with no proxy, over HTTP: a browser's GET /
 * without a session gets the login form; POST /login with the token (in the
 * body, never the URL) gets an HttpOnly SameSite=Strict session cookie, and
 * that cookie opens the dashboard, /status, /events and /random; a wrong
 * token, a forged or ended session, a token in the URL, a post from another
 * site or an oversized form get a 4xx and no session. The bearer header
 * works as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE, Sessions, MAX_SESSIONS, SESSION_TTL_MS } from '../../src/serve/session.ts';
import { startHarness, until, type Harness } from './harness.ts';

const TOKEN = 'a-token-of-more-than-16-characters';

/** A request that follows no redirect: status, headers, text. */
async function send(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { redirect: 'manual', ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const form = (body: string, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body,
});

/** The session cookie's `name=value` from a Set-Cookie header. */
function sessionOf(setCookie: string | null): string {
  const m = new RegExp(`^(${SESSION_COOKIE}=[^;]+);`).exec(setCookie ?? '');
  if (!m) throw new Error(`no session cookie in ${setCookie}`);
  return m[1]!;
}

describe('the dashboard behind --token: a login form and a session cookie', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ seed: 61, listen: { token: TOKEN } });
    await until(() => h.service.counters.blocksCertified >= 1, 120_000, 'a block');
  }, 180_000);
  afterAll(async () => h?.close());

  it('GET / without a session is the login form (a POST of a password field, relative action); the rest is 401', async () => {
    const page = await send(`${h.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toMatch(/<form method="post" action="login">/);
    expect(page.text).toMatch(/<input type="password" name="token"/);
    expect(page.text).not.toMatch(/https?:\/\//); // self-contained
    for (const path of ['/status', '/events', '/random?bytes=8', '/metrics', '/plots'])
      expect((await send(`${h.url}${path}`)).status, path).toBe(401);
  });

  it('the right token once: a session cookie (HttpOnly, SameSite=Strict) that opens everything; logout ends it', async () => {
    const r = await send(`${h.url}/login`, form(`token=${encodeURIComponent(TOKEN)}`));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('./');
    const set = r.headers.get('set-cookie')!;
    expect(set).toMatch(/; HttpOnly/);
    expect(set).toMatch(/; SameSite=Strict/);
    expect(set).toMatch(/; Path=\//);
    expect(set).toMatch(new RegExp(`; Max-Age=${SESSION_TTL_MS / 1000}$`));
    expect(set).not.toContain(TOKEN);
    const session = sessionOf(set);
    expect(session.length).toBeGreaterThanOrEqual(SESSION_COOKIE.length + 1 + 43); // 256 random bits, base64url
    const cookie = { cookie: session };
    const dashboard = await send(`${h.url}/`, { headers: cookie });
    expect(dashboard.text).toMatch(/new EventSource\('events'\)/);
    expect((await send(`${h.url}/status`, { headers: cookie })).status).toBe(200);
    const bytes = await fetch(`${h.url}/random?bytes=16`, { headers: cookie });
    expect(bytes.status).toBe(200);
    expect((await bytes.arrayBuffer()).byteLength).toBe(16);
    const events = await fetch(`${h.url}/events`, { headers: cookie });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toBe('text/event-stream');
    await events.body!.cancel();

    const out = await send(`${h.url}/logout`, { method: 'POST', headers: cookie });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=; .*Max-Age=0$`));
    expect((await send(`${h.url}/status`, { headers: cookie })).status).toBe(401);
  });

  it('refuses a wrong token, a forged session, a token in the URL, another site, a non-form post and a big form', async () => {
    const wrong = await send(`${h.url}/login`, form('token=not-the-token-at-all-no'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(wrong.text).toMatch(/<form method="post"/); // the form again, saying so
    expect(wrong.text).not.toContain('not-the-token-at-all-no');
    const forged = { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}` };
    expect((await send(`${h.url}/status`, { headers: forged })).status).toBe(401);
    const inUrl = await send(`${h.url}/login?token=${TOKEN}`, form(`token=${TOKEN}`));
    expect(inUrl.status).toBe(400);
    expect(inUrl.headers.get('set-cookie')).toBeNull();
    expect(inUrl.text).not.toContain(TOKEN);
    const cross = await send(`${h.url}/login`, form(`token=${TOKEN}`, { origin: 'http://evil.example' }));
    expect(cross.status).toBe(403);
    expect(cross.headers.get('set-cookie')).toBeNull();
    const json = await send(`${h.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(json.status).toBe(415);
    const big = await send(`${h.url}/login`, form(`token=${'x'.repeat(10_000)}`));
    expect(big.status).toBe(413);
    // Still serving, and the bearer header works as before.
    const bearer = await send(`${h.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(200);
  });
});

describe('Sessions', () => {
  it('expire after their time, and at most MAX_SESSIONS are kept (the oldest dropped)', () => {
    let now = 0;
    const sessions = new Sessions(() => now);
    const req = (id: string) => ({ headers: { cookie: `other=1; ${SESSION_COOKIE}=${id}` } }) as never;
    const first = sessions.open();
    expect(sessions.valid(req(first))).toBe(true);
    now = SESSION_TTL_MS - 1;
    expect(sessions.valid(req(first))).toBe(true);
    now = SESSION_TTL_MS;
    expect(sessions.valid(req(first))).toBe(false);
    const ids = Array.from({ length: MAX_SESSIONS + 5 }, () => sessions.open());
    expect(sessions.size).toBe(MAX_SESSIONS);
    expect(sessions.valid(req(ids[0]!))).toBe(false);
    expect(sessions.valid(req(ids.at(-1)!))).toBe(true);
  });
});
