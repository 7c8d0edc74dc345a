import type { Channel, Utm } from '@metrivo/contracts';
import { deriveChannel } from './channel';
import { isPaymentCheckoutReferrer, referrerHost } from './referrer';

describe('deriveChannel', () => {
  const cases: [string, { referrer?: string; utm?: Utm; landingPage?: string }, Channel][] = [
    ['nothing at all', {}, 'direct'],
    ['empty referrer and empty utm', { referrer: '  ', utm: {} }, 'direct'],
    ['google referrer', { referrer: 'https://www.google.com/' }, 'organic_search'],
    ['google country domain', { referrer: 'https://www.google.co.uk/search?q=x' }, 'organic_search'],
    ['bing', { referrer: 'https://www.bing.com/' }, 'organic_search'],
    ['duckduckgo', { referrer: 'https://duckduckgo.com/' }, 'organic_search'],
    ['yahoo search', { referrer: 'https://search.yahoo.com/search?p=x' }, 'organic_search'],
    ['baidu', { referrer: 'https://www.baidu.com/link?url=x' }, 'organic_search'],
    ['yandex.ru', { referrer: 'https://yandex.ru/' }, 'organic_search'],
    ['ecosia', { referrer: 'https://www.ecosia.org/' }, 'organic_search'],
    ['brave search', { referrer: 'https://search.brave.com/' }, 'organic_search'],
    ['google ads medium cpc', { referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' } }, 'paid_search'],
    ['medium ppc without referrer', { utm: { source: 'bing', medium: 'ppc' } }, 'paid_search'],
    ['medium paid', { utm: { source: 'google', medium: 'Paid' } }, 'paid_search'],
    ['medium paidsearch', { utm: { medium: 'paidsearch' } }, 'paid_search'],
    ['medium paid_search', { utm: { medium: 'paid_search' } }, 'paid_search'],
    ['gclid on landing page only', { referrer: 'https://www.google.com/', landingPage: '/pricing?gclid=abc' }, 'paid_search'],
    ['msclkid on landing page', { landingPage: 'https://shop.example/?msclkid=1' }, 'paid_search'],
    ['facebook cpc ads are social', { utm: { source: 'facebook', medium: 'cpc' } }, 'social'],
    ['paid_social medium', { utm: { source: 'meta', medium: 'paid_social' } }, 'social'],
    ['cpc medium, social referrer, no source', { referrer: 'https://l.facebook.com/', utm: { medium: 'cpc' } }, 'social'],
    ['email medium', { utm: { source: 'mailchimp', medium: 'email' } }, 'email'],
    ['newsletter medium', { utm: { medium: 'newsletter' } }, 'email'],
    ['newsletter source without medium', { utm: { source: 'newsletter' } }, 'email'],
    ['gmail web referrer', { referrer: 'https://mail.google.com/' }, 'email'],
    ['gmail android app referrer', { referrer: 'android-app://com.google.android.gm/' }, 'email'],
    ['google app referrer', { referrer: 'android-app://com.google.android.googlequicksearchbox/' }, 'organic_search'],
    ['social medium', { utm: { source: 'whatever', medium: 'social' } }, 'social'],
    ['t.co referrer', { referrer: 'https://t.co/abc' }, 'social'],
    ['x.com referrer', { referrer: 'https://x.com/someone/status/1' }, 'social'],
    ['twitter referrer', { referrer: 'https://twitter.com/' }, 'social'],
    ['facebook referrer', { referrer: 'https://m.facebook.com/' }, 'social'],
    ['instagram referrer', { referrer: 'https://l.instagram.com/?u=x' }, 'social'],
    ['linkedin referrer', { referrer: 'https://www.linkedin.com/feed/' }, 'social'],
    ['reddit referrer', { referrer: 'https://old.reddit.com/r/x' }, 'social'],
    ['youtube referrer', { referrer: 'https://www.youtube.com/watch?v=1' }, 'social'],
    ['youtu.be referrer', { referrer: 'https://youtu.be/1' }, 'social'],
    ['tiktok referrer', { referrer: 'https://www.tiktok.com/' }, 'social'],
    ['pinterest country domain', { referrer: 'https://www.pinterest.de/' }, 'social'],
    ['social source without medium or referrer', { utm: { source: 'linkedin' } }, 'social'],
    ['search source without medium', { utm: { source: 'google' } }, 'organic_search'],
    ['organic medium from search', { referrer: 'https://www.bing.com/', utm: { source: 'bing', medium: 'organic' } }, 'organic_search'],
    ['other site referrer', { referrer: 'https://blog.example.org/post' }, 'referral'],
    ['look-alike host is not google', { referrer: 'https://google.example.org/' }, 'referral'],
    ['referral medium', { utm: { source: 'partner-site', medium: 'referral' } }, 'referral'],
    ['affiliate medium', { utm: { source: 'someone', medium: 'affiliate' } }, 'referral'],
    ['utm fits nothing, no referrer', { utm: { source: 'spring-flyer', medium: 'print' } }, 'other'],
    ['utm campaign only', { utm: { campaign: 'bf' } }, 'other'],
    ['unknown utm but a referrer', { referrer: 'https://news.example.com/', utm: { source: 'abc', medium: 'print' } }, 'referral'],
    // Paid clicks are never organic.
    ['ad network source without medium', { utm: { source: 'google_ads' } }, 'paid_search'],
    ['adwords source', { utm: { source: 'adwords' } }, 'paid_search'],
    ['bing_ads source with a google referrer', { referrer: 'https://www.bing.com/', utm: { source: 'bing_ads' } }, 'paid_search'],
    ['google / cpm', { utm: { source: 'google', medium: 'cpm' } }, 'paid_search'],
    ['bing / cpv', { utm: { source: 'bing', medium: 'cpv' } }, 'paid_search'],
    ['google / retargeting', { utm: { source: 'google', medium: 'retargeting' } }, 'paid_search'],
    ['google / display', { utm: { source: 'google', medium: 'display' } }, 'paid_search'],
    ['google / banner', { utm: { source: 'google', medium: 'banner' } }, 'paid_search'],
    ['display from an unknown network is paid, not search', { referrer: 'https://news.example.com/', utm: { source: 'abc', medium: 'display' } }, 'other'],
    ['display bought on a social network', { utm: { source: 'facebook', medium: 'display' } }, 'social'],
    ['cpm on a social network', { utm: { source: 'linkedin', medium: 'cpm' } }, 'social'],
    ['organic medium with an ad network source', { utm: { source: 'google_ads', medium: 'organic' } }, 'paid_search'],
    // Google products that are not search.
    ['a link in a Google Doc', { referrer: 'https://docs.google.com/document/d/1' }, 'referral'],
    ['Google Play', { referrer: 'https://play.google.com/store/apps/details?id=x' }, 'referral'],
    ['Google News', { referrer: 'https://news.google.com/' }, 'referral'],
    ['Google search on a country domain with a subdomain', { referrer: 'https://images.google.de/' }, 'organic_search'],
    ['Yandex search', { referrer: 'https://yandex.com.tr/search/?text=x' }, 'organic_search'],
    // The site itself.
    ['self-referral is not a source', { referrer: 'https://shop.example.com/blog', landingPage: 'https://shop.example.com/pricing' }, 'direct'],
    ['self-referral with www on one side', { referrer: 'https://www.shop.example.com/', landingPage: 'https://shop.example.com/pricing' }, 'direct'],
    ['self-referral keeps its UTM tags', { referrer: 'https://shop.example.com/', landingPage: 'https://shop.example.com/?utm_source=newsletter', utm: { source: 'newsletter' } }, 'email'],
    ['another subdomain of the site still refers', { referrer: 'https://blog.example.com/post', landingPage: 'https://shop.example.com/pricing' }, 'referral'],
    ['a path-only landing page cannot tell', { referrer: 'https://shop.example.com/blog', landingPage: '/pricing' }, 'referral'],
    ['unparseable referrer still counts as referral', { referrer: '::::' }, 'referral'],
    ['a brand label followed by a registrable domain is not the brand', { referrer: 'https://google.biz.co.uk/' }, 'referral'],
    ['medium organic from a search source beats an ad click id', { utm: { source: 'google', medium: 'organic' }, landingPage: '/?gclid=abc' }, 'organic_search'],
    ['display medium from a search referrer, no source', { referrer: 'https://www.google.com/', utm: { medium: 'display' } }, 'paid_search'],
    ['cpc from a named search source stays paid_search through a social referrer', { referrer: 'https://l.facebook.com/', utm: { source: 'google', medium: 'cpc' } }, 'paid_search'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(deriveChannel(input)).toBe(expected);
  });
});

describe('isPaymentCheckoutReferrer', () => {
  const cases: [string | undefined, boolean][] = [
    ['https://checkout.stripe.com/c/pay/cs_test_123', true],
    ['https://buy.stripe.com/test_abc', true],
    ['https://invoice.stripe.com/i/acct_1/xyz', true],
    ['https://hooks.stripe.com/3d_secure_2/hosted', true],
    ['https://stripe.com/blog', false],
    ['https://docs.stripe.com/payments', false],
    ['https://api.razorpay.com/v1/checkout/embedded', true],
    ['https://checkout.razorpay.com/', true],
    ['https://rzp.io/l/abc', true],
    ['https://razorpay.com/', false],
    ['https://www.razorpay.com/blog', false],
    ['https://checkout.dodopayments.com/buy/pdt_1', true],
    ['https://test.checkout.dodopayments.com/session/1', true],
    ['https://docs.dodopayments.com/', false],
    ['https://www.google.com/', false],
    ['https://notstripe.com/checkout', false],
    [undefined, false],
    ['', false],
  ];
  it.each(cases)('%s → %s', (referrer, expected) => {
    expect(isPaymentCheckoutReferrer(referrer)).toBe(expected);
  });
});

describe('referrerHost', () => {
  it('strips www and lower-cases, accepts bare hosts, rejects junk', () => {
    expect(referrerHost('https://WWW.Example.COM/a?b')).toBe('example.com');
    expect(referrerHost('example.org/path')).toBe('example.org');
    expect(referrerHost('::::')).toBeNull();
    expect(referrerHost(null)).toBeNull();
  });
});
