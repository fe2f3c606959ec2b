/**
 * The pristine image: an empty database's data folder, made once by the
 * pinned PGlite's initdb (tools/make_image.ts, `deno task image`) and shipped
 * as a generated module. A new embedded database starts from it instead of
 * running initdb, which runs a second engine and a third WebAssembly module
 * beside the first and peaks near 600 MiB. The module is imported only here,
 * and this file only from the embedded engine, so a server run never loads it.
 */
import { join } from "node:path";
import { StrataError } from "../errors.ts";
import { readTar, streamTar, type TarEntry } from "./tar.ts";

type PGlite = import("@electric-sql/pglite").PGlite;
type Filesystem = NonNullable<import("@electric-sql/pglite").PGliteOptions["fs"]>;
type PostgresMod = Parameters<Filesystem["init"]>[1];

interface Image {
  PGLITE_VERSION: string;
  SERVER_VERSION: string;
  SHA256: string;
  TOP_LEVEL: readonly string[];
  IMAGE: string;
}

/** Where the image came from, for the version check and its tests. */
export async function loadImage(): Promise<Image> {
  return await import("./pristine_image.js");
}

function imageStream(image: Image): ReadableStream<Uint8Array> {
  const bytes = fromBase64(image.IMAGE) as Uint8Array<ArrayBuffer>;
  return new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The image's tar, uncompressed (about 30 MB). */
export async function imageTar(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(imageStream(await loadImage())).arrayBuffer());
}

/**
 * Unpack the image into `dir`, which holds no database. PG_VERSION is the
 * image's last entry, so a run killed halfway leaves a folder without it,
 * which the next run unpacks again. A folder holding anything but what the
 * image holds (and `keep`, the lock file) is somebody else's: refused.
 */
export async function unpackImage(dir: string, keep: string[] = []): Promise<void> {
  const image = await loadImage();
  const ours = new Set([...image.TOP_LEVEL, ...keep]);
  for await (const entry of Deno.readDir(dir)) {
    if (!ours.has(entry.name)) {
      throw new StrataError(
        "CONNECT",
        `Cannot create an embedded database in ${dir}: the folder holds other files ("${entry.name}")`,
        { hint: "Use an empty or missing folder for a new pglite: database" },
      );
    }
  }
  // One file at a time from the gzip stream: the 30 MB archive is never held whole.
  for await (const entry of streamTar(imageStream(image))) {
    const path = join(dir, entry.path);
    if (entry.dir) await Deno.mkdir(path, { recursive: true, mode: 0o700 });
    else await Deno.writeFile(path, entry.data, { mode: 0o600 });
  }
}

/** Remove what `unpackImage` wrote into `dir` (after a failed open of a new database). */
export async function removeImage(dir: string): Promise<void> {
  const { TOP_LEVEL } = await loadImage();
  // PG_VERSION first, so an interrupted removal leaves a folder that is no database.
  const names = [...TOP_LEVEL].sort((a, b) => a === "PG_VERSION" ? -1 : b === "PG_VERSION" ? 1 : 0);
  for (const name of names) {
    await Deno.remove(join(dir, name), { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** The Emscripten module as a preRun hook sees it. */
interface EmscriptenFs {
  FS: {
    analyzePath(path: string): { exists: boolean };
    mkdirTree(path: string): void;
    writeFile(path: string, data: Uint8Array): void;
  };
}

/** Where PGlite keeps its data folder in its own file system. */
const PGDATA = "/pglite/data";

/**
 * An in-memory file system that holds the image when the engine starts.
 * PGlite's `loadDataDir` does the same at about 115 MiB more: it copies the
 * archive three times on the way in.
 */
export async function imageMemoryFs(): Promise<Filesystem> {
  const { MemoryFS } = await import("@electric-sql/pglite");
  let entries: TarEntry[] | null = readTar(await imageTar());
  class ImageFs extends MemoryFS {
    override async init(pg: PGlite, emscriptenOptions: Partial<PostgresMod>) {
      const { emscriptenOpts } = await super.init(pg, emscriptenOptions);
      const write = (mod: EmscriptenFs) => {
        const { FS } = mod;
        FS.mkdirTree(PGDATA);
        for (const entry of entries ?? []) {
          const path = `${PGDATA}/${entry.path}`;
          if (!entry.dir) FS.writeFile(path, entry.data);
          else if (!FS.analyzePath(path).exists) FS.mkdirTree(path);
        }
        entries = null;
      };
      const preRun = [emscriptenOpts.preRun ?? []].flat();
      return { emscriptenOpts: { ...emscriptenOpts, preRun: [...preRun, write] } };
    }
  }
  return new ImageFs();
}

/**
 * Refuse a database made from an image of another PGlite than the one
 * running: its catalog may not be what this engine expects.
 */
export async function assertImageMatches(serverVersion: string): Promise<void> {
  const image = await loadImage();
  if (serverVersion === image.SERVER_VERSION) return;
  throw new StrataError(
    "CONNECT",
    `The embedded engine's empty-database image was made by PGlite ${image.PGLITE_VERSION}, ` +
      `but this strata runs "${serverVersion}"`,
    {
      hint: "Rebuild the image with `deno task image` after changing the PGlite version " +
        "(nothing was created)",
      details: { image: image.SERVER_VERSION, engine: serverVersion },
    },
  );
}
