import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { courierCommand } from './courier-command.js';
import { secretsCommand } from './secrets.js';
import { doctorCommands } from './doctor-command.js';
import { addAuditCommand } from './audit-command.js';
import { importCommand } from './import-command.js';
import { reportCommands } from './report-command.js';
import { policyCommands } from './policy-command.js';

export interface CommandContext {
  /** The config from a file (or dev mode); a config error ends the process with status 2. Loads ajv/yaml lazily. */
  load(options: { config?: string; dev?: boolean }): Promise<LoadedConfig>;
}

/**
 * Further `kairos` commands (doctor, secrets, audit, courier, import, policy); each module adds one line here. These modules only
 * define the commands: each action imports its implementation when it runs (`kairos --help` loads none of them).
 */
export const extraCommands: ((program: Command, context: CommandContext) => void)[] = [secretsCommand, doctorCommands, addAuditCommand, courierCommand, importCommand, policyCommands, reportCommands];
