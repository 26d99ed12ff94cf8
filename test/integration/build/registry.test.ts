/**
 * The OCI distribution client against a real registry (Debian docker-registry, htpasswd auth),
 * with images built and pushed by buildah itself, and checked with skopeo as an independent client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireServer, startRegistry, freePort, findBinary, type RegistryServer } from '../../helpers/servers.ts';
import { RegistryClient, RegistryError, MEDIA_TYPES } from '../../../src/images/registry.ts';
import { buildahBuildPush, buildahStorage, buildahWorks, makeContext, skopeoDigest, startBearerFront, type BearerFront } from './fixtures.ts';

const hasRegistry = requireServer('registry');
const hasTools = !!findBinary('buildah') && !!findBinary('skopeo');
if (!hasTools) {
  if (process.env.CI === 'true') throw new Error('CI=true and buildah/skopeo are missing');
  console.warn('\n!!! SKIPPING build registry tests: buildah or skopeo missing\n');
}
const probe = hasTools ? buildahWorks() : { ok: false, error: 'buildah missing' };
if (hasTools && !probe.ok) console.warn(`\n!!! buildah cannot build here: ${probe.error}\n`);

describe.skipIf(!hasRegistry || !probe.ok)('registry client against a real registry', () => {
  let reg: RegistryServer;
  let front: BearerFront;
  let storage: ReturnType<typeof buildahStorage>;
  let digest = '';
  const user = 'ci';
  const password = 'registry-pass-7Hk2q9';
  const repo = 'acme/app';

  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user, password } });
    storage = buildahStorage();
    digest = buildahBuildPush(storage.env, makeContext('v1\n'), `${reg.host}/${repo}:first`, { user, password, registry: reg.host });
    front = await startBearerFront(reg.port, reg.auth!.header);
  });
  afterAll(async () => {
    await front?.close();
    await reg?.stop();
    storage?.cleanup();
  });

  const client = (over: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
    new RegistryClient({ registry: reg.host, insecure: true, credentials: { username: user, password }, retries: 0, ...over });

  it('HEAD finds a pushed tag with the digest buildah reported, and a missing tag is undefined', async () => {
    const c = client();
    const found = await c.headManifest(repo, 'first');
    expect(found?.digest).toBe(digest);
    expect([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]).toContain(found?.mediaType);
    expect(await c.headManifest(repo, 'nope')).toBeUndefined();
    expect(await c.headManifest(repo, digest)).toMatchObject({ digest });
  });

  it('retags by manifest copy: same digest, seen by skopeo; no layer moved', async () => {
    const c = client();
    const before = c.requests;
    const { digest: d, manifest } = await c.copyTags(repo, 'first', ['production', 'v1.4.2']);
    expect(d).toBe(digest);
    expect(skopeoDigest(`${reg.host}/${repo}:production`, { user, password })).toBe(digest);
    expect(skopeoDigest(`${reg.host}/${repo}:v1.4.2`, { user, password })).toBe(digest);
    // 1 GET + 2 PUTs, plus the one 401 that starts Basic auth on a fresh client
    expect(c.requests - before).toBe(4);
    const size = await c.imageSize(repo, manifest);
    expect(size.total).toBeGreaterThan(0);
  });

  it('wrong credentials: a clear error without the password', async () => {
    const err = await client({ credentials: { username: user, password: 'wrong-pass-Zq81' } }).headManifest(repo, 'first').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(new RegExp(`registry ${reg.host} rejected the credentials for user "ci" \\(HTTP 401`));
    expect((err as Error).message).not.toContain('wrong-pass-Zq81');
  });

  it('no credentials on a registry that needs them', async () => {
    await expect(client({ credentials: undefined }).headManifest(repo, 'first')).rejects.toThrow(/requires a login: set the username and password \(or token\) inputs/);
  });

  it('an unreachable registry', async () => {
    const port = await freePort();
    await expect(client({ registry: `127.0.0.1:${port}`, retries: 1 }).checkAccess(repo)).rejects.toThrow(new RegExp(`registry 127.0.0.1:${port} is unreachable \\(http://127.0.0.1:${port}\\): failed after 2 attempts: ECONNREFUSED`));
  });

  it('Bearer token flow: challenge, token endpoint with Basic credentials, tokens reported for masking', async () => {
    const masked: string[] = [];
    const c = new RegistryClient({ registry: front.host, insecure: true, credentials: { username: front.user, password: front.password }, onSecret: (s) => masked.push(s), retries: 0 });
    expect((await c.headManifest(repo, 'first', `repository:${repo}:pull,push`))?.digest).toBe(digest);
    expect(front.tokensIssued.length).toBe(1);
    expect(masked).toEqual(front.tokensIssued);
    // the token is reused for the same scope: one request, no new token
    const before = c.requests;
    await c.headManifest(repo, 'production', `repository:${repo}:pull,push`);
    expect(c.requests - before).toBe(1);
    await c.copyTags(repo, 'first', ['via-bearer']);
    expect(skopeoDigest(`${reg.host}/${repo}:via-bearer`, { user, password })).toBe(digest);
  });

  it('Bearer token flow with wrong credentials', async () => {
    const c = new RegistryClient({ registry: front.host, insecure: true, credentials: { username: front.user, password: 'nope-nope-1' }, retries: 0 });
    await expect(c.headManifest(repo, 'first')).rejects.toThrow(/rejected the credentials for user "robot" \(token endpoint http:\/\/127.0.0.1:\d+\/token answered HTTP 401: UNAUTHORIZED: bad credentials\)/);
  });
});
