// browser.mjs — drives the demo page in Chromium (playwright-core with
// Debian's /usr/bin/chromium) against a proximityd with data loaded by
// tests/it_browser.sh. usage: node browser.mjs BASE_URL SCREENSHOT.png
// Exit 0 when every check passed; failures are printed.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const requireTool = createRequire(`${process.env.PROXIMITY_NODE_MODULES}/`);
const { chromium } = requireTool('playwright-core');
const [base, screenshot] = process.argv.slice(2);
const centre = [-41.2865, 174.7762];

let failed = 0, passed = 0;
function check(ok, what) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

// The page's traffic joins the contract check (tests/contract.sh): the
// browser decodes gzip itself, so the recorded body is the identity one.
const exchanges = [];
async function record(resp) {
  const req = resp.request();
  let body = Buffer.alloc(0);
  try { body = await resp.body(); } catch { /* no body (304, 204) */ }
  const headers = Object.entries(await resp.allHeaders())
    .filter(([k]) => k !== 'content-encoding')
    .flatMap(([k, v]) => v.split('\n').map((x) => [k, x]));
  const url = new URL(req.url());
  exchanges.push({
    method: req.method(), path: url.pathname + url.search,
    request_headers: Object.entries(await req.allHeaders()),
    request_body_b64: req.postDataBuffer() ? req.postDataBuffer().toString('base64') : null,
    status: resp.status(), response_headers: headers, response_body_b64: body.toString('base64'),
  });
}

const browser = await chromium.launch({
  executablePath: process.env.PROXIMITY_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [], foreign = [], pending = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The one refused search below is meant; Chromium logs its 400.
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text()); });
  const searchUrls = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
    if (r.url().includes('/v1/search/nearby')) searchUrls.push(r.url());
  });
  page.on('response', (r) => { if (r.url().startsWith(base)) pending.push(record(r)); });
  const searches = async (n) => page.waitForFunction((k) => Number(document.body.dataset.searches || 0) >= k, n, { timeout: 10000 });
  const list = () => page.$$eval('#results li', (lis) => lis.map((li) => ({
    id: Number(li.dataset.id), metres: Number(li.querySelector('.distance').dataset.metres),
    text: li.textContent, categories: li.querySelector('.categories').textContent,
  })));

  const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
  check(resp.status() === 200, 'GET / answers 200');
  await page.waitForFunction(() => window.L && window.proximityDemo, null, { timeout: 10000 });
  check((await page.title()).includes('proximity'), 'the page has its title');

  // Zoom onto the data, pick a radius, click the centre of the data.
  await page.evaluate((c) => window.proximityDemo.map.setView(c, 15, { animate: false }), centre);
  await page.selectOption('#radius', '2000');
  await page.selectOption('#limit', '10');
  const box = await page.locator('#map').boundingBox();
  const pt = await page.evaluate((c) => window.proximityDemo.map.latLngToContainerPoint(c), centre);
  await page.mouse.click(box.x + pt.x, box.y + pt.y);
  await searches(1);
  const page1 = await list();
  check(page1.length === 10, `a click lists 10 businesses (got ${page1.length})`);
  const markers = await page.locator('path.business-marker').count();
  check(markers === page1.length, `one marker per listed business (${markers})`);
  check(page1.every((b, i) => i === 0 || b.metres >= page1[i - 1].metres), 'the list is nearest first');
  check(page1.every((b) => b.metres <= 2000 && /\d+ m|km/.test(b.text)), 'every distance is within 2 km and shown');
  const summary = await page.textContent('#summary');
  check(/^60 within 2\.00 km/.test(summary), `the summary gives the total: "${summary}"`);

  // The same question straight to the API: the same ids, in order.
  const asked = searchUrls[0];
  const direct = await page.evaluate(async (u) => (await fetch(u)).json(), asked);
  check(JSON.stringify(direct.businesses.map((b) => b.id)) === JSON.stringify(page1.map((b) => b.id)),
    `the list is the API's answer to ${asked.replace(base, '')}`);

  // Next page: the following ten, continuing the order.
  await page.click('#next');
  await searches(2);
  const page2 = await list();
  check(page2.length === 10, `the next page lists 10 more (got ${page2.length})`);
  check(page2.every((b) => !page1.some((a) => a.id === b.id)), 'the next page repeats none of the first');
  check(page2[0].metres >= page1[page1.length - 1].metres, 'the next page continues the distance order');
  check((await page.getAttribute('#results', 'start')) === '11', 'the list numbering goes on at 11');

  // A category: only bars, 20 of the 60.
  await page.selectOption('#category', 'bar');
  await searches(3);
  const bars = await list();
  check(bars.length === 10 && bars.every((b) => b.categories.includes('bar')), 'the category filter shows only bars');
  check(/^20 within/.test(await page.textContent('#summary')), 'and counts 20 of them');
  for (let i = 0; i < 10 && !(await page.isDisabled('#next')); i++) {
    const before = Number(await page.evaluate(() => document.body.dataset.searches));
    await page.click('#next');
    await searches(before + 1);
  }
  const lastBars = await list();
  check(lastBars.length === 10 && (await page.isDisabled('#next')), 'the last page of bars ends the paging');
  check(lastBars.some((b) => /🍺/.test(b.text)), 'names keep their emoji');

  // Back to the first page, any category; a marker's popup names it.
  const done = Number(await page.evaluate(() => document.body.dataset.searches));
  await page.selectOption('#category', '');
  await searches(done + 1);
  await page.locator('#results li').first().click();
  const popup = await page.locator('.leaflet-popup-content').textContent({ timeout: 5000 });
  check(popup.includes((await list())[0].text.split(/\d+ m/)[0].trim().slice(0, 6)), `the first marker's popup names it: "${popup}"`);

  // An error from the API is shown, not swallowed.
  await page.evaluate(() => window.proximityDemo.search(95, 0));
  await page.waitForFunction(() => document.getElementById('status').className === 'error', null, { timeout: 10000 });
  check((await page.textContent('#status')).includes('VALIDATION_ERROR'), 'a refused search shows the API error');

  await page.evaluate((c) => window.proximityDemo.map.setView(c, 14, { animate: false }), centre);
  await page.evaluate((c) => window.proximityDemo.search(c[0], c[1]), centre);
  await page.waitForFunction(() => document.getElementById('status').className === '', null, { timeout: 10000 });
  await page.screenshot({ path: screenshot });
  check(fs.statSync(screenshot).size > 10000, `screenshot saved: ${screenshot}`);

  check(foreign.length === 0, `no request left the service${foreign.length ? ': ' + foreign.join(' ') : ''}`);
  check(errors.length === 0, `no script errors${errors.length ? ': ' + errors.join(' | ') : ''}`);
  await Promise.all(pending);
} finally {
  await browser.close();
}
if (process.env.PROXIMITY_TEST_EXCHANGES)
  fs.appendFileSync(process.env.PROXIMITY_TEST_EXCHANGES, exchanges.map((e) => JSON.stringify(e) + '\n').join(''));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
