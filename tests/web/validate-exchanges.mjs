// validate-exchanges.mjs — checks recorded HTTP exchanges against api/openapi.yaml.
//
// usage: node validate-exchanges.mjs SPEC.yaml FILE.jsonl... [--require OPERATIONS]
//                                   [--expect-failures]
//
// Each line of a FILE is one exchange the integration tests made with the
// real proximityd (tests/testutil.c writes them when PROXIMITY_TEST_EXCHANGES
// is set): {method, path, request_headers, request_body_b64, status,
// response_headers, response_body_b64}. Every response must be one the spec
// describes for its path, method and status: declared headers valid and
// required ones present, body of a declared media type that parses (JSON
// with nothing after it, valid UTF-8) and validates against the schema
// (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it). A 2xx answer also
// checks the request, so a service that accepts what the spec forbids is
// caught too. --require lists operationIds (comma-separated, or "all") that
// must have been exercised. Exit 0 when all is well, 1 with the failures.
// --expect-failures turns it round for the negative check: every exchange
// must be refused (each line's "why" says what is wrong with it).
import fs from 'node:fs';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

// The npm packages live where tests/web/node-tools.sh installed them
// (the build tree), not beside this script (the source tree may be read-only).
const nodeModules = process.env.PROXIMITY_NODE_MODULES || new URL('./node_modules', import.meta.url).pathname;
const requireTool = createRequire(`${nodeModules}/`);
const YAML = requireTool('yaml');
const Ajv2020 = requireTool('ajv/dist/2020').default;
const addFormats = requireTool('ajv-formats').default;

const args = process.argv.slice(2);
let require = null;
let expectFailures = false;
const files = [];
let specPath = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--require') require = args[++i];
  else if (args[i] === '--expect-failures') expectFailures = true;
  else if (specPath === null) specPath = args[i];
  else files.push(args[i]);
}
if (specPath === null || files.length === 0) {
  console.error('usage: validate-exchanges.mjs SPEC.yaml FILE.jsonl... [--require OPS]');
  process.exit(2);
}

const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));
const ID = 'https://proximity.invalid/openapi';
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ ...spec, $id: ID });
const compiled = new Map();
function validator(pointer) {
  if (!compiled.has(pointer)) compiled.set(pointer, ajv.compile({ $ref: `${ID}#${pointer}` }));
  return compiled.get(pointer);
}

const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
function get(pointer) {
  let node = spec;
  for (const part of pointer.split('/').slice(1))
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}
// Follows a {$ref} of a parameter, header or response to its object and pointer.
function deref(node, pointer) {
  while (node && node.$ref) {
    pointer = node.$ref.slice(1);
    node = get(pointer);
  }
  return [node, pointer];
}

// Spec paths as regular expressions; literal paths win over templates.
const routes = Object.keys(spec.paths).map((p) => {
  const names = [];
  const re = new RegExp('^' + p.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{([^}]+)\}/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '$');
  return { path: p, re, names, literal: names.length === 0 };
}).sort((a, b) => Number(b.literal) - Number(a.literal));

const failures = [];
const wronglyAccepted = [];
const seen = new Map(); // operationId -> {statuses}
let count = 0;

function headerMap(list) {
  const m = new Map();
  for (const [k, v] of list) {
    const key = k.toLowerCase();
    m.set(key, m.has(key) ? `${m.get(key)}, ${v}` : v);
  }
  return m;
}

// Turns a query or header value into what its schema describes.
function coerce(schema, value) {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'array') return value.split(',');
  if (type === 'number' || type === 'integer')
    return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) ? Number(value) : value;
  return value;
}

function checkValue(where, pointer, value, problems) {
  const v = validator(pointer);
  if (!v(value)) problems.push(`${where}: ${ajv.errorsText(v.errors)} (value ${JSON.stringify(value).slice(0, 200)})`);
}

function decodeBody(ex, headers, problems) {
  let body = Buffer.from(ex.response_body_b64 || '', 'base64');
  const enc = headers.get('content-encoding');
  if (enc === 'gzip') {
    try {
      body = zlib.gunzipSync(body);
    } catch (e) {
      problems.push(`Content-Encoding gzip but the body does not gunzip: ${e.message}`);
      return null;
    }
  } else if (enc !== undefined) {
    problems.push(`unexpected Content-Encoding ${enc}`);
  }
  return body;
}

// Rules that hold across the whole API (not expressible per operation).
function crossCutting(ex, headers, problems) {
  const vary = (headers.get('vary') || '').split(',').map((s) => s.trim().toLowerCase());
  if (headers.get('content-encoding') === 'gzip' && !vary.includes('accept-encoding'))
    problems.push('gzip-encoded response without Vary: Accept-Encoding');
  const acao = headers.get('access-control-allow-origin');
  if (acao === '*' && headers.has('access-control-allow-credentials'))
    problems.push('Access-Control-Allow-Credentials together with Allow-Origin *');
  if (acao !== undefined && acao !== '*' && !vary.includes('origin'))
    problems.push('Access-Control-Allow-Origin names an origin but Vary lacks Origin');
}

function checkResponse(ex, op, respNode, respPtr, headers, problems) {
  for (const [name, h0] of Object.entries(respNode.headers || {})) {
    const [h, hp] = deref(h0, `${respPtr}/headers/${esc(name)}`);
    const value = headers.get(name.toLowerCase());
    if (value === undefined) {
      if (h.required) problems.push(`required response header ${name} missing`);
      continue;
    }
    checkValue(`response header ${name}`, `${hp}/schema`, value, problems);
  }
  const body = decodeBody(ex, headers, problems);
  if (body === null) return;
  const noBody = ex.method === 'HEAD' || ex.status === 204 || ex.status === 304;
  if (noBody) {
    if (body.length > 0) problems.push(`a ${ex.status} to ${ex.method} has a body`);
    return;
  }
  const content = respNode.content;
  if (!content) {
    if (body.length > 0) problems.push('a body where the spec describes none');
    return;
  }
  // Without Content-Type a body is application/octet-stream (RFC 9110 §8.3).
  const ctype = (headers.get('content-type') || 'application/octet-stream').split(';')[0].trim().toLowerCase();
  if (!(ctype in content)) {
    problems.push(`Content-Type "${headers.get('content-type')}" is not one of ${Object.keys(content).join(', ')}`);
    return;
  }
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    problems.push('body is not valid UTF-8');
    return;
  }
  let value = text;
  if (ctype.endsWith('json')) {
    try {
      value = JSON.parse(text); // throws on anything after the document
    } catch (e) {
      problems.push(`body is not one JSON document: ${e.message}`);
      return;
    }
  }
  if (content[ctype].schema)
    checkValue('response body', `${respPtr}/content/${esc(ctype)}/schema`, value, problems);
}

// A 2xx means the service accepted the request: it must be one the spec allows.
function checkRequest(ex, url, route, m, pathPtr, op, opPtr, problems) {
  const params = [];
  for (const [list, base] of [[get(pathPtr).parameters, `${pathPtr}/parameters`], [op.parameters, `${opPtr}/parameters`]])
    (list || []).forEach((p0, i) => params.push(deref(p0, `${base}/${i}`)));
  const reqHeaders = headerMap(ex.request_headers || []);
  const known = new Set();
  for (const [p, pp] of params) {
    let raw;
    if (p.in === 'query') {
      known.add(p.name);
      const all = url.searchParams.getAll(p.name);
      if (all.length > 1) problems.push(`query parameter ${p.name} repeated in an accepted request`);
      raw = all.length ? all[0] : undefined;
    } else if (p.in === 'path') {
      raw = decodeURIComponent(m[route.names.indexOf(p.name) + 1]);
    } else if (p.in === 'header') {
      raw = reqHeaders.get(p.name.toLowerCase());
    }
    if (raw === undefined) {
      if (p.required) problems.push(`accepted without required ${p.in} parameter ${p.name}`);
      continue;
    }
    checkValue(`accepted ${p.in} parameter ${p.name}`, `${pp}/schema`, coerce(p.schema, raw), problems);
  }
  for (const key of url.searchParams.keys())
    if (!known.has(key)) problems.push(`accepted an undocumented query parameter ${key}`);
  if (op.requestBody && ex.request_body_b64 !== undefined && ex.request_body_b64 !== null) {
    const ctype = (reqHeaders.get('content-type') || '').split(';')[0].trim().toLowerCase();
    const content = op.requestBody.content;
    if (!(ctype in content)) {
      problems.push(`accepted a body of type "${ctype}"`);
      return;
    }
    let value;
    try {
      value = JSON.parse(Buffer.from(ex.request_body_b64, 'base64').toString('utf8'));
    } catch (e) {
      problems.push(`accepted a body that is not JSON: ${e.message}`);
      return;
    }
    checkValue('accepted request body', `${opPtr}/requestBody/content/${esc(ctype)}/schema`, value, problems);
  }
}

function check(ex) {
  const problems = [];
  // The path as sent (new URL() would resolve %2e%2e segments away).
  const q = ex.path.indexOf('?');
  const url = {
    pathname: q < 0 ? ex.path : ex.path.slice(0, q),
    searchParams: new URLSearchParams(q < 0 ? '' : ex.path.slice(q + 1)),
  };
  const headers = headerMap(ex.response_headers || []);
  crossCutting(ex, headers, problems);
  let route = null, m = null;
  for (const r of routes) if ((m = r.re.exec(url.pathname))) { route = r; break; }
  let label;
  if (route === null) {
    label = `(unrouted ${url.pathname})`;
    if (ex.status !== 404) problems.push(`status ${ex.status} for a path the spec does not have (expected 404)`);
    else checkResponse(ex, null, ...deref(spec.components.responses.NotFound, '/components/responses/NotFound'), headers, problems);
  } else {
    const pathPtr = `/paths/${esc(route.path)}`;
    const method = (ex.method === 'HEAD' ? 'get' : ex.method.toLowerCase());
    const op = spec.paths[route.path][method];
    if (!op) {
      label = `(${ex.method} ${route.path})`;
      if (ex.status !== 405) problems.push(`status ${ex.status} for ${ex.method}, which ${route.path} does not have (expected 405)`);
      else checkResponse(ex, null, ...deref(spec.components.responses.MethodNotAllowed, '/components/responses/MethodNotAllowed'), headers, problems);
    } else {
      label = op.operationId;
      const opPtr = `${pathPtr}/${method}`;
      const responses = op.responses || {};
      const key = String(ex.status);
      const rkey = key in responses ? key : `${key[0]}XX` in responses ? `${key[0]}XX` : 'default' in responses ? 'default' : null;
      if (rkey === null) {
        problems.push(`status ${ex.status} is not documented for ${op.operationId}`);
      } else {
        const [node, ptr] = deref(responses[rkey], `${opPtr}/responses/${rkey}`);
        checkResponse(ex, op, node, ptr, headers, problems);
      }
      if (ex.status >= 200 && ex.status < 300) checkRequest(ex, url, route, m, pathPtr, op, opPtr, problems);
      if (!seen.has(label)) seen.set(label, new Set());
      seen.get(label).add(ex.status);
    }
  }
  count++;
  if (!problems.length) wronglyAccepted.push(`${ex.source}: ${ex.why || ex.method + ' ' + ex.path}`);
  if (problems.length)
    failures.push(`${ex.method} ${ex.path} → ${ex.status} [${label}] (${ex.source || '?'}):\n    ${problems.join('\n    ')}`);
}

/* Line by line in 1 MiB chunks: a long soak records more than one string
 * can hold (Node refuses strings over 512 MiB). */
function forEachLine(f, cb) {
  const fd = fs.openSync(f, 'r');
  const buf = Buffer.alloc(1 << 20);
  let rest = Buffer.alloc(0), n, i = 0;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
    let chunk = Buffer.concat([rest, buf.subarray(0, n)]), start = 0, nl;
    while ((nl = chunk.indexOf(10, start)) >= 0) {
      cb(chunk.toString('utf8', start, nl), i++);
      start = nl + 1;
    }
    rest = Buffer.from(chunk.subarray(start));
  }
  if (rest.length) cb(rest.toString('utf8'), i++);
  fs.closeSync(fd);
}

for (const f of files) {
  forEachLine(f, (line, i) => {
    if (line.trim() === '') return;
    let ex;
    try {
      ex = JSON.parse(line);
    } catch (e) {
      failures.push(`${f}:${i + 1}: not a JSON line: ${e.message}`);
      return;
    }
    ex.source = `${f.split('/').pop()}:${i + 1}`;
    check(ex);
  });
}

if (expectFailures) {
  for (const f of failures) console.log(`  refused: ${f.split('\n').slice(0, 2).join(' | ')}`);
  if (wronglyAccepted.length || count === 0) {
    console.log(`${wronglyAccepted.length} of ${count} wrong exchanges were accepted:`);
    for (const w of wronglyAccepted) console.log(`  ${w}`);
    process.exit(1);
  }
  console.log(`all ${count} wrong exchanges refused`);
  process.exit(0);
}

const ops = [];
for (const [p, item] of Object.entries(spec.paths))
  for (const [method, op] of Object.entries(item))
    if (op && op.operationId) ops.push(op.operationId);
for (const id of ops) {
  const st = seen.get(id);
  console.log(`  ${id.padEnd(22)} ${st ? [...st].sort().join(' ') : '(not exercised)'}`);
}
if (require !== null) {
  const wanted = require === 'all' ? ops : require.split(',');
  for (const id of wanted)
    if (!seen.has(id)) failures.push(`operation ${id} was never exercised`);
}
console.log(`${count} exchanges checked against ${specPath}`);
if (count === 0) failures.push('no exchanges recorded');
if (failures.length) {
  console.log(`${failures.length} failures:`);
  for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
  process.exit(1);
}
console.log('all exchanges match the spec');
