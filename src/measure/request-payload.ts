/**
 * What each Classify call carried (summary.request of classify, bench and stream): the image as it is, a
 * JPEG the client resized to the model's input, or the raw tensor — so a reader can weigh bytes up against
 * the server CPU the client took over (a tensor skips the server's decode; a resized JPEG makes it small).
 */

/** image: the file (or generated JPEG) as it is; jpeg: client-resized JPEG; tensor: raw uint8 RGB HWC. */
export type SentAs = 'image' | 'jpeg' | 'tensor';

export interface RequestPayload {
  sent: SentAs;
  /**
   * Mean ClassifyRequest message bytes over the distinct images (they are sent in turn), without gRPC and
   * HTTP/2 framing: what mb_per_s_up counts per call.
   */
  bytes_per_request: number;
  /** With --client-resize: what was done before the run, once per distinct image, outside the measured loop. */
  client_resize?: {
    width: number;
    height: number;
    images: number;
    /** Wall time of resizing (and encoding, for jpeg) all the images, ms. */
    prepare_ms: number;
    /** Mean bytes of the images before resizing. */
    source_bytes_per_image: number;
  };
}

const kB = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);

/** "tensor (client-resized to 224×224, raw uint8 RGB: the server decodes nothing)". */
export function sentAsText(r: RequestPayload): string {
  const c = r.client_resize;
  const size = c ? `${c.width}×${c.height}` : '';
  switch (r.sent) {
    case 'image':
      return 'images as they are (the server decodes and resizes each)';
    case 'jpeg':
      return `JPEGs client-resized to ${size} (the server decodes a small JPEG already of the input size)`;
    case 'tensor':
      return `tensors client-resized to ${size}, raw uint8 RGB (the server decodes nothing)`;
  }
}

/** The summary's line: what was sent, bytes per call, and the client's one-off preparation. */
export function requestPayloadText(r: RequestPayload): string {
  const c = r.client_resize;
  const sources = c && (c.images === 1 ? `one image (${kB(c.source_bytes_per_image)})` : `${c.images} images (${kB(c.source_bytes_per_image)} on average)`);
  const prep = c ? `; resized ${sources} once before the run in ${c.prepare_ms.toFixed(1)} ms (not in the measured loop)` : '';
  return `request: ${sentAsText(r)}, ${kB(r.bytes_per_request)} per call${prep}`;
}
