// search.js — the nearby-search mix: constant virtual users replaying the
// query file. wrk twin: loadtest/wrk/search.lua.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e QUERIES=queries.tsv loadtest/k6/search.js
import { pick, search } from './lib.js';

export const options = {
  vus: Number(__ENV.VUS || 32),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    http_req_failed: ['rate<0.001'],
    'http_req_duration{name:search}': ['p(95)<10', 'p(99)<25'],
    proximity_failed_checks: ['rate<0.001'],
  },
};

export default function () {
  search(pick(__ITER));
}
