// `npm run build`: dist/ from src/ (tsc), then the build-time artefacts the compiled server loads instead of
// computing them at start-up (src/config/validator.ts).
import { rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
const { writeStandaloneValidator } = await import('../dist/config/validator.js');
writeStandaloneValidator();
