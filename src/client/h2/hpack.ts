/**
 * HPACK (RFC 7541) for our HTTP/2 client: encoding the request headers ourselves, decoding the responses
 * with hpack.js.
 *
 * Encoding is ours because it is trivial for what we send: every field is a static-table reference or a
 * literal "without indexing" (never indexed for the token), with no Huffman coding, which RFC 7541 allows
 * and every decoder must accept. The block of constant fields is built once per connection, so a call
 * only adds :path (cached per method) and grpc-timeout. We never insert into the server's dynamic table, so
 * no encoder-side table state can drift.
 *
 * Decoding must handle whatever the server's encoder chooses — Huffman strings, dynamic-table insertions
 * and evictions, table size updates — so it uses hpack.js (the decoder behind `spdy`, RFC 7541 complete,
 * tens of millions of downloads a month) rather than a hand-written Huffman decoder, where a subtle bug
 * would corrupt every later header block on the connection.
 */
import hpack from 'hpack.js';

/** RFC 7541 Appendix A indices of the static-table entries we reference. */
const STATIC = { authority: 1, methodPost: 3, path: 4, schemeHttp: 6, schemeHttps: 7, authorization: 23, contentType: 31, userAgent: 58 } as const;

/** RFC 7541 §5.1 integer with an N-bit prefix; `first` holds the representation's flag bits. */
function int(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** §5.2 string literal, not Huffman coded. */
function str(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(int(b.length, 7, 0x00)), b]);
}

/** §6.2.2 literal without indexing with an indexed name (0000xxxx). */
const literalIndexedName = (index: number, value: string): Buffer => Buffer.concat([Buffer.from(int(index, 4, 0x00)), str(value)]);
/** §6.2.3 literal never indexed with an indexed name (0001xxxx): secrets stay out of every table. */
const neverIndexedName = (index: number, value: string): Buffer => Buffer.concat([Buffer.from(int(index, 4, 0x10)), str(value)]);
/** §6.2.2 literal without indexing with a literal name (exported for the scripted test peer's responses). */
export const literalNewName = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]);
/** §6.1 indexed field (1xxxxxxx). */
const indexed = (index: number): Buffer => Buffer.from(int(index, 7, 0x80));

export interface RequestHeaderOptions {
  https: boolean;
  authority: string;
  userAgent: string;
  /** Extra metadata (lower-case names), e.g. authorization; sent on every call. */
  metadata: Array<[string, string]>;
}

/**
 * Builds request header blocks. Pseudo-headers must precede regular ones (RFC 9113 §8.3), so a block is
 * `head` (:method, :scheme) + :path + `tail` (:authority, content-type, te, user-agent, metadata) +
 * grpc-timeout.
 */
export class RequestHeaderEncoder {
  private readonly head: Buffer;
  private readonly tail: Buffer;
  /** Per path, the last block built: consecutive calls usually carry the same grpc-timeout, so it is reused. */
  private readonly blocks = new Map<string, { timeout: string | undefined; block: Buffer }>();

  constructor(o: RequestHeaderOptions) {
    this.head = Buffer.concat([indexed(STATIC.methodPost), indexed(o.https ? STATIC.schemeHttps : STATIC.schemeHttp)]);
    const tail = [literalIndexedName(STATIC.authority, o.authority), literalIndexedName(STATIC.contentType, 'application/grpc'), literalNewName('te', 'trailers'), literalIndexedName(STATIC.userAgent, o.userAgent)];
    for (const [name, value] of o.metadata) tail.push(name === 'authorization' ? neverIndexedName(STATIC.authorization, value) : literalNewName(name, value));
    this.tail = Buffer.concat(tail);
  }

  /**
   * The complete header block for one call; `timeout` is a grpc-timeout value or undefined for none. The
   * buffer may be shared with earlier and later calls: read it, never write to it.
   */
  block(path: string, timeout: string | undefined): Buffer {
    const last = this.blocks.get(path);
    if (last && last.timeout === timeout) return last.block;
    const p = literalIndexedName(STATIC.path, path);
    const block = timeout === undefined ? Buffer.concat([this.head, p, this.tail]) : Buffer.concat([this.head, p, this.tail, literalNewName('grpc-timeout', timeout)]);
    this.blocks.set(path, { timeout, block });
    return block;
  }
}

/**
 * True when every field of the block is an indexed field (RFC 7541 §6.1, 1xxxxxxx with a 7-bit-prefix index).
 * Such a block neither reads a literal nor changes the dynamic table: it decodes to the same fields for as
 * long as the table is unchanged.
 */
function onlyIndexed(block: Buffer): boolean {
  let i = 0;
  while (i < block.length) {
    const b = block[i++];
    if ((b & 0x80) === 0) return false;
    // §5.1: a full 7-bit prefix continues in bytes whose high bit says another follows.
    if ((b & 0x7f) === 0x7f) {
      while (i < block.length && (block[i] & 0x80) !== 0) i++;
      i++;
    }
  }
  return i === block.length;
}

/** Decoded blocks remembered per connection (a unary response has two: headers and trailers). */
const MEMO_SIZE = 4;

/**
 * One connection's response header decoder (the dynamic table is per connection and per direction).
 *
 * A server's encoder indexes the fields it repeats, so after the first response most header blocks are a few
 * indexed fields (grpc-js: `88c3c2c1c0` and `bfbe` for every Ping). Such a block, seen before with the table
 * unchanged since, is answered from memory instead of running hpack.js again: the same fields, none of the
 * decoder's per-block garbage (docs/decisions/0025-ping-tail-under-cpu-contention.md). Any other block
 * may change the table, so it goes to hpack.js and forgets what was remembered.
 */
export class ResponseHeaderDecoder {
  private readonly d: ReturnType<typeof hpack.decompressor.create>;
  private error: Error | undefined;
  private readonly memo: Array<{ block: Buffer; fields: Array<[string, string]> }> = [];

  /** `tableSize` = our SETTINGS_HEADER_TABLE_SIZE (4096 unless we advertise otherwise). */
  constructor(tableSize = 4096) {
    this.d = hpack.decompressor.create({ table: { maxSize: tableSize } });
    // hpack.js reports a malformed block by emitting 'error' synchronously from execute().
    this.d.on('error', (e) => {
      this.error = e;
    });
  }

  /** Decodes one complete header block, calling `field` per header; throws on a malformed block (a connection error). */
  decode(block: Buffer, field: (name: string, value: string) => void): void {
    for (const m of this.memo) {
      if (!m.block.equals(block)) continue;
      for (const [name, value] of m.fields) field(name, value);
      return;
    }
    this.d.write(block);
    this.d.execute();
    if (this.error) throw new Error(`HPACK decoding failed: ${this.error.message}`);
    const indexed = onlyIndexed(block);
    // Anything else may have inserted into the table or resized it, so every remembered block may now mean
    // something else.
    if (!indexed) this.memo.length = 0;
    const fields: Array<[string, string]> = [];
    for (let h = this.d.read(); h !== null; h = this.d.read()) {
      field(h.name, h.value);
      if (indexed) fields.push([h.name, h.value]);
    }
    if (!indexed) return;
    if (this.memo.length >= MEMO_SIZE) this.memo.shift();
    this.memo.push({ block: Buffer.from(block), fields });
  }
}
