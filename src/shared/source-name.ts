/**
 * Model, weights and labels sources (paths or URLs) as they may be shown. A URL can carry credentials
 * (`https://user:secret@host/…`) or a signed query (`?X-Amz-Signature=…`), and a path tells a caller how the
 * host is laid out; so:
 * - logs get redactSource: the whole path, a URL without credentials, query or fragment;
 * - responses to clients get publicSourceName: a name only, never a path or URL.
 */

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** `https://user:pw@host/a/model.json?sig=x#f` → `https://host/a/model.json`; paths and plain names unchanged. */
export function redactSource(s: string): string {
  if (!URL_LIKE.test(s)) return s;
  try {
    const u = new URL(s);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    // Not parseable: keep the scheme and host part only, never what follows.
    return s.replace(/^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#]*).*$/i, '$1$2/…');
  }
}

/** Generic file names whose folder is the meaningful name. */
const GENERIC_FILES = new Set(['model.json', 'model.onnx', 'labels.txt', 'labels.json', 'weights.bin']);

/**
 * The name of a source, without where it lives: `/srv/m/mobilenet_v1_0.25_224/model.json` →
 * `mobilenet_v1_0.25_224`; `https://user:pw@host/x/googlenet.onnx?sig=1` → `googlenet.onnx`; `seed:2014` and
 * other names without a path separator stay as they are.
 */
export function publicSourceName(s: string): string {
  let path = s;
  if (URL_LIKE.test(s)) {
    try {
      path = new URL(s).pathname;
    } catch {
      return 'url';
    }
  } else if (!/[\\/]/.test(s)) return s;
  const parts = path.split(/[\\/]+/).filter((p) => p.length > 0);
  if (parts.length === 0) return 'unnamed';
  const last = parts[parts.length - 1];
  return GENERIC_FILES.has(last.toLowerCase()) && parts.length > 1 ? parts[parts.length - 2] : last;
}

/** Every URL inside a free-text message (a log line) passed through redactSource. */
export function redactSourcesIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s)"'`]+/gi, (u) => redactSource(u));
}
