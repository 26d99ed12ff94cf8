/**
 * A small client for the OCI distribution API (https://github.com/opencontainers/distribution-spec):
 * manifest HEAD (does this tag exist, and what is its digest), GET and PUT (retag by copying the
 * manifest: no layer is pulled or pushed), with registry auth: HTTP Basic, and the token flow a
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge asks for (Docker Hub, ghcr.io,
 * GitLab, Harbor, ECR's Basic).
 */
import { createHash } from 'node:crypto';
import { request as defaultRequest, type Http, type HttpResponse, HttpError } from '../lib/http.ts';
import { UserError, errorMessage } from '../lib/errors.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest].join(', ');

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Host[:port], as in the image name: ghcr.io, 127.0.0.1:5000. */
  registry: string;
  /** Plain HTTP instead of HTTPS. */
  insecure?: boolean;
  credentials?: RegistryCredentials;
  http?: Http;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
  /** Retries of 429/5xx/network errors. Default 2. */
  retries?: number;
  signal?: AbortSignal;
  /** Called with every bearer token obtained, so the caller can mask it. */
  onSecret?: (value: string) => void;
  onRetry?: (message: string) => void;
}

export interface ManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestInfo {
  /** The exact bytes (UTF-8 JSON): PUT them unchanged and the digest stays the same. */
  body: Buffer;
  json: {
    mediaType?: string;
    config?: { size: number; digest: string; mediaType?: string };
    layers?: Array<{ size: number; digest: string }>;
    manifests?: Array<{ digest: string; size: number; mediaType: string; platform?: { os?: string; architecture?: string; variant?: string } }>;
    annotations?: Record<string, string>;
  };
}

export class RegistryError extends UserError {
  readonly status?: number;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'RegistryError';
    this.status = status;
  }
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://x/token",service="x",scope="repository:a/b:pull"` (or `Basic realm="x"`). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function registryErrorDetail(res: HttpResponse): string {
  try {
    const body = JSON.parse(res.body) as { errors?: Array<{ code?: string; message?: string }> };
    const e = body.errors?.[0];
    if (e) return `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`;
  } catch {}
  return res.body.trim().slice(0, 200);
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly opts: RegistryClientOptions;
  private readonly http: Http;
  /** Authorization header per scope (Bearer) or for all (Basic). */
  private readonly authCache = new Map<string, string>();
  /** Number of HTTP requests made (for the benchmark and the summary). */
  requests = 0;

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
    this.registry = opts.registry;
    this.baseUrl = `${opts.insecure ? 'http' : 'https'}://${opts.registry}`;
    this.http = opts.http ?? defaultRequest;
  }

  private who(): string {
    return this.opts.credentials ? `user "${this.opts.credentials.username}"` : 'anonymous access (no credentials given)';
  }

  private async raw(url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<HttpResponse> {
    this.requests++;
    try {
      return await this.http(url, {
        method,
        headers,
        body,
        timeoutMs: this.opts.timeoutMs ?? 30_000,
        retries: this.opts.retries ?? 2,
        backoffMs: 250,
        signal: this.opts.signal,
        // PUT of the same manifest is idempotent, so retrying it is safe too; a repeated POST (start
        // of a blob upload) only leaves an unused upload session that the registry expires.
        idempotent: true,
        onRetry: (i) => this.opts.onRetry?.(`registry ${this.registry}: ${method} retry ${i.attempt} in ${Math.round(i.waitMs)}ms (${i.reason})`),
      });
    } catch (err) {
      if (err instanceof HttpError)
        throw new RegistryError(`registry ${this.registry} is unreachable (${this.baseUrl}): ${errorMessage(err).replace(/^\S+ \S+ /, '')}`);
      throw err;
    }
  }

  private basicHeader(): string | undefined {
    const c = this.opts.credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  /** Answers a 401 challenge: returns the Authorization header to retry with. */
  private async authenticate(challenge: Challenge | undefined, scope: string): Promise<string> {
    if (!challenge || challenge.scheme === 'basic') {
      const basic = this.basicHeader();
      if (!basic) throw new RegistryError(`registry ${this.registry} requires a login: set the username and password (or token) inputs`, 401);
      this.authCache.set('*', basic);
      return basic;
    }
    if (challenge.scheme !== 'bearer')
      throw new RegistryError(`registry ${this.registry} asks for ${challenge.scheme} authentication, which is not supported (Basic and Bearer are)`, 401);
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError(`registry ${this.registry} sent a Bearer challenge without a realm`, 401);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`registry ${this.registry} sent a Bearer realm that is not a URL: ${realm.slice(0, 100)}`, 401);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    const scopes = new Set([scope, ...(challenge.params.scope ? challenge.params.scope.split(' ') : [])].filter(Boolean));
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    const basic = this.basicHeader();
    if (basic) headers.authorization = basic;
    const res = await this.raw(url.toString(), 'GET', headers);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        `registry ${this.registry} rejected the credentials for ${this.who()} (token endpoint ${url.origin}${url.pathname} answered HTTP ${res.status}${registryErrorDetail(res) ? `: ${registryErrorDetail(res)}` : ''})`,
        res.status,
      );
    }
    if (res.status !== 200)
      throw new RegistryError(`registry ${this.registry}: token endpoint ${url.origin}${url.pathname} answered HTTP ${res.status}`, res.status);
    let token: string | undefined;
    try {
      const body = JSON.parse(res.body) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch {}
    if (!token) throw new RegistryError(`registry ${this.registry}: token endpoint ${url.origin}${url.pathname} answered without a token`);
    this.opts.onSecret?.(token);
    const header = `Bearer ${token}`;
    this.authCache.set(scope, header);
    return header;
  }

  /**
   * One request to the registry with auth: the cached Authorization header when there is one;
   * on 401, answer the challenge and retry once. A second 401 means the credentials are wrong.
   */
  async send(method: string, path: string, scope: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpResponse> {
    const url = `${this.baseUrl}${path}`;
    const cached = this.authCache.get(scope) ?? this.authCache.get('*');
    let res = await this.raw(url, method, cached ? { ...headers, authorization: cached } : headers, body);
    if (res.status !== 401) return res;
    const auth = await this.authenticate(parseChallenge(res.headers.get('www-authenticate')), scope);
    res = await this.raw(url, method, { ...headers, authorization: auth }, body);
    if (res.status === 401) {
      const detail = registryErrorDetail(res);
      throw new RegistryError(`registry ${this.registry} rejected the credentials for ${this.who()} (HTTP 401${detail ? `: ${detail}` : ''})`, 401);
    }
    return res;
  }

  private fail(what: string, res: HttpResponse, repository: string): never {
    const detail = registryErrorDetail(res);
    if (res.status === 403)
      throw new RegistryError(`registry ${this.registry}: ${this.who()} may not ${what} ${repository} (HTTP 403${detail ? `: ${detail}` : ''})`, 403);
    throw new RegistryError(`registry ${this.registry}: ${what} ${repository} failed with HTTP ${res.status}${detail ? `: ${detail}` : ''}`, res.status);
  }

  /**
   * Checks that the registry answers and the credentials are good, before any build starts.
   * With push, asks for a push-scoped token where the registry uses tokens.
   */
  async checkAccess(repository: string, push = true): Promise<void> {
    const scope = `repository:${repository}:${push ? 'pull,push' : 'pull'}`;
    const res = await this.send('GET', '/v2/', scope);
    if (res.status === 200) return;
    if (res.status === 404) throw new RegistryError(`${this.baseUrl}/v2/ answered 404: not an OCI registry`, 404);
    this.fail('reach', res, repository);
  }

  /** HEAD on a manifest: its digest, or undefined when the tag (or digest) does not exist. */
  async headManifest(repository: string, reference: string, scope = `repository:${repository}:pull`): Promise<ManifestInfo | undefined> {
    const res = await this.send('HEAD', `/v2/${repository}/manifests/${reference}`, scope, { accept: MANIFEST_ACCEPT });
    if (res.status === 404) return undefined;
    if (res.status !== 200) this.fail('read', res, repository);
    let digest = res.headers.get('docker-content-digest') ?? '';
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const size = Number(res.headers.get('content-length') ?? '0');
    if (!digest) digest = (await this.getManifest(repository, reference, scope)).digest;
    return { digest, mediaType, size };
  }

  /** GET a manifest (any of the four manifest/index media types), its exact bytes and digest. */
  async getManifest(repository: string, reference: string, scope = `repository:${repository}:pull`): Promise<Manifest> {
    const res = await this.send('GET', `/v2/${repository}/manifests/${reference}`, scope, { accept: MANIFEST_ACCEPT });
    if (res.status === 404) throw new RegistryError(`registry ${this.registry}: ${repository}:${reference} does not exist`, 404);
    if (res.status !== 200) this.fail('read', res, repository);
    const body = Buffer.from(res.body, 'utf8');
    const digest = sha256Digest(body);
    const header = res.headers.get('docker-content-digest');
    if (header && header !== digest)
      throw new RegistryError(`registry ${this.registry}: manifest ${repository}:${reference} digest mismatch (header ${header}, body ${digest})`);
    if (reference.startsWith('sha256:') && reference !== digest)
      throw new RegistryError(`registry ${this.registry}: manifest ${reference} has digest ${digest}`);
    let json: Manifest['json'];
    try {
      json = JSON.parse(res.body) as Manifest['json'];
    } catch {
      throw new RegistryError(`registry ${this.registry}: manifest ${repository}:${reference} is not JSON`);
    }
    const mediaType = (res.headers.get('content-type') ?? json.mediaType ?? '').split(';')[0]!.trim();
    return { digest, mediaType, size: body.length, body, json };
  }

  /** PUT a manifest under a tag (retag by copy). Returns the digest the registry stored. */
  async putManifest(repository: string, tag: string, manifest: Pick<Manifest, 'body' | 'mediaType'>): Promise<string> {
    const scope = `repository:${repository}:pull,push`;
    const res = await this.send('PUT', `/v2/${repository}/manifests/${tag}`, scope, { 'content-type': manifest.mediaType }, manifest.body);
    if (res.status !== 201 && res.status !== 200) this.fail('push to', res, repository);
    return res.headers.get('docker-content-digest') ?? sha256Digest(manifest.body);
  }

  /**
   * Adds tags to an existing manifest without pulling or rebuilding: GET it once, PUT it under
   * each tag. Returns the source digest.
   */
  async copyTags(repository: string, source: string, tags: string[]): Promise<{ digest: string; manifest: Manifest }> {
    const manifest = await this.getManifest(repository, source, `repository:${repository}:pull,push`);
    for (const tag of tags) {
      const stored = await this.putManifest(repository, tag, manifest);
      if (stored !== manifest.digest)
        throw new RegistryError(`registry ${this.registry}: ${repository}:${tag} was stored with digest ${stored}, expected ${manifest.digest}`);
    }
    return { digest: manifest.digest, manifest };
  }

  /**
   * Compressed image size: config plus layers. For an index, per platform (one GET per platform,
   * at most 8).
   */
  async imageSize(repository: string, manifest: Manifest): Promise<{ total: number; platforms: Array<{ platform: string; size: number }> }> {
    const sizeOf = (m: Manifest['json']) => (m.config?.size ?? 0) + (m.layers ?? []).reduce((a, l) => a + (l.size ?? 0), 0);
    if (!manifest.json.manifests) return { total: sizeOf(manifest.json), platforms: [] };
    const platforms: Array<{ platform: string; size: number }> = [];
    for (const child of manifest.json.manifests.slice(0, 8)) {
      const p = child.platform;
      if (p?.os === 'unknown') continue; // attestation manifests
      const m = await this.getManifest(repository, child.digest);
      platforms.push({ platform: p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : child.digest.slice(0, 19), size: sizeOf(m.json) });
    }
    return { total: platforms.reduce((a, p) => a + p.size, 0), platforms };
  }
}
