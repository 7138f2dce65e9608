/**
 * The request id of an exchange (HTTP/1 and HTTP/2 alike): the client's X-Request-ID when it is a
 * short token of safe characters (so it can be logged and echoed without escaping), else a fresh
 * nanoid.
 */
import { nanoid } from "nanoid";

const VALID_REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

export function requestIdFor(incoming: string | undefined): string {
  return incoming !== undefined && VALID_REQUEST_ID.test(incoming) ? incoming : nanoid();
}
