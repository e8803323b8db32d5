// ramp.js — a ramping arrival rate of searches (95%) and edits (5%) until
// the thresholds break: where p95/p99 and the error rate give way is the
// capacity of the deployment. wrk twin: loadtest/wrk/ramp.lua, run in
// connection steps by loadtest/run-wrk.sh (wrk has no arrival-rate model).
//   k6 run -e BASE_URL=… -e QUERIES=queries.tsv -e PEAK=20000 loadtest/k6/ramp.js
import { ownerCycle, pick, search, startsCycle } from './lib.js';

const peak = Number(__ENV.PEAK || 20000);

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.floor(peak / 20)),
      timeUnit: '1s',
      preAllocatedVUs: 128,
      maxVUs: 2048,
      stages: [
        { duration: '30s', target: Math.floor(peak / 4) },
        { duration: '30s', target: Math.floor(peak / 2) },
        { duration: '30s', target: peak },
        { duration: '30s', target: peak },
        { duration: '10s', target: 0 },
      ],
    },
  },
  thresholds: {
    http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '10s' }],
    'http_req_duration{name:search}': ['p(95)<20', 'p(99)<50'],
    proximity_failed_checks: ['rate<0.01'],
  },
};

export default function () {
  const q = pick(__ITER);
  if (startsCycle(__ITER)) ownerCycle(q, __ITER);
  else search(q);
}
