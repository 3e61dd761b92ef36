/**
 * A whole number with thousands separators, as `toLocaleString('en-US')` writes it, without
 * loading ICU: its first call costs tens of milliseconds, which a short traced run would pay
 * on its summary line.
 */
export function thousands(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? '-' : '';
  const digits = String(Math.round(Math.abs(n)));
  if (digits.includes('e')) return n.toLocaleString('en-US');
  return sign + digits.replace(/\B(?=(\d{3})+$)/g, ',');
}
