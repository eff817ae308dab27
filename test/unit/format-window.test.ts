/** formatWindow: milliseconds in the largest whole unit parseWindow reads, and back. */
import { describe, expect, it } from 'vitest';
import { formatWindow, parseWindow } from '../../lib/contracts/computed-traits.js';

describe('formatWindow', () => {
  it('writes the largest whole unit, seconds rounded up below a minute', () => {
    expect(formatWindow(2 * 604_800_000)).toBe('2w');
    expect(formatWindow(604_800_000 + 86_400_000)).toBe('8d');
    expect(formatWindow(36 * 3_600_000)).toBe('36h');
    expect(formatWindow(90 * 60_000)).toBe('90m');
    expect(formatWindow(90_000)).toBe('90s');
    expect(formatWindow(1_500)).toBe('2s');
  });

  it('parseWindow reads back what it writes', () => {
    for (const text of ['1w', '6d', '23h', '59m', '59s', '90s', '30m', '12h', '7d', '2w']) {
      const ms = parseWindow(text)!;
      expect(parseWindow(formatWindow(ms)), text).toBe(ms);
    }
  });
});
