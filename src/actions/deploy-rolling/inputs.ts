import { z } from 'zod';
import { defineAction, f, out, type InputSpec } from '../../manifest/fields.ts';
import { errorMessage } from '../../lib/errors.ts';
import { parsePercent } from '../../lib/duration.ts';
import { BATCHES_HELP, MANUAL_PAUSE_HELP, checkManualPauses, parseBatches, splitRamp, type BatchSize, type Ramp } from '../../deploy/batches.ts';

const argv = z.array(z.union([z.string(), z.number()]).transform(String)).min(1, 'needs at least the program name');
const argvInput = (description: string): InputSpec<string[]> =>
  f.yaml(argv, { description, expected: 'a YAML or JSON argument list such as ["node", "server.js", "--port", "{port}"]' });

function batchesInput(description: string, expected: string, single: boolean): InputSpec<BatchSize[]> {
  return {
    description,
    expected,
    schema: z.string().transform((s, ctx) => {
      try {
        const b = parseBatches(s);
        if (single && b.length !== 1) throw new Error('one size only');
        if (single && b.manualPauses) throw new Error('no "pause: manual" here (give it in batches)');
        return b;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: errorMessage(err) });
        return z.NEVER;
      }
    }) as unknown as z.ZodType<BatchSize[]>,
  };
}

const hostObject = z
  .object({
    host: z.string().min(1),
    name: z
      .string()
      .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only')
      .optional(),
    'app-port': z.number().int().min(1).max(65535).optional(),
    'deploy-root': z.string().regex(/^\//, 'an absolute path').optional(),
  })
  .strict();
const hostsSchema = z.union([
  z.string().transform((s) =>
    s
      .split(/[,\s]+/)
      .filter(Boolean)
      .map((host) => ({ host })),
  ),
  z.array(z.union([z.string().transform((host) => ({ host })), hostObject])).min(1),
]);
export type HostsInput = z.infer<typeof hostsSchema>;

/** `5%,50%,100%` → [0.05, 0.5, 1]: increasing shares of traffic, the last one 100% (added when missing). */
export function parseSteps(text: string): Ramp<number> {
  const { parts, manualPauses } = splitRamp(text, 'step');
  if (!parts.length) throw new Error('no steps given');
  const out = parts.map((p) => {
    if (!/%$/.test(p)) throw new Error(`step ${JSON.stringify(p)} is not a percentage`);
    const v = parsePercent(p);
    if (!(v > 0 && v <= 1)) throw new Error(`step ${JSON.stringify(p)} is not in (0%, 100%]`);
    return v;
  });
  for (let k = 1; k < out.length; k++) if (out[k]! <= out[k - 1]!) throw new Error(`steps must increase (${parts[k - 1]} then ${parts[k]})`);
  if (out.at(-1) !== 1) out.push(1);
  checkManualPauses(manualPauses, out.length, 'step');
  const ramp: Ramp<number> = out;
  if (manualPauses.length) ramp.manualPauses = manualPauses;
  return ramp;
}

const stepsInput = (description: string, def: string): InputSpec<number[]> => ({
  description,
  default: def,
  expected: 'increasing percentages such as 5%,50%,100% (100% is added when missing); "pause: manual" between two waits for slipway promote or abort',
  schema: z.string().transform((s, ctx) => {
    try {
      return parseSteps(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
      return z.NEVER;
    }
  }) as unknown as z.ZodType<number[]>,
});

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const spec = defineAction({
  name: 'deploy-rolling',
  title: 'Slipway deploy-rolling',
  description:
    'Rolling, canary and blue/green deploys with readiness checks, load-balancer drain, gates between steps and automatic rollback: on VM hosts over SSH behind nginx, on Kubernetes, or through your own commands.',
  branding: { icon: 'refresh-cw', color: 'blue' },
  post: true,
  inputs: {
    target: f.enum(['hosts', 'command', 'kubernetes'] as const, {
      description: 'Where to deploy: hosts (SSH + nginx), command (your own start/stop/drain commands) or kubernetes (a Deployment, through kubectl).',
      default: 'hosts',
    }),
    strategy: f.enum(['rolling', 'canary', 'blue-green'] as const, {
      description:
        'rolling: batches, in place. canary: the new version gets canary-steps of the traffic in turn (hosts: nginx weight=; kubernetes: a <name>-canary Deployment sized to the step), gated between steps. blue-green: the whole new set starts beside the old one (hosts: on app-port + blue-green-port-offset; kubernetes: <name>-green), then traffic switches at once; the old set is kept for keep-previous. canary and blue-green on hosts need nginx-host.',
      default: 'rolling',
    }),
    version: f.string({
      description:
        'The version (release name) to deploy. Required unless rollback is true, or with target kubernetes (default: the image tag, else the start of its digest).',
      pattern: /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/,
      expected: "a release name of letters, digits, '.', '_', '+', '-'",
    }),
    rollback: f.boolean({ description: 'Put every instance back on the previous version kept on the target, without a new build.', default: 'false' }),
    'kill-switch': f.enum(['on-failure', 'first', 'off'] as const, {
      description:
        "The release's feature flags (slipway.yml's flags section of SLIPWAY_ENVIRONMENT, `release`; the token a secret reference resolved from the step's env). `on-failure`: when the rollout fails (readiness, gate, target error) they are switched off BEFORE any instance rolls back; with rollback: true, first of all. `first`: switched off before anything else (a rollback to a chosen version). `off`: never. A flag server that is down does not stop the rollback: the flags it could not switch are named (flags-switched, the summary, the failure).",
      default: 'on-failure',
    }),
    batches: batchesInput(
      'Batch sizes: a ramp like 1,25%,100% (each entry is one batch: a count or a percentage of the fleet; the last repeats). Default 1 (one instance at a time). "pause: manual" between two entries waits for slipway promote or abort (hosts target).',
      `${BATCHES_HELP}; ${MANUAL_PAUSE_HELP}`,
      false,
    ),
    'max-unavailable': batchesInput(
      'Instead of batches: how many instances (or what percentage) may be switched at once.',
      'a whole number ≥ 1 or a percentage such as 25%',
      true,
    ),
    pause: f.duration({ description: 'Wait between batches (before the gate).', default: '0s', max: 3_600_000 }),
    'ready-path': f.string({
      description: 'Readiness path polled on each instance (GET, 2xx = ready).',
      default: '/ready',
      pattern: /^\/\S*$/,
      expected: 'a path starting with /',
    }),
    'ready-timeout': f.duration({ description: 'Time an instance has to become ready.', default: '60s', min: 100, max: 3_600_000 }),
    'ready-interval': f.duration({
      description:
        'Time between readiness probes once an instance answers 2xx (the healthy-threshold answers); until its first 2xx it is probed every 50ms, or at this interval when shorter.',
      default: '250ms',
      min: 10,
      max: 60_000,
    }),
    'healthy-threshold': f.integer({ description: 'Consecutive 2xx answers needed.', default: '2', min: 1, max: 100 }),
    'min-ready': f.duration({ description: 'How long an instance must stay ready before its batch counts as done.', default: '0s', max: 3_600_000 }),
    'drain-timeout': f.duration({
      description: 'After an instance left the load balancer: time for in-flight requests (SIGTERM), then SIGKILL.',
      default: '30s',
      max: 3_600_000,
    }),
    'gate-command': argvInput('A command run between batches (argument list; {batch}, {version}, {new_urls} substituted); exit 0 = pass.'),
    'gate-url': f.url({ description: 'An HTTP check between batches: GET, 2xx = pass.' }),
    'gate-slo': f.string({
      description: 'SLO objectives checked between batches by probing the new instances (baseline: the old ones), e.g. "error-ratio <= 1%, p99 <= 1s".',
    }),
    'gate-duration': f.duration({ description: 'How long the SLO gate probes after each batch.', default: '30s', min: 1000, max: 3_600_000 }),
    'gate-rate': f.number({ description: 'Requests per second the SLO gate sends.', default: '20', min: 0.1, max: 10_000 }),
    hosts: f.yaml(hostsSchema, {
      description: 'hosts target: the hosts, as "web1,web2:2222,deploy@web3" or a YAML list of {host: "[user@]host[:port]", name, app-port, deploy-root}.',
      expected: 'a comma-separated list of [user@]host[:port], or a YAML list of {host, name, app-port, deploy-root}',
    }),
    'ssh-user': f.string({
      description: 'hosts target: SSH login user.',
      default: 'deploy',
      pattern: /^[A-Za-z0-9._][A-Za-z0-9._-]*$/,
      expected: 'a user name',
    }),
    'ssh-port': f.integer({ description: 'hosts target: SSH port.', default: '22', min: 1, max: 65535 }),
    'ssh-key': f.string({
      description: 'hosts target: private key (secret; written 0600 to RUNNER_TEMP and deleted after). Without it, ssh-agent is used.',
      secret: true,
      expected: 'an OpenSSH private key',
    }),
    'known-hosts': f.string({
      description: 'hosts target: known_hosts lines for the hosts (host key verification is always on unless insecure-skip-host-key-check).',
      expected: 'known_hosts lines',
    }),
    'host-key': f.string({
      description: 'hosts target: the public host key(s) the hosts present ("ssh-ed25519 AAAA…", one per line), or known_hosts lines.',
      expected: 'host public keys',
    }),
    'insecure-skip-host-key-check': f.boolean({ description: 'hosts target: accept any host key (man-in-the-middle risk; warns loudly).', default: 'false' }),
    'app-port': f.integer({ description: 'hosts target: port the app listens on (PORT); per host with the YAML form.', default: '8080', min: 1, max: 65535 }),
    'deploy-root': f.string({
      description: 'hosts target: directory holding releases/, current and previous on each host.',
      default: '/srv/app',
      pattern: /^\/\S*$/,
      expected: 'an absolute path',
    }),
    artifact: f.string({ description: 'hosts target: local directory or .tar.gz uploaded as releases/<version> where missing.' }),
    'start-command': argvInput(
      'Start command (argument list). hosts: runs in the release directory in the background; {version}, {port}, {release_dir}, {deploy_root}, {host}, {instance} substituted. command target: starts {version} on {instance}.',
    ),
    'stop-command': argvInput('Stop command (argument list). hosts default: SIGTERM to the started process, SIGKILL after drain-timeout.'),
    'systemd-unit': f.string({
      description: 'hosts target: restart this systemd unit (it runs from <deploy-root>/current) instead of start-command.',
      pattern: /^[A-Za-z0-9@._:-]+$/,
      expected: 'a unit name',
    }),
    env: f.yaml(z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()]).transform(String)), {
      description: 'hosts target: environment for the start command (YAML map; placeholders allowed). APP_VERSION and PORT are always set.',
      expected: 'a YAML or JSON map of variable names to values',
    }),
    'keep-releases': f.integer({
      description: 'hosts target: releases kept on each host (current and previous are always kept).',
      default: '5',
      min: 2,
      max: 1000,
    }),
    'instance-url': f.string({
      description: 'URL of an instance, for readiness and gates: hosts {host} {port}; command {instance}.',
      default: 'http://{host}:{port}',
      pattern: /^https?:\/\/\S+$/,
      expected: 'a URL template such as http://{host}:{port}',
    }),
    'nginx-host': f.string({
      description: 'hosts target: where nginx runs: "local" (this machine), [user@]host[:port] over SSH, or empty for no load balancer.',
      pattern: /^(local|(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.[\]:-]+)$/,
      expected: 'local or [user@]host[:port]',
    }),
    'nginx-upstream-file': f.string({
      description: 'hosts target: the file Slipway writes the upstream block into (include it in the http {} of nginx.conf).',
      default: '/etc/nginx/conf.d/slipway-upstream.conf',
      pattern: /^\/\S*$/,
      expected: 'an absolute path',
    }),
    'nginx-upstream-name': f.string({
      description: 'hosts target: name of the generated upstream.',
      default: 'app',
      pattern: /^[A-Za-z0-9_]+$/,
      expected: 'an nginx upstream name',
    }),
    'nginx-command': argvInput('hosts target: how nginx is called (argument list); -t and -s reload are appended.'),
    'nginx-pid-file': f.string({
      description:
        "hosts target: nginx's pid file (default: the pid directive of nginx.conf, read with nginx -T). After a reload that took instances out, the stop waits until the workers that ran before the reload have exited (observed; bounded by drain-timeout). Unknown: a fixed 100 ms.",
      pattern: /^\/\S*$/,
      expected: 'an absolute path',
    }),
    'haproxy-host': f.string({
      description:
        'hosts target: where HAProxy runs, instead of nginx: "local" (this machine) or [user@]host[:port] over SSH (socat must be installed there). Driven through its runtime API: drain, undrain, canary weights and blue/green need no reload.',
      pattern: /^(local|(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.[\]:-]+)$/,
      expected: 'local or [user@]host[:port]',
    }),
    'haproxy-socket': f.string({
      description: "hosts target: HAProxy's admin socket (stats socket <path> level admin).",
      default: '/run/haproxy/admin.sock',
      pattern: /^\/\S*$/,
      expected: 'an absolute path',
    }),
    'haproxy-backend': f.string({
      description: 'hosts target: the HAProxy backend whose servers are the instances (each server named like its instance).',
      default: 'app',
      pattern: /^[A-Za-z0-9_.:-]+$/,
      expected: 'a backend name',
    }),
    'haproxy-state-file': f.string({
      description:
        "hosts target: HAProxy's server-state-file; Slipway writes `show servers state` into it after each change, so a reload (load-server-state-from-file global) keeps the runtime state.",
      pattern: /^\/\S*$/,
      expected: 'an absolute path',
    }),
    instances: f.list({ description: 'command target: instance names.', item: /^[A-Za-z0-9._:@-]+$/, itemExpected: 'names' }),
    'drain-command': argvInput('command target: takes {instance} out of the load balancer.'),
    'undrain-command': argvInput('command target: puts {instance} back.'),
    'ready-command': argvInput('command target: exit 0 when {instance} is ready (instead of HTTP).'),
    'switch-back-command': argvInput('command target: starts the earlier {version} on {instance} (default: start-command).'),
    'version-command': argvInput(
      "Prints the version an instance serves (argument list). command target: runs here with {instance}; it also tells the version before the rollout. hosts target: runs on the host over SSH with {port}, {host}, {instance}, {deploy_root}. With version-check: required, readiness checks its answer instead of the readiness answer's version.",
    ),
    'version-check': f.enum(['required', 'off'] as const, {
      description:
        'required: an instance counts as ready only when it says it serves the version being rolled out (an X-App-Version header or a JSON "version" field on ready-path, or version-command); "web2 answers v3, expected v4" fails the rollout. off: a 2xx is enough (for apps that cannot say their version; the version that answers is then not verified).',
      default: 'required',
    }),
    'previous-version': f.string({
      description: 'command target without version-command: the version every instance runs now.',
      pattern: /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/,
      expected: 'a release name',
    }),
    lock: f.boolean({
      description:
        'Take the deploy lock before the first change and release it at the end (also from the post step after a cancellation). hosts: <deploy-root>/.slipway-lock on every host, all or none; kubernetes: the Lease slipway-deploy-lock (coordination.k8s.io/v1) in the namespace; command: with lock-command only. A second deploy fails at once naming the holder, or waits lock-wait.',
      default: 'true',
    }),
    'pause-deadline': f.duration({
      description:
        'A "pause: manual" step in batches or canary-steps waits this long for `slipway promote` (go on) or `slipway abort` (roll back); then it aborts and rolls back.',
      default: '1h',
      min: 1000,
      max: 7 * 24 * 3_600_000,
    }),
    'lock-wait': f.duration({
      description: 'How long to wait for a deploy lock held by another deploy (0s: fail at once, naming the holder).',
      default: '0s',
      max: 24 * 3_600_000,
    }),
    'lock-ttl': f.duration({
      description:
        'How long the lock stays valid; after that another deploy breaks it, with a warning naming the old holder. Make it longer than your longest deploy.',
      default: '1h',
      min: 10_000,
      max: 7 * 24 * 3_600_000,
    }),
    'lock-reason': f.string({
      description: 'Why this deploy holds the lock, shown to whoever finds it held (default: "deploy <version>" or "rollback").',
      pattern: /^[^\r\n]{1,200}$/,
      expected: 'one line of at most 200 characters',
    }),
    'lock-command': argvInput(
      'command target: the deploy lock ({action} = acquire or release, {token}, {version}, {until}, {holder}); acquire exits 0 when taken, 1 when held (printing the holder).',
    ),
    'canary-steps': stepsInput("strategy canary: the new version's share of traffic at each step; the gate runs between steps.", '5%,50%,100%'),
    'keep-previous': f.duration({
      description:
        'strategy blue-green: how long the old set keeps running after the switch, for an instant switch back (rollback: true). 0s stops it right after the gate.',
      default: '10m',
      max: 7 * 24 * 3_600_000,
    }),
    'blue-green-port-offset': f.integer({
      description: 'hosts target, strategy blue-green: the second slot of each host listens on app-port + this.',
      default: '1',
      min: 1,
      max: 60_000,
    }),
    image: f.string({
      description: 'kubernetes target: the image to deploy, by digest (registry/app@sha256:…; a tag works but warns). Required unless rollback is true.',
      pattern: /^[A-Za-z0-9][A-Za-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/,
      expected: 'an image reference such as ghcr.io/acme/app@sha256:<64 hex>',
    }),
    deployment: f.string({
      description: 'kubernetes target: the Deployment to roll out (optional with manifests holding exactly one Deployment).',
      pattern: K8S_NAME,
      expected: 'a Deployment name (lowercase letters, digits and -)',
    }),
    namespace: f.string({
      description: "kubernetes target: the namespace (default: the context's namespace, else default).",
      pattern: K8S_NAME,
      expected: 'a namespace name',
    }),
    context: f.string({
      description: "kubernetes target: the kubeconfig context (default: the kubeconfig's current context).",
      pattern: /^[^\s-][^\s]*$/,
      expected: 'a context name',
    }),
    kubeconfig: f.string({
      description: 'kubernetes target: path of the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).',
      pattern: /^[^-]\S*$/,
      expected: 'a file path',
    }),
    'kubeconfig-data': f.string({
      description: 'kubernetes target: the kubeconfig content (secret; written 0600 to RUNNER_TEMP and deleted after). Use instead of kubeconfig.',
      secret: true,
      expected: 'a kubeconfig (YAML)',
    }),
    container: f.string({
      description: 'kubernetes target: the container whose image changes (default: the only one, or the one named like the Deployment).',
      pattern: K8S_NAME,
      expected: 'a container name',
    }),
    'progress-deadline': f.duration({
      description:
        "kubernetes target: time the rollout may go without progress (set as the Deployment's progressDeadlineSeconds; default: the Deployment's own, 600s).",
      min: 1000,
      max: 24 * 3_600_000,
    }),
    manifests: f.string({
      description:
        'kubernetes target, strategy rolling: a directory of manifests applied server-side (field manager slipway) with the image substituted, then the Deployment is followed.',
    }),
    'drain-delay': f.duration({
      description:
        "kubernetes target: after the Service's endpoints stopped listing pods (blue/green switch, switch back), time for kube-proxy and ingress controllers to catch up before those pods are scaled down.",
      default: '5s',
      max: 600_000,
    }),
    'runner-in-cluster': f.boolean({
      description:
        'kubernetes target: the runner is inside the cluster network (a self-hosted runner in a pod), so gates probe pod IPs directly. Default: gates reach pods through the API server (kubectl proxy), which works wherever kubectl does.',
      default: 'false',
    }),
  },
  outputs: {
    version: out.text('The version the fleet runs after a successful deploy (the target version).', ['v2', '3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c']),
    'previous-version': out.text('The version most instances ran before.', ['v1', '0123456789abcdef0123456789abcdef01234567']),
    instances: out.json(
      'JSON map: instance → {version, status, readyMs}.',
      'a JSON map of instances',
      z.record(z.string(), z.looseObject({ version: z.string().optional(), status: z.string() })),
      ['{"web1":{"version":"v2","status":"switched","readyMs":812}}'],
    ),
    'rolled-back': out.boolean("'true' when a failure rolled the fleet back (or rollback mode ran), else 'false'."),
    duration: out.number('Seconds the rollout took.', ['12.4']),
    strategy: out.enum('The strategy that ran: rolling, canary or blue-green.', ['rolling', 'canary', 'blue-green']),
    revision: out.text('kubernetes target: the Deployment revision after the step (empty for other targets).', ['7'], /^\d*$/, 'a revision number'),
    'flags-switched': out.json(
      "The kill switch: the release flags (slipway.yml's flags section, `release`) switched off before the rollback, as a JSON list of flag changes (flag, provider, server, environment, from, to, ok, error, who, at, run); a flag it could not switch has ok false. [] when the kill switch did not run. Give it to notify as details: {flags: …}.",
      'a JSON list of flag changes',
      z.array(z.looseObject({ flag: z.string(), action: z.string(), ok: z.boolean() })),
      [
        '[]',
        '[{"flag":"checkout","provider":"unleash","server":"https://unleash.example.com","environment":"production","action":"disable","from":{"enabled":true,"rollout":25},"to":{"enabled":false,"rollout":25},"who":"octocat","run":"https://github.com/acme/api/actions/runs/1","at":"2026-12-06T21:00:00.000Z","durationMs":41,"ok":true,"attempts":1}]',
      ],
    ),
  },
});
