import { configSchema, type Config } from './schema.js';
import { loadConfigFile, parseConfigText } from './load.js';

export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export { configSchema, nodeSchema, parseSshTarget, type Config, type NodeSpec } from './schema.js';

export function loadConfig(file: string): Config {
  return loadConfigFile(configSchema, file);
}
export function parseConfig(text: string, file = 'bulwark.yaml'): Config {
  return parseConfigText(configSchema, text, file);
}
