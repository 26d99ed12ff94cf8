/**
 * The secret model: values that must never leave the process, and every form Slipway derives from
 * them or may receive back from a server (percent-encoded and decoded, form-encoded, JSON-escaped,
 * base64, the credentials inside a URL, Basic and Bearer header values). A runtime registers a
 * secret once (`secretForms`) and redacts every text it writes with `redact` (src/runner): that is
 * the one redaction point. Domain code that quotes a server's answer uses `quote`, which redacts
 * the request's own credentials before it cuts the text short.
 */

/** Shorter values are not masked (they would blank out ordinary words). */
export const MIN_SECRET_LENGTH = 3;

/** Query parameter names that carry credentials. */
const SECRET_KEY = /token|secret|key|pass(word|wd)?|pwd|sig|auth|credential|session/i;

/** Well-known token shapes (GitHub, GitLab, Slack, npm, AWS, Stripe-like, Hugging Face). */
const TOKEN_PREFIX = /^(gh[pousr]_|github_pat_|glpat-|gldt-|glptt-|xox[abposr]-|npm_|sk-|sk_live_|rk_live_|AKIA|ASIA|hf_|pypi-)/;

/** A value shaped like a credential: a known token prefix, or 20+ characters of letters and digits without spaces. */
export function looksLikeToken(v: string): boolean {
  if (TOKEN_PREFIX.test(v)) return true;
  return v.length >= 20 && !/\s/.test(v) && /[A-Za-z]/.test(v) && /\d/.test(v);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

function parseUrl(text: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text.trim())) return undefined;
  try {
    return new URL(text.trim());
  } catch {
    return undefined;
  }
}

/** Schemes where a user name alone is how a token is sent (`https://TOKEN@host`: fetch sends it as Basic `TOKEN:`). */
const TOKEN_AS_USER = new Set(['http:', 'https:', 'ws:', 'wss:']);

/**
 * The user part of a URL is a credential when it looks like a token, or when it stands alone in an
 * HTTP URL. A user name beside a password, or alone in a database or SSH URL
 * (`postgresql://postgres@db/app`), is an identity: masking it would blank out ordinary words.
 */
function userIsCredential(url: URL): boolean {
  if (!url.username) return false;
  return looksLikeToken(safeDecode(url.username)) || (!url.password && TOKEN_AS_USER.has(url.protocol));
}

/** A query value is a credential when its name says so or it looks like a token; for a URL that is itself a secret, any value of 8+ characters too. */
function queryIsCredential(key: string, value: string, wholeUrlSecret: boolean): boolean {
  if (value.length < MIN_SECRET_LENGTH) return false;
  return SECRET_KEY.test(key) || looksLikeToken(value) || (wholeUrlSecret && value.length >= 8);
}

/** The raw query string split into [key, raw value, decoded value]. */
function rawQuery(url: URL): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (const part of url.search.replace(/^\?/, '').split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const key = safeDecode(i < 0 ? part : part.slice(0, i));
    const raw = i < 0 ? '' : part.slice(i + 1);
    let decoded = raw;
    try {
      decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      /* keep raw */
    }
    out.push([key, raw, decoded]);
  }
  return out;
}

/** Encodings of one value a server may send back or a log may show. */
function encodings(value: string): string[] {
  const out = [value];
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    /* not percent-encoded */
  }
  for (const v of new Set([value, decoded])) {
    const enc = encodeURIComponent(v);
    out.push(
      v,
      enc,
      enc.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      new URLSearchParams({ x: v }).toString().slice(2),
      JSON.stringify(v).slice(1, -1),
    );
  }
  return out;
}

/**
 * The credentials inside a URL (with their encodings), for masking: the password, the user part
 * when it is a credential, `user:password`, the Basic Authorization value fetch would send
 * (`base64(user:password)`), and query values that are credentials. `wholeUrlSecret`: the URL
 * itself is a secret (a webhook URL), so every query value of 8+ characters counts.
 */
export function urlSecrets(text: string, wholeUrlSecret = false): string[] {
  const url = parseUrl(text);
  if (!url) return [];
  const parts: string[] = [];
  const userCred = userIsCredential(url);
  if (url.password) parts.push(url.password);
  if (userCred) parts.push(url.username);
  if (url.password || userCred) {
    const user = safeDecode(url.username);
    const pass = safeDecode(url.password);
    parts.push(`${url.username}:${url.password}`, `${user}:${pass}`);
    // The Basic Authorization value is as good as the password (servers echo request headers in errors).
    const basic = b64(`${user}:${pass}`);
    parts.push(basic, basic.replace(/=+$/, ''));
  }
  for (const [key, raw, decoded] of rawQuery(url)) if (queryIsCredential(key, decoded, wholeUrlSecret)) parts.push(raw, decoded);
  const out = new Set<string>();
  for (const p of parts) for (const e of encodings(p)) if (e.length >= MIN_SECRET_LENGTH) out.add(e);
  return [...out];
}

/** Whether a URL carries a credential (user part, password or a credential in its query): `slipway validate` refuses them. */
export function urlHasCredential(text: string): boolean {
  return urlSecrets(text).length > 0;
}

/** Every URL inside a text (a list, JSON, a sentence). */
export function urlsIn(text: string): string[] {
  return text.match(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`,]+/gi) ?? [];
}

/** The URL with its credentials replaced by ***, safe to print. */
export function redactUrl(text: string): string {
  const url = parseUrl(text);
  if (!url) return text;
  const userCred = userIsCredential(url);
  if (url.password) url.password = '***';
  if (userCred) url.username = '***';
  const query = rawQuery(url);
  if (query.some(([k, , d]) => queryIsCredential(k, d, false))) {
    url.search = query.map(([k, raw, d]) => `${encodeURIComponent(k)}${raw || d ? `=${queryIsCredential(k, d, false) ? '***' : raw}` : ''}`).join('&');
  }
  return url.toString();
}

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|x-auth-token|.*token.*|.*secret.*|.*api-key.*|.*signature.*)$/i;

/** The credential inside an Authorization-style value (`Bearer X`, `Basic B`, `token X`), with what a Basic value decodes to. */
function authValueForms(value: string): string[] {
  const out = [value];
  const m = /^\s*([A-Za-z-]+)\s+(\S+)\s*$/.exec(value);
  if (!m) return out;
  out.push(m[2]!);
  if (m[1]!.toLowerCase() === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    if (/^[^\x00-\x1f]*:[^\x00-\x1f]*$/.test(decoded)) {
      out.push(decoded);
      const pass = decoded.slice(decoded.indexOf(':') + 1);
      if (pass) out.push(pass);
      else out.push(decoded.slice(0, -1)); // `token:` — the user part is the credential
    }
  }
  return out;
}

/** Header values that look like credentials. For `Authorization: Bearer X` both the whole value and X; for Basic, what it decodes to. */
export function headerSecrets(headers: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (!SECRET_HEADER.test(k) || !v) continue;
    out.push(...authValueForms(v));
  }
  return [...new Set(out.filter((s) => s.length >= MIN_SECRET_LENGTH))];
}

/**
 * Every form of a secret that must be masked: the value, each line of a multi-line value, its
 * percent-, form- and JSON-encoded and decoded forms, its base64, the credential inside an
 * Authorization-style value, and, when it is a URL, the credentials inside it.
 */
export function secretForms(secret: string): string[] {
  if (!secret || secret.length < MIN_SECRET_LENGTH) return [];
  const out = new Set<string>();
  const add = (s: string) => {
    for (const e of encodings(s)) if (e.length >= MIN_SECRET_LENGTH) out.add(e);
  };
  const values = [secret, ...secret.split(/\r?\n/).map((l) => l.trim())].filter((v) => v.length >= MIN_SECRET_LENGTH);
  for (const v of new Set(values)) {
    add(v);
    if (v.length >= 6) {
      const b = b64(v);
      out.add(b);
      out.add(b.replace(/=+$/, ''));
    }
    for (const a of authValueForms(v).slice(1)) add(a);
    for (const u of urlSecrets(v, true)) out.add(u);
  }
  return [...out];
}

/** Replaces each secret in text with ***, longest first. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  const sorted = [...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  for (const s of sorted) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/**
 * A server's answer, fit to quote in an error: redacted first (so cutting cannot leave part of a
 * secret behind), then on one line and cut to `max` characters.
 */
export function quote(answer: string, secrets: Iterable<string> = [], max = 200): string {
  const one = redact(answer, secrets).replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}… (cut)` : one;
}

/** The secrets a request carries (credentials in its URL, credential headers), in every form. */
export function requestSecrets(url: string, headers: Record<string, string> = {}): string[] {
  const out = new Set<string>();
  for (const s of urlSecrets(url)) for (const f of secretForms(s)) out.add(f);
  for (const s of headerSecrets(headers)) for (const f of secretForms(s)) out.add(f);
  return [...out];
}
