/**
 * An opt-in "kubelet" and "kube-proxy" for the fake cluster (off by default: a fake cluster without
 * one behaves as before, pods run nothing and become ready on a timer).
 *
 * With startKubelet(fake, …):
 * - Each pod the fake's controllers create is backed by a real process on this machine. The pod's
 *   container image maps to a program through `images` (a table the test gives, or pullImage():
 *   the image's own files, config and command from a real registry). The process gets the image's
 *   Env, the container's `env` (value, and valueFrom fieldRef / secretKeyRef from the cluster's
 *   Secrets), and listens on the pod's own loopback address: pods get IPs 127.<net>.<k>.<j> (all of
 *   127.0.0.0/8 is loopback on Linux) and the program is told it in HOST, the stand-in for the
 *   pod's network namespace (the process must listen on $HOST, as the sample app does).
 * - Readiness is a real HTTP GET of the container's readinessProbe (httpGet path and port) every
 *   `probeEveryMs`; the pod is Ready only while it answers 200–399. No probe: ready once running.
 * - Deletion: SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds (× the fake's
 *   graceMsPerSecond); the pod object goes away once the process exited. A process that exits by
 *   itself leaves its pod Running but not Ready (no restarts are modelled).
 * - kube-proxy: every Service port gets a TCP proxy on 127.0.0.1 (the port the test fixes in
 *   `servicePorts`, else a free one) that sends each new connection to a ready endpoint of the
 *   Service's EndpointSlices, round robin; with none ready the connection is closed at once.
 * - The API server's pod and service proxies (`kubectl proxy`, what Slipway's gates use) reach the
 *   real processes; `scrapeFile` (Prometheus file_sd) lists every running pod's container ports.
 * Every process it starts is stopped by PID in stop(), and SIGKILLed if the test process exits first.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeKube } from './server.ts';
import type { K8sObject, PodRuntime } from './cluster.ts';

/** What a container runs: argv[0] is a path or a name on PATH. */
export interface Program {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/** image reference → program; a rejection leaves the pod not running (like ErrImagePull), with the reason in `failures`. */
export type ImageTable = (image: string) => Promise<Program>;

export interface KubeletOptions {
  images: ImageTable;
  /** Local ports of Services' kube-proxies, keyed `namespace/name:port` (others get a free port). */
  servicePorts?: Record<string, number>;
  /** A Prometheus file_sd file the kubelet rewrites: every running pod's container ports (labels namespace, pod). */
  scrapeFile?: string;
  /** How often readiness probes run (ms). Default 200. */
  probeEveryMs?: number;
  /** Where process logs go (default: a temp dir, removed by stop()). */
  logDir?: string;
}

interface PodProc {
  uid: string;
  name: string;
  namespace: string;
  ip: string;
  containerPorts: number[];
  child?: ChildProcess;
  exited: boolean;
  ready: boolean;
  probe?: { path: string; port: number };
  probeTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  terminating: boolean;
  log: string;
}

interface ServiceProxy {
  key: string;
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
}

export interface Kubelet {
  /** http://127.0.0.1:PORT of a Service port's kube-proxy (the Service must exist). */
  serviceUrl(namespace: string, name: string, port?: number): string;
  /** PIDs of the pod processes started so far (alive or not). */
  pids(): number[];
  /** Pods' processes still running: namespace/pod → pid. */
  running(): Record<string, number>;
  /** Images that could not be turned into a program (image → reason). */
  failures: Map<string, string>;
  /** The process log of a pod (stdout and stderr). */
  podLog(namespace: string, pod: string): string;
  stop(): Promise<void>;
}

const alive = new Set<ChildProcess>();
let hooked = false;
function killAllOnExit() {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of alive) {
      try {
        c.kill('SIGKILL');
      } catch {}
    }
  });
}

/** A pod's env: the image's, then the container's (value, fieldRef, secretKeyRef). */
function containerEnv(pod: K8sObject, c: K8sObject, secret: (ns: string, name: string) => K8sObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of (c.env ?? []) as K8sObject[]) {
    if (typeof e.value === 'string') out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const path = String(e.valueFrom.fieldRef.fieldPath);
      const label = /^metadata\.labels\['(.+)'\]$/.exec(path)?.[1];
      const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(path)?.[1];
      const v =
        path === 'metadata.name' ? pod.metadata.name
        : path === 'metadata.namespace' ? pod.metadata.namespace
        : path === 'metadata.uid' ? pod.metadata.uid
        : path === 'status.podIP' ? pod.status?.podIP
        : label !== undefined ? pod.metadata.labels?.[label]
        : annotation !== undefined ? pod.metadata.annotations?.[annotation]
        : undefined;
      if (v === undefined && !label && !annotation) throw new Error(`env ${e.name}: fieldRef ${path} is not supported by the fake kubelet`);
      out[e.name] = v ?? '';
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const s = secret(pod.metadata.namespace, ref.name);
      const raw = s?.data?.[ref.key] !== undefined ? Buffer.from(String(s.data[ref.key]), 'base64').toString('utf8') : s?.stringData?.[ref.key];
      if (raw === undefined) {
        if (ref.optional) continue;
        throw new Error(`env ${e.name}: secret "${ref.name}" ${s ? `has no key "${ref.key}"` : 'not found'} (CreateContainerConfigError)`);
      }
      out[e.name] = raw;
    } else throw new Error(`env ${e.name}: only value, fieldRef and secretKeyRef are supported by the fake kubelet`);
  }
  return out;
}

function portOf(c: K8sObject, port: unknown): number | undefined {
  if (typeof port === 'number') return port;
  return ((c.ports ?? []) as K8sObject[]).find((p) => p.name === port)?.containerPort;
}

export async function startKubelet(fake: FakeKube, o: KubeletOptions): Promise<Kubelet> {
  killAllOnExit();
  const cluster = fake.cluster;
  const logDir = o.logDir ?? mkdtempSync(join(tmpdir(), 'slipway-kubelet-'));
  const ownLogDir = !o.logDir;
  mkdirSync(logDir, { recursive: true });
  const probeEvery = o.probeEveryMs ?? 200;
  const pods = new Map<string, PodProc>();
  const started: number[] = [];
  const failures = new Map<string, string>();
  // Pod addresses: 127.<net>.<k>.<j>, a /16 of its own per kubelet (two test processes do not collide).
  const net16 = 64 + Math.floor(Math.random() * 128);
  let nextIp = 1;
  const allocateIp = () => {
    const n = nextIp++;
    return `127.${net16}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  };
  let stopping = false;

  const writeTargets = () => {
    if (!o.scrapeFile) return;
    const groups = [...pods.values()]
      .filter((p) => p.child && !p.exited)
      .flatMap((p) => p.containerPorts.map((port) => ({ targets: [`${p.ip}:${port}`], labels: { namespace: p.namespace, pod: p.name } })));
    const tmp = `${o.scrapeFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(groups, null, 1));
    renameSync(tmp, o.scrapeFile); // atomic: Prometheus never reads half a file
  };

  const probe = (p: PodProc) => {
    if (!p.probe) {
      p.ready = !!p.child && !p.exited;
      return;
    }
    const req = (globalThis.fetch as typeof fetch)(`http://${p.ip}:${p.probe.port}${p.probe.path}`, { signal: AbortSignal.timeout(1000), headers: { 'user-agent': 'kube-probe/1.32' } });
    req
      .then(async (r) => {
        await r.arrayBuffer();
        p.ready = r.status >= 200 && r.status < 400 && !p.exited && !p.terminating;
      })
      .catch(() => {
        p.ready = false;
      });
  };

  const launch = async (pod: K8sObject, p: PodProc) => {
    const c = (pod.spec?.containers ?? [])[0] as K8sObject;
    let program: Program;
    let env: Record<string, string>;
    try {
      program = await o.images(String(c.image));
      env = containerEnv(pod, c, (ns, name) => cluster.tryGet('secrets', ns, name));
    } catch (err) {
      failures.set(String(c.image), (err as Error).message);
      writeFileSync(p.log, `kubelet: ${(err as Error).message}\n`, { flag: 'a' });
      return;
    }
    if (stopping || p.terminating) return;
    const fd = openSync(p.log, 'a');
    try {
      // command replaces the image's Entrypoint and Cmd; args replaces its Cmd.
      const args = c.command ? [...(c.command as string[]), ...((c.args as string[]) ?? [])] : c.args ? [program.argv[0]!, ...(c.args as string[])] : program.argv;
      // A fresh environment: the image's, the container's, and HOST (the pod's address); PATH to find the program.
      const child = spawn(args[0]!, args.slice(1), { cwd: program.cwd, stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...program.env, ...env, HOST: p.ip } });
      p.child = child;
      if (child.pid) started.push(child.pid);
      alive.add(child);
      child.once('exit', () => {
        p.exited = true;
        p.ready = false;
        alive.delete(child);
        if (p.killTimer) clearTimeout(p.killTimer);
        if (p.probeTimer) clearInterval(p.probeTimer);
        writeTargets();
      });
      child.once('error', (err) => {
        failures.set(String(c.image), `${args[0]}: ${err.message}`);
        p.exited = true;
      });
    } finally {
      closeSync(fd);
    }
    p.probeTimer = setInterval(() => probe(p), probeEvery);
    p.probeTimer.unref();
    probe(p);
    writeTargets();
  };

  const runtime: PodRuntime = {
    sync(pod) {
      let p = pods.get(pod.metadata.uid);
      if (!p) {
        const c = (pod.spec?.containers ?? [])[0] as K8sObject | undefined;
        const rp = c?.readinessProbe?.httpGet;
        p = {
          uid: pod.metadata.uid,
          name: pod.metadata.name,
          namespace: pod.metadata.namespace,
          ip: allocateIp(),
          containerPorts: ((c?.ports ?? []) as K8sObject[]).map((x) => Number(x.containerPort)).filter((x) => x > 0),
          exited: false,
          ready: false,
          terminating: false,
          probe: rp && c ? { path: String(rp.path ?? '/'), port: portOf(c, rp.port) ?? 80 } : undefined,
          log: join(logDir, `${pod.metadata.namespace}_${pod.metadata.name}.log`),
        };
        pods.set(pod.metadata.uid, p);
        // The pod's IP is what the app is told in HOST; with it known, the env's status.podIP resolves too.
        const withIp = { ...pod, status: { ...pod.status, podIP: p.ip } };
        void launch(withIp, p);
      }
      return { podIP: p.child ? p.ip : undefined, running: !!p.child && !p.exited, ready: p.ready };
    },
    terminate(pod, graceMs) {
      const p = pods.get(pod.metadata.uid);
      if (!p || p.terminating) return;
      p.terminating = true;
      p.ready = false;
      if (!p.child || p.exited) return;
      p.child.kill('SIGTERM');
      p.killTimer = setTimeout(() => {
        if (!p.exited) p.child?.kill('SIGKILL');
      }, graceMs);
      p.killTimer.unref();
    },
    exited(pod) {
      const p = pods.get(pod.metadata.uid);
      return !p || !p.child || p.exited;
    },
    remove(pod) {
      const p = pods.get(pod.metadata.uid);
      if (!p) return;
      pods.delete(pod.metadata.uid);
      p.terminating = true;
      if (p.probeTimer) clearInterval(p.probeTimer);
      if (p.child && !p.exited) p.child.kill('SIGKILL');
      writeTargets();
    },
  };
  cluster.runtime = runtime;
  fake.backend = (pod, port) => {
    const p = pods.get(pod.metadata.uid);
    return p && p.child && !p.exited ? `http://${p.ip}:${port}` : undefined;
  };
  writeTargets();

  // kube-proxy: a TCP proxy per Service port, to the Service's ready endpoints, round robin.
  const proxies = new Map<string, ServiceProxy>();
  let rr = 0;
  /** host:port of each ready endpoint; a named targetPort is looked up in each endpoint's pod. */
  const readyEndpoints = (ns: string, svc: string, targetPort: unknown): string[] =>
    cluster
      .list('endpointslices', ns, [{ key: 'kubernetes.io/service-name', op: 'in', values: [svc] }])
      .flatMap((sl) => ((sl.endpoints ?? []) as K8sObject[]).filter((e) => e.conditions?.ready === true))
      .flatMap((e) => {
        const pod = e.targetRef?.name ? cluster.tryGet('pods', ns, e.targetRef.name) : undefined;
        const port = typeof targetPort === 'number' ? targetPort : portOf(pod?.spec?.containers?.[0] ?? {}, targetPort);
        return port ? ((e.addresses ?? []) as string[]).map((a) => `${a}:${port}`) : [];
      });
  const openProxy = async (key: string, ns: string, svc: string, spec: K8sObject): Promise<void> => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      sockets.add(client);
      client.once('close', () => sockets.delete(client));
      const live = cluster.tryGet('services', ns, svc);
      const sp = ((live?.spec?.ports ?? []) as K8sObject[]).find((x) => x.port === spec.port);
      const eps = sp ? readyEndpoints(ns, svc, sp.targetPort ?? sp.port) : [];
      if (!eps.length) {
        client.destroy();
        return;
      }
      const [host, port] = eps[rr++ % eps.length]!.split(':');
      const upstream = net.connect({ host, port: Number(port) });
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.once('error', end);
      upstream.once('error', end);
    });
    const want = o.servicePorts?.[key] ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(want, '127.0.0.1', () => resolve());
    });
    proxies.set(key, { key, server, port: (server.address() as net.AddressInfo).port, sockets });
  };
  const closeProxy = (px: ServiceProxy) => {
    for (const s of px.sockets) s.destroy();
    px.server.close();
    proxies.delete(px.key);
  };
  let syncing = false;
  const syncServices = async () => {
    if (syncing || stopping) return;
    syncing = true;
    try {
      const want = new Map<string, { ns: string; svc: string; spec: K8sObject }>();
      for (const s of cluster.list('services', undefined)) for (const sp of (s.spec?.ports ?? []) as K8sObject[]) want.set(`${s.metadata.namespace}/${s.metadata.name}:${sp.port}`, { ns: s.metadata.namespace, svc: s.metadata.name, spec: sp });
      for (const [k, px] of proxies) if (!want.has(k)) closeProxy(px);
      for (const [k, w] of want) if (!proxies.has(k)) await openProxy(k, w.ns, w.svc, w.spec);
    } finally {
      syncing = false;
    }
  };
  await syncServices();
  const svcTimer = setInterval(() => void syncServices().catch(() => {}), 100);
  svcTimer.unref();

  return {
    failures,
    serviceUrl(ns, name, port) {
      const px = [...proxies.values()].find((x) => x.key.startsWith(`${ns}/${name}:`) && (port === undefined || x.key === `${ns}/${name}:${port}`));
      const fixed = Object.entries(o.servicePorts ?? {}).find(([k]) => k.startsWith(`${ns}/${name}:`) && (port === undefined || k === `${ns}/${name}:${port}`));
      if (!px && !fixed) throw new Error(`kube-proxy: no Service ${ns}/${name}${port ? `:${port}` : ''}`);
      return `http://127.0.0.1:${px?.port ?? fixed![1]}`;
    },
    pids: () => [...started],
    running: () => Object.fromEntries([...pods.values()].filter((p) => p.child?.pid && !p.exited).map((p) => [`${p.namespace}/${p.name}`, p.child!.pid!])),
    podLog(ns, pod) {
      const f = join(logDir, `${ns}_${pod}.log`);
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    },
    async stop() {
      stopping = true;
      clearInterval(svcTimer);
      if (cluster.runtime === runtime) cluster.runtime = undefined;
      fake.backend = undefined;
      for (const px of [...proxies.values()]) closeProxy(px);
      // The processes this kubelet started, by PID: SIGTERM, then SIGKILL after 3 s.
      const left = [...pods.values()].filter((p) => p.child && !p.exited);
      for (const p of left) p.child!.kill('SIGTERM');
      await Promise.all(
        left.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exited) return resolve();
              const t = setTimeout(() => {
                if (!p.exited) p.child!.kill('SIGKILL');
              }, 3000);
              p.child!.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
            }),
        ),
      );
      for (const p of pods.values()) {
        if (p.probeTimer) clearInterval(p.probeTimer);
        if (p.killTimer) clearTimeout(p.killTimer);
      }
      pods.clear();
      if (ownLogDir) rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/**
 * An image table that pulls from a registry (OCI distribution API over plain HTTP, as a loopback
 * registry speaks): the manifest (an index picks linux/amd64), the config (Entrypoint, Cmd, Env,
 * WorkingDir) and the layers, unpacked with tar into a root folder per digest (whiteouts are not
 * applied). `binaries` maps a command the image runs to one on this machine (the image's base layer,
 * e.g. node, cannot be pulled here): { node: '/path/to/node' }.
 */
export function pullImages(o: { cacheDir: string; binaries?: Record<string, string> }): ImageTable {
  const pulled = new Map<string, Promise<Program>>();
  const pull = async (image: string): Promise<Program> => {
    const m = /^([^/]+)\/(.+?)(?::([^:@/]+))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(image);
    if (!m) throw new Error(`image ${image}: not a registry/name[:tag][@digest] reference`);
    const [, host, name, tag, digest] = m;
    const base = `http://${host}/v2/${name}`;
    const accept = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
    const get = async (url: string, headers: Record<string, string> = {}) => {
      const r = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
      if (!r.ok) throw new Error(`image ${image}: GET ${url.replace(/^http:\/\/[^/]+/, '')} answered ${r.status} (ErrImagePull)`);
      return r;
    };
    let manifest = (await (await get(`${base}/manifests/${digest ?? tag ?? 'latest'}`, { accept })).json()) as K8sObject;
    if (manifest.manifests) {
      const pick = (manifest.manifests as K8sObject[]).find((x) => x.platform?.os === 'linux' && x.platform?.architecture === 'amd64') ?? manifest.manifests[0];
      manifest = (await (await get(`${base}/manifests/${pick.digest}`, { accept })).json()) as K8sObject;
    }
    const config = ((await (await get(`${base}/blobs/${manifest.config.digest}`)).json()) as K8sObject).config ?? {};
    const root = join(o.cacheDir, String(manifest.config.digest).replace(':', '-'));
    if (!existsSync(join(root, '.pulled'))) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root, { recursive: true });
      for (const layer of (manifest.layers ?? []) as K8sObject[]) {
        const file = join(o.cacheDir, `${String(layer.digest).replace(':', '-')}.tar`);
        writeFileSync(file, Buffer.from(await (await get(`${base}/blobs/${layer.digest}`)).arrayBuffer()));
        execFileSync('tar', ['-x', '-f', file, '-C', root, '--no-same-owner'], { stdio: 'pipe' });
        rmSync(file);
      }
      writeFileSync(join(root, '.pulled'), image);
    }
    const argv = [...((config.Entrypoint as string[]) ?? []), ...((config.Cmd as string[]) ?? [])];
    if (!argv.length) throw new Error(`image ${image}: no Entrypoint or Cmd`);
    argv[0] = o.binaries?.[argv[0]!] ?? argv[0]!;
    const env = Object.fromEntries(((config.Env as string[]) ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    delete env.PATH; // the image's PATH names its own folders; the host's finds the program
    return { argv, cwd: join(root, String(config.WorkingDir ?? '/')), env };
  };
  return (image) => {
    let p = pulled.get(image);
    if (!p) {
      p = pull(image);
      pulled.set(image, p);
      p.catch(() => pulled.delete(image));
    }
    return p;
  };
}
