import type { KairosConfig, WebAuthnRpConfig } from '../../config/schema.js';

/** The relying party a WebAuthn method speaks for (WebAuthn Level 2 §5.4.2, §13.4.9). */
export interface RelyingParty {
  /** RP ID: a registrable domain suffix of the origins (never an IP address in browsers). */
  id: string;
  name: string;
  origins: string[];
}

/**
 * Kratos's `rp` block with Kairos's defaults: the RP ID is the public base URL's host, the origins that URL's
 * origin, the name the brand. `origin` (Kratos, deprecated) is accepted as one more origin.
 */
export function relyingPartyFrom(rp: WebAuthnRpConfig, config: KairosConfig): RelyingParty {
  const base = new URL(config.serve.public.base_url);
  const origins = [...(rp.origins ?? []), ...(rp.origin ? [rp.origin] : [])].map((o) => new URL(o).origin);
  return {
    id: rp.id ?? base.hostname,
    name: rp.display_name ?? config.ui.brand.name,
    origins: origins.length ? [...new Set(origins)] : [base.origin],
  };
}
