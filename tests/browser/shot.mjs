// Dev helper: screenshot a dashboard route with a token. node shot.mjs URL TOKENFILE OUT.png
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const [url, tokFile, out] = process.argv.slice(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pes-shot-'));
const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
const page = ctx.pages()[0] || await ctx.newPage();
page.on('console', (m) => console.log('console', m.type(), m.text()));
page.on('pageerror', (e) => console.log('pageerror', String(e)));
const u = new URL(url);
await page.goto(u.origin + '/#/signin');
if (tokFile) await page.evaluate((t) => sessionStorage.setItem('pes.token', t), fs.readFileSync(tokFile, 'utf8').trim());
await page.goto(url);
await page.reload();
await page.waitForTimeout(Number(process.env.WAIT || 1500));
await page.screenshot({ path: out, fullPage: true });
await ctx.close();
fs.rmSync(dir, { recursive: true, force: true });
