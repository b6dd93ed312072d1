// node --test cdn/test/: the viewer-request function against a fake key value store.
// With CDN_RELEASE=<json> (tests/unit/test_cdn_function.py writes it from a real artifact:
// {"prefix", "sizes": {path: bytes}, "index": {key: codings}}) it also checks every file of that
// release under every Accept-Encoding below.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const test = require('node:test');

const SOURCE_PATH = path.join(__dirname, '..', 'serve_precompressed.js');
const SOURCE = fs.readFileSync(SOURCE_PATH, 'utf8');
const IMPORT = "import cf from 'cloudfront';\n";
const CODE_LIMIT = 10240; // CloudFront Functions: at most 10 KB of code

function loadHandler(store) {
  assert.ok(SOURCE.startsWith(IMPORT), 'the function starts by importing the cloudfront module');
  const cf = {
    kvs: () => ({
      get: async (key) => {
        if (!Object.prototype.hasOwnProperty.call(store, key)) throw new Error(`key not found: ${key}`);
        return store[key];
      },
    }),
  };
  return new Function('cf', `${SOURCE.slice(IMPORT.length)}\nreturn handler;`)(cf);
}

function request(uri, acceptEncoding, method = 'GET') {
  const headers = { host: { value: 'd111.cloudfront.net' } };
  if (Array.isArray(acceptEncoding)) {
    headers['accept-encoding'] = { value: acceptEncoding[0], multiValue: acceptEncoding.map((value) => ({ value })) };
  } else if (acceptEncoding !== null) {
    headers['accept-encoding'] = { value: acceptEncoding };
  }
  return { version: '1.0', context: { eventType: 'viewer-request' }, request: { method, uri, headers, querystring: {}, cookies: {} } };
}

function encodeKey(key) {
  return `/${key.split('/').map(encodeURIComponent).join('/')}`;
}

// Accept-Encoding as browsers, proxies and odd clients send it -> what the viewer accepts of ours.
const ACCEPT = [
  [null, []],
  ['', []],
  ['identity', []],
  ['deflate', []],
  ['gzip', ['gzip']],
  ['x-gzip', ['gzip']],
  ['GZIP', ['gzip']],
  ['br', ['br']],
  ['gzip, deflate, br', ['br', 'gzip']],
  ['gzip, deflate, br, zstd', ['br', 'gzip']],
  ['br;q=1.0, gzip;q=0.8, *;q=0.1', ['br', 'gzip']],
  ['gzip;q=1, br;q=0.5', ['br', 'gzip']],
  ['br;q=0, gzip', ['gzip']],
  ['br;q=0.0, gzip', ['gzip']],
  ['gzip;q=0, br', ['br']],
  ['gzip;q=0.001', ['gzip']],
  ['br;q=0, gzip;q=0', []],
  ['*', ['br', 'gzip']],
  ['*;q=0', []],
  ['*, br;q=0', ['gzip']],
  ['gzip ; q=0 , br', ['br']],
  [['gzip', 'br'], ['br', 'gzip']],
];

test('the function fits the 10 KB CloudFront Functions code limit', () => {
  assert.ok(Buffer.byteLength(SOURCE) <= CODE_LIMIT, `${Buffer.byteLength(SOURCE)} bytes`);
});

test('Accept-Encoding is normalised to what we serve: br before gzip, q=0 refuses', async () => {
  const handler = loadHandler({});
  for (const [header, codings] of ACCEPT) {
    const out = await handler(request('/static/none.css', header));
    const value = out.headers['accept-encoding'] ? out.headers['accept-encoding'].value : null;
    assert.equal(value, codings.length ? codings.join(',') : null, `Accept-Encoding: ${header}`);
    assert.equal(out.uri, '/static/none.css');
  }
});

test('the smallest sibling the viewer accepts is served, and the cache key names it alone', async () => {
  const handler = loadHandler({ 'static/a.css': 'br,gzip', 'static/g.css': 'gzip,br', 'static/gz.js': 'gzip' });
  const cases = [
    ['/static/a.css', 'gzip, br', '/static/a.css.br', 'br'],
    ['/static/a.css', 'gzip', '/static/a.css.gz', 'gzip'],
    ['/static/g.css', 'gzip, br', '/static/g.css.gz', 'gzip'],
    ['/static/g.css', 'br', '/static/g.css.br', 'br'],
    ['/static/gz.js', 'br', '/static/gz.js', 'br'],
    ['/static/gz.js', 'br, gzip', '/static/gz.js.gz', 'gzip'],
  ];
  for (const [uri, header, rewritten, coding] of cases) {
    const out = await handler(request(uri, header));
    assert.equal(out.uri, rewritten, `${uri} with ${header}`);
    assert.equal(out.headers['accept-encoding'].value, coding);
  }
});

test('only GET and HEAD are rewritten; undecodable or unknown URIs pass through', async () => {
  const handler = loadHandler({ 'static/a.css': 'br', 'static/é.css': 'br', 'static/id.txt': 'identity' });
  assert.equal((await handler(request('/static/a.css', 'br', 'HEAD'))).uri, '/static/a.css.br');
  assert.equal((await handler(request('/static/a.css', 'br', 'OPTIONS'))).uri, '/static/a.css');
  assert.equal((await handler(request('/static/%C3%A9.css', 'br'))).uri, '/static/%C3%A9.css.br');
  assert.equal((await handler(request('/static/%E0%A4%A.css', 'br'))).uri, '/static/%E0%A4%A.css');
  assert.equal((await handler(request('/static/id.txt', 'br'))).uri, '/static/id.txt');
  assert.equal((await handler(request('/static/', 'br'))).uri, '/static/');
});

function smallestAccepted(sizes, file, codings) {
  let best = file;
  for (const [coding, suffix] of [['br', '.br'], ['gzip', '.gz']]) {
    const sibling = file + suffix;
    if (codings.includes(coding) && sibling in sizes && sizes[sibling] < sizes[best]) best = sibling;
  }
  return best;
}

test('every file of the release, under every Accept-Encoding, gets the smallest acceptable object', { skip: !process.env.CDN_RELEASE && 'CDN_RELEASE not set (tests/unit/test_cdn_function.py sets it)' }, async () => {
  const release = JSON.parse(fs.readFileSync(process.env.CDN_RELEASE, 'utf8'));
  const handler = loadHandler(release.index);
  const files = Object.keys(release.sizes);
  let rewritten = 0;
  for (const file of files) {
    for (const [header, codings] of ACCEPT) {
      const out = await handler(request(encodeKey(release.prefix + file), header));
      const served = decodeURIComponent(out.uri).slice(1 + release.prefix.length);
      assert.ok(served in release.sizes, `${file} with ${header}: ${served} is not in the release`);
      assert.equal(served, smallestAccepted(release.sizes, file, codings), `${file} with ${header}`);
      if (served !== file) rewritten += 1;
    }
  }
  assert.ok(rewritten > 0, 'some request was served a sibling');
  console.log(`release: ${files.length} files x ${ACCEPT.length} Accept-Encoding values, ${rewritten} served a sibling`);
});
