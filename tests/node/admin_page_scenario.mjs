// The admin page in a real headless browser (Debian's chromium, driven by playwright-core):
// it loads, lists a library just loaded, its figures move while TFCALL runs, and changes made
// on it (load, delete) take effect as the Redis user it names -- wrong credentials refused.
// Usage: node admin_page_scenario.mjs PROXY_PORT HTTP_PORT [SCREENSHOT.png]
import { chromium } from 'playwright-core';
import { createClient } from 'redis';
import { checks } from './checks.mjs';

const [proxyPort, httpPort, screenshot] = process.argv.slice(2);
const { failures, check, finish } = checks();

const client = createClient({ socket: { port: Number(proxyPort), host: '127.0.0.1' } });
await client.connect();
await client.sendCommand(['TFUNCTION', 'LOAD', 'REPLACE',
  "#!js api_version=1.0 name=shop\n" +
  "redis.registerFunction('buy', (client, item) => client.call('incr', 'sold:' + item));\n" +
  "redis.registerKeySpaceTrigger('audit', 'sold:', (client, data) => {\n" +
  "  client.call('incr', 'audited');\n});\n"]);
await client.sendCommand(['ACL', 'SETUSER', 'admin', 'on', '>secret', '+@all', '~*', '&*']);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // The page forbids eval (its Content-Security-Policy); Playwright's waiting needs it.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  page.on('dialog', (dialog) => dialog.accept());
  page.on('pageerror', (e) => failures.push('page error: ' + e.message));
  await page.goto(`http://127.0.0.1:${httpPort}/`);
  const runs = page.locator('[data-library="shop"] tr[data-name="buy"] .runs');
  await runs.waitFor({ timeout: 10000 });
  check('the function is listed with no runs:', (await runs.textContent()) === '0',
        await runs.textContent());
  // Its figures move while TFCALL runs, without reloading the page; writes of clients fire the
  // trigger (a function's own writes do not).
  const shows = (name, text) => page.waitForFunction(
      ([name, text]) => document.querySelector(
          `[data-library="shop"] tr[data-name="${name}"] .runs`)?.textContent === text,
      [name, text], { timeout: 10000, polling: 100 })
      .then(() => true, () => false);
  for (let i = 0; i < 25; i++) await client.sendCommand(['TFCALL', 'shop.buy', '0', 'hat']);
  check('the runs reach 25:', await shows('buy', '25'), await runs.textContent());
  for (let i = 0; i < 7; i++) await client.sendCommand(['SET', 'sold:direct' + i, '1']);
  check('the trigger ran 7 times:', await shows('audit', '7'));
  // The library's code, shown when opened (and kept open across refreshes).
  await page.click('details[data-code="shop"] summary');
  await page.waitForFunction(() => document.querySelector('details[data-code="shop"] pre')
      ?.textContent.includes("registerFunction('buy'"), null, { timeout: 5000, polling: 100 })
      .catch(() => failures.push('the code is not shown'));
  await page.waitForTimeout(1200);  // a refresh later, still open and filled
  check('the code stays shown:', (await page.locator('details[data-code="shop"] pre').textContent())
      .includes('registerKeySpaceTrigger'));
  const backend = await page.locator('#backend').textContent();
  check('the backend is shown reachable:', backend.includes('reachable'), backend);

  // Changes as a Redis user: a wrong password is refused, the right one loads and deletes.
  await page.fill('#user', 'admin');
  await page.fill('#password', 'wrong');
  await page.fill('#code', "#!js api_version=1.0 name=fromweb\nredis.registerFunction('f', () => 'web');");
  await page.click('#load');
  await page.waitForFunction(() => document.querySelector('#result').textContent !== '');
  const refused = await page.locator('#result').textContent();
  check('a wrong password is refused:', refused.startsWith('WRONGPASS'), refused);
  await page.fill('#password', 'secret');
  await page.click('#load');
  await page.locator('[data-library="fromweb"]').waitFor({ timeout: 10000 })
      .catch(() => failures.push('the library loaded from the page is not listed'));
  check('the loaded library runs:',
        (await client.sendCommand(['TFCALL', 'fromweb.f', '0'])) === 'web');
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.click('button[data-delete="fromweb"]');
  await page.locator('[data-library="fromweb"]').waitFor({ state: 'detached', timeout: 10000 })
      .catch(() => failures.push('the deleted library is still listed'));
  const list = await client.sendCommand(['TFUNCTION', 'LIST', 'LIBRARY', 'fromweb']);
  check('the library is deleted:', Array.isArray(list) && list.length === 0, JSON.stringify(list));
} finally {
  await browser.close();
  await client.quit();
}
finish();
