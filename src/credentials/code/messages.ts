/** Messages of the `code` method and secondary recovery addresses: Kairos's ids 1900300–1900399 / 4900300–4900399. */
import { kairosInfo, kairosWarning } from '../../ui/messages.js';

export const codeMsg = {
  tooManyWrongCodes: () => kairosWarning(4900300, 'Too many wrong codes were entered. Request a new code.'),
  tooManyCodesRequested: (retryAfterSeconds: number) =>
    kairosWarning(4900301, 'Too many codes were requested for this address. Please try again later.', { retry_after_seconds: retryAfterSeconds }),
  recoveryAddressTaken: () => kairosWarning(4900302, 'This address is already a verified recovery address of another account.'),
  recoveryAddressDuplicate: () => kairosWarning(4900303, 'This address is already one of your recovery addresses.'),
  recoveryAddressLimit: (max: number) => kairosWarning(4900304, `You can add at most ${max} secondary recovery addresses.`, { max }),
  recoveryAddressUnknown: () => kairosWarning(4900305, 'This address is not one of your secondary recovery addresses.'),

  labelSecondaryRecoveryAddress: () => kairosInfo(1900300, 'Secondary recovery email'),
  labelAddRecoveryAddress: () => kairosInfo(1900301, 'Add recovery address'),
  recoveryAddressVerified: (address: string) => kairosInfo(1900302, `${address} (verified, used for account recovery)`, { address, verified: true }),
  recoveryAddressPending: (address: string) =>
    kairosInfo(1900303, `${address} (not verified yet: it counts for account recovery once verified)`, { address, verified: false }),
  labelRemoveRecoveryAddress: (address: string) => kairosInfo(1900304, `Remove ${address}`, { address }),
  recoveryAddressCodeSent: (address: string, verificationFlowId: string) =>
    kairosInfo(1900305, `A verification code was sent to ${address}. The address counts for account recovery once it is verified.`, {
      address,
      verification_flow_id: verificationFlowId,
    }),
} as const;
