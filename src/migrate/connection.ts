/**
 * PostgreSQL connections for the migration runner: the `pg` client (pure JavaScript, bundles with
 * ncc), configured from a postgres:// URL, a TLS mode and a search_path. The URL's password is a
 * secret: it is never part of an error message (redactUrl) and callers mask it as soon as it is read.
 */
import { readFileSync, existsSync } from 'node:fs';
import { UserError, errorMessage } from '../lib/errors.ts';
import { redactUrl } from '../lib/secrets.ts';

export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The smallest surface of a pg.Client the runner uses (tests may pass their own). */
export interface Db {
  query<R = any>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
  end(): Promise<void>;
  /** The server PID of this session (pg.Client sets processID after connecting). */
  readonly processID?: number | null;
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

export interface ConnectionOptions {
  url: string;
  sslmode?: SslMode;
  /** PEM text of the CA (or a path to it) for verify-ca / verify-full. */
  sslRootCert?: string;
  searchPath?: string[];
  connectTimeoutMs?: number;
  applicationName?: string;
}

export type Connect = (opts: ConnectionOptions) => Promise<Db>;

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
export function isIdentifier(s: string): boolean {
  return IDENT.test(s);
}
export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * Checks a database URL without ever echoing its password: returns a one-line reason when it is not
 * a usable postgres:// URL, undefined when it is.
 */
export function databaseUrlProblem(text: string): string | undefined {
  const s = text.trim();
  if (!/^postgres(ql)?:\/\//i.test(s)) {
    if (/^[a-z][\w+.-]*:\/\//i.test(s)) return `unsupported scheme ${s.slice(0, s.indexOf(':') + 1)} (use postgres:// or postgresql://)`;
    if (/(^|\s)(host|dbname|user)=/.test(s)) return 'a libpq key=value string is not supported; give a URL';
    return 'not a URL';
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    // Say which part is wrong without repeating the URL.
    const afterAt = s.includes('@') ? s.slice(s.lastIndexOf('@') + 1) : s.replace(/^postgres(ql)?:\/\//i, '');
    const hostPort = afterAt.split(/[/?]/)[0] ?? '';
    const port = hostPort.includes(':') && !hostPort.endsWith(']') ? hostPort.slice(hostPort.lastIndexOf(':') + 1) : '';
    if (port && !/^\d+$/.test(port)) return 'the port is not a number';
    if (/\s/.test(s)) return 'it contains whitespace';
    return 'it does not parse as a URL (percent-encode special characters in the password, e.g. @ as %40)';
  }
  if (!u.hostname && !u.searchParams.get('host')) return 'it has no host';
  if (u.port && (Number(u.port) < 1 || Number(u.port) > 65535)) return `the port ${u.port} is out of range`;
  return undefined;
}

function sslConfig(mode: SslMode | undefined, rootCert: string | undefined): false | Record<string, unknown> | undefined {
  const ca = rootCert ? (rootCert.includes('-----BEGIN') ? rootCert : existsSync(rootCert) ? readFileSync(rootCert, 'utf8') : rootCert) : undefined;
  switch (mode) {
    case undefined:
      return undefined;
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is checked, the host name is not (libpq's verify-ca).
      return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true, ca };
  }
}

/** pg.Client options: the URL without its sslmode (set explicitly, so the URL cannot override it). */
export function clientConfig(opts: ConnectionOptions): Record<string, unknown> {
  const u = new URL(opts.url.trim());
  const urlMode = u.searchParams.get('sslmode') ?? undefined;
  u.searchParams.delete('sslmode');
  const mode =
    opts.sslmode ?? (urlMode && (SSL_MODES as readonly string[]).includes(urlMode) ? (urlMode as SslMode) : urlMode === 'no-verify' ? 'require' : undefined);
  const ssl = sslConfig(mode, opts.sslRootCert);
  return {
    connectionString: u.toString(),
    ...(ssl !== undefined ? { ssl } : {}),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: opts.applicationName ?? 'slipway-migrate',
    ...(opts.searchPath?.length ? { options: `-c search_path=${opts.searchPath.map(quoteIdent).join(',')}` } : {}),
  };
}

/** Why a connection failed, in one line a person can act on; never the password. */
export function connectionErrorMessage(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string };
  const where = redactUrl(url.trim());
  const base = `could not connect to ${where}`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `${base}: connection refused (is PostgreSQL running and listening on that host and port?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${base}: host not found`;
    case 'ETIMEDOUT':
      return `${base}: timed out`;
    case '28P01':
      return `${base}: password authentication failed (SQLSTATE 28P01)`;
    case '28000':
      return `${base}: ${e.message} (SQLSTATE 28000)`;
    case '3D000':
      return `${base}: ${e.message} (SQLSTATE 3D000)`;
  }
  const msg = errorMessage(err);
  if (/timeout/i.test(msg)) return `${base}: timed out (${msg})`;
  return `${base}: ${msg}${e.code ? ` (${e.code})` : ''}`;
}

/** Opens a pg client; throws UserError with the redacted URL on failure. */
export const connectPg: Connect = async (opts) => {
  const pg = (await import('pg')).default;
  const client = new pg.Client(clientConfig(opts) as any);
  // A dropped connection emits 'error' on the client: keep it from crashing the process; the pending query fails instead.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new UserError(connectionErrorMessage(err, opts.url), { cause: err });
  }
  return client as unknown as Db;
};

/** Major version of the server (15 for 15.4). */
export async function serverMajorVersion(db: Db): Promise<number> {
  const r = await db.query<{ v: string }>('SHOW server_version_num');
  return Math.floor(Number(r.rows[0]!.v) / 10_000);
}
