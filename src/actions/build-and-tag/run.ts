import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { InputsOf } from '../../manifest/fields.ts';
import type { ActionContext, ActionResult } from '../../runner/context.ts';
import { InputError, UserError, errorMessage } from '../../lib/errors.ts';
import { formatDuration } from '../../lib/duration.ts';
import { code, details, heading, table } from '../../lib/markdown.ts';
import type { Exec } from '../../lib/exec.ts';
import type { Http } from '../../lib/http.ts';
import { TagRuleError, computeTags, identityTag, isLoopbackRegistry, ociLabels, commitSha, type ComputedTag, type ImageName } from '../../images/tags.ts';
import { RegistryClient, type Manifest, type RegistryCredentials } from '../../images/registry.ts';
import { auditBuildArgs, auditDockerfile, type Finding } from '../../images/audit.ts';
import { detectBuilder, dockerLogin, prepareSecrets, runBuild, writeAuthFile, type BuildOutcome, type BuilderKind } from '../../images/builders.ts';
import { layerCacheKey, restoreLayerCache, saveLayerCache, type RestoreResult } from '../../images/cache.ts';
import type { spec } from './inputs.ts';

export type BuildInputs = InputsOf<typeof spec>;

export interface BuildDeps {
  exec?: Exec;
  http?: Http;
  now?: () => Date;
  /** The @actions/cache module (tests pass a fake; default: loaded lazily when the runner has a cache service). */
  cacheModule?: Parameters<typeof restoreLayerCache>[3];
}

interface Step {
  name: string;
  result: string;
  ms: number;
}

/** Registry credentials from the inputs: username + password/token; the GitHub token for ghcr.io. */
export function registryCredentials(inputs: BuildInputs, registry: string, actor: string): RegistryCredentials | undefined {
  const secret = inputs.password || inputs.token;
  if (inputs.password && inputs.token) throw new InputError('token', '(a secret value, not shown)', 'either password or token, not both');
  if (inputs.username && !secret) throw new InputError('password', '', `a password or token for user ${JSON.stringify(inputs.username)}`);
  if (inputs.password && !inputs.username) throw new InputError('username', '', 'a user name to go with the password');
  if (secret) return { username: inputs.username || actor || 'token', password: secret };
  const gh = inputs['github-token'];
  // An unexpanded `${{ github.token }}` (a runner that does not evaluate defaults) is no token.
  if (registry === 'ghcr.io' && gh && !gh.startsWith('${{')) return { username: actor || 'github-actions', password: gh };
  return undefined;
}

function authKey(registry: string): string {
  return registry === 'registry-1.docker.io' ? 'docker.io' : registry;
}

function size(bytes: number | undefined): string {
  if (bytes === undefined) return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1 << 30) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
}

/** What the steps share: the checked inputs, then the results as the steps fill them in. */
interface BuildRun {
  inputs: BuildInputs;
  ctx: ActionContext;
  deps: BuildDeps;
  log: ActionContext['log'];
  image: ImageName;
  tags: ComputedTag[];
  idTag: string | undefined;
  refs: string[];
  labels: Record<string, string>;
  credentials: RegistryCredentials | undefined;
  insecure: boolean;
  registry: RegistryClient;
  scope: string;
  context: string;
  dockerfile: string;
  promoteSource: string;
  /** The rows of the summary's Steps table. */
  steps: Step[];
  findings: Finding[];
  /** Runs one registry or builder call and records it as a row of the Steps table. */
  timed: <T>(name: string, fn: () => Promise<T>, result: (v: T) => string) => Promise<T>;
  // ---- Results, filled in as we go ----
  digest: string;
  skipped: boolean;
  manifest?: Manifest;
  outcome?: BuildOutcome;
  builder?: BuilderKind;
  cacheState?: RestoreResult;
  cacheSaved: string;
  decision: string;
  sizeBytes?: number;
  platformSizes: Array<{ platform: string; size: number }>;
}

/** Everything that can be wrong with the inputs fails here, before any side effect. */
function prepare(inputs: BuildInputs, ctx: ActionContext, deps: BuildDeps, now: Date): BuildRun {
  const log = ctx.log;
  const image: ImageName = inputs.image;
  const gh = ctx.github;
  let tags: ComputedTag[];
  try {
    tags = computeTags(inputs.tags, gh, { latest: inputs.latest, now });
  } catch (err) {
    if (err instanceof TagRuleError) throw new UserError(`Input 'tags': ${err.message}`);
    throw err;
  }
  if (tags.length === 0)
    throw new UserError(
      `Input 'tags': no rule gives a tag for this ${gh.eventName || 'unknown'} event on ${gh.ref || 'no ref'}: add one that always applies, such as type=sha`,
    );
  const idTag = identityTag(inputs.tags, tags);
  // The identity tag goes first: it is the one pushed, the others are copies of its manifest.
  if (idTag) tags = [tags.find((t) => t.tag === idTag)!, ...tags.filter((t) => t.tag !== idTag)];
  const refs = tags.map((t) => `${image.name}:${t.tag}`);
  const labels = ociLabels(gh, tags, { now, title: inputs.title, extra: Object.fromEntries(inputs.labels ?? []) });
  const credentials = registryCredentials(inputs, image.registry, gh.actor);
  const insecure = inputs['insecure-registry'] || isLoopbackRegistry(image.registry);
  const mode = inputs.mode;
  const steps: Step[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T>, result: (v: T) => string): Promise<T> => {
    const t = performance.now();
    try {
      const v = await fn();
      steps.push({ name, result: result(v), ms: performance.now() - t });
      return v;
    } catch (err) {
      steps.push({ name, result: `failed: ${errorMessage(err)}`, ms: performance.now() - t });
      throw err;
    }
  };

  let context = '';
  let dockerfile = '';
  if (mode === 'build') {
    context = resolve(ctx.workspace, inputs.context ?? '.');
    if (!existsSync(context) || !statSync(context).isDirectory()) throw new InputError('context', inputs.context, 'a directory in the workspace');
    dockerfile = inputs.dockerfile ? resolve(ctx.workspace, inputs.dockerfile) : join(context, 'Dockerfile');
    if (!existsSync(dockerfile))
      throw new InputError('dockerfile', inputs.dockerfile ?? '', `an existing Dockerfile (${relative(ctx.workspace, dockerfile) || dockerfile} not found)`);
    for (const [id, p] of inputs['secret-files'] ?? []) {
      if (!existsSync(isAbsolute(p) ? p : resolve(ctx.workspace, p))) throw new InputError('secret-files', `${id}=${p}`, 'ID=PATH lines naming existing files');
    }
  }
  // promote: the source is promote-from, else this commit's SHA tag (from the rules, else the full SHA).
  const promoteSource = inputs['promote-from'] || idTag || commitSha(gh);
  if (mode === 'promote' && !/^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$/.test(promoteSource))
    throw new UserError(`promote mode needs promote-from (a tag or digest): this commit's SHA "${promoteSource}" is not usable`);

  const registry = new RegistryClient({
    registry: image.registry,
    insecure,
    credentials,
    http: deps.http,
    timeoutMs: inputs['registry-timeout'],
    signal: ctx.signal,
    onSecret: (s) => log.mask(s),
    onRetry: (m) => log.info(m),
  });
  const scope = `repository:${image.repository}:pull,push`;
  return {
    inputs,
    ctx,
    deps,
    log,
    image,
    tags,
    idTag,
    refs,
    labels,
    credentials,
    insecure,
    registry,
    scope,
    context,
    dockerfile,
    promoteSource,
    steps,
    findings: [],
    timed,
    digest: '',
    skipped: false,
    cacheSaved: '',
    decision: '',
    platformSizes: [],
  };
}

/** promote: Find source, Copy manifest (nothing is built or pulled). */
async function promote(b: BuildRun): Promise<void> {
  const { image, registry, tags, timed } = b;
  const source = b.promoteSource;
  b.log.info(`promote: ${image.name}:${source} → ${tags.map((t) => t.tag).join(', ')}`);
  const found = await timed(
    'Find source',
    () => registry.headManifest(image.repository, source, b.scope),
    (m) => (m ? m.digest : 'not found'),
  );
  if (!found)
    throw new UserError(`nothing to promote: ${image.name}${source.startsWith('sha256:') ? '@' : ':'}${source} is not in the registry (build it first)`);
  const targets = tags.map((t) => t.tag).filter((t) => t !== source);
  const copied = await timed(
    'Copy manifest',
    () => registry.copyTags(image.repository, found.digest, targets),
    () => `${targets.length} tag(s)`,
  );
  b.manifest = copied.manifest;
  b.digest = copied.digest;
  b.skipped = true;
  b.decision = `promote: copied the manifest of ${source} (${b.digest}) to ${targets.length} tag(s); nothing was built or pulled`;
}

/** Audit, first: with audit: error a finding stops the run before anything is built or pushed. */
async function audit(b: BuildRun): Promise<void> {
  const { inputs, ctx, log, dockerfile, findings } = b;
  const text = readFileSync(dockerfile, 'utf8');
  const buildArgs = Object.fromEntries(inputs['build-args'] ?? []);
  findings.push(...auditDockerfile(text, { target: inputs.target, buildArgs }), ...auditBuildArgs(buildArgs));
  const file = relative(ctx.workspace, dockerfile) || dockerfile;
  for (const fnd of findings) {
    const at = fnd.line > 0 ? { file, line: fnd.line, title: `Image audit: ${fnd.rule}` } : { title: `Image audit: ${fnd.rule}` };
    if (inputs.audit === 'error') log.error(fnd.message, at);
    else log.warning(fnd.message, at);
  }
  b.steps.push({ name: 'Audit', result: findings.length ? `${findings.length} finding(s)` : 'clean', ms: 0 });
  if (inputs.audit === 'error' && findings.length)
    throw new UserError(
      `image audit: ${findings.length} finding(s) (audit: error): ${findings.map((x) => `${x.rule}${x.line ? ` at line ${x.line}` : ''}`).join(', ')}`,
    );
}

/** Registry: already built? then Tag existing image (skip-existing), or Registry: access; push: false contacts nothing. */
async function checkRegistry(b: BuildRun): Promise<void> {
  const { inputs, image, registry, tags, idTag, timed } = b;
  if (!inputs.push) {
    b.decision = 'push: false: built locally, the registry was not contacted';
    return;
  }
  if (inputs['skip-existing'] && idTag) {
    // One HEAD answers "built already?" and, with the push scope, checks the credentials too.
    const existing = await timed(
      'Registry: already built?',
      () => registry.headManifest(image.repository, idTag, b.scope),
      (m) => (m ? `yes: ${m.digest}` : 'no'),
    );
    if (existing) {
      b.skipped = true;
      b.digest = existing.digest;
      const others = tags.map((t) => t.tag).filter((t) => t !== idTag);
      const copied = await timed(
        'Tag existing image',
        () => registry.copyTags(image.repository, existing.digest, others),
        () => `${others.length} tag(s)`,
      );
      b.manifest = copied.manifest;
      b.decision = `skip-existing: ${image.name}:${idTag} is already in the registry (${b.digest}); the build was skipped and the image reused`;
    } else {
      b.decision = `skip-existing: ${image.name}:${idTag} is not in the registry yet, so it was built`;
    }
  } else {
    await timed(
      'Registry: access',
      () => registry.checkAccess(image.repository, true),
      () => 'ok',
    );
    b.decision = inputs['skip-existing']
      ? 'skip-existing is on but no type=sha tag identifies the commit, so it was built'
      : 'skip-existing: false, so it was built';
  }
}

/** Detect builder, Restore layer cache, Build (builder), Push, Save layer cache. */
async function build(b: BuildRun): Promise<void> {
  const { inputs, ctx, deps, log, image, refs, labels, credentials, insecure, context, dockerfile, timed } = b;
  const detected = await timed(
    'Detect builder',
    () => detectBuilder(inputs.builder, { exec: deps.exec, env: ctx.env, signal: ctx.signal }),
    (d) => d.kind,
  );
  const builder = (b.builder = detected.kind);
  log.info(`builder: ${detected.reasons.join('; ')}`);
  const workDir = mkdtempSync(join(ctx.tempDir, 'slipway-build-'));
  const cacheDir = inputs.cache ? resolve(ctx.workspace, inputs['cache-dir'] || join(ctx.tempDir, 'slipway-layer-cache')) : undefined;
  const key = cacheDir ? layerCacheKey({ context, dockerfile, builder, platforms: inputs.platforms ?? [] }) : undefined;
  if (cacheDir && key) {
    mkdirSync(cacheDir, { recursive: true });
    b.cacheState = await timed(
      'Restore layer cache',
      () => restoreLayerCache(cacheDir, key, ctx.env, deps.cacheModule),
      (r) => `${r.status}${r.matchedKey ? ` (${r.matchedKey})` : ''}${r.reason ? `: ${r.reason}` : ''}`,
    );
    if (b.cacheState.status === 'error') log.warning(`layer cache restore failed, building without it: ${b.cacheState.reason}`);
  }
  const secretFiles = (inputs['secret-files'] ?? []).map(([id, p]) => [id, isAbsolute(p) ? p : resolve(ctx.workspace, p)] as [string, string]);
  const prepared = prepareSecrets(inputs.secrets ?? [], secretFiles, workDir);
  try {
    let authFile: string | undefined;
    if (inputs.push && credentials) {
      if (builder === 'docker')
        await dockerLogin(authKey(image.registry), credentials.username, credentials.password, { exec: deps.exec, env: ctx.env, signal: ctx.signal });
      else authFile = writeAuthFile(workDir, authKey(image.registry), credentials.username, credentials.password);
    }
    const outcome = await log.group(`Build ${refs[0]} with ${builder}`, () =>
      runBuild(
        {
          kind: builder,
          context,
          dockerfile,
          refs,
          labels,
          annotations: Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith('org.opencontainers.image.'))),
          buildArgs: inputs['build-args'] ?? [],
          target: inputs.target,
          platforms: inputs.platforms ?? [],
          secrets: prepared.secrets,
          cacheDir,
          workDir,
          push: inputs.push,
          insecure,
          authFile,
        },
        { exec: deps.exec, env: ctx.env, signal: ctx.signal, timeoutMs: inputs['build-timeout'], onLine: (l) => log.info(l) },
      ),
    );
    b.outcome = outcome;
    b.steps.push({ name: `Build (${builder})`, result: `${outcome.cacheHits}/${outcome.steps} steps cached`, ms: outcome.buildMs });
    if (outcome.pushMs) b.steps.push({ name: 'Push', result: refs[0]!, ms: outcome.pushMs });
  } finally {
    prepared.cleanup();
    rmSync(workDir, { recursive: true, force: true });
  }
  const cacheState = b.cacheState;
  if (cacheDir && key && cacheState) {
    const saved = await timed(
      'Save layer cache',
      () => saveLayerCache(cacheDir, key, cacheState, ctx.env, deps.cacheModule),
      (s) => s.reason,
    );
    b.cacheSaved = saved.reason;
  }
}

/** Registry: verify digest (the registry's word on it), then Tag by manifest copy (the other tags). */
async function publish(b: BuildRun): Promise<void> {
  const { image, registry, tags, refs, outcome, timed } = b;
  const pushed = await timed(
    'Registry: verify digest',
    () => registry.headManifest(image.repository, tags[0]!.tag, b.scope),
    (m) => m?.digest ?? 'missing',
  );
  if (!pushed) throw new UserError(`${refs[0]} is not in the registry after the push`);
  if (outcome?.digest && outcome.digest !== pushed.digest)
    throw new UserError(`${refs[0]}: the builder reported digest ${outcome.digest} but the registry has ${pushed.digest}`);
  const digest = (b.digest = pushed.digest);
  const others = b.builder === 'docker' ? [] : tags.slice(1).map((t) => t.tag);
  const copied = await timed(
    'Tag by manifest copy',
    () => registry.copyTags(image.repository, digest, others),
    () => `${others.length} tag(s)`,
  );
  b.manifest = copied.manifest;
}

/** The image's compressed size (not a step of its own: a failure leaves it unknown). */
async function measureSize(b: BuildRun): Promise<void> {
  const s = await b.registry.imageSize(b.image.repository, b.manifest!).catch(() => undefined);
  b.sizeBytes = s?.total;
  b.platformSizes = s?.platforms ?? [];
}

const building = (b: BuildRun) => b.inputs.mode !== 'promote';

/** The run, in order: each step with the rows it adds to the summary's Steps table (its timed() calls). */
const STEPS: ReadonlyArray<{ name: string; when: (b: BuildRun) => boolean; run: (b: BuildRun) => Promise<void> }> = [
  { name: 'promote', when: (b) => !building(b), run: promote },
  { name: 'audit', when: (b) => building(b) && b.inputs.audit !== 'off', run: audit },
  { name: 'registry', when: building, run: checkRegistry },
  { name: 'build', when: (b) => building(b) && !b.skipped, run: build },
  { name: 'publish', when: (b) => building(b) && !b.skipped && b.inputs.push, run: publish },
  { name: 'size', when: (b) => b.manifest !== undefined, run: measureSize },
];

export async function run(inputs: BuildInputs, ctx: ActionContext, deps: BuildDeps = {}): Promise<ActionResult> {
  const log = ctx.log;
  for (const s of [inputs.password, inputs.token, inputs['github-token']]) if (s) log.mask(s);
  for (const [, v] of inputs.secrets ?? []) log.mask(v);

  const started = performance.now();
  const now = deps.now?.() ?? new Date();
  const b = prepare(inputs, ctx, deps, now);
  let failure: string | undefined;
  try {
    for (const step of STEPS) if (step.when(b)) await step.run(b);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    failure = `build-and-tag: ${errorMessage(err)}`;
    log.error(errorMessage(err));
  }
  return report(b, failure, performance.now() - started);
}

/** The outputs and the summary a person reads. */
function report(b: BuildRun, failure: string | undefined, totalMs: number): ActionResult {
  const {
    inputs,
    ctx,
    image,
    tags,
    refs,
    labels,
    registry,
    steps,
    findings,
    dockerfile,
    digest,
    skipped,
    manifest,
    outcome,
    builder,
    cacheState,
    cacheSaved,
    decision,
    sizeBytes,
    platformSizes,
  } = b;
  const gh = ctx.github;
  const mode = inputs.mode;
  const idTag = b.idTag;
  const imageRef = digest ? `${image.name}@${digest}` : inputs.push || mode === 'promote' ? '' : refs[0]!;
  const fullRefs = refs;
  const metadata = {
    image: imageRef,
    digest,
    tags: fullRefs,
    labels,
    annotations: labels,
    skipped,
    mode,
    revision: commitSha(gh),
    identityTag: idTag ?? null,
    builder: builder ?? null,
    imageId: outcome?.imageId ?? null,
    mediaType: manifest?.mediaType ?? null,
    sizeBytes: sizeBytes ?? null,
    platforms: platformSizes,
    buildMs: outcome ? Math.round(outcome.buildMs) : null,
    cacheHits: outcome?.cacheHits ?? null,
    steps: outcome?.steps ?? null,
    cache: cacheState?.status ?? (inputs.cache ? null : 'disabled'),
    audit: findings,
    registryRequests: registry.requests,
  };

  const verb = failure
    ? 'failed'
    : mode === 'promote'
      ? 'promoted'
      : skipped
        ? 'reused (already built)'
        : inputs.push
          ? 'built and pushed'
          : 'built (not pushed)';
  let summary = heading(`build-and-tag: ${image.name} ${verb}`);
  if (failure) summary += `\n**${failure.replace(/^build-and-tag: /, '')}**\n`;
  summary += `\n${imageRef ? `Image: \`${imageRef}\`` : `Image: \`${image.name}\``} · ${formatDuration(totalMs)}\n\n`;
  if (decision) summary += `Why: ${decision}.\n\n`;
  summary += table(
    ['', ''],
    [
      ['Digest', digest ? `\`${digest}\`` : '—'],
      ['Size (compressed)', `${size(sizeBytes)}${platformSizes.length ? ` (${platformSizes.map((p) => `${p.platform}: ${size(p.size)}`).join(', ')})` : ''}`],
      ['Build time', outcome ? formatDuration(outcome.buildMs) : skipped ? 'no build (reused)' : '—'],
      [
        'Cache hits',
        outcome
          ? `${outcome.cacheHits} of ${outcome.steps} steps${cacheState ? ` · layer cache ${cacheState.status}${cacheState.reason ? ` (${cacheState.reason})` : ''}` : ''}${cacheSaved ? ` · ${cacheSaved}` : ''}`
          : '—',
      ],
      ['Builder', builder ?? '—'],
      ['Commit', `\`${commitSha(gh)}\``],
    ],
  );
  summary += `\n${heading('Tags', 3)}${table(
    ['Tag', 'Rule', 'Reference'],
    tags.map((t) => [`\`${t.tag}\``, t.source, `\`${image.name}:${t.tag}\``]),
  )}`;
  summary += `\n${heading('Steps', 3)}${table(
    ['Step', 'Result', 'Time'],
    steps.map((s) => [s.name, s.result, formatDuration(s.ms)]),
  )}`;
  if (mode === 'build' && inputs.audit !== 'off') {
    const file = dockerfile ? relative(ctx.workspace, dockerfile) : 'Dockerfile';
    summary += `\n${heading(`Image audit (${findings.length ? `${findings.length} finding${findings.length > 1 ? 's' : ''}` : 'clean'}, audit: ${inputs.audit})`, 3)}`;
    summary += findings.length
      ? table(
          ['Line', 'Rule', 'Finding'],
          findings.map((x) => [x.line ? `${file}:${x.line}` : 'build-args', x.rule, x.message]),
        )
      : 'No findings.\n';
  }
  summary += `\n${details(
    'Labels and annotations',
    code(
      Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
    ),
  )}`;
  if (outcome)
    summary += details(
      'Builder commands',
      code(outcome.commands.map((c) => [c.file, ...c.args].map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ')).join('\n\n'), 'sh'),
    );

  return {
    outputs: {
      image: imageRef,
      digest,
      tags: fullRefs,
      labels,
      metadata,
      skipped,
    },
    summary,
    failure,
  };
}
