import { statSync } from 'node:fs';

/** At most this often the progress line is redrawn. */
const REDRAW_MS = 100;

const size = (bytes: number): string =>
  bytes >= 1 << 30
    ? `${(bytes / (1 << 30)).toFixed(1)} GiB`
    : bytes >= 1 << 20
      ? `${(bytes / (1 << 20)).toFixed(1)} MiB`
      : `${(bytes / 1024).toFixed(0)} KiB`;

/**
 * A progress line on stderr for long transfers, only when stderr is a terminal (never in pipes,
 * logs or `--json` output): bytes so far, of the total when known, with a bar.
 */
export class Progress {
  private done = 0;
  private drawnAt = 0;
  private readonly active: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.active = Boolean(stream.isTTY);
  }

  /** The size of a file, for a progress of reading it (undefined for stdin or a missing file). */
  static fileSize(path: string): number | undefined {
    try {
      return statSync(path).size;
    } catch {
      return undefined;
    }
  }

  add(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (!this.active || now - this.drawnAt < REDRAW_MS) return;
    this.drawnAt = now;
    this.draw();
  }

  finish(): void {
    if (!this.active) return;
    this.draw();
    this.out.write('\n');
  }

  private draw(): void {
    const width = 30;
    let line = `${this.label} ${size(this.done)}`;
    if (this.total) {
      const share = Math.min(1, this.done / this.total);
      const filled = Math.round(share * width);
      line = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${size(this.done)} / ${size(this.total)} ${(share * 100).toFixed(0)}%`;
    }
    this.out.write(`\r${line}`);
  }

  /** Counts the pieces of an upload as they go. */
  async *track(pieces: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const piece of pieces) {
      this.add(piece.length);
      yield piece;
    }
    this.finish();
  }
}
