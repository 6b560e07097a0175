// Writes an OSM XML file with a street grid over a box, for the browser tests' base layer:
// residential streets every 0.004 degrees both ways, every fifth one a primary road.
//   node tests/browser/street_grid.mjs minLat,minLng,maxLat,maxLng OUT.osm
import { writeFileSync } from 'node:fs';

const [box, out] = process.argv.slice(2);
const [minLat, minLng, maxLat, maxLng] = (box || '').split(',').map(Number);
if (![minLat, minLng, maxLat, maxLng].every(Number.isFinite) || !out) {
  console.error('usage: street_grid.mjs minLat,minLng,maxLat,maxLng OUT.osm');
  process.exit(2);
}
const d = 0.004;
const rows = Math.floor((maxLat - minLat) / d), cols = Math.floor((maxLng - minLng) / d);
const id = (r, c) => r * (cols + 1) + c + 1;
const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">'];
for (let r = 0; r <= rows; ++r) {
  for (let c = 0; c <= cols; ++c) {
    lines.push(`  <node id="${id(r, c)}" lat="${(minLat + r * d).toFixed(6)}" lon="${(minLng + c * d).toFixed(6)}"/>`);
  }
}
let way = 1;
const road = (k) => (k % 5 === 0 ? 'primary' : 'residential');
for (let r = 0; r <= rows; ++r) {
  const refs = Array.from({ length: cols + 1 }, (_, c) => `<nd ref="${id(r, c)}"/>`).join('');
  lines.push(`  <way id="${way++}">${refs}<tag k="highway" v="${road(r)}"/></way>`);
}
for (let c = 0; c <= cols; ++c) {
  const refs = Array.from({ length: rows + 1 }, (_, r) => `<nd ref="${id(r, c)}"/>`).join('');
  lines.push(`  <way id="${way++}">${refs}<tag k="highway" v="${road(c)}"/></way>`);
}
lines.push('</osm>', '');
writeFileSync(out, lines.join('\n'));
console.log(`${(rows + 1) * (cols + 1)} nodes, ${way - 1} ways in ${out}`);
