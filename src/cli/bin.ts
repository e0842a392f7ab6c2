#!/usr/bin/env node
// The `kairos` executable (package.json "bin" → dist/cli/bin.js, compiled by `npm run build`, which `npm ci` runs).
import { main } from './main.js';

await main(process.argv);
