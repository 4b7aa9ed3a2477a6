// Opens a fidelis run report in headless Chromium (over the DevTools
// protocol, with playwright-core) and fails on:
//   - any console error or uncaught page error (Chromium reports invalid
//     SVG attributes, such as a negative height, as console errors);
//   - any network request other than the report file itself (the report
//     must be self-contained);
//   - any chart of the documented list (docs/report.md) that is missing or
//     has no visible mark.
// Writes a full-page screenshot.
//
//   node tests/report/check_report.mjs REPORT.html SCREENSHOT.png [--no-drift]
//
// --no-drift: the report is a first run (no previous published run), so
// the drift charts are expected to be absent.
import { readFileSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [reportPath, screenshot, ...flags] = process.argv.slice(2);
if (!reportPath || !screenshot) {
  console.error("usage: check_report.mjs REPORT.html SCREENSHOT.png [--no-drift]");
  process.exit(2);
}
const noDrift = flags.includes("--no-drift");
const here = dirname(fileURLToPath(import.meta.url));

// The documented charts: rows of the table in docs/report.md that start
// with a chart id in backticks.
const docs = readFileSync(resolve(here, "../../docs/report.md"), "utf8");
const charts = [...docs.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
if (charts.length < 10) {
  console.error(`docs/report.md lists only ${charts.length} charts: ${charts}`);
  process.exit(1);
}
const drift = new Set(["churn-drift", "clv-drift"]);

const url = pathToFileURL(resolve(reportPath)).href;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") {
      failures.push(`console ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (err) => failures.push(`page error: ${err.message}`));
  page.on("request", (req) => {
    if (req.url() !== url) failures.push(`network request: ${req.url()}`);
  });
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || !response.ok()) failures.push(`cannot open ${url}`);

  for (const id of charts) {
    const figures = await page.$$(`figure[data-chart="${id}"]`);
    if (noDrift && drift.has(id)) {
      if (figures.length) failures.push(`chart ${id}: drawn in a report without a previous run`);
      continue;
    }
    if (!figures.length) {
      failures.push(`chart ${id}: missing`);
      continue;
    }
    for (const [k, fig] of figures.entries()) {
      // Marks that the browser actually laid out with a visible size.
      const visible = await fig.$$eval(".mark", (marks) =>
        marks.filter((m) => {
          const b = m.getBoundingClientRect();
          return b.width > 0 || b.height > 0;
        }).length,
      );
      const caption = (await fig.$eval("figcaption", (c) => c.textContent)).trim();
      if (visible === 0) failures.push(`chart ${id} #${k + 1}: no visible mark`);
      if (!caption) failures.push(`chart ${id} #${k + 1}: no caption`);
      console.log(`chart ${id} #${k + 1}: ${visible} marks`);
    }
  }
  const unknown = await page.$$eval("figure[data-chart]", (fs, known) =>
    fs.map((f) => f.dataset.chart).filter((c) => !known.includes(c)), charts);
  for (const c of unknown) failures.push(`chart ${c}: drawn but not documented in docs/report.md`);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`report check failed for ${reportPath}:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log(`report check passed: ${charts.length} documented charts, no console errors, no requests`);
