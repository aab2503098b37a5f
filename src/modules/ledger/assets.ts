import { ledgerProblem } from './errors.ts';

const iso = new Set(Intl.supportedValuesOf('currency'));
const CUSTOM = /^[a-z][a-z0-9_.-]{0,31}$/;

/** The minor-unit exponent of an ISO 4217 currency (EUR 2, JPY 0, BHD 3), as the platform's ICU data has it. */
function isoScale(code: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * An account's asset: an ISO 4217 code (upper case; its scale is the
 * currency's minor unit and a given scale must agree) or a custom unit (lower
 * case, e.g. `points`, `kwh`) whose scale must be given.
 */
export function resolveAsset(asset: string, scale: number | undefined): { asset: string; scale: number } {
  if (/^[A-Z]{3}$/.test(asset)) {
    if (!iso.has(asset)) throw ledgerProblem('asset_unknown', `${asset} is not an ISO 4217 currency code; a custom unit is written in lower case (e.g. "points") with its scale.`);
    const s = isoScale(asset);
    if (scale !== undefined && scale !== s) throw ledgerProblem('asset_scale_mismatch', `${asset} has ${s} decimal places in ISO 4217, not ${scale}.`);
    return { asset, scale: s };
  }
  if (!CUSTOM.test(asset)) throw ledgerProblem('asset_invalid', 'asset must be an ISO 4217 code (e.g. "EUR") or a lower-case custom unit (e.g. "points").');
  if (scale === undefined) throw ledgerProblem('asset_scale_required', `The custom unit "${asset}" needs its scale (decimal places, 0–18).`);
  return { asset, scale };
}
