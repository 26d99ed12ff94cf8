/** Values that must never reach a log. Collected from URLs, headers and secret inputs. */

/** The credentials inside a URL (user info), for masking. */
export function urlSecrets(text: string): string[] {
  const out: string[] = [];
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return out;
  }
  if (url.password) {
    out.push(url.password, decodeURIComponent(url.password));
  }
  if (url.username && url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    out.push(`${url.username}:${url.password}`);
    // The Basic Authorization value is as good as the password (servers echo request headers in errors).
    out.push(Buffer.from(`${user}:${pass}`).toString('base64'));
  }
  for (const [k, v] of url.searchParams) {
    if (/token|secret|key|password|sig|auth/i.test(k) && v) out.push(v);
  }
  return [...new Set(out.filter((s) => s.length >= 3))];
}

/** The URL with the password replaced, safe to print. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    for (const k of [...url.searchParams.keys()]) {
      if (/token|secret|key|password|sig|auth/i.test(k)) url.searchParams.set(k, '***');
    }
    return url.toString();
  } catch {
    return text;
  }
}

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|x-auth-token|.*token.*|.*secret.*|.*api-key.*)$/i;

/** Header values that look like credentials. For `Authorization: Bearer X` both the whole value and X. */
export function headerSecrets(headers: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (!SECRET_HEADER.test(k) || !v) continue;
    out.push(v);
    const parts = v.split(/\s+/);
    if (parts.length === 2 && parts[1]!.length >= 3) out.push(parts[1]!);
  }
  return out;
}

/** Replaces each secret in text with ***. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  const sorted = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const s of sorted) out = out.split(s).join('***');
  return out;
}
