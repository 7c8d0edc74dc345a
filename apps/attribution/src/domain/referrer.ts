/**
 * Referrer parsing shared by the channel rules and the checkout-return rule. Referrers come from browsers
 * (`document.referrer`), so expect full URLs, but also app referrers (`android-app://com.google.android.gm/`),
 * bare hosts and junk: nothing here throws.
 */

/** Lower-cased host without `www.`; null when the referrer is absent or has no recognisable host. */
export function referrerHost(referrer: string | null | undefined): string | null {
  if (referrer === null || referrer === undefined) return null;
  const trimmed = referrer.trim();
  if (trimmed === '') return null;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let host: string;
  try {
    host = new URL(withScheme).hostname.toLowerCase();
  } catch {
    return null;
  }
  if (host === '') return null;
  host = host.replace(/\.$/, '');
  return host.startsWith('www.') ? host.slice(4) : host;
}

/** True when `host` is `domain` or one of its subdomains. */
export function hostIsOrUnder(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

/**
 * True when `host` belongs to a search engine or site family whose country domains vary
 * (`google.co.uk`, `yandex.ru`): the label must be the registrable name, followed by a public suffix
 * we do not enumerate (one or two short labels).
 */
export function hostHasBrand(host: string, brand: string): boolean {
  const labels = host.split('.');
  const i = labels.lastIndexOf(brand);
  if (i < 0) return false;
  const suffix = labels.slice(i + 1);
  return suffix.length >= 1 && suffix.length <= 2 && suffix.every((l) => l.length >= 2 && l.length <= 3);
}

/**
 * Pages where the visitor pays, on the providers Metrivo supports. A session whose referrer is one of
 * these is the visitor coming back from paying, not a traffic source.
 */
const STRIPE_PAYMENT_SUBDOMAINS = new Set(['checkout', 'buy', 'invoice', 'pay', 'billing', 'hooks']);
const NON_CHECKOUT_SUBDOMAINS = new Set(['www', 'docs', 'blog', 'dashboard', 'support', 'status', 'help']);

export function isPaymentCheckoutReferrer(referrer: string | null | undefined): boolean {
  const host = referrerHost(referrer);
  if (host === null) return false;
  if (host.endsWith('.stripe.com')) {
    const sub = host.slice(0, -'.stripe.com'.length).split('.');
    return STRIPE_PAYMENT_SUBDOMAINS.has(sub[sub.length - 1] ?? '');
  }
  // Razorpay: api.razorpay.com (hosted checkout redirects), checkout.razorpay.com, pages.razorpay.com,
  // payment links on rzp.io; Dodo: checkout.dodopayments.com, test.checkout.dodopayments.com.
  if (host === 'rzp.io' || hostIsOrUnder(host, 'razorpay.me')) return true;
  for (const domain of ['razorpay.com', 'dodopayments.com']) {
    // The bare domain (after dropping www.) is the provider's marketing site, not a payment page.
    if (host.endsWith(`.${domain}`)) {
      const first = host.split('.')[0] ?? '';
      return !NON_CHECKOUT_SUBDOMAINS.has(first);
    }
  }
  return false;
}
