/**
 * Per-node progress for long steps. On a TTY: one line per node, redrawn in place. Otherwise: plain
 * "node: message" lines, one per event, for logs and scripts.
 */
export class Progress {
  private readonly lines = new Map<string, string>();
  private drawn = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean = Boolean(out.isTTY) && !process.env.CI,
  ) {}

  update(node: string, message: string): void {
    this.lines.set(node, message);
    if (!this.tty) {
      this.out.write(`${node}: ${message}\n`);
      return;
    }
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    const width = Math.max(...[...this.lines.keys()].map((k) => k.length));
    for (const [k, v] of this.lines) this.out.write(`\x1b[2K${k.padEnd(width)}  ${v}\n`);
    this.drawn = this.lines.size;
  }

  /** A line that is not tied to a node (printed above the live block on a TTY). */
  note(message: string): void {
    if (this.tty && this.drawn > 0) {
      this.out.write(`\x1b[${this.drawn}A\x1b[J${message}\n`);
      this.drawn = 0;
      const entries = [...this.lines];
      this.lines.clear();
      for (const [k, v] of entries) this.update(k, v);
      return;
    }
    this.out.write(message + '\n');
  }
}
