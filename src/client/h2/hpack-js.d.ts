/**
 * Types for the part of hpack.js (no published typings) that hpack.ts uses: the decompressor, an
 * object-mode stream that yields one decoded header per read() after write() + execute().
 */
declare module 'hpack.js' {
  interface DecodedHeader {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  interface Decompressor {
    write(block: Buffer): boolean;
    /** Decodes what was written; without a callback a malformed block is emitted as 'error'. */
    execute(): void;
    read(): DecodedHeader | null;
    updateTableSize(size: number): void;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  const hpack: {
    decompressor: { create(options: { table: { maxSize: number } }): Decompressor };
  };
  export = hpack;
}
