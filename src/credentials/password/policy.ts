import { msg, type UiText } from '../../ui/messages.js';

export interface PasswordPolicyConfig {
  minLength: number;
  maxLength: number;
  /** With bcrypt: its 72-byte input limit, so no password is hashed with its tail silently dropped. */
  maxBytes?: number;
  identifierSimilarityCheck: boolean;
}

function longestCommonSubstring(a: string, b: string): number {
  let best = 0;
  let previous = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      if (a[i - 1] === b[j - 1]) {
        current[j] = previous[j - 1]! + 1;
        if (current[j]! > best) best = current[j]!;
      }
    }
    previous = current;
  }
  return best;
}

/**
 * Kratos's password checks: length bounds (NIST SP 800-63B §5.1.1.2: at least 8, allow at least 64; the upper bound
 * keeps argon2 inputs bounded) and similarity to the identifier. Returns the first problem, or null.
 */
export function checkPassword(password: string, identifiers: string[], config: PasswordPolicyConfig): UiText | null {
  const length = [...password].length;
  if (length < config.minLength) return msg.passwordMinLength(config.minLength, length);
  if (length > config.maxLength) return msg.passwordMaxLength(config.maxLength, length);
  const bytes = Buffer.byteLength(password, 'utf8');
  if (config.maxBytes !== undefined && bytes > config.maxBytes) return msg.passwordMaxLength(config.maxBytes, bytes);
  if (config.identifierSimilarityCheck) {
    const pw = password.toLowerCase();
    for (const identifier of identifiers) {
      const id = identifier.toLowerCase();
      const local = id.includes('@') ? id.slice(0, id.indexOf('@')) : id;
      for (const candidate of new Set([id, local])) {
        if (candidate.length < 3) continue;
        const common = longestCommonSubstring(pw, candidate);
        if (common / pw.length >= 0.5 || (candidate.length >= 4 && common / candidate.length >= 0.8)) return msg.passwordTooSimilar();
      }
    }
  }
  return null;
}
