import type { Config, ForwardAuthConfig } from "../../config/config.ts";
import type { Middleware } from "../decorator.ts";
export function forwardAuth(_c: ForwardAuthConfig, _config: Config): Middleware {
  return (next) => next;
}
