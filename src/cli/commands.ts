import { courierCommand } from '../courier/cli.js';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { secretsCommand } from './secrets.js';
import { doctorCommands } from './doctor.js';
import { addAuditCommand } from './audit.js';
import { importCommand } from './import.js';

export interface CommandContext {
  load(options: { config?: string; dev?: boolean }): LoadedConfig;
}

/** Further `kairos` commands (doctor, secrets, audit, courier); each module adds one line here. */
export const extraCommands: ((program: Command, context: CommandContext) => void)[] = [secretsCommand, doctorCommands, addAuditCommand, courierCommand, importCommand];
