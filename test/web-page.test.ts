/**
 * The browser page in real Chromium (headless, Debian's, driven by puppeteer-core) with a fake camera fed
 * from a Y4M video of ../shared/images/chelsea.jpg, against a real server serving the real MobileNet.
 * What it asserts is behaviour, never speed: frames are counted, not timed, and every wait is generous, so a
 * busy 2-core machine slows the test down but cannot fail it.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Browser, Page } from 'puppeteer-core';
import { startServer, type RunningServer } from '../src/server/app';
import { chromiumOrSkip, writeY4m } from './helpers/chromium';
import { MOBILENET_JSON, sharedFixture } from './helpers/fixtures';
import { suiteTempDir } from './helpers/temp-dir';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const TOKEN = 'page-test-token';
/** Generous: the run itself is 1 s of warm-up and 10 s of frames; the rest is slack for a loaded machine. */
const RUN_WAIT_MS = 90_000;

interface Problems {
  list: string[];
}

/** Page errors, failed requests and console errors (a CSP violation is one) collected for an assertion. */
function watch(page: Page): Problems {
  const p: Problems = { list: [] };
  page.setDefaultTimeout(RUN_WAIT_MS);
  page.on('pageerror', (e) => p.list.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  page.on('console', (m) => {
    if (m.type() === 'error') p.list.push(`console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => p.list.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return p;
}

const textOf = (page: Page, id: string): Promise<string> => page.$eval(`#${id}`, (e) => e.textContent ?? '');

describe('browser page (real Chromium, fake camera, real MobileNet)', function () {
  const tmp = suiteTempDir('web-page-');
  let browser: Browser | undefined;
  let open: RunningServer | undefined;
  let guarded: RunningServer | undefined;
  const savedTokens = process.env.INFER_TOKENS;

  before(async function () {
    const chromium = chromiumOrSkip(this);
    const model = sharedFixture(this, MOBILENET_JSON);
    const photo = sharedFixture(this, 'images/chelsea.jpg');
    const camera = path.join(tmp.path, 'camera.y4m');
    await writeY4m(photo, camera);
    fs.copyFileSync(photo, path.join(tmp.path, 'chelsea.jpg'));
    open = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, model, normalize: 'signed', logLevel: 'error', drainDelayMs: 0 });
    process.env.INFER_TOKENS = TOKEN;
    try {
      guarded = await startServer({ port: 0, host: '127.0.0.1', webPort: 0, model, normalize: 'signed', logLevel: 'error', drainDelayMs: 0 });
    } finally {
      if (savedTokens === undefined) delete process.env.INFER_TOKENS;
      else process.env.INFER_TOKENS = savedTokens;
    }
    const puppeteer = await import('puppeteer-core');
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      timeout: RUN_WAIT_MS,
      protocolTimeout: RUN_WAIT_MS,
      args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${camera}`],
    });
  });

  after(async () => {
    await browser?.close();
    await open?.shutdown(0);
    await guarded?.shutdown(0);
  });

  it('classifies the camera at 5 fps for 10 s: a cat, ≥ 40 frames, charts, a verdict, and JSON rtinfer report renders', async () => {
    const page = await browser!.newPage();
    const problems = watch(page);
    await page.setViewport({ width: 1280, height: 1000 });
    // window 8: a frame is dropped only when 8 are unanswered at once, so a briefly stalled machine drops none.
    await page.goto(`http://127.0.0.1:${open!.webPort}/?source=camera&fps=5&budget=1000&autostart=1&duration=10&window=8&deadline=30000`);
    // Predicates run in the page, so they are given as source text (this file is compiled without the DOM library).
    await page.waitForFunction("/cat|tabby|lynx/i.test(document.getElementById('top1-label').textContent)", { timeout: RUN_WAIT_MS });
    await page.waitForFunction("document.getElementById('run-json').textContent !== '' || !document.getElementById('error').hidden", { timeout: RUN_WAIT_MS });
    expect(await textOf(page, 'error')).to.equal('');
    const rep = JSON.parse(await textOf(page, 'run-json')) as { verb: string; tool: { name: string }; summary: Record<string, number>; verdict: { status: string }; environment: { server: { model: { name: string } } } };
    expect(rep.tool.name).to.equal('rtinfer');
    expect(rep.verb).to.equal('stream');
    expect(rep.summary.fps_target).to.equal(5);
    expect(rep.summary.ok, 'frames answered in the 10 s').to.be.at.least(40);
    expect(rep.summary.errors).to.equal(0);
    expect(rep.environment.server.model.name).to.equal('mobilenet_v1_0.25_224');
    expect(await textOf(page, 'verdict')).to.be.oneOf(['PASS', 'FAIL']);
    expect(await textOf(page, 'verdict')).to.equal(rep.verdict.status);
    expect(Number(await textOf(page, 'latency-p99-ms'))).to.be.greaterThan(0);
    expect(Number(await textOf(page, 'achieved-fps'))).to.be.greaterThan(0);
    expect(Number(await page.$eval('#latency-chart', (e) => e.getAttribute('data-points')))).to.be.greaterThan(0);
    expect(await page.$$eval('#top5 li', (li) => li.length)).to.equal(5);

    const file = path.join(tmp.path, 'web-run.json');
    fs.writeFileSync(file, await textOf(page, 'run-json'));
    const out = path.join(tmp.path, 'report');
    await run(process.execPath, [path.join(ROOT, 'bin', 'rtinfer.js'), 'report', file, '--out', out], { cwd: ROOT });
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).to.include('stream');

    // The Ping panel.
    await page.evaluate("document.getElementById('ping-count').value = '10'; document.getElementById('ping-interval').value = '20'");
    await page.click('#ping-start');
    await page.waitForFunction("/\\/10$/.test(document.getElementById('ping-sent').textContent)", { timeout: RUN_WAIT_MS });
    expect(await textOf(page, 'ping-sent')).to.match(/^([1-9]|10)\/10$/);
    expect(Number(await textOf(page, 'ping-rtt-ms'))).to.be.greaterThan(0);
    expect(Number(await textOf(page, 'ping-jitter-ms'))).to.be.at.least(0);

    fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'out', 'web-page.png'), fullPage: true });
    expect(problems.list, 'no page errors, CSP violations or failed requests').to.deep.equal([]);
    await page.close();
  });

  it('sends full frames when asked (the bytes-vs-server-CPU toggle), and classifies an image file', async () => {
    const page = await browser!.newPage();
    const problems = watch(page);
    await page.goto(`http://127.0.0.1:${open!.webPort}/?source=camera&fps=5&duration=2&warmup=0&encode=full&autostart=1&deadline=30000`);
    await page.waitForFunction("document.getElementById('run-json').textContent !== '' || !document.getElementById('error').hidden", { timeout: RUN_WAIT_MS });
    expect(await textOf(page, 'error')).to.equal('');
    const full = JSON.parse(await textOf(page, 'run-json')) as { settings: Record<string, unknown>; summary: Record<string, number> };
    expect(full.settings).to.include({ encode: 'full', frameSize: '640x480', source: 'camera 640×480' });
    expect(full.summary.ok).to.be.at.least(1);
    expect(full.summary.errors).to.equal(0);

    await page.goto(`http://127.0.0.1:${open!.webPort}/?source=file&fps=5&duration=2&warmup=0&deadline=30000`);
    const input = await page.$('#file');
    await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(path.join(tmp.path, 'chelsea.jpg'));
    await page.click('#start');
    await page.waitForFunction("document.getElementById('run-json').textContent !== '' || !document.getElementById('error').hidden", { timeout: RUN_WAIT_MS });
    expect(await textOf(page, 'error')).to.equal('');
    const file = JSON.parse(await textOf(page, 'run-json')) as { settings: Record<string, unknown>; summary: Record<string, number> };
    expect(file.settings).to.include({ source: 'file chelsea.jpg', encode: 'model', frameSize: '224x224' });
    expect(file.summary.ok).to.be.at.least(1);
    expect(await textOf(page, 'top1-label')).to.match(/cat|tabby|lynx/i);
    expect(problems.list).to.deep.equal([]);
    await page.close();
  });

  it('shows UNAUTHENTICATED on the page for a wrong token, not a blank', async () => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(RUN_WAIT_MS);
    await page.goto(`http://127.0.0.1:${guarded!.webPort}/?source=camera&fps=5&duration=2`);
    await page.type('#token', 'not-the-token');
    await page.click('#start');
    await page.waitForFunction("!document.getElementById('error').hidden", { timeout: RUN_WAIT_MS });
    expect(await textOf(page, 'error')).to.equal('UNAUTHENTICATED: invalid token');
    await page.close();
  });
});
