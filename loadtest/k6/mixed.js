// mixed.js — 95% reads, 5% writes (searches and owners' edit cycles), at a constant arrival
// rate. wrk twin: loadtest/wrk/mixed.lua.
//   k6 run -e BASE_URL=… -e QUERIES=queries.tsv -e RATE=2000 loadtest/k6/mixed.js
import { ownerCycle, pick, search, startsCycle } from './lib.js';

export const options = {
  scenarios: {
    mixed: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 2000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: 64,
      maxVUs: 512,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    'http_req_duration{name:search}': ['p(95)<10', 'p(99)<25'],
    proximity_failed_checks: ['rate<0.001'],
  },
};

export default function () {
  const q = pick(__ITER);
  if (startsCycle(__ITER)) ownerCycle(q, __ITER);
  else search(q);
}
