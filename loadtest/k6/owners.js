// owners.js — owners editing listings: create, read back with the
// consistency token, PATCH and DELETE with If-Match. wrk twin:
// loadtest/wrk/owners.lua.
//   k6 run -e BASE_URL=… -e QUERIES=queries.tsv [-e AUTH_TOKEN=…] loadtest/k6/owners.js
import { ownerCycle, pick } from './lib.js';

export const options = {
  vus: Number(__ENV.VUS || 8),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    http_req_failed: ['rate<0.001'],
    'http_req_duration{name:create}': ['p(95)<50', 'p(99)<100'],
    'http_req_duration{name:update}': ['p(95)<50', 'p(99)<100'],
    proximity_failed_checks: ['rate<0.001'],
  },
};

export default function () {
  ownerCycle(pick(__ITER), __ITER);
}
