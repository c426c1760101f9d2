/** Checks that hostile strings stayed text: in an HTML page or fragment (no element, event
 * handler, inline script or javascript: URL of theirs) and in an event stream (no forged event
 * boundary, name or id). */

/** The elements our views use; anything else in a page came from data. */
const ELEMENTS = new Set('html head meta title link script body header nav main strong span a br button code div fieldset form h1 h2 input label legend li ol option p pre section select table tbody td th thead tr ul'.split(' '));
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:[\s/]+[^\s/>="']+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"'=<`]+))?)*)[\s/]*>/y;
const ATTR = /[\s/]+([^\s/>="']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"'=<`]+))?/g;
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'hx-get', 'hx-post', 'data-events']);

const decode = (v: string) => v.replace(/^["']|["']$/g, '').replace(/&#(x?)([0-9a-f]+);/gi, (_, x: string, n: string) => String.fromCodePoint(parseInt(n, x ? 16 : 10))).replace(/&(amp|quot|lt|gt|#39);/g, (e) => ({ '&amp;': '&', '&quot;': '"', '&lt;': '<', '&gt;': '>', '&#39;': "'" })[e]!);

/** What in an HTML text a hostile string could have made: unknown elements, inline scripts, event
 * handler attributes, javascript: URLs. Empty when the text is inert. */
export function activeContent(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<[A-Za-z/]/g)) {
    TAG.lastIndex = m.index;
    const tag = TAG.exec(html);
    const at = html.slice(m.index, m.index + 80);
    if (!tag) {
      found.push(`unparsable tag: ${at}`);
      continue;
    }
    const name = tag[2]!.toLowerCase();
    if (!ELEMENTS.has(name)) found.push(`element ${name}: ${at}`);
    const attrs = [...tag[3]!.matchAll(ATTR)].map((a) => [a[1]!.toLowerCase(), decode(a[2] ?? '')] as const);
    for (const [attr, value] of attrs) {
      if (attr.startsWith('on')) found.push(`event handler ${attr}: ${at}`);
      if (URL_ATTRS.has(attr) && /^\s*javascript:/i.test(value)) found.push(`javascript: URL in ${attr}: ${at}`);
    }
    if (name === 'script' && !tag[1] && (!attrs.some(([a, v]) => a === 'src' && v.startsWith('/static/')) || !html.startsWith('</script>', TAG.lastIndex))) found.push(`inline script: ${at}`);
  }
  return found;
}

/** The HTML of an event stream: the data of every event. */
export const sseData = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5))
    .join('\n');

/** What is wrong with the framing of an event stream: a field we never send, an event name or id
 * a hostile string made, an event after `end`. */
export function forgedEvents(text: string): string[] {
  const found: string[] = [];
  const events = text.split('\n\n').filter(Boolean);
  for (const [i, event] of events.entries()) {
    for (const line of event.split(/\r\n|\r|\n/)) {
      const [, field, value] = /^([a-z]*): ?(.*)$/.exec(line) ?? [, '', line];
      if (line === '') found.push('an event ends inside another');
      else if (field === 'event' && !/^(host-\d+|run|progress|end)$/.test(value!)) found.push(`event name ${value}`);
      else if (field === 'event' && value === 'end' && i !== events.length - 1) found.push(`end before event ${events.length - 1}`);
      else if (field === 'id' && !/^\d{1,6}$/.test(value!)) found.push(`id ${value}`);
      else if (field === 'id' && Number(value) > 1000) found.push(`forged id ${value}`);
      else if (!['event', 'id', 'data'].includes(field!)) found.push(`line ${line}`);
    }
  }
  return found;
}
