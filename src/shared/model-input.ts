/**
 * The model's input as pixels: how an image becomes uint8 RGB HWC of the model's size, and what a raw tensor
 * of that size must look like. Shared so the server's decoder (src/models/preprocess.ts) and the client's
 * --client-resize (src/client/client-resize.ts) resize the same way: a client that resizes and sends a
 * tensor gets the pixels the server would have made from the image itself.
 */
import type sharp from 'sharp';

export type ResizeMode = 'fill' | 'crop';
export const RESIZE_MODES: readonly ResizeMode[] = ['fill', 'crop'];

/** Channels of a tensor (ClassifyRequest.tensor) and of every decoded image: RGB. */
export const TENSOR_CHANNELS = 3;

/** Bytes of a uint8 RGB HWC tensor of `width` × `height`. */
export function tensorBytes(width: number, height: number): number {
  return width * height * TENSOR_CHANNELS;
}

/** "uint8 RGB HWC 224×224×3 = 150528 bytes": the shape a tensor must have, as error messages and docs say it. */
export function tensorShapeText(width: number, height: number): string {
  return `uint8 RGB HWC ${height}×${width}×${TENSOR_CHANNELS} = ${tensorBytes(width, height)} bytes`;
}

/**
 * The steps from a loaded image to the model's input, appended to `image` (a sharp pipeline already given
 * its input and limits): EXIF orientation; alpha flattened onto WHITE (what a person sees on a page, where
 * dropping alpha would expose whatever RGB hides under transparent pixels); any colour space → sRGB; resize
 * with a bilinear kernel, `fill` (plain resize, aspect ratio not kept: how the TensorFlow.js MobileNet
 * package feeds ImageNet models) or `crop` (shorter side to the input size, centre taken); alpha removed.
 * Ends before the output format, so callers choose raw() or an encoder.
 */
export function toModelInput(image: sharp.Sharp, width: number, height: number, mode: ResizeMode = 'fill'): sharp.Sharp {
  const prepared = image.rotate().flatten({ background: '#ffffff' }).toColourspace('srgb');
  const resized =
    mode === 'crop'
      ? prepared.resize(width, height, { fit: 'cover', position: 'centre', kernel: 'linear' })
      : prepared.resize(width, height, { fit: 'fill', kernel: 'linear' });
  return resized.removeAlpha();
}
