/**
 * Headless Chromium for the e2e suite: Debian's /usr/bin/chromium driven by playwright-core (`npx playwright install`
 * cannot work here), a fresh profile per run, axe-core on every page, and a screenshot of every step.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM_PATH = process.env.KAIROS_E2E_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, reproducible headless run in a container (DEVELOPERS.md of the issue). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Viewport {
  name: 'desktop' | 'phone';
  width: number;
  height: number;
  mobile: boolean;
  deviceScaleFactor: number;
}

export const DESKTOP: Viewport = { name: 'desktop', width: 1100, height: 860, mobile: false, deviceScaleFactor: 1 };
/** A common phone size (CSS pixels of a 6.1" phone). */
export const PHONE: Viewport = { name: 'phone', width: 390, height: 844, mobile: true, deviceScaleFactor: 2 };

const SCREENSHOT_DIR = resolve(import.meta.dirname, '../../../docs/screenshots');
const updateScreenshots = process.env.KAIROS_E2E_UPDATE_SCREENSHOTS === '1';

export interface E2eBrowser {
  context: BrowserContext;
  page: Page;
  viewport: Viewport;
  /** Screenshot names start with this (the viewport's name unless a run says otherwise). */
  shotPrefix: string;
  downloadsDir: string;
  close(): Promise<void>;
}

/**
 * A fresh browser. `locale` sets the language it asks for (Accept-Language), `colorScheme` what
 * `prefers-color-scheme` answers (also set on the page with `emulateMedia`), `shotPrefix` names its screenshots.
 */
export async function openBrowser(viewport: Viewport, options: { javaScript?: boolean; locale?: string; colorScheme?: 'light' | 'dark'; shotPrefix?: string } = {}): Promise<E2eBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'kairos-e2e-profile-'));
  const downloadsDir = mkdtempSync(join(tmpdir(), 'kairos-e2e-downloads-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: viewport.width, height: viewport.height },
    deviceScaleFactor: viewport.deviceScaleFactor,
    isMobile: viewport.mobile,
    hasTouch: viewport.mobile,
    acceptDownloads: true,
    downloadsPath: downloadsDir,
    locale: options.locale ?? 'en-GB',
    colorScheme: options.colorScheme ?? 'light',
    timezoneId: 'UTC',
    javaScriptEnabled: options.javaScript ?? true,
  });
  context.setDefaultTimeout(30_000);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.emulateMedia({ colorScheme: options.colorScheme ?? 'light' });
  return {
    context,
    page,
    viewport,
    shotPrefix: options.shotPrefix ?? viewport.name,
    downloadsDir,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(downloadsDir, { recursive: true, force: true });
    },
  };
}

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** Injects axe-core and fails on any serious or critical violation (WCAG 2.1 A/AA rules and best practices). */
export async function expectAccessible(page: Page, where: string): Promise<void> {
  await page.addScriptTag({ path: AXE_PATH });
  const violations = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations;
  })) as AxeViolation[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
  expect(report, `accessibility of ${where} (${page.url()})`).toEqual([]);
}

/** A full-page screenshot for this step, kept with the run; also written to docs/screenshots/ when updating. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const runDir = join(tmpdir(), 'kairos-e2e-screenshots');
  mkdirSync(runDir, { recursive: true });
  const file = join(runDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', scale: 'css' });
  if (updateScreenshots) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    copyFileSync(file, join(SCREENSHOT_DIR, `${name}.png`));
  }
  return file;
}

/** Responsive: nothing wider than the screen (no sideways scrolling on a phone). */
export async function expectNoHorizontalScroll(page: Page, where: string): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  expect(scrollWidth, `page width of ${where} (${page.url()})`).toBeLessThanOrEqual(innerWidth);
}

/** Every page the suite lands on: no serious accessibility problem, fits the screen, and a screenshot of it. */
export async function arrive(page: Page, browser: E2eBrowser, step: string): Promise<void> {
  await page.waitForLoadState('load');
  await expectAccessible(page, step);
  await expectNoHorizontalScroll(page, step);
  await screenshot(page, `${browser.shotPrefix}-${step}`);
}

/**
 * Clicks something that sends a form or follows a link and waits for the next page to load. (`waitForURL` alone
 * would return at once when the next page has the same address, as a re-rendered flow page does.)
 */
export async function clickAndLoad(page: Page, target: { click(): Promise<void> }): Promise<void> {
  const loaded = page.waitForEvent('load');
  await target.click();
  await loaded;
}
