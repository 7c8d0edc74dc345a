import type { Channel, Utm } from '@metrivo/contracts';
import { hostHasBrand, hostIsOrUnder, referrerHost } from './referrer';

/**
 * Marketing channel of a session, from its referrer and UTM tags (and ad click ids on the landing page).
 * Precedence, most explicit signal first:
 *  1. utm_medium that names a channel (paid, email, social, referral/affiliate);
 *  2. ad click ids on the landing page (gclid, msclkid, …) → paid_search;
 *  3. utm_source that names an ad network (google_ads, bing_ads, …) → paid_search, or a known site
 *     (google → organic_search, facebook → social, newsletter → email);
 *  4. the referrer host (webmail → email, social → social, search → organic_search, the site itself → ignored,
 *     anything else → referral);
 *  5. UTM tags that fit nothing → other; no referrer and no UTM → direct.
 * The contract's channels have one paid bucket besides social: paid traffic that is not social is paid_search
 * when it comes from a search engine or an ad network, and never organic. Display mediums from a network we
 * cannot name are `other` (paid, but not search).
 */
export interface ChannelInput {
  referrer?: string | null | undefined;
  utm?: Utm | null | undefined;
  landingPage?: string | null | undefined;
}

const PAID_MEDIUMS = new Set(['ppc', 'sem', 'search_ads', 'searchads', 'retargeting', 'remarketing']);
/** cpc, cpm, cpv, cpa, cpl, … and paid, paidsearch, paid_search, … (what ad platforms and people write). */
const isPaidMedium = (medium: string): boolean => PAID_MEDIUMS.has(medium) || /^cp[a-z]$/.test(medium) || medium.startsWith('paid');
const DISPLAY_MEDIUMS = new Set(['display', 'banner', 'interstitial', 'expandable', 'native']);
const SOCIAL_MEDIUMS = new Set([
  'social', 'social-network', 'social_network', 'social-media', 'social_media', 'sm', 'social network', 'social media',
  'paid_social', 'paid-social', 'paidsocial', 'organic_social', 'organic-social',
]);
const EMAIL_MEDIUMS = new Set(['email', 'e-mail', 'e_mail', 'mail', 'newsletter']);
const REFERRAL_MEDIUMS = new Set(['referral', 'affiliate', 'partner']);
const ORGANIC_MEDIUMS = new Set(['organic']);

const SEARCH_BRANDS = ['google', 'bing', 'duckduckgo', 'yahoo', 'baidu', 'yandex', 'ecosia', 'brave', 'startpage', 'qwant', 'naver', 'seznam'];
const SEARCH_HOSTS = ['ya.ru', 'search.brave.com', 'search.yahoo.com'];
const SOCIAL_BRANDS = ['facebook', 'instagram', 'twitter', 'linkedin', 'reddit', 'youtube', 'tiktok', 'pinterest', 'threads', 'bsky', 'mastodon'];
const SOCIAL_HOSTS = ['t.co', 'x.com', 'fb.com', 'fb.me', 'lnkd.in', 'youtu.be', 'pin.it', 'threads.net', 'bsky.app', 'news.ycombinator.com'];
const WEBMAIL_HOSTS = ['mail.google.com', 'outlook.live.com', 'outlook.office.com', 'outlook.office365.com', 'mail.yahoo.com', 'mail.proton.me', 'app.fastmail.com', 'mail.zoho.com'];

/** utm_source values people actually write for those sites (lower-cased). */
const SEARCH_SOURCES = new Set(SEARCH_BRANDS);
/** Ad platforms named as the source: the click was bought, whatever the medium says (unless it names a channel). */
const AD_NETWORK_SOURCES = new Set([
  'adwords', 'googleads', 'google_ads', 'google-ads', 'gads', 'bingads', 'bing_ads', 'bing-ads', 'microsoft_ads', 'microsoftads', 'microsoft-ads',
]);
const SOCIAL_SOURCES = new Set([
  ...SOCIAL_BRANDS, 'fb', 'ig', 'x', 't.co', 'tw', 'meta', 'li', 'yt', 'facebook_ads', 'meta_ads', 'linkedin_ads', 'tiktok_ads', 'hn', 'hackernews',
]);
const EMAIL_SOURCES = new Set(['email', 'newsletter', 'mailchimp', 'klaviyo', 'sendgrid', 'substack', 'convertkit', 'brevo', 'mailerlite']);

/** Click ids ad networks append to landing URLs. */
const PAID_CLICK_IDS = ['gclid', 'gbraid', 'wbraid', 'msclkid', 'dclid'];

function norm(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim().toLowerCase();
  return v === '' ? null : v;
}

function sourceHost(source: string): string | null {
  // utm_source is sometimes a host ("google.com", "l.facebook.com"): classify it like a referrer host.
  return source.includes('.') ? referrerHost(source) : null;
}

type HostKind = 'search' | 'social' | 'email' | 'ads' | 'other';

/** Products of the search brands that are not search: a link in a Google Doc or on Google Play is a referral. */
const NON_SEARCH_SUBDOMAINS = new Set([
  'docs', 'drive', 'play', 'sites', 'groups', 'calendar', 'meet', 'chat', 'photos', 'classroom', 'accounts', 'support',
  'developers', 'cloud', 'console', 'analytics', 'ads', 'mail', 'finance', 'sports', 'disk', 'music', 'market', 'translate', 'news',
]);

function isSearchBrandHost(host: string, brand: string): boolean {
  if (!hostHasBrand(host, brand)) return false;
  const labels = host.split('.');
  return !labels.slice(0, labels.lastIndexOf(brand)).some((l) => NON_SEARCH_SUBDOMAINS.has(l));
}

function classifyHost(host: string): HostKind {
  if (WEBMAIL_HOSTS.some((h) => hostIsOrUnder(host, h))) return 'email';
  if (SOCIAL_HOSTS.some((h) => hostIsOrUnder(host, h)) || SOCIAL_BRANDS.some((b) => hostHasBrand(host, b))) return 'social';
  if (SEARCH_HOSTS.some((h) => hostIsOrUnder(host, h)) || SEARCH_BRANDS.some((b) => isSearchBrandHost(host, b))) return 'search';
  return 'other';
}

/** Android app referrers name the app package instead of a host. */
function classifyAppReferrer(referrer: string): HostKind | null {
  const m = /^android-app:\/\/([^/?#]+)/i.exec(referrer.trim());
  if (!m || m[1] === undefined) return null;
  const pkg = m[1].toLowerCase();
  if (pkg === 'com.google.android.gm' || pkg.includes('.mail') || pkg.includes('outlook')) return 'email';
  if (pkg === 'com.google.android.googlequicksearchbox') return 'search';
  if (['com.facebook', 'com.instagram', 'com.twitter', 'com.linkedin', 'com.reddit', 'com.zhiliaoapp.musically', 'com.pinterest', 'com.google.android.youtube'].some((p) => pkg.startsWith(p))) {
    return 'social';
  }
  return 'other';
}

function classifySource(source: string): HostKind {
  if (AD_NETWORK_SOURCES.has(source)) return 'ads';
  if (EMAIL_SOURCES.has(source)) return 'email';
  if (SOCIAL_SOURCES.has(source)) return 'social';
  if (SEARCH_SOURCES.has(source)) return 'search';
  const host = sourceHost(source);
  return host === null ? 'other' : classifyHost(host);
}

function landingHasPaidClickId(landingPage: string | null | undefined): boolean {
  if (!landingPage) return false;
  const q = landingPage.indexOf('?');
  if (q < 0) return false;
  const params = new URLSearchParams(landingPage.slice(q + 1).split('#')[0]);
  return PAID_CLICK_IDS.some((k) => (params.get(k) ?? '') !== '');
}

function hasAnyUtm(utm: Utm | null | undefined): boolean {
  if (!utm) return false;
  return Object.values(utm).some((v) => typeof v === 'string' && v.trim() !== '');
}

/** The landing page's host when it is a full URL (trackers may send only the path). */
function landingHost(landingPage: string | null | undefined): string | null {
  if (!landingPage || !/^https?:\/\//i.test(landingPage.trim())) return null;
  return referrerHost(landingPage);
}

export function deriveChannel(input: ChannelInput): Channel {
  const medium = norm(input.utm?.medium);
  const source = norm(input.utm?.source);
  const sourceKind = source === null ? null : classifySource(source);
  const rawReferrer = input.referrer?.trim() ? input.referrer.trim() : null;
  // A referrer on the site's own host is navigation inside the site (e.g. a tracker that lost its session), not a source.
  const ownHost = landingHost(input.landingPage);
  const referrer = rawReferrer !== null && ownHost !== null && referrerHost(rawReferrer) === ownHost ? null : rawReferrer;
  const refKind: HostKind | null =
    referrer === null ? null : classifyAppReferrer(referrer) ?? (() => {
      const host = referrerHost(referrer);
      return host === null ? 'other' : classifyHost(host);
    })();
  const social = sourceKind === 'social' || (sourceKind === null && refKind === 'social');

  // 1. A medium that names the channel.
  if (medium !== null) {
    if (SOCIAL_MEDIUMS.has(medium)) return 'social';
    if (EMAIL_MEDIUMS.has(medium)) return 'email';
    // Ads bought on a social network are social traffic ("facebook / cpc"), every other paid click paid search.
    if (isPaidMedium(medium)) return social ? 'social' : 'paid_search';
    if (DISPLAY_MEDIUMS.has(medium)) {
      if (social) return 'social';
      const searchOrAds = (k: HostKind | null) => k === 'search' || k === 'ads';
      return searchOrAds(sourceKind) || (sourceKind === null && searchOrAds(refKind)) ? 'paid_search' : 'other';
    }
    if (REFERRAL_MEDIUMS.has(medium)) return 'referral';
    if (ORGANIC_MEDIUMS.has(medium) && (sourceKind === 'search' || refKind === 'search')) return 'organic_search';
  }
  // 2. Ad click ids without UTM tags (Google Ads auto-tagging).
  if (landingHasPaidClickId(input.landingPage)) return 'paid_search';
  // 3. A source that names an ad network or a known site.
  if (sourceKind === 'ads') return 'paid_search';
  if (sourceKind === 'email') return 'email';
  if (sourceKind === 'social') return 'social';
  if (sourceKind === 'search') return 'organic_search';
  // 4. The referrer.
  if (refKind === 'email') return 'email';
  if (refKind === 'social') return 'social';
  if (refKind === 'search') return 'organic_search';
  if (refKind === 'other') return 'referral';
  // 5. Tags that fit nothing, or nothing at all.
  return hasAnyUtm(input.utm) ? 'other' : 'direct';
}
