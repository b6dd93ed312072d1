import cf from 'cloudfront';

// Viewer request (cloudfront-js-2.0): serve the .br or .gz sibling the release uploaded for the
// requested file when the viewer accepts that encoding. The key value store, filled by the deploy,
// maps each live key that has siblings (e.g. "static/app.css") to its encodings, smallest first
// ("br,gzip"). A key it does not hold (another release's file, no sibling) is served as is, and
// CloudFront may compress it on the fly. Accept-Encoding is normalised, since the cache key holds it.
const kvs = cf.kvs();
const SUFFIX = { br: '.br', gzip: '.gz' };

function accepted(header) {
  const q = {};
  const parts = header.toLowerCase().split(',');
  for (let i = 0; i < parts.length; i++) {
    const fields = parts[i].split(';');
    const token = fields[0].trim();
    const name = token === 'x-gzip' ? 'gzip' : token;
    let weight = 1;
    for (let j = 1; j < fields.length; j++) {
      const param = fields[j].trim();
      if (param.slice(0, 2) === 'q=') weight = Number(param.slice(2));
    }
    // The highest weight wins when a coding is listed twice; q=0 (or nonsense) is a refusal.
    if (name) q[name] = Math.max(q[name] || 0, weight > 0 ? weight : 0);
  }
  const out = [];
  const codings = ['br', 'gzip'];
  for (let i = 0; i < codings.length; i++) {
    const weight = codings[i] in q ? q[codings[i]] : q['*'] || 0;
    if (weight > 0) out.push(codings[i]);
  }
  return out;
}

function headerValue(headers) {
  const entry = headers['accept-encoding'];
  if (!entry) return '';
  if (!entry.multiValue) return entry.value || '';
  return entry.multiValue.map((v) => v.value).join(',');
}

async function siblings(uri) {
  let key;
  try {
    key = decodeURIComponent(uri.slice(1));
  } catch (e) {
    return [];
  }
  try {
    return (await kvs.get(key)).split(',');
  } catch (e) {
    return []; // not in the store: no sibling, or not this release's file
  }
}

async function handler(event) {
  const request = event.request;
  const codings = accepted(headerValue(request.headers));
  delete request.headers['accept-encoding'];
  if (codings.length === 0) return request;
  if (request.method === 'GET' || request.method === 'HEAD') {
    const available = await siblings(request.uri);
    for (let i = 0; i < available.length; i++) {
      if (codings.indexOf(available[i]) !== -1) {
        request.uri += SUFFIX[available[i]];
        // One cache entry per sibling: the object is already encoded, CloudFront will not redo it.
        request.headers['accept-encoding'] = { value: available[i] };
        return request;
      }
    }
  }
  request.headers['accept-encoding'] = { value: codings.join(',') };
  return request;
}
