/**
 * The dashboard behind a token, with no proxy: browsers cannot add an
 * Authorization header to EventSource, so a browser proves the token once,
 * in a login form that POSTs it (never in a URL, so it stays out of
 * history, logs and Referer), and gets a session cookie:
 *
 *   GET /  (no token, no session)   the login page
 *   POST /login  token=...          303 to ./ with Set-Cookie: epqrng_session=<256 random bits>;
 *                                   HttpOnly (no script reads it), SameSite=Strict (no other site's
 *                                   page sends it: no cross-site request forgery), Path=/
 *   POST /logout                    the session ends, the cookie is cleared
 *
 * The token is compared in constant time (SHA-256 of both sides,
 * timingSafeEqual). Sessions are kept by the SHA-256 of their id, so a
 * lookup's timing says nothing about a valid id, and a memory dump holds no
 * usable cookie. A session lasts SESSION_TTL_MS; at most MAX_SESSIONS are
 * kept (the oldest dropped first). A POST whose Origin is another site is
 * refused. Nothing here logs.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const SESSION_COOKIE = 'epqrng_session';
/** How long a session lasts (a working day). */
export const SESSION_TTL_MS = 12 * 3600 * 1000;
/** Sessions kept at most (each a login): a bound on memory whatever clients do. */
export const MAX_SESSIONS = 1000;
/** The login form's body: `token=<at most a few hundred characters>`. */
const MAX_LOGIN_BODY = 4096;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token check: SHA-256 of both sides compared with timingSafeEqual (equal lengths whatever was sent). */
export function tokenMatches(given: string | undefined, token: string): boolean {
  return timingSafeEqual(sha256(given ?? ''), sha256(token)) && given !== undefined;
}

export class LoginError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The sessions of one handler, keyed by the SHA-256 of their id. */
export class Sessions {
  private readonly byHash = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session: its id (the cookie's value). */
  open(): string {
    const id = randomBytes(32).toString('base64url');
    this.byHash.set(sha256(id).toString('hex'), this.now() + SESSION_TTL_MS);
    for (const key of this.byHash.keys()) {
      if (this.byHash.size <= MAX_SESSIONS) break;
      this.byHash.delete(key);
    }
    return id;
  }

  /** Whether the request carries a live session cookie. */
  valid(req: IncomingMessage): boolean {
    const id = cookie(req, SESSION_COOKIE);
    if (id === undefined) return false;
    const key = sha256(id).toString('hex');
    const until = this.byHash.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.byHash.delete(key);
    return false;
  }

  close(req: IncomingMessage): void {
    const id = cookie(req, SESSION_COOKIE);
    if (id !== undefined) this.byHash.delete(sha256(id).toString('hex'));
  }

  get size(): number {
    return this.byHash.size;
  }
}

/** One cookie's value from the Cookie header. */
function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A POST from a page of another site (its Origin names another host) is refused. */
function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new LoginError(403, 'a request from another site');
  }
  if (host !== req.headers.host) throw new LoginError(403, 'a request from another site');
}

/** The form's token, read from a small urlencoded body (never from the URL). */
async function readLoginToken(req: IncomingMessage, url: URL): Promise<string> {
  if (url.search !== '') throw new LoginError(400, 'the token goes in the form body, never in the URL');
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type !== 'application/x-www-form-urlencoded') throw new LoginError(415, 'a login is a form post');
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    length += c.length;
    if (length > MAX_LOGIN_BODY) throw new LoginError(413, 'the login form is too large');
    chunks.push(c);
  }
  const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token');
  if (token === null) throw new LoginError(400, 'the form has no token');
  return token;
}

const cookieAttributes = 'HttpOnly; SameSite=Strict; Path=/';

/** POST /login: the token once, a session cookie in return (303 to the dashboard); 401 and the form again otherwise. */
export async function login(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  token: string,
  sessions: Sessions,
): Promise<void> {
  checkOrigin(req);
  const given = await readLoginToken(req, url);
  if (!tokenMatches(given, token)) {
    sendLoginPage(res, 401, 'That is not the token.');
    return;
  }
  const id = sessions.open();
  res.writeHead(303, {
    location: './',
    'set-cookie': `${SESSION_COOKIE}=${id}; ${cookieAttributes}; Max-Age=${SESSION_TTL_MS / 1000}`,
    'cache-control': 'no-store',
    'content-length': 0,
  });
  res.end();
}

/** POST /logout: the session ends and the browser drops its cookie. */
export function logout(req: IncomingMessage, res: ServerResponse, sessions: Sessions): void {
  checkOrigin(req);
  sessions.close(req);
  res.writeHead(303, {
    location: './',
    'set-cookie': `${SESSION_COOKIE}=; ${cookieAttributes}; Max-Age=0`,
    'cache-control': 'no-store',
    'content-length': 0,
  });
  res.end();
}

/** The login page: self-contained, one password field posted to ./login (relative: works under a prefix). */
export function sendLoginPage(res: ServerResponse, status: number, message = ''): void {
  const note = message ? `<p class="err">${message}</p>` : '';
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>epqrng serve: sign in</title>
<style>body { font-family: sans-serif; margin: 48px; color: #222; } input { font-size: 16px; padding: 4px; width: 24em; }
button { font-size: 16px; } .err { color: #d62728; }</style></head>
<body>
<h1>EPQ-1 entropy service</h1>
<p>This service needs its token (the first line of the file given to <code>--token</code>).</p>
${note}<form method="post" action="login">
<input type="password" name="token" id="token" autocomplete="current-password" autofocus required>
<button type="submit" id="sign-in">Sign in</button>
</form>
</body>
</html>
`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(html);
}
