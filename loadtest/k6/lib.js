// lib.js — what the k6 scenarios share: the query/data file, one search,
// one owner's edit cycle. The same file drives the wrk twins
// (loadtest/wrk/*.lua), so both tools replay the same requests.
//
//   QUERIES   path of the TSV (lat<TAB>lng<TAB>radius_m per line, from
//             `proximity-gen queries`); default ../data/queries.tsv
//   BASE_URL  the service or its load balancer (default http://127.0.0.1:8080)
//   AUTH_TOKEN  sent as `Authorization: Bearer …` on writes when set
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { Counter, Rate } from 'k6/metrics';

export const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

// One copy of the file for all virtual users (SharedArray), parsed once.
export const queries = new SharedArray('queries', function () {
  const text = open(__ENV.QUERIES || '../data/queries.tsv');
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [lat, lng, radius] = line.split('\t');
    if (radius !== undefined) out.push({ lat: Number(lat), lng: Number(lng), radius: Number(radius) });
  }
  if (out.length === 0) throw new Error('no queries in ' + (__ENV.QUERIES || '../data/queries.tsv'));
  return out;
});

export const failedChecks = new Rate('proximity_failed_checks');
export const writes = new Counter('proximity_writes');

// The query a virtual user takes for its n-th iteration: each VU walks the
// file from its own offset, like the wrk twin's threads.
export function pick(n) {
  const phi = (Math.sqrt(5) - 1) / 2;
  const start = Math.floor(((__VU * phi) % 1) * queries.length);
  return queries[(start + n) % queries.length];
}

// Does iteration n start an owner's cycle (3 writes + 1 read)? Often
// enough that writes are WRITE_SHARE (default 0.05) of all requests, as
// in the wrk twins.
export function startsCycle(n) {
  const share = Number(__ENV.WRITE_SHARE || 0.05);
  const f = share >= 1 ? 1 : share / (3 * (1 - share));
  return Math.floor((n + 1) * f) > Math.floor(n * f);
}

export function search(q) {
  const url = `${BASE}/v1/search/nearby?latitude=${q.lat}&longitude=${q.lng}&radius=${q.radius}&limit=20`;
  const res = http.get(url, { tags: { name: 'search' } });
  const ok = check(res, {
    'search 200': (r) => r.status === 200,
    'search from the index': (r) => r.headers['X-Search-Source'] === 'index',
  });
  failedChecks.add(!ok);
  return res;
}

function writeHeaders(extra) {
  const h = Object.assign({ 'Content-Type': 'application/json' }, extra || {});
  if (__ENV.AUTH_TOKEN) h.Authorization = `Bearer ${__ENV.AUTH_TOKEN}`;
  return h;
}

// A listing placed at the query's centre (the same body the wrk twin builds).
export function listing(q, n) {
  return JSON.stringify({
    name: `Load test ${__VU}-${n}`,
    categories: ['cafe'],
    latitude: q.lat,
    longitude: q.lng,
    address: { city: 'Loadtown', country: 'NZ' },
    price: 1 + (n % 4),
  });
}

// An owner's cycle: create, read it back with the consistency token
// (read-your-writes), patch it with If-Match, delete it with If-Match.
export function ownerCycle(q, n) {
  const created = http.post(`${BASE}/v1/businesses`, listing(q, n), {
    headers: writeHeaders(), tags: { name: 'create' },
  });
  writes.add(1);
  let ok = check(created, { 'create 201': (r) => r.status === 201 });
  if (!ok) { failedChecks.add(true); return; }
  const path = created.headers.Location;
  const token = created.headers['X-Consistency-Token'];
  const read = http.get(`${BASE}${path}`, {
    headers: { 'X-Consistency-Token': token }, tags: { name: 'read own write' },
  });
  ok = check(read, { 'read own write 200': (r) => r.status === 200 }) && ok;
  const patched = http.patch(`${BASE}${path}`, JSON.stringify({ phone: `+64 4 ${1000000 + n}` }), {
    headers: writeHeaders({ 'Content-Type': 'application/merge-patch+json', 'If-Match': read.headers.Etag }),
    tags: { name: 'update' },
  });
  writes.add(1);
  ok = check(patched, { 'update 200': (r) => r.status === 200 }) && ok;
  const deleted = http.del(`${BASE}${path}`, null, {
    headers: writeHeaders({ 'If-Match': patched.headers.Etag }), tags: { name: 'delete' },
  });
  writes.add(1);
  ok = check(deleted, { 'delete 204': (r) => r.status === 204 }) && ok;
  failedChecks.add(!ok);
}
