// Loads a `sim report` page in headless Chromium (Debian's chromium, driven by
// playwright-core; no browser is downloaded) and checks what a reader relies on:
// the page loads with no console error, no page error and no request leaving the
// file (it must be self-contained); every chart (<svg>) has a nonzero size and
// drawn marks; each replay command given on the command line is on the page.
//
//   node check.mjs REPORT.html [REPLAY_COMMAND...]
import { chromium } from 'playwright-core';
import path from 'node:path';

const [report, ...replays] = process.argv.slice(2);
if (!report) {
  console.error('usage: node check.mjs REPORT.html [REPLAY_COMMAND...]');
  process.exit(2);
}
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    problems.push(`request outside the file: ${url}`);
    return route.abort();
  });
  const response = await page.goto('file://' + path.resolve(report), { waitUntil: 'load' });
  if (!response || !response.ok()) problems.push(`page did not load: ${response && response.status()}`);

  const charts = await page.$$eval('svg', (svgs) =>
    svgs.map((s) => {
      const r = s.getBoundingClientRect();
      const marks = [...s.querySelectorAll('rect, line, polyline, path, circle')];
      const drawn = marks.filter((m) => {
        const b = m.getBBox();
        return b.width > 0 || b.height > 0;
      }).length;
      return { id: s.id, width: r.width, height: r.height, drawn };
    }),
  );
  if (charts.length === 0) problems.push('no chart on the page');
  for (const c of charts) {
    if (!(c.width > 0 && c.height > 0)) problems.push(`chart ${c.id} has no size (${c.width}x${c.height})`);
    if (c.drawn === 0) problems.push(`chart ${c.id} draws nothing`);
  }
  const text = await page.innerText('body');
  for (const r of replays) {
    if (!text.includes(r)) problems.push(`replay command not on the page: ${r}`);
  }
  console.log(`${charts.length} charts: ${charts.map((c) => `${c.id} ${Math.round(c.width)}x${Math.round(c.height)} (${c.drawn} marks)`).join(', ')}`);
  console.log(`${replays.length} replay command(s) looked for`);
} finally {
  await browser.close();
}
if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
}
console.log('browser: 1 passed, 0 failed');
