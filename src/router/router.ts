/**
 * Chooses the handler for a request. Today a listener is either a static file server or a
 * reverse proxy (--proxy); host/path routes from a config file will plug in here.
 */
import type { Config } from "../config/config.ts";
import type { Handler } from "../handler.ts";
import { createProxyHandler } from "../proxy/proxy-handler.ts";
import { createStaticHandler } from "../static/static-handler.ts";

export function createRouter(config: Config): Handler {
  if (config.proxy) return createProxyHandler(config, config.proxy);
  return createStaticHandler(config);
}
