/**
 * The PEM files of --tls_cert/--tls_key, read once at start. A file that
 * cannot be read is CONFIG_INVALID (main.ts: one line, exit 2), naming the
 * flag and the reason, never the file's content.
 */
import { readFileSync } from 'node:fs';
import { AppError } from '../errors/app-error.js';

/** The certificate chain and private key HTTPS is served with. */
export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads `tls` (null: plain HTTP).
 * @throws AppError CONFIG_INVALID when a file cannot be read or is not PEM.
 */
export function readTlsFiles(tls: { readonly certFile: string; readonly keyFile: string } | null): TlsFiles | null {
  if (tls === null) return null;
  const problems: string[] = [];
  const read = (flag: string, file: string, label: string): Buffer => {
    try {
      const content = readFileSync(file);
      if (!content.includes('-----BEGIN ')) problems.push(`--${flag}=${file} is not a PEM file (no "-----BEGIN" line); give the ${label} in PEM form`);
      return content;
    } catch (error) {
      problems.push(`--${flag}=${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); give a readable PEM ${label}`);
      return Buffer.alloc(0);
    }
  };
  const cert = read('tls_cert', tls.certFile, 'certificate');
  const key = read('tls_key', tls.keyFile, 'private key');
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', `invalid TLS files:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { problems });
  return { cert, key };
}
