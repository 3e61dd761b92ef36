/**
 * Numbers with thousands separators, as `toLocaleString('en-US')` writes them, without loading
 * ICU: its first call costs tens of milliseconds (40 ms measured on Node 20), which a short traced
 * run would pay on its summary line and the trace writer on its first note.
 */

/** A whole number: 1,234,567. */
export function thousands(n: number): string {
  return decimal(n, 0);
}

/** `n` with at most `maxFractionDigits` decimals, trailing zeros dropped: 1,234.5 (rounded as toFixed). */
export function decimal(n: number, maxFractionDigits: number): string {
  if (!Number.isFinite(n)) return String(n);
  const fixed = Math.abs(n).toFixed(maxFractionDigits);
  if (fixed.includes('e')) return n.toLocaleString('en-US', { maximumFractionDigits: maxFractionDigits });
  const [whole, fraction = ''] = fixed.split('.');
  const digits = fraction.replace(/0+$/, '');
  const text = whole!.replace(/\B(?=(\d{3})+$)/g, ',') + (digits ? `.${digits}` : '');
  return n < 0 && /[1-9]/.test(text) ? `-${text}` : text;
}

/** µs as a short text: 0.5, 20, 1,000. */
export function formatUs(us: number): string {
  return decimal(us, 1);
}
