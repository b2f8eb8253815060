/** GET with fetch: status, headers, body bytes and text. */
export async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: () => new TextDecoder().decode(body) };
}
