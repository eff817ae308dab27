/**
 * Debian's Chromium (through playwright-core) for browser tests. Without it a browser test is
 * skipped locally, but fails when CI=true.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { CI } from './redis.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is installed (false: the caller skips); throws instead under CI=true. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (CI) throw new Error(`${CHROMIUM} is missing (CI=true: the browser test must run): install Debian's chromium package (apt-get install chromium; .ci/run does)`);
  return false;
}

/** A headless Chromium (no sandbox: tests may run as root in a container). */
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
