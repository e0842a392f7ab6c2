/**
 * The enrollment QR code as a `data:image/png;base64,…` URI. Error correction level M (ISO/IEC 18004: ~15% of
 * codewords recoverable) is what authenticator enrollment pages commonly use: it survives a glare or a smudge on a
 * screen without making the symbol too dense for a Key URI with a 64-byte secret. The margin is the standard's
 * 4-module quiet zone, without which phone scanners often fail on a busy page background.
 *
 * qrcode (and its PNG encoder, ~60 modules) loads on the first enrollment, not at server start.
 */
export async function renderQrPngDataUri(url: string, sizePx = 256): Promise<string> {
  if (!Number.isSafeInteger(sizePx) || sizePx < 64 || sizePx > 2048) throw new TypeError('sizePx must be an integer from 64 to 2048');
  const { default: QRCode } = await import('qrcode');
  return QRCode.toDataURL(url, { type: 'image/png', errorCorrectionLevel: 'M', margin: 4, width: sizePx });
}
