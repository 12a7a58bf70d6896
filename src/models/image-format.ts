/**
 * Which image format a buffer holds, from its first bytes alone: the formats the service accepts are
 * recognised before any decoder (libvips) sees the data, so a format we refuse (SVG, PDF, the formats
 * libvips reads through ImageMagick, …) is never parsed. An XML parser or a PDF renderer on a 14 MB input
 * costs seconds of CPU and hundreds of MB; a few byte comparisons cost nothing.
 */

/** Formats we accept, named as sharp's metadata names them ('heif' covers AVIF). */
export type AcceptedFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'heif';

export type SniffResult = { accepted: true; format: AcceptedFormat } | { accepted: false; guess: string };

/** ISO-BMFF brands of HEIF and AVIF still images and sequences. */
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1', 'avif', 'avis']);

function startsWith(b: Uint8Array, sig: readonly number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, Math.max(0, Math.min(to, b.length) - from)).toString('latin1');
}

/** A name for a refused input in the error message; only a hint, never used to decide anything. */
function guessRefused(b: Uint8Array): string {
  const head = ascii(b, 0, Math.min(b.length, 256)).replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  if (head.startsWith('<?xml') || head.startsWith('<')) return 'xml';
  if (head.startsWith('%pdf')) return 'pdf';
  if (head.startsWith('bm')) return 'bmp';
  if (head.startsWith('%!')) return 'postscript';
  return 'unknown';
}

export function sniffImageFormat(b: Uint8Array): SniffResult {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { accepted: true, format: 'jpeg' };
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { accepted: true, format: 'png' };
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return { accepted: true, format: 'gif' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return { accepted: true, format: 'webp' };
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return { accepted: true, format: 'tiff' };
  if (ascii(b, 4, 8) === 'ftyp' && HEIF_BRANDS.has(ascii(b, 8, 12))) return { accepted: true, format: 'heif' };
  return { accepted: false, guess: guessRefused(b) };
}
