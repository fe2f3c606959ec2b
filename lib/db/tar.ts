/**
 * A ustar archive's entries (GNU long names and pax paths included): what
 * the extension bundles and the pristine image are. Links and devices are
 * left out; neither holds any.
 */

/** One file or folder of an archive; `path` has no leading `./` and no trailing `/`. */
export interface TarEntry {
  path: string;
  dir: boolean;
  data: Uint8Array;
}

const decoder = new TextDecoder();

function field(header: Uint8Array, start: number, end: number): string {
  const text = decoder.decode(header.subarray(start, end));
  const nul = text.indexOf("\0");
  return nul < 0 ? text : text.slice(0, nul);
}

/** The files and folders of `tar`, in archive order; `data` views `tar`. */
export function readTar(tar: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | null = null;
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 136).trim() || "0", 8);
    const type = String.fromCharCode(header[156]);
    const data = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = decoder.decode(data).replace(/\0+$/, "");
      continue;
    }
    if (type === "x") {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(decoder.decode(data));
      if (path) longName = path[1];
      continue;
    }
    const prefix = field(header, 345, 500);
    const name = longName ??
      (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = null;
    const path = name.replace(/^\.\//, "").replace(/\/+$/, "");
    if (path === "" || path === ".") continue;
    if (path.split("/").includes("..") || path.startsWith("/")) {
      throw new Error(`Archive entry outside its folder: ${name}`);
    }
    if (type === "5") entries.push({ path, dir: true, data });
    else if (type === "0" || type === "\0") entries.push({ path, dir: false, data });
  }
  return entries;
}

/** Exactly `n` bytes from a stream of chunks, or fewer at its end. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #at = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Fill `out` from `offset`; how many bytes it got (less only at the end). */
  async fill(out: Uint8Array, offset = 0): Promise<number> {
    let filled = offset;
    const n = out.length;
    while (filled < n) {
      if (this.#at === this.#chunk.length) {
        const { done, value } = await this.#reader.read();
        if (done) return filled - offset;
        this.#chunk = value;
        this.#at = 0;
      }
      const take = Math.min(n - filled, this.#chunk.length - this.#at);
      out.set(this.#chunk.subarray(this.#at, this.#at + take), filled);
      filled += take;
      this.#at += take;
    }
    return filled - offset;
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

/**
 * `readTar` over a stream: one entry in memory at a time, so a large archive
 * is never held whole.
 */
export async function* streamTar(stream: ReadableStream<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(stream);
  try {
    for (;;) {
      const header = new Uint8Array(512);
      if (await reader.fill(header) < 512 || header.every((b) => b === 0)) return;
      const size = parseInt(field(header, 124, 136).trim() || "0", 8);
      // A header and its body are an archive of their own for readTar.
      const single = new Uint8Array(512 + Math.ceil(size / 512) * 512);
      single.set(header);
      await reader.fill(single, 512);
      const [entry] = readTar(single);
      if (entry) yield entry;
      else if (header[156] === 0x4c || header[156] === 0x78) {
        throw new Error("Long names are not supported in a streamed archive");
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
