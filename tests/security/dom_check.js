// What must not be in the DOM after user text was rendered (tests/security/crawl.py): any on*
// attribute; javascript:, a payload's xss( or xss-hx marker or evil.example in a URL, style or htmx attribute;
// script that is not ours (/static/, the admin's /admin/jsi18n/, json_script data); frames, objects, <base>, foreign <link> and <img>, refresh, <style>.
() => {
  const found = [];
  const urlish = ['href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'srcdoc', 'poster', 'background', 'style'];
  const bad = (v) => v.includes('xss(') || v.includes('xss-hx') || v.includes('evil.example') || v.replace(/[\s\x00-\x1f]/g, '').startsWith('javascript:');
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    // Through Element.prototype: a form's named controls shadow its properties (a stream form has
    // an input named "attributes", so form.attributes is that input).
    for (const raw of Element.prototype.getAttributeNames.call(el)) {
      const name = raw.toLowerCase(), value = (Element.prototype.getAttribute.call(el, raw) || '').toLowerCase();
      const htmx = (name.startsWith('hx-') || name.startsWith('data-hx-')) && !name.endsWith('-confirm');
      if (name.startsWith('on')) found.push(tag + '[' + name + ']');
      else if ((urlish.includes(name) || htmx) && bad(value)) found.push(tag + '[' + name + '=' + value.slice(0, 60) + ']');
    }
    // Data for our scripts (Django's json_script: an id, type application/json, inert, its text with
    // <, > and & escaped as \u003C...) is not a script; anything else without our src is.
    const data = el.getAttribute('type') === 'application/json' && el.id && !el.textContent.includes('<');
    if (tag === 'script' && !data && !/^(\/static\/|\/admin\/jsi18n\/$)/.test(el.getAttribute('src') || '')) found.push('script ' + el.outerHTML.slice(0, 60));
    if (['iframe', 'frame', 'object', 'embed', 'base', 'link'].includes(tag) && !(el.getAttribute('href') || '').startsWith('/static/')) found.push(tag);
    if (tag === 'img' && !/^(\/static\/|data:)/.test(el.getAttribute('src') || '')) found.push('img ' + el.outerHTML.slice(0, 60));
    if (tag === 'meta' && el.getAttribute('http-equiv')) found.push('meta http-equiv');
    if (tag === 'style') found.push('style element');
  }
  return found;
}
