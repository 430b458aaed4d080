import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

// Which Chromium the browser tests drive: CHROMIUM_PATH, else Debian's, else the one an npm package
// ships (so `npm ci && npm test` needs no system package and downloads nothing).

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export interface ChromiumInstall {
  executablePath: string;
  /** Environment for the browser process (the shared libraries shipped beside a packaged Chromium). */
  env?: Record<string, string>;
  source: 'CHROMIUM_PATH' | 'debian' | 'npm';
}

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The entries of a plain tar archive (files and folders; the archives unpacked here have nothing else). */
function untar(archive: Buffer, into: string) {
  const text = (at: number, length: number) => archive.toString('utf8', at, at + length).replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= archive.length && archive[at] !== 0; ) {
    const name = path.posix.join(text(at + 345, 155), text(at, 100));
    const size = Number.parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1) || '0';
    const target = path.join(into, name);
    if (name.split('/').includes('..') || path.isAbsolute(name)) throw new Error(`unsafe path in archive: ${name}`);
    if (type === '5') fs.mkdirSync(target, { recursive: true });
    else if (type === '0') {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, archive.subarray(at + 512, at + 512 + size), { mode: Number.parseInt(text(at + 100, 8), 8) & 0o777 });
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
}

/**
 * The headless Chromium that the @sparticuz/chromium npm package ships brotli-compressed, with the
 * NSS libraries it needs and a font, unpacked once into node_modules/.cache. Nothing is downloaded.
 */
async function packagedChromium(): Promise<ChromiumInstall> {
  const pkg = path.resolve(path.dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..');
  const { version } = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string };
  const dir = path.resolve(pkg, '..', '..', '.cache', `sparticuz-chromium-${version}`);
  const binary = path.join(dir, 'chromium');
  if (!executable(binary)) {
    // Unpacked beside, then renamed: two test workers may get here at once.
    const work = `${dir}.${process.pid}`;
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    const bin = (file: string) => path.join(pkg, 'bin', file);
    await pipeline(
      fs.createReadStream(bin('chromium.br')),
      zlib.createBrotliDecompress(),
      fs.createWriteStream(path.join(work, 'chromium'), { mode: 0o755 }),
    );
    untar(zlib.brotliDecompressSync(fs.readFileSync(bin('al2023.tar.br'))), work);
    untar(zlib.brotliDecompressSync(fs.readFileSync(bin('fonts.tar.br'))), work);
    const fontDir = path.join(dir, 'fonts');
    const cacheDir = path.join(dir, 'fonts-cache');
    fs.writeFileSync(
      path.join(work, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${fontDir}</dir><cachedir>${cacheDir}</cachedir></fontconfig>\n`,
    );
    try {
      fs.renameSync(work, dir);
    } catch (err) {
      fs.rmSync(work, { recursive: true, force: true });
      if (!executable(binary)) throw err;
    }
  }
  const libraries = path.join(dir, 'lib');
  const env: Record<string, string> = { LD_LIBRARY_PATH: [libraries, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  // A machine without fontconfig's own configuration gets the packaged font.
  if (!fs.existsSync('/etc/fonts/fonts.conf')) env.FONTCONFIG_FILE = path.join(dir, 'fonts.conf');
  return { executablePath: binary, env, source: 'npm' };
}

/**
 * Which Chromium the browser tests drive: CHROMIUM_PATH when set, else Debian's (`apt-get install
 * chromium`, what CI installs when it can), else the one a devDependency ships — so `npm ci && npm
 * test` is enough on a machine without either.
 */
export async function findChromium(debian = DEBIAN_CHROMIUM): Promise<ChromiumInstall> {
  if (process.env.CHROMIUM_PATH) return { executablePath: process.env.CHROMIUM_PATH, source: 'CHROMIUM_PATH' };
  if (executable(debian)) return { executablePath: debian, source: 'debian' };
  return packagedChromium();
}
