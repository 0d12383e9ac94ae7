/**
 * Makes docs/viewer.png, the README's picture of the page: the demo's page (npm start writes
 * build/demo.html) in headless chromium, at its second collection with both arches side by
 * side and one map bit flipped in the what-if.
 *
 * Usage: npm start && node --import tsx scripts/readme-screenshot.ts [page.html] [out.png]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const page = resolve(process.argv[2] ?? 'build/demo.html');
const out = resolve(process.argv[3] ?? 'docs/viewer.png');
const profile = mkdtempSync(join(tmpdir(), 'stackscope-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.STACKSCOPE_CHROMIUM ?? '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const p = await context.newPage();
  await p.goto(pathToFileURL(page).href);
  await p.waitForSelector('body[data-ready="true"]');
  await p.locator('#next-gc').click();
  await p.locator('#next-gc').click();
  // Clear the youngest x64 frame's marked bit: the page shows the live object it would free.
  await p.locator('.column[data-arch="x64"] .frame[data-frame="0"] .ss-bit-on').first().click();
  await p.screenshot({ path: out });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
