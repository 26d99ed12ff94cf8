/**
 * The three patch formats the Kubernetes API server accepts from kubectl, and label selectors.
 *
 * - JSON merge patch (RFC 7386): `application/merge-patch+json`.
 * - JSON patch (RFC 6902): `application/json-patch+json` (kubectl rollout undo uses it).
 * - Strategic merge patch: `application/strategic-merge-patch+json` (kubectl patch, set image,
 *   rollout pause/resume, client-side apply). Lists with a patch merge key (containers by name,
 *   container ports by containerPort, Service ports by port, …) merge element by element; other
 *   lists are replaced. Directives: `$patch: replace|delete|merge`, `$setElementOrder/<list>`,
 *   `$retainKeys`, `$deleteFromPrimitiveList/<list>`. This is the subset the apps/v1 and core/v1
 *   types kubectl touches need; merge keys come from the Go struct tags (`patchMergeKey`).
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export class PatchError extends Error {}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** RFC 7386. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

function unescapePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`invalid JSON pointer ${JSON.stringify(p)}`);
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, path: string[]): { parent: Obj | Json[]; key: string } {
  let cur: Json = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)] as Json;
    else if (isObj(cur)) cur = cur[seg] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined || cur === null) throw new PatchError(`path /${path.join('/')} does not exist`);
  }
  if (!isObj(cur) && !Array.isArray(cur)) throw new PatchError(`path /${path.join('/')} does not exist`);
  return { parent: cur, key: path.at(-1)! };
}

function getAt(doc: Json, path: string[]): Json {
  let cur: Json = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)] as Json;
    else if (isObj(cur)) cur = cur[seg] as Json;
    else throw new PatchError(`path /${path.join('/')} does not exist`);
    if (cur === undefined) throw new PatchError(`path /${path.join('/')} does not exist`);
  }
  return cur;
}

/** RFC 6902. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let out = clone(doc);
  for (const raw of ops) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError('each JSON patch operation needs op and path');
    const path = unescapePointer(raw.path);
    const put = (p: string[], value: Json) => {
      if (p.length === 0) {
        out = clone(value);
        return;
      }
      const { parent, key } = parentOf(out, p);
      if (Array.isArray(parent)) {
        const i = key === '-' ? parent.length : Number(key);
        if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new PatchError(`index ${key} out of range`);
        parent.splice(i, 0, clone(value));
      } else parent[key] = clone(value);
    };
    const remove = (p: string[]) => {
      const { parent, key } = parentOf(out, p);
      if (Array.isArray(parent)) {
        const i = Number(key);
        if (!(i >= 0 && i < parent.length)) throw new PatchError(`index ${key} out of range`);
        parent.splice(i, 1);
      } else {
        if (!(key in parent)) throw new PatchError(`path ${raw.path} does not exist`);
        delete parent[key];
      }
    };
    switch (raw.op) {
      case 'add':
        put(path, raw.value as Json);
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        getAt(out, path);
        if (path.length === 0) out = clone(raw.value as Json);
        else {
          const { parent, key } = parentOf(out, path);
          if (Array.isArray(parent)) parent[Number(key)] = clone(raw.value as Json);
          else parent[key] = clone(raw.value as Json);
        }
        break;
      case 'test':
        if (JSON.stringify(getAt(out, path)) !== JSON.stringify(raw.value)) throw new PatchError(`test operation failed at ${raw.path}`);
        break;
      case 'move':
      case 'copy': {
        const from = unescapePointer(String(raw.from));
        const v = getAt(out, from);
        if (raw.op === 'move') remove(from);
        put(path, v);
        break;
      }
      default:
        throw new PatchError(`unknown JSON patch operation ${JSON.stringify(raw.op)}`);
    }
  }
  return out;
}

/** patchMergeKey per list field; `ports` depends on where it is (container or Service). */
function mergeKeyFor(path: string[], field: string): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'hostAliases':
      return field === 'hostAliases' ? 'ip' : 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'ports':
      // Service spec.ports merge by port; container ports by containerPort.
      return path.includes('containers') || path.includes('initContainers') ? 'containerPort' : 'port';
    default:
      return undefined;
  }
}

const PRIMITIVE_SET_LISTS = new Set(['finalizers']);

/** Strategic merge patch of `patch` onto `orig`, the way the API server applies it to built-in types. */
export function strategicMerge(orig: Json, patch: Json, path: string[] = []): Json {
  if (!isObj(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const rest = clone(patch);
    delete rest.$patch;
    return rest;
  }
  if (patch.$patch === 'delete') return null;
  const out: Obj = isObj(orig) ? clone(orig) : {};
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/') || k.startsWith('$deleteFromPrimitiveList/')) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, [...path, k], k);
      continue;
    }
    if (isObj(v)) {
      out[k] = strategicMerge(out[k] ?? null, v, [...path, k]);
      continue;
    }
    out[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as Json[]).filter((x) => !v.includes(x));
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(v)) continue;
    const field = k.slice('$setElementOrder/'.length);
    const list = out[field];
    if (!Array.isArray(list)) continue;
    const key = mergeKeyFor([...path, field], field);
    const ident = (x: Json) => (key && isObj(x) ? JSON.stringify(x[key]) : JSON.stringify(x));
    const order = v.map(ident);
    const ranked = list.map((x, i) => ({ x, r: order.indexOf(ident(x)), i }));
    ranked.sort((a, b) => (a.r < 0 ? 1e9 + a.i : a.r) - (b.r < 0 ? 1e9 + b.i : b.r));
    out[field] = ranked.map((e) => e.x);
  }
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  return out;
}

function mergeList(orig: Json | undefined, patch: Json[], path: string[], field: string): Json[] {
  const key = mergeKeyFor(path, field);
  if (PRIMITIVE_SET_LISTS.has(field)) {
    const base = Array.isArray(orig) ? orig : [];
    return [...base, ...patch.filter((x) => !base.includes(x))];
  }
  if (!key) {
    // Atomic list: replaced, unless it carries a $patch: replace marker element.
    return clone(patch.filter((x) => !(isObj(x) && x.$patch === 'replace')));
  }
  if (patch.some((x) => isObj(x) && x.$patch === 'replace')) return clone(patch.filter((x) => !(isObj(x) && x.$patch === 'replace')));
  const out: Json[] = Array.isArray(orig) ? clone(orig) : [];
  for (const item of patch) {
    if (!isObj(item)) throw new PatchError(`list ${path.join('.')} expects objects with the merge key ${key}`);
    const at = out.findIndex((x) => isObj(x) && JSON.stringify(x[key]) === JSON.stringify(item[key]));
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMerge(out[at]!, item, [...path, String(at)]);
    else out.push(strategicMerge(null, item, [...path, String(out.length)]));
  }
  return out;
}

export interface Requirement {
  key: string;
  op: 'in' | 'notin' | 'exists' | '!exists';
  values: string[];
}

/** Parses a label selector string (`a=b,c!=d,e in (x,y),!f,g`). */
export function parseLabelSelector(text: string): Requirement[] {
  const out: Requirement[] = [];
  const s = text.trim();
  if (!s) return out;
  // Split on commas that are not inside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) out.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) });
    else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(p))) out.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
    else if ((m = /^!([\w./-]+)$/.exec(p))) out.push({ key: m[1]!, op: '!exists', values: [] });
    else if ((m = /^([\w./-]+)$/.exec(p))) out.push({ key: m[1]!, op: 'exists', values: [] });
    else throw new PatchError(`unable to parse requirement: ${JSON.stringify(p)}`);
  }
  return out;
}

export function matchesRequirements(labels: Record<string, string> | undefined, reqs: Requirement[]): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

/** metav1.LabelSelector (matchLabels + matchExpressions) as requirements. */
export function selectorRequirements(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): Requirement[] {
  const reqs: Requirement[] = Object.entries(sel?.matchLabels ?? {}).map(([key, v]) => ({ key, op: 'in', values: [v] }));
  for (const e of sel?.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' } as const)[e.operator as 'In'];
    if (op) reqs.push({ key: e.key, op, values: e.values ?? [] });
  }
  return reqs;
}
