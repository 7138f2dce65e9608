/**
 * RFC 9114 §4.1.2: a message with Content-Length is malformed if the DATA payloads do not add up to
 * it. Malformed requests are a stream error of type H3_MESSAGE_ERROR. Checked as DATA arrives, so
 * a body that overruns is stopped at the first extra octet instead of being read to the end.
 *
 * The other request rules (pseudo-header fields, connection-specific fields, :authority vs Host,
 * duplicate Content-Length) are the same as HTTP/2's (RFC 9114 §4.2, §4.3 mirror RFC 9113 §8.2,
 * §8.3) and live in src/http2/request-head.ts (branch issue17); the HTTP/3 engine reuses them.
 */
import { H3, H3Error } from "./h3-error.ts";

export class DataLengthCheck {
  private received = 0;

  /** `declared`: the request's Content-Length, or -1 if it has none (then any length is fine). */
  constructor(private readonly declared: number) {}

  /** Counts a DATA payload piece; throws H3_MESSAGE_ERROR once the total exceeds Content-Length. */
  onData(octets: number): void {
    this.received += octets;
    if (this.declared >= 0 && this.received > this.declared) {
      throw new H3Error(H3.MESSAGE_ERROR, "stream", `DATA exceeds Content-Length ${this.declared}`);
    }
  }

  /** The stream ended: throws H3_MESSAGE_ERROR if fewer octets than Content-Length arrived. */
  finish(): void {
    if (this.declared >= 0 && this.received !== this.declared) {
      throw new H3Error(H3.MESSAGE_ERROR, "stream", `${this.received} DATA octets but Content-Length ${this.declared}`);
    }
  }

  get total(): number {
    return this.received;
  }
}
