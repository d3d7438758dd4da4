export { buildApp, type BuildOptions, type FerryApp } from './app.js';
export { loadConfig, ConfigError, type Config, type S3Config } from './config.js';
