/**
 * A fake Kubernetes API server for tests, answering the requests kubectl 1.32 really sends
 * (seen with `kubectl -v=8`): /version, legacy discovery (/api, /apis, /api/v1, /apis/apps/v1;
 * the aggregated discovery media types are not offered, so kubectl falls back to these), GET /
 * LIST (label and field selectors) / POST / PUT / PATCH (strategic merge, JSON merge, JSON patch)
 * / DELETE of namespaces, Deployments, ReplicaSets, Pods and Services, `?watch=true` on a single
 * object, and `dryRun=All`. Bodies must be JSON: protobuf (which kubectl's typed generators such as
 * `kubectl create namespace` send) answers 415. Server-side apply (`application/apply-patch+yaml`) answers 415: the
 * fake does not implement field managers. OpenAPI: see OPENAPI_V3 below: /openapi/v3 lists the operations and their parameters (kubectl
 * learns from it that the server validates fields, so it sends `fieldValidation=Strict` and does
 * no client-side schema work); /openapi/v2 answers 404, so kubectl cannot validate a `kind: List`
 * client-side against the fake (send a stream of documents instead). The fake validates every object it
 * stores against the OpenAPI definitions shipped in `kubernetes-models`.
 *
 * Usage:
 *   const kube = await startFakeKube({ namespaces: ['shop'] });
 *   const kubeconfig = kube.writeKubeconfig(dir);   // context "fake", namespace "default"
 *   kube.cluster.create('deployments', 'shop', {...}); kube.cluster.tick();
 *   await kube.stop();
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApiError, FakeCluster, RESOURCES, apiVersionOf, notFound, type FakeClusterOptions, type K8sObject, type Resource } from './cluster.ts';
import { PatchError, jsonPatch, mergePatch, parseLabelSelector, strategicMerge, type Json } from './patch.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
  status: number;
  /** performance.now() when it arrived. */
  at: number;
}

/**
 * A fault the server injects, like a real API server behind a load balancer: `status` answers
 * that code (503 ServiceUnavailable by default) without doing anything; `drop: 'before'` closes
 * the connection without doing anything; `drop: 'after'` does the request, then closes the
 * connection without the reply (the client cannot know it happened). `times` requests match.
 */
export interface Fault {
  method?: string;
  path: RegExp;
  /** Only requests whose body (JSON text) matches. */
  body?: RegExp;
  status?: number;
  drop?: 'before' | 'after';
  times: number;
}

/** An RBAC rule the user lacks: requests with this verb on this resource answer 403 Forbidden. */
export interface Forbidden {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  resource: Resource;
  namespace?: string;
}

export interface FakeKube {
  url: string;
  /** Faults still to inject (each decrements its `times`). */
  faults: Fault[];
  /** RBAC: what the user may not do. */
  forbidden: Forbidden[];
  /**
   * Where a pod's container port really answers (a local test server), for the API server's
   * pod and service proxies (`/pods/<name>:<port>/proxy/…`, `/services/<name>:<port>/proxy/…`,
   * what `kubectl proxy` exposes). Undefined: the proxy answers 503 like a pod that does not listen.
   */
  backend?: (pod: K8sObject, port: number) => string | undefined;
  port: number;
  cluster: FakeCluster;
  /** Every request answered, in order (discovery included). */
  requests: RecordedRequest[];
  /** Writes a kubeconfig for this server into dir; returns its path. */
  writeKubeconfig(dir: string, opts?: { context?: string; namespace?: string }): string;
  /** Requests that changed something (POST/PUT/PATCH/DELETE) on a resource kind. */
  writes(resource?: Resource): RecordedRequest[];
  stop(): Promise<void>;
}

export interface FakeKubeOptions extends FakeClusterOptions {
  port?: number;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function resourceList(groupVersion: string): K8sObject {
  const resources = Object.values(RESOURCES)
    .filter((r) => apiVersionOf(r) === groupVersion)
    .flatMap((r) => [
      { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS, shortNames: r.shortNames, ...(r.resource === 'pods' || r.resource === 'services' ? { categories: ['all'] } : {}), ...(r.group === 'apps' ? { categories: ['all'] } : {}) },
      ...(r.resource === 'namespaces' || r.resource === 'leases' || r.resource === 'configmaps' || r.resource === 'secrets' ? [] : [{ name: `${r.resource}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }]),
    ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

/** Length-delimited and varint fields of one protobuf message (field number → values). */
function protoFields(buf: Buffer): Map<number, (Buffer | number)[]> {
  const out = new Map<number, (Buffer | number)[]>();
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let val: Buffer | number;
    if (wire === 0) val = varint();
    else if (wire === 2) {
      const n = varint();
      val = buf.subarray(i, i + n);
      i += n;
    } else throw new ApiError(400, 'BadRequest', `protobuf wire type ${wire} not expected in a SelfSubjectAccessReview`);
    out.set(field, [...(out.get(field) ?? []), val]);
  }
  return out;
}

/**
 * A SelfSubjectAccessReview as kubectl auth can-i sends it: protobuf (`k8s\0` + runtime.Unknown
 * whose field 2 is the object; spec = field 2, resourceAttributes = field 1 with namespace 1,
 * verb 2, group 3, version 4, resource 5, subresource 6, name 7).
 */
function decodeAccessReview(raw: Buffer): K8sObject {
  if (raw.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new ApiError(400, 'BadRequest', 'protobuf body without the k8s envelope');
  const unknown = protoFields(raw.subarray(4));
  const obj = protoFields(unknown.get(2)?.[0] as Buffer);
  const spec = protoFields((obj.get(2)?.[0] as Buffer) ?? Buffer.alloc(0));
  const ra = spec.get(1)?.[0] as Buffer | undefined;
  const attrs = ra ? protoFields(ra) : new Map();
  const str = (n: number) => (attrs.get(n)?.[0] as Buffer | undefined)?.toString('utf8');
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    spec: ra ? { resourceAttributes: { namespace: str(1), verb: str(2), group: str(3) ?? '', version: str(4), resource: str(5), subresource: str(6), name: str(7) } } : {},
  };
}

const GROUPS = [
  { name: 'apps', version: 'v1' },
  { name: 'discovery.k8s.io', version: 'v1' },
  { name: 'autoscaling', version: 'v2' },
  { name: 'coordination.k8s.io', version: 'v1' },
  { name: 'authorization.k8s.io', version: 'v1' },
];

const DISCOVERY: Record<string, K8sObject> = {
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' },
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
  '/apis': {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: GROUPS.map((g) => ({ name: g.name, versions: [{ groupVersion: `${g.name}/${g.version}`, version: g.version }], preferredVersion: { groupVersion: `${g.name}/${g.version}`, version: g.version } })),
  },
  '/api/v1': resourceList('v1'),
  '/apis/apps/v1': resourceList('apps/v1'),
  '/apis/discovery.k8s.io/v1': resourceList('discovery.k8s.io/v1'),
  '/apis/autoscaling/v2': resourceList('autoscaling/v2'),
  '/apis/coordination.k8s.io/v1': resourceList('coordination.k8s.io/v1'),
  '/apis/authorization.k8s.io/v1': {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'authorization.k8s.io/v1',
    resources: [
      { name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] },
      { name: 'selfsubjectrulesreviews', singularName: 'selfsubjectrulesreview', namespaced: false, kind: 'SelfSubjectRulesReview', verbs: ['create'] },
    ],
  },
};

/**
 * OpenAPI v3 documents listing the operations the fake serves and their query parameters
 * (kubectl reads them to learn that the server validates fields itself: `fieldValidation`).
 * They carry no component schemas, so kubectl computes apply patches from its built-in types.
 */
function openapiV3(groupVersion: string): K8sObject {
  const paths: Record<string, K8sObject> = {};
  const param = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
  for (const r of Object.values(RESOURCES).filter((x) => apiVersionOf(x) === groupVersion)) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const base = `${r.group ? `/apis/${r.group}` : '/api'}/${r.version}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    const op = (action: string, params: string[]) => ({ operationId: `${action}${r.kind}`, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, parameters: params.map(param), responses: { '200': { description: 'OK' } } });
    paths[base] = { get: op('list', ['labelSelector', 'fieldSelector', 'watch', 'limit']), post: op('post', ['dryRun', 'fieldManager', 'fieldValidation']) };
    paths[`${base}/{name}`] = {
      get: op('get', []),
      put: op('put', ['dryRun', 'fieldManager', 'fieldValidation']),
      patch: { ...op('patch', ['dryRun', 'fieldManager', 'fieldValidation', 'force']), requestBody: { content: { 'application/json-patch+json': {}, 'application/merge-patch+json': {}, 'application/strategic-merge-patch+json': {} }, required: true } },
      delete: op('delete', ['dryRun', 'propagationPolicy', 'gracePeriodSeconds']),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (fake)', version: 'v1.32.0-fake' }, paths, components: { schemas: {} } };
}

const OPENAPI_V3: Record<string, K8sObject> = {
  '/openapi/v3/api/v1': openapiV3('v1'),
  ...Object.fromEntries(GROUPS.filter((g) => g.name !== 'authorization.k8s.io').map((g) => [`/openapi/v3/apis/${g.name}/${g.version}`, openapiV3(`${g.name}/${g.version}`)])),
};
const OPENAPI_V3_ROOT = { paths: Object.fromEntries(Object.keys(OPENAPI_V3).map((k, i) => [k.replace('/openapi/v3/', ''), { serverRelativeURL: `${k}?hash=FAKE${i}` }])) };

interface Route {
  resource: Resource;
  namespace?: string;
  name?: string;
  sub?: string;
}

function route(path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean);
  let rest: string[];
  let group: string;
  if (parts[0] === 'api' && parts[1] === 'v1') {
    rest = parts.slice(2);
    group = 'v1';
  } else if (parts[0] === 'apis' && GROUPS.some((g) => g.name === parts[1] && g.version === parts[2])) {
    rest = parts.slice(3);
    group = `${parts[1]}/${parts[2]}`;
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[0] as Resource;
  const info = RESOURCES[resource];
  if (!info || apiVersionOf(info) !== group) return undefined;
  if (info.namespaced !== (namespace !== undefined) && rest.length > 1) return undefined;
  return { resource, namespace, name: rest[1], sub: rest[2] };
}

function listKind(resource: Resource) {
  return `${RESOURCES[resource].kind}List`;
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const cluster = new FakeCluster(opts);
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const forbidden: Forbidden[] = [];
  const isForbidden = (verb: string, resource: string, group: string, ns: string | undefined) =>
    forbidden.some((f) => f.verb === verb && f.resource === resource && (RESOURCES[f.resource]?.group ?? '') === group && (f.namespace === undefined || f.namespace === ns));
  const watchers = new Set<{ resource: Resource; ns?: string; name?: string; res: http.ServerResponse }>();
  cluster.onChange = (resource, type, obj) => {
    for (const w of watchers) {
      if (w.resource !== resource || (w.ns !== undefined && obj.metadata.namespace !== w.ns) || (w.name !== undefined && obj.metadata.name !== w.name)) continue;
      w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const query = Object.fromEntries(url.searchParams);
      const text = Buffer.concat(chunks).toString('utf8');
      const contentType = req.headers['content-type']?.split(';')[0];
      const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, contentType, status: 200, at: performance.now() };
      if (text) {
        try {
          rec.body = JSON.parse(text);
        } catch {
          rec.body = text;
        }
      }
      requests.push(rec);
      const send = (status: number, body: unknown) => {
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
        res.end(JSON.stringify(body));
      };
      const fault = faults.find((f) => f.times > 0 && (!f.method || f.method === req.method) && f.path.test(url.pathname) && (!f.body || f.body.test(text)));
      if (fault) {
        fault.times--;
        if (fault.drop === 'before') {
          rec.status = 0;
          req.socket.destroy();
          return;
        }
        if (fault.drop !== 'after') return send(fault.status ?? 503, new ApiError(fault.status ?? 503, 'ServiceUnavailable', 'the server is currently unable to handle the request').status());
      }
      const reply = fault?.drop === 'after'
        ? (status: number) => {
            rec.status = status;
            req.socket.destroy();
          }
        : send;
      try {
        handle(req.method ?? 'GET', url.pathname, query, contentType, text, reply, res, rec, Buffer.concat(chunks));
      } catch (err) {
        if (err instanceof ApiError) send(err.code, err.status());
        else if (err instanceof PatchError) send(422, new ApiError(422, 'Invalid', err.message).status());
        else send(500, new ApiError(500, 'InternalError', `fake kube: ${String((err as Error)?.stack ?? err)}`).status());
      }
    });
  });

  function handle(method: string, path: string, query: Record<string, string>, contentType: string | undefined, text: string, send: (s: number, b: unknown) => void, res: http.ServerResponse, rec: RecordedRequest, raw: Buffer) {
    if (method === 'GET' && DISCOVERY[path]) return send(200, DISCOVERY[path]);
    if (method === 'GET' && path === '/openapi/v3') return send(200, OPENAPI_V3_ROOT);
    if (method === 'GET' && OPENAPI_V3[path]) return send(200, OPENAPI_V3[path]);
    if (path.startsWith('/openapi/')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const parse = (): any => {
      if (contentType && contentType !== 'application/json' && !contentType.endsWith('patch+json')) {
        // Like a server without the protobuf/CBOR serializers (kubectl's typed generators send protobuf).
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
      }
      try {
        return JSON.parse(text);
      } catch {
        throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
      }
    };
    if (method === 'POST' && path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      // What `kubectl auth can-i` asks: answered from the same RBAC rules as the requests.
      const body = contentType === 'application/vnd.kubernetes.protobuf' ? decodeAccessReview(raw) : parse();
      const a = body?.spec?.resourceAttributes;
      if (body?.kind !== 'SelfSubjectAccessReview' || !a?.verb || !a?.resource) throw new ApiError(400, 'BadRequest', 'SelfSubjectAccessReview: spec.resourceAttributes.verb and resource are required');
      const denied = isForbidden(a.verb, a.resource, a.group ?? '', a.namespace || undefined);
      return send(201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: body.spec, status: { allowed: !denied, ...(denied ? { denied: false, reason: '' } : { reason: 'RBAC: allowed' }) } });
    }
    const r = route(path);
    if (r && r.sub === 'proxy' && r.name && (r.resource === 'pods' || r.resource === 'services')) return proxy(r, method, path, query, raw, res, rec);
    if (!r || (r.sub && r.sub !== 'status')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const info = RESOURCES[r.resource];
    const verb = method === 'GET' ? (query.watch === 'true' || query.watch === '1' ? 'watch' : r.name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : method.toLowerCase();
    if (isForbidden(verb, r.resource, info.group, r.namespace)) {
      const what = info.group ? `${r.resource}.${info.group}` : r.resource;
      throw new ApiError(403, 'Forbidden', `${what}${r.name ? ` "${r.name}"` : ''} is forbidden: User "fake-user" cannot ${verb} resource "${r.resource}" in API group "${info.group}"${r.namespace ? ` in the namespace "${r.namespace}"` : ' at the cluster scope'}`, { ...(r.name ? { name: r.name } : {}), group: info.group || undefined, kind: r.resource });
    }
    const dryRun = query.dryRun === 'All';
    if (method === 'GET' && !r.name) {
      if (r.namespace !== undefined && !cluster.tryGet('namespaces', undefined, r.namespace)) {
        // A list in a missing namespace is empty on a real server too.
      }
      const reqs = query.labelSelector ? parseLabelSelector(query.labelSelector) : [];
      const fieldName = /^metadata\.name=(.+)$/.exec(query.fieldSelector ?? '')?.[1];
      const items = cluster.list(r.resource, r.namespace, reqs, fieldName);
      if (query.watch === 'true' || query.watch === '1') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        for (const o of items) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
        const w = { resource: r.resource, ns: r.namespace, name: fieldName, res };
        watchers.add(w);
        const end = () => {
          watchers.delete(w);
          res.end();
        };
        const t = setTimeout(end, Math.min(Number(query.timeoutSeconds ?? 30), 30) * 1000);
        t.unref();
        res.on('close', () => {
          clearTimeout(t);
          watchers.delete(w);
        });
        return;
      }
      return send(200, { kind: listKind(r.resource), apiVersion: apiVersionOf(info), metadata: { resourceVersion: cluster.nextResourceVersion() }, items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest) });
    }
    if (method === 'GET') return send(200, cluster.get(r.resource, r.namespace, r.name!));
    if (method === 'POST' && !r.name) return send(201, cluster.create(r.resource, r.namespace, parse(), { dryRun }));
    if (method === 'PUT' && r.name) return send(200, cluster.update(r.resource, r.namespace, r.name, parse(), { checkResourceVersion: true, dryRun, status: r.sub === 'status' }));
    if (method === 'PATCH' && r.name && contentType === 'application/apply-patch+yaml') {
      // Server-side apply: the field manager is required; a missing object is created; the
      // applied configuration is merged into the live object (strategic merge) and the manager
      // recorded in managedFields. Field-level conflicts are not modelled.
      const manager = query.fieldManager;
      if (!manager) throw new ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      let applied: K8sObject;
      try {
        applied = parseYaml(text) as K8sObject;
      } catch {
        throw new ApiError(400, 'BadRequest', 'error decoding YAML: the body of the apply patch is not YAML');
      }
      if (!applied || typeof applied !== 'object' || applied.kind !== info.kind || applied.apiVersion !== apiVersionOf(info)) throw new ApiError(400, 'BadRequest', `apply patch: kind/apiVersion must be ${apiVersionOf(info)} ${info.kind}`);
      if (applied.metadata?.name !== r.name) throw new ApiError(400, 'BadRequest', `the name of the object (${applied.metadata?.name}) does not match the name on the URL (${r.name})`);
      const entry = { manager, operation: 'Apply', apiVersion: apiVersionOf(info), time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), fieldsType: 'FieldsV1', fieldsV1: {} };
      const current = cluster.tryGet(r.resource, r.namespace, r.name);
      rec.body = applied;
      if (!current) {
        const created = cluster.create(r.resource, r.namespace, { ...applied, metadata: { ...applied.metadata, managedFields: [entry] } }, { dryRun });
        return send(201, created);
      }
      const next = strategicMerge(current as Json, applied as Json) as K8sObject;
      next.metadata.managedFields = [...((current.metadata.managedFields ?? []) as K8sObject[]).filter((m) => !(m.manager === manager && m.operation === 'Apply')), entry];
      return send(200, cluster.update(r.resource, r.namespace, r.name, next, { dryRun }));
    }
    if (method === 'PATCH' && r.name) {
      const current = cluster.tryGet(r.resource, r.namespace, r.name);
      if (!current) {
        cluster.get(r.resource, r.namespace, r.name);
        throw notFound(info, r.name);
      }
      const patch = contentType === 'application/json-patch+json' ? (JSON.parse(text) as Json) : (parse() as Json);
      let next: Json;
      switch (contentType) {
        case 'application/strategic-merge-patch+json':
          next = strategicMerge(current as Json, patch);
          break;
        case 'application/merge-patch+json':
          next = mergePatch(current as Json, patch);
          break;
        case 'application/json-patch+json':
          next = jsonPatch(current as Json, patch);
          break;
        default:
          throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
      }
      rec.body = patch;
      return send(200, cluster.update(r.resource, r.namespace, r.name, next as K8sObject, { dryRun, status: r.sub === 'status' }));
    }
    if (method === 'DELETE' && r.name) {
      const gone = dryRun ? cluster.get(r.resource, r.namespace, r.name) : cluster.delete(r.resource, r.namespace, r.name);
      return send(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: r.name, group: info.group || undefined, kind: r.resource, uid: gone.metadata.uid } });
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  let rr = 0;
  /** The API server's proxy subresource: a pod, or a ready endpoint of a Service (round robin). */
  function proxy(r: { resource: Resource; namespace?: string; name?: string }, method: string, path: string, query: Record<string, string>, raw: Buffer, res: http.ServerResponse, rec: RecordedRequest) {
    const [name, portText] = r.name!.split(':');
    const rest = path.slice(path.indexOf('/proxy') + '/proxy'.length) || '/';
    let pod: K8sObject | undefined;
    let port = Number(portText);
    if (r.resource === 'pods') {
      pod = cluster.get('pods', r.namespace, name!);
      if (!portText) port = pod.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? 80;
    } else {
      const svc = cluster.get('services', r.namespace, name!);
      const sp = (svc.spec.ports ?? []).find((p: any) => !portText || String(p.port) === portText || p.name === portText);
      if (!sp) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`);
      port = typeof sp.targetPort === 'number' ? sp.targetPort : sp.port;
      const ready = cluster
        .list('endpointslices', r.namespace, [{ key: 'kubernetes.io/service-name', op: 'in', values: [name!] }])
        .flatMap((sl) => sl.endpoints ?? [])
        .filter((e: any) => e.conditions?.ready !== false && !e.conditions?.terminating)
        .map((e: any) => e.targetRef?.name as string);
      if (!ready.length) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${name}"`);
      pod = cluster.get('pods', r.namespace, ready[rr++ % ready.length]!);
    }
    const target = api.backend?.(pod, port);
    if (!target) throw new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${pod.status?.podIP}:${port}: connect: connection refused`);
    const qs = new URLSearchParams(query).toString();
    const out = http.request(`${target}${rest}${qs ? `?${qs}` : ''}`, { method, headers: { 'content-type': 'application/octet-stream' } }, (up) => {
      rec.status = up.statusCode ?? 502;
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', (e) => {
      rec.status = 502;
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify(new ApiError(502, 'InternalError', `error trying to reach service: ${e.message}`).status()));
    });
    out.end(raw);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  cluster.start();
  const api: FakeKube = {
    url,
    port,
    cluster,
    requests,
    faults,
    forbidden,
    writeKubeconfig(dir, o = {}) {
      const file = join(dir, 'kubeconfig');
      const ctx = o.context ?? 'fake';
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: fake`,
          '  cluster:',
          `    server: ${url}`,
          'users:',
          '- name: fake-user',
          '  user:',
          '    token: fake-token',
          'contexts:',
          `- name: ${ctx}`,
          '  context:',
          '    cluster: fake',
          '    user: fake-user',
          `    namespace: ${o.namespace ?? 'default'}`,
          `current-context: ${ctx}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    },
    writes(resource) {
      return requests.filter((q) => q.method !== 'GET' && q.status < 300 && (!resource || route(q.path)?.resource === resource));
    },
    async stop() {
      cluster.stop();
      for (const w of watchers) w.res.end();
      watchers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
