/**
 * Where frames come from and how they are encoded. A source is the camera (getUserMedia), a video file
 * (played in a loop) or an image file (the same picture every frame). Each frame is drawn onto a canvas and
 * encoded as JPEG: at the model's input size (the default: the fewest bytes, and the server's resize is a
 * no-op) or at the source's full size (more bytes up, and the server decodes and resizes a bigger image),
 * the trade-off the "full frame" toggle shows.
 */

export interface FrameSource {
  /** What the run's JSON calls it: "camera 640×480", "file cat.mp4". */
  name: string;
  width: number;
  height: number;
  /** The element drawn from (and shown on the page). */
  element: HTMLVideoElement | HTMLImageElement;
  stop(): void;
}

function videoSize(v: HTMLVideoElement): Promise<void> {
  return new Promise((resolve, reject) => {
    if (v.readyState >= 2 && v.videoWidth > 0) return resolve();
    v.addEventListener('loadeddata', () => resolve(), { once: true });
    v.addEventListener('error', () => reject(new Error('the video cannot be played')), { once: true });
  });
}

export async function cameraSource(video: HTMLVideoElement): Promise<FrameSource> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no camera here (getUserMedia needs https or localhost)');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  video.srcObject = stream;
  video.muted = true;
  await video.play();
  await videoSize(video);
  return {
    name: `camera ${video.videoWidth}×${video.videoHeight}`,
    width: video.videoWidth,
    height: video.videoHeight,
    element: video,
    stop: () => stream.getTracks().forEach((t) => t.stop()),
  };
}

export async function fileSource(file: File, video: HTMLVideoElement, image: HTMLImageElement): Promise<FrameSource> {
  const url = URL.createObjectURL(file);
  if (file.type.startsWith('video/')) {
    video.srcObject = null;
    video.src = url;
    video.loop = true;
    video.muted = true;
    await video.play();
    await videoSize(video);
    return { name: `file ${file.name}`, width: video.videoWidth, height: video.videoHeight, element: video, stop: () => { video.pause(); URL.revokeObjectURL(url); } };
  }
  image.src = url;
  await image.decode().catch(() => {
    throw new Error(`${file.name} is not an image or video this browser can decode`);
  });
  return { name: `file ${file.name}`, width: image.naturalWidth, height: image.naturalHeight, element: image, stop: () => URL.revokeObjectURL(url) };
}

export interface FrameEncoder {
  /** The current frame as JPEG bytes. */
  encode(): Promise<Uint8Array>;
  width: number;
  height: number;
}

export function frameEncoder(source: FrameSource, size: { width: number; height: number } | 'full', quality = 0.85): FrameEncoder {
  const width = size === 'full' ? source.width : size.width;
  const height = size === 'full' ? source.height : size.height;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas in this browser');
  return {
    width,
    height,
    encode(): Promise<Uint8Array> {
      ctx.drawImage(source.element, 0, 0, width, height);
      return new Promise((resolve, reject) => {
        canvas.toBlob(
          (blob) => {
            if (!blob) return reject(new Error('the browser could not encode the frame as JPEG'));
            blob.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject);
          },
          'image/jpeg',
          quality,
        );
      });
    },
  };
}
