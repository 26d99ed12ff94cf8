import { z } from 'zod';
import { defineAction, f, out, type InputSpec } from '../../manifest/fields.ts';
import { errorMessage } from '../../lib/errors.ts';
import { DEFAULT_TAG_RULES, parseImageName, parseKeyValueLines, parseTagRules, type ImageName, type TagRule } from '../../images/tags.ts';

type Opts = { description: string; required?: boolean; default?: string; secret?: boolean };

/** An input parsed by a domain function; its error becomes the input error's reason. */
function parsed<T>(o: Opts, expected: string, parse: (s: string) => T): InputSpec<T> {
  return {
    ...o,
    expected,
    schema: z.string().transform((s, c) => {
      try {
        return parse(s);
      } catch (err) {
        c.addIssue({ code: 'custom', message: errorMessage(err) });
        return z.NEVER;
      }
    }) as unknown as z.ZodType<T>,
  };
}

const keyValues = (what: string, o: Opts, keyPattern?: RegExp) =>
  parsed<Array<[string, string]>>(o, 'KEY=VALUE lines (one per line; values may hold = and ,)', (s) => parseKeyValueLines(s, what, keyPattern));

const SECRET_ID = /^[A-Za-z0-9_.-]+$/;

export const spec = defineAction({
  name: 'build-and-tag',
  title: 'Slipway build-and-tag',
  description:
    'Build the image once per commit, tag it with the commit SHA (and branch, PR, semver, raw tags), push it, reuse it when that SHA is already in the registry, and promote it by digest without rebuilding.',
  branding: { icon: 'package', color: 'blue' },
  inputs: {
    image: parsed<ImageName>(
      {
        description:
          'Image name without a tag: ghcr.io/acme/api, registry.example.com:5000/team/app, or acme/api (Docker Hub). Lowercased, so ghcr.io/ plus the repository name works as GitHub spells it.',
        required: true,
      },
      'an image name like ghcr.io/acme/api (no tag, no digest)',
      parseImageName,
    ),
    mode: f.enum(['build', 'promote'] as const, {
      description:
        '`build`: build (or reuse) and push the image for this commit. `promote`: add the tags to an image already in the registry (promote-from) by copying its manifest; nothing is built or pulled.',
      default: 'build',
    }),
    tags: parsed<TagRule[]>(
      {
        description:
          "Tag rules, one per line, in docker/metadata-action's grammar: type=sha (length=N), type=sha,format=long, type=ref,event=branch|tag|pr, type=semver,pattern={{version}}, type=schedule,pattern=nightly, type=raw,value=X (or a bare tag). Each takes prefix=, suffix=, enable=.",
        default: DEFAULT_TAG_RULES,
      },
      'tag rules such as type=sha, type=ref,event=branch, type=semver,pattern={{version}} or type=raw,value=staging, one per line',
      parseTagRules,
    ),
    latest: f.enum(['auto', 'false'] as const, {
      description:
        '`auto`: add the `latest` tag on pushes (and manual runs) to the default branch only (repository.default_branch of the event). `false`: never.',
      default: 'auto',
    }),
    context: f.string({ description: 'Build context directory, relative to the workspace.', default: '.' }),
    dockerfile: f.string({ description: 'Dockerfile path relative to the workspace (default: <context>/Dockerfile).' }),
    'build-args': keyValues('build-args', {
      description: 'Build arguments, KEY=VALUE per line. Never put credentials here (they are recorded in the image history): use secrets.',
    }),
    target: f.string({ description: 'Target stage of a multi-stage Dockerfile.', pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, expected: 'a stage name' }),
    platforms: f.list({
      description: "Target platforms, comma-separated: linux/amd64,linux/arm64 (default: the runner's).",
      item: /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/,
      itemExpected: 'os/arch[/variant] such as linux/amd64',
    }),
    secrets: keyValues(
      'secrets',
      {
        description: 'Build secrets, ID=VALUE per line, passed as `--secret id=ID,src=<file>` (read them with RUN --mount=type=secret,id=ID). Masked.',
        secret: true,
      },
      SECRET_ID,
    ),
    'secret-files': keyValues('secret-files', { description: 'Build secrets from files, ID=PATH per line.' }, SECRET_ID),
    labels: keyValues(
      'labels',
      { description: 'Extra image labels, KEY=VALUE per line (the OCI labels revision, source, created, version, title and url are set for you).' },
      /^[A-Za-z0-9][A-Za-z0-9_.\-/]*$/,
    ),
    title: f.string({ description: 'org.opencontainers.image.title (default: the repository name).' }),
    builder: f.enum(['auto', 'docker', 'buildah', 'podman'] as const, {
      description: '`auto`: docker buildx when a Docker daemon answers, else buildah, else podman.',
      default: 'auto',
    }),
    cache: f.boolean({
      description:
        'Keep the layer cache between runs in a local directory saved with the GitHub cache service (keyed on the Dockerfile and lockfiles). Skipped where there is no cache service.',
      default: 'true',
    }),
    'cache-dir': f.string({ description: 'Layer cache directory (default: <RUNNER_TEMP>/slipway-layer-cache).' }),
    'skip-existing': f.boolean({
      description:
        "Before building, ask the registry (manifest HEAD) whether the commit's SHA tag exists; if so, skip the build, reuse its digest and add the other tags.",
      default: 'true',
    }),
    push: f.boolean({
      description: 'Push to the registry. With false the image is only built (e.g. pull requests from forks) and the registry is not contacted.',
      default: 'true',
    }),
    'promote-from': f.string({
      description:
        "promote mode: the tag or digest (sha256:…) to promote (default: this commit's SHA tag: the type=sha tag of the tags rules, else the full 40-character SHA).",
      pattern: /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$/,
      expected: 'a tag or a sha256: digest',
    }),
    audit: f.enum(['warn', 'error', 'off'] as const, {
      description:
        'Dockerfile audit (root user, no HEALTHCHECK, secret-looking ENV/ARG/LABEL, :latest base): `warn` annotates, `error` fails before building, `off` skips.',
      default: 'warn',
    }),
    username: f.string({ description: 'Registry user name.' }),
    password: f.string({ description: 'Registry password (masked).', secret: true }),
    token: f.string({ description: 'Registry access token, used as the password (with username, or the workflow actor).', secret: true }),
    'github-token': f.string({ description: 'Used for ghcr.io when no username/password or token is given.', default: '${{ github.token }}', secret: true }),
    'insecure-registry': f.boolean({
      description: 'Talk plain HTTP to the registry (loopback registries such as 127.0.0.1:5000 always use HTTP).',
      default: 'false',
    }),
    'build-timeout': f.duration({ description: 'Longest a build (and its push) may take.', default: '30m', min: 1000 }),
    'registry-timeout': f.duration({
      description: 'Timeout of each registry request (retried with backoff on 429/5xx and network errors).',
      default: '30s',
      min: 100,
      max: 600_000,
    }),
  },
  outputs: {
    image: out.text(
      'The image by digest, name@sha256:… : what deploys should use (name:sha-tag when push is false: nothing was pushed, so there is no digest).',
      [`ghcr.io/acme/api@sha256:${'a'.repeat(64)}`, 'ghcr.io/acme/api:0123456789abcdef0123456789abcdef01234567'],
      /^[a-z0-9][a-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/,
      'an image reference by digest (name@sha256:…), or name:tag when push is false',
    ),
    digest: out.text(
      'The manifest digest (sha256:…); empty when push is false.',
      [`sha256:${'a'.repeat(64)}`],
      /^sha256:[0-9a-f]{64}$/,
      'sha256: followed by 64 hex digits',
    ),
    tags: out.json('JSON list of the full references tagged: ["ghcr.io/acme/api:3f2a9c1", …].', 'a JSON list of image references', z.array(z.string()), [
      '["ghcr.io/acme/api:3f2a9c1","ghcr.io/acme/api:main"]',
    ]),
    labels: out.json(
      'JSON object of the image labels (OCI revision, source, created, version, title, url, and yours).',
      'a JSON map of labels',
      z.record(z.string(), z.string()),
      ['{"org.opencontainers.image.revision":"3f2a9c1"}'],
    ),
    metadata: out.json(
      'JSON: image, digest, tags, labels, skipped, mode, builder, sizeBytes, buildMs, cacheHits, steps, audit findings.',
      'a JSON object',
      z.looseObject({}),
      ['{"image":"ghcr.io/acme/api","skipped":false}'],
    ),
    skipped: out.boolean("'true' when no build ran: the SHA tag already existed (or promote mode)."),
  },
});
