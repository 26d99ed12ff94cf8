export const id = 344;
export const ids = [344];
export const modules = {

/***/ 1344:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  configInputsFor: () => (/* binding */ configInputsFor)
});

// UNUSED EXPORTS: ConfigError, ConfigProblems, MAX_CONFIG_BYTES, MAX_PROBLEMS, SECTIONS, configSchema, environmentSchema, inSlipwayWords, loadConfig, loadConfigText, resolveSecrets, throwProblems, toInputString

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __webpack_require__(8815);
var dist_namespaceObject = /*#__PURE__*/__webpack_require__.t(dist, 2);
// EXTERNAL MODULE: ./node_modules/zod/v4/classic/schemas.js + 15 modules
var schemas = __webpack_require__(9691);
// EXTERNAL MODULE: ./src/lib/fields.ts
var fields = __webpack_require__(1054);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(7268);
// EXTERNAL MODULE: ./src/lib/secrets.ts
var secrets = __webpack_require__(5714);
;// CONCATENATED MODULE: ./src/lib/suggest.ts
/** "Did you mean …?": the closest candidate by edit distance, when it is close enough. */
function editDistance(a, b) {
    const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let prev = dp[0];
        dp[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = dp[j];
            dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = tmp;
        }
    }
    return dp[b.length];
}
function suggest(word, candidates) {
    let best;
    let bestD = Infinity;
    for (const c of candidates) {
        const d = editDistance(word.toLowerCase(), c.toLowerCase());
        if (d < bestD) {
            best = c;
            bestD = d;
        }
    }
    return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

;// CONCATENATED MODULE: ./src/lib/deploy-window.ts
/** Deploy windows: "no production deploys Friday after 15:00 or on freeze dates", with a recorded override. */

const DAYS = (/* unused pure expression or super */ null && (['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']));
const RULE = /^(sun|mon|tue|wed|thu|fri|sat)(?:\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2}))?$/i;
const windowSchema = schemas/* strictObject */.rej({
    timezone: schemas/* string */.YjP().default('UTC').refine((tz) => {
        try {
            new Intl.DateTimeFormat('en-US', { timeZone: tz });
            return true;
        }
        catch {
            return false;
        }
    }, 'not a known IANA time zone (e.g. Europe/Berlin)'),
    deny: schemas/* array */.YOg(schemas/* string */.YjP().regex(RULE, 'expected a rule like "fri 15:00-24:00" or "sat"')).default([]),
    freeze: schemas/* array */.YOg(schemas/* string */.YjP().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date like 2026-12-24')).default([]),
});
function localParts(now, timeZone) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(now)
        .map((p) => [p.type, p.value]));
    return { day: parts.weekday.toLowerCase().slice(0, 3), date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute), time: `${parts.hour}:${parts.minute}` };
}
/** Whether a deploy may start now. An override (a reason) allows it and is recorded in the decision. */
function checkDeployWindow(window, now, override) {
    const local = localParts(now, window.timezone);
    let blocked;
    if (window.freeze.includes(local.date))
        blocked = `${local.date} is a freeze date`;
    for (const rule of window.deny) {
        if (blocked)
            break;
        const m = RULE.exec(rule.trim());
        if (m[1].toLowerCase() !== local.day)
            continue;
        if (!m[2]) {
            blocked = `no deploys on ${DAYS.find((d) => d === local.day)} (rule "${rule}")`;
            break;
        }
        const from = Number(m[2]) * 60 + Number(m[3]);
        const to = Number(m[4]) * 60 + Number(m[5]);
        if (local.minutes >= from && local.minutes < to)
            blocked = `${local.day} ${local.time} ${window.timezone} is inside "${rule}"`;
    }
    if (!blocked)
        return { allowed: true, reason: `${local.date} ${local.time} ${window.timezone} is inside the deploy window`, overridden: false };
    if (override && override.trim())
        return { allowed: true, reason: `${blocked}; overridden: ${override.trim()}`, overridden: true };
    return { allowed: false, reason: `${blocked}; set an override with a reason to deploy anyway`, overridden: false };
}

;// CONCATENATED MODULE: ./src/config/load.ts
/**
 * slipway.yml: one file for the pipeline. Each environment's sections are the inputs of an action
 * (migrate, deploy → deploy-rolling, smoke → smoke-test, gate → slo-gate, notify), checked with that
 * action's own input spec. `${{ secrets.NAME }}` values are resolved from the environment when used,
 * never stored; a literal secret is refused. Errors point at the line, column and key.
 */









/** Section name in slipway.yml → the action whose inputs it holds. */
const SECTIONS = { migrate: 'migrate', deploy: 'deploy-rolling', smoke: 'smoke-test', gate: 'slo-gate', notify: 'notify' };
const anyMap = schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J());
const environmentSchema = schemas/* strictObject */.rej({
    url: schemas/* string */.YjP().url().optional(),
    'database-url': schemas/* string */.YjP().optional(),
    migrate: anyMap.optional(),
    deploy: anyMap.optional(),
    smoke: anyMap.optional(),
    gate: anyMap.optional(),
    notify: anyMap.optional(),
    window: windowSchema.optional(),
});
const configSchema = schemas/* strictObject */.rej({
    version: schemas/* literal */.euz(1),
    app: schemas/* strictObject */.rej({ name: schemas/* string */.YjP().min(1), image: schemas/* string */.YjP().optional() }).optional(),
    build: anyMap.optional(),
    environments: schemas/* record */.g1P(schemas/* string */.YjP().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected an environment name like staging or production'), environmentSchema).refine((e) => Object.keys(e).length > 0, 'expected at least one environment'),
});
const SECRET_REF = /^\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;
/** The largest slipway.yml read (bytes). Parsing is linear; the cap bounds its time and memory. */
const MAX_CONFIG_BYTES = 1 << 20;
/** The most problems one load reports (each is located in the file; the rest are counted). */
const MAX_PROBLEMS = 100;
/** Whether a value holds a URL with a credential in it (user part, password, a token in its query). */
function literalCredential(text) {
    return (0,secrets/* urlsIn */._O)(text).some(secrets/* urlHasCredential */.Br);
}
class ConfigError extends errors/* UserError */.yo {
    file;
    line;
    col;
    key;
    detail;
    constructor(file, line, col, key, message) {
        super(`${file}${line ? `:${line}:${col ?? 1}` : ''}: ${key ? `${key}: ` : ''}${message}`);
        this.name = 'ConfigError';
        this.file = file;
        this.line = line;
        this.col = line ? col ?? 1 : undefined;
        this.key = key;
        this.detail = message;
    }
}
/** Several problems in one file, each with its line and key: `slipway validate` lists them all. */
class ConfigProblems extends errors/* UserError */.yo {
    problems;
    constructor(problems) {
        super(problems.map((p) => p.message).join('\n'));
        this.name = 'ConfigProblems';
        this.problems = problems;
    }
}
/** Throws nothing for no problems, the problem itself for one, ConfigProblems for more. */
function throwProblems(problems) {
    if (problems.length === 1)
        throw problems[0];
    if (problems.length > 1)
        throw new ConfigProblems(problems);
}
const NOUNS = { array: 'a list', string: 'text', object: 'a map', record: 'a map', number: 'a number', int: 'a whole number', boolean: 'true or false', null: 'nothing', undefined: 'nothing', nan: 'not a number' };
const noun = (t) => NOUNS[t] ?? t;
/**
 * A schema library's wording (`(top): Invalid input: expected array, received string`) in
 * Slipway's: `got text; expected a list`. Leaves any other text as it is.
 */
function inSlipwayWords(message) {
    return message
        .replace(/\(top\): /g, '')
        .replace(/Invalid input: expected (\w+), received (\w+)/g, (_, e, r) => `got ${noun(r)}; expected ${noun(e)}`)
        .replace(/Invalid option: expected one of ([^;]+)/g, (_, list) => `expected one of ${list.replace(/"/g, '').split('|').join(', ')}`)
        .replace(/Unrecognized keys?: ([^;]+)/g, (_, keys) => `unknown key ${keys}`)
        .replace(/Too small: expected (\w+) to have >=(\d+) (characters|items)/g, (_, t, n, what) => (n === '1' ? `expected ${what === 'items' ? 'at least one item' : 'a non-empty value'}` : `expected at least ${n} ${what}`))
        .replace(/Too big: expected (\w+) to have <=(\d+) (characters|items)/g, (_, _t, n, what) => `expected at most ${n} ${what}`)
        .replace(/Invalid input: expected ([^;]+)/g, (_, e) => `expected ${e}`)
        .replace(/^Invalid input$/, 'not one of the accepted forms')
        .replace(/Invalid URL/g, 'not a URL');
}
/**
 * Action inputs take strings: a YAML list for a list input becomes a comma list; any other list or
 * map (argument arrays such as start-command, checks, hosts) becomes JSON, which those inputs read.
 */
function toInputString(value, input) {
    if (value === null || value === undefined)
        return '';
    if (typeof value === 'string')
        return value;
    if (typeof value === 'number' || typeof value === 'boolean')
        return String(value);
    if (input?.kind === 'list' && Array.isArray(value) && value.every((v) => (typeof v === 'string' || typeof v === 'number') && !String(v).includes(','))) {
        return value.join(',');
    }
    return JSON.stringify(value);
}
function position(doc, lc, path) {
    for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true);
        if (node && node.range) {
            // For a key, point at the key: find the pair in the parent map.
            const parent = n > 0 ? doc.getIn(path.slice(0, n - 1), true) : undefined;
            if (n === path.length && (0,dist.isMap)(parent)) {
                const pair = parent.items.find((p) => (0,dist.isScalar)(p.key) && p.key.value === path[n - 1]);
                const keyRange = pair && (0,dist.isScalar)(pair.key) ? pair.key.range : undefined;
                if (keyRange)
                    return lc.linePos(keyRange[0]);
            }
            return lc.linePos(node.range[0]);
        }
    }
    return {};
}
function lazyPosition(doc, lc, path) {
    let at;
    return () => (at ??= position(doc, lc, path));
}
async function loadConfigText(text, file, specs, opts = {}) {
    const size = Buffer.byteLength(text, 'utf8');
    if (size > MAX_CONFIG_BYTES)
        throw new ConfigError(file, undefined, undefined, '', `is ${(size / (1 << 20)).toFixed(1)} MB; expected at most ${MAX_CONFIG_BYTES >> 20} MB (split it, or move long lists into the files the inputs point at)`);
    const lc = new dist.LineCounter();
    const doc = (0,dist.parseDocument)(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: false });
    if (doc.errors.length) {
        const e = doc.errors[0];
        const pos = e.linePos?.[0];
        throw new ConfigError(file, pos?.line, pos?.col, '', `YAML syntax error: ${e.message.split('\n')[0]}`);
    }
    const dup = (0,fields/* duplicateKey */.Ve)(dist_namespaceObject, doc);
    if (dup) {
        const pos = lc.linePos(dup.offset);
        throw new ConfigError(file, pos.line, pos.col, '', `YAML syntax error: map keys must be unique (${JSON.stringify(dup.key.slice(0, 80))} appears twice)`);
    }
    const raw = doc.toJS({ maxAliasCount: 100 });
    // Every problem in the file is collected and reported at once (slipway validate lists them all),
    // up to MAX_PROBLEMS: finding a problem's line walks the maps, so a hostile file with thousands of
    // bad keys must not make that quadratic.
    const problems = [];
    let dropped = 0;
    const add = (make) => {
        if (problems.length < MAX_PROBLEMS)
            problems.push(make());
        else
            dropped++;
    };
    const parsed = configSchema.safeParse(raw);
    if (!parsed.success) {
        for (const issue of parsed.error.issues) {
            const path = issue.path;
            for (const key of issue.keys ?? [undefined]) {
                add(() => {
                    const at = position(doc, lc, key !== undefined ? [...path, key] : path);
                    let message = inSlipwayWords(issue.message);
                    if (key !== undefined) {
                        const allowed = issue.path.length === 0 ? Object.keys(configSchema.shape) : issue.path.length === 2 && issue.path[0] === 'environments' ? Object.keys(environmentSchema.shape) : [];
                        const hint = suggest(key, allowed);
                        message = `unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : allowed.length ? ` (expected one of ${allowed.join(', ')})` : ''}`;
                    }
                    return new ConfigError(file, at.line, at.col, (0,fields/* formatPath */.jV)(key !== undefined ? [...path, key] : path), message);
                });
            }
        }
    }
    const isMapValue = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
    // When the file's shape is wrong, the sections that are maps are still checked, so one run reports everything.
    const config = (parsed.success ? parsed.data : { version: 1, ...(isMapValue(raw) ? raw : {}) });
    const environmentsRaw = isMapValue(config.environments) ? config.environments : {};
    // Every section key must be an input of its action, with a value that action accepts.
    const check = async (section, spec, path) => {
        for (const [key, value] of Object.entries(section)) {
            // Looked up only for an error: each lookup walks the maps, so doing it for every key is quadratic.
            const at = lazyPosition(doc, lc, [...path, key]);
            const where = (0,fields/* formatPath */.jV)([...path, key]);
            const input = spec.inputs[key];
            if (!input) {
                const hint = suggest(key, Object.keys(spec.inputs));
                add(() => new ConfigError(file, at().line, at().col, where, `not an input of ${spec.name}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`));
                continue;
            }
            const text = toInputString(value, input);
            const ref = SECRET_REF.exec(text.trim());
            if (input.secret && !ref && text) {
                add(() => new ConfigError(file, at().line, at().col, where, 'is a secret: write ${{ secrets.NAME }} and keep the value in a secret, not in this file'));
                continue;
            }
            if (!ref && literalCredential(text)) {
                add(() => new ConfigError(file, at().line, at().col, where, 'contains a password or token (a credential in a URL: its user part, password or a token in its query): use ${{ secrets.NAME }} instead'));
                continue;
            }
            if (ref)
                continue;
            try {
                await (0,fields/* parseInputs */.TL)({ ...spec, inputs: { [key]: { ...input, required: false } } }, () => text);
            }
            catch (err) {
                add(() => new ConfigError(file, at().line, at().col, where, inSlipwayWords((0,errors/* errorMessage */.gJ)(err).replace(/^Input '[^']+': /, ''))));
            }
        }
    };
    for (const [envName, envValue] of Object.entries(environmentsRaw)) {
        if (!isMapValue(envValue))
            continue;
        const env = envValue;
        if (typeof env['database-url'] === 'string' && env['database-url'] && !SECRET_REF.test(env['database-url'].trim())) {
            add(() => {
                const dbAt = position(doc, lc, ['environments', envName, 'database-url']);
                return new ConfigError(file, dbAt.line, dbAt.col, `environments.${envName}.database-url`, 'is a secret: write ${{ secrets.NAME }}');
            });
        }
        if (typeof env.url === 'string' && env.url && !SECRET_REF.test(env.url.trim()) && literalCredential(env.url)) {
            add(() => {
                const urlAt = position(doc, lc, ['environments', envName, 'url']);
                return new ConfigError(file, urlAt.line, urlAt.col, `environments.${envName}.url`, 'contains a password or token (a credential in a URL: its user part, password or a token in its query): use ${{ secrets.NAME }} instead');
            });
        }
        for (const [section, action] of Object.entries(SECTIONS)) {
            const values = env[section];
            if (!isMapValue(values))
                continue;
            const spec = specs[action];
            if (!spec)
                continue; // checked by whoever loads with that action's spec (slipway validate loads all)
            await check(values, spec, ['environments', envName, section]);
        }
    }
    if (isMapValue(config.build) && specs['build-and-tag'])
        await check(config.build, specs['build-and-tag'], ['build']);
    if (dropped)
        problems.push(new ConfigError(file, undefined, undefined, '', `and ${dropped} more problem${dropped === 1 ? '' : 's'} (only the first ${MAX_PROBLEMS} are listed)`));
    if (!opts.collect)
        throwProblems(problems);
    return {
        path: file,
        config,
        environments: () => Object.keys(environmentsRaw),
        window: (e) => config.environments[e]?.window,
        at: (path) => position(doc, lc, path),
        problems,
        inputs(environment, action) {
            const env = config.environments[environment];
            if (!isMapValue(env)) {
                const hint = suggest(environment, Object.keys(config.environments));
                throw new errors/* UserError */.yo(`${file}: no environment ${JSON.stringify(environment)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; it has ${Object.keys(config.environments).join(', ')}`);
            }
            const section = action === 'build-and-tag' ? config.build : Object.entries(SECTIONS).find(([, a]) => a === action)?.[0];
            const values = typeof section === 'string' ? env[section] : section;
            const out = {};
            if (action === 'smoke-test' && env.url)
                out.url = env.url;
            if (action === 'migrate' && env['database-url'])
                out['database-url'] = env['database-url'];
            if (action === 'slo-gate' && env.window)
                out['deploy-window'] = JSON.stringify(env.window);
            for (const [k, v] of Object.entries(values ?? {}))
                out[k] = toInputString(v, specs[action]?.inputs[k]);
            return out;
        },
    };
}
async function loadConfig(path, specs, opts = {}) {
    let text;
    try {
        // Checked before reading: a huge file must not be read into memory whole.
        const size = (0,external_node_fs_.statSync)(path).size;
        if (size > MAX_CONFIG_BYTES)
            throw new ConfigError(path, undefined, undefined, '', `is ${(size / (1 << 20)).toFixed(1)} MB; expected at most ${MAX_CONFIG_BYTES >> 20} MB (split it, or move long lists into the files the inputs point at)`);
        text = (0,external_node_fs_.readFileSync)(path, 'utf8');
    }
    catch (err) {
        if (err instanceof ConfigError)
            throw err;
        throw new errors/* UserError */.yo(`config file not found: ${path}`);
    }
    return loadConfigText(text, path, specs, opts);
}
/** Replaces `${{ secrets.NAME }}` with the environment variable NAME; fails naming the variable when unset. */
function resolveSecrets(inputs, env, onSecret, onMissing) {
    const out = {};
    for (const [k, v] of Object.entries(inputs)) {
        const ref = SECRET_REF.exec(v.trim());
        if (!ref) {
            out[k] = v;
            continue;
        }
        const value = env[ref[1]];
        if ((value === undefined || value === '') && onMissing) {
            onMissing(k, ref[1]);
            continue;
        }
        if (value === undefined || value === '')
            throw new errors/* UserError */.yo(`input '${k}' refers to secret ${ref[1]}, but the environment variable ${ref[1]} is not set`);
        onSecret(value);
        out[k] = value;
    }
    return out;
}
/**
 * The inputs an action takes from slipway.yml when a workflow step sets SLIPWAY_CONFIG and
 * SLIPWAY_ENVIRONMENT: the section's values, with secrets resolved from the environment.
 */
async function configInputsFor(path, environment, spec, env, onSecret, wanted = () => true, onMissing) {
    const config = await loadConfig(path, { [spec.name]: spec });
    const raw = config.inputs(environment, spec.name);
    // Only what the step did not already get: a secret given in `with:` needs no environment variable.
    for (const k of Object.keys(raw))
        if (!wanted(k))
            delete raw[k];
    // A secret this step was not given stays unset (a lint needs no database URL); the action's own
    // check names the input if this run needs it, and onMissing says which variable was missing.
    return resolveSecrets(raw, env, onSecret, onMissing);
}


/***/ })

};

//# sourceMappingURL=344.index.js.map